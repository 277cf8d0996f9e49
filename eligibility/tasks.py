"""Jobs of eligibility/ (arq job functions named eligibility.verb)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from arq.worker import func

from eligibility import incremental
from kit.time import china_today


def _day(as_of: str | None) -> dt.date:
    return dt.date.fromisoformat(as_of) if as_of else china_today()


async def rematch_subject(ctx: dict[str, Any], kind: str, subject_id: str, as_of: str | None = None) -> int:
    """A changed profile against every active rule set of its kind; returns how many it matches."""
    return len(await incremental.rematch_subject(kind, subject_id, _day(as_of)))


async def rematch_subjects(ctx: dict[str, Any], kind: str, subject_ids: list[str], as_of: str | None = None) -> int:
    """A batch of changed profiles (after a bulk import) against every active rule set of their kind."""
    return await incremental.rematch_subjects(kind, subject_ids, _day(as_of))


functions: list = [
    func(rematch_subject, name="eligibility.rematch_subject"),
    func(rematch_subjects, name="eligibility.rematch_subjects"),
]
