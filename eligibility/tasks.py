"""Jobs of eligibility/ (arq job functions named eligibility.verb)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from arq.worker import func

from eligibility import incremental
from kit.time import china_today


def _day(as_of: str | None) -> dt.date:
    return dt.date.fromisoformat(as_of) if as_of else china_today()


# The jobs carry profile row ids, never subject ids: a talent's subject id is its ID number, and arq logs a job's
# arguments and keeps them in Redis (security review, item 10).


async def rematch_subject(ctx: dict[str, Any], kind: str, profile_id: int, as_of: str | None = None) -> int:
    """A changed profile (by its row id) against every active rule set of its kind; returns how many it matches."""
    return await incremental.rematch_profiles(kind, [int(profile_id)], _day(as_of))


async def rematch_subjects(ctx: dict[str, Any], kind: str, profile_ids: list[int], as_of: str | None = None) -> int:
    """A batch of changed profiles (by row id, after a bulk import) against every active rule set of their kind."""
    return await incremental.rematch_profiles(kind, profile_ids, _day(as_of))


functions: list = [
    func(rematch_subject, name="eligibility.rematch_subject"),
    func(rematch_subjects, name="eligibility.rematch_subjects"),
]
