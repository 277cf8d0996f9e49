"""How far a long job has got, for the progress bars of the pages (static/progress.js polls the JSON of it).

A batch run's progress is payments' own (its payments per status); a publication's is read off what its
``app.match_published`` job leaves behind: the job's state in the queue, the version's current matches and the
notices written for them (counted in SQL).
"""

from __future__ import annotations

from arq.jobs import Job, JobStatus
from pydantic import BaseModel

from app import jobs
from app.flows import match_notice_key
from eligibility.tables import Match
from kit.vocab import MatchState, VersionStatus
from notifications.tables import Notice
from policies.tables import PolicyVersion


class ProgressRead(BaseModel):
    """One long job: its stage, how much of it is done (0…1) and the counts behind that, and whether it is over."""

    stage: str  # queued | matching | notifying | running | done | none
    fraction: float
    done: bool
    counts: dict[str, int] = {}


_WAITING = (JobStatus.queued, JobStatus.deferred)


async def publication_progress(version_id: int, as_of: str | None = None) -> ProgressRead | None:
    """Matching and notices after ``version_id`` was published; None when it is not published (nothing runs)."""
    row = await PolicyVersion.select(PolicyVersion.status).where(PolicyVersion.id == version_id).first()
    if row is None or row["status"] != VersionStatus.PUBLISHED:
        return None
    job_id = f"match-published:{version_id}:{as_of or 'today'}"  # as app.tasks.enqueue_match_published names it
    state = await Job(job_id, await jobs.get_queue(), _queue_name=jobs.QUEUE).status()
    matches = await Match.count().where((Match.version_id == version_id) & (Match.state == MatchState.CURRENT))
    notices = await Notice.count().where(Notice.key.like(match_notice_key(version_id, "") + "%"))
    counts = {"matches": matches, "notices": notices}
    if state in _WAITING:
        return ProgressRead(stage="queued", fraction=0.0, done=False, counts=counts)
    if state == JobStatus.in_progress:
        part = min(1.0, notices / matches) if matches else 0.0
        stage = "notifying" if notices else "matching"
        return ProgressRead(stage=stage, fraction=round(0.1 + 0.85 * part, 3), done=False, counts=counts)
    return ProgressRead(stage="done", fraction=1.0, done=True, counts=counts)


def batch_fraction(counts: dict[str, int], active: int) -> float:
    """The share of a batch's payments no longer being worked on (settled, rejected, held…)."""
    total = sum(counts.values())
    return round((total - active) / total, 3) if total else 1.0
