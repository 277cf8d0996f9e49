"""Jobs of eligibility/ (arq job functions named eligibility.verb)."""

from __future__ import annotations

import datetime as dt

from arq.worker import func

from eligibility import incremental
from kit.time import china_today


async def rematch_subject(ctx: dict, kind: str, subject_id: str, as_of: str | None = None) -> int:
    """A changed profile against every active rule set of its kind; returns how many it matches."""
    day = dt.date.fromisoformat(as_of) if as_of else china_today()
    return len(await incremental.rematch_subject(kind, subject_id, day))


async def rematch_subjects(ctx: dict, kind: str, subject_ids: list[str], as_of: str | None = None) -> int:
    """A batch of changed profiles (after a bulk import) against every active rule set of their kind."""
    day = dt.date.fromisoformat(as_of) if as_of else china_today()
    return await incremental.rematch_subjects(kind, subject_ids, day)


functions: list = [
    func(rematch_subject, name="eligibility.rematch_subject"),
    func(rematch_subjects, name="eligibility.rematch_subjects"),
]
