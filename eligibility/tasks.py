"""Jobs of eligibility/ (arq job functions named eligibility.verb)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from arq.worker import func

from eligibility import incremental
from kit.time import china_today


def _day(as_of: str | None) -> dt.date:
    return dt.date.fromisoformat(as_of) if as_of else china_today()


async def _withdrawn(ctx: dict[str, Any], withdrawn: list) -> None:
    """Hand the matches withdrawn to whoever the worker's start-up named (app/: the payable entitlements of those
    subjects are withdrawn and the subjects told); eligibility itself knows nothing of money."""
    hook = ctx.get("eligibility.on_withdrawn")
    if withdrawn and hook is not None:
        await hook(withdrawn, ctx.get("redis"))


# The jobs carry profile row ids, never subject ids: a talent's subject id is its ID number, and arq logs a job's
# arguments and keeps them in Redis (security review, item 10).


async def rematch_subject(ctx: dict[str, Any], kind: str, profile_id: int, as_of: str | None = None) -> int:
    """A changed profile (by its row id) against every active rule set of its kind; returns how many it matches. A
    match of a rule set it no longer satisfies is withdrawn (audited as the system actor)."""
    n, withdrawn = await incremental.rematch_profiles_outcomes(
        kind, [int(profile_id)], _day(as_of), audit=ctx.get("system_actor")
    )
    await _withdrawn(ctx, withdrawn)
    return n


async def rematch_subjects(ctx: dict[str, Any], kind: str, profile_ids: list[int], as_of: str | None = None) -> int:
    """A batch of changed profiles (by row id, after a bulk import) against every active rule set of their kind."""
    n, withdrawn = await incremental.rematch_profiles_outcomes(
        kind, profile_ids, _day(as_of), audit=ctx.get("system_actor")
    )
    await _withdrawn(ctx, withdrawn)
    return n


functions: list = [
    func(rematch_subject, name="eligibility.rematch_subject"),
    func(rematch_subjects, name="eligibility.rematch_subjects"),
]
