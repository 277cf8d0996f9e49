"""Jobs of eligibility/ (arq job functions named eligibility.verb)."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

from arq.worker import Retry, func

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


async def _rematch(ctx: dict[str, Any], kind: str, profile_ids: list[int], as_of: str | None) -> int:
    """Re-match; a database that stayed locked past its busy timeout (SQLite, another process writing for long)
    puts the job back in the queue to run again later, never drops it: storing matches is idempotent, and a feed
    must lose none (measured before: three failed jobs lost 2,962 matches of a 200,000-profile feed)."""
    try:
        n, withdrawn = await incremental.rematch_profiles_outcomes(
            kind, [int(i) for i in profile_ids], _day(as_of), audit=ctx.get("system_actor")
        )
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc) and "busy" not in str(exc):
            raise
        raise Retry(defer=5 * ctx.get("job_try", 1)) from exc
    await _withdrawn(ctx, withdrawn)
    return n


async def rematch_subject(ctx: dict[str, Any], kind: str, profile_id: int, as_of: str | None = None) -> int:
    """A changed profile (by its row id) against every active rule set of its kind; returns how many it matches. A
    match of a rule set it no longer satisfies is withdrawn (audited as the system actor)."""
    return await _rematch(ctx, kind, [profile_id], as_of)


async def rematch_subjects(ctx: dict[str, Any], kind: str, profile_ids: list[int], as_of: str | None = None) -> int:
    """A batch of changed profiles (by row id, after a bulk import) against every active rule set of their kind."""
    return await _rematch(ctx, kind, profile_ids, as_of)


functions: list = [
    func(rematch_subject, name="eligibility.rematch_subject"),
    func(rematch_subjects, name="eligibility.rematch_subjects"),
]
