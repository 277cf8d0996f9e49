"""The one publication path: the CLI, the JSON API and the reviewer's page all publish through ``publish`` here.

policies/ decides whether a version may be published (in review, not its author, tests that cover it, a period not
ended, a budget shortfall confirmed) and whether it takes effect now or on its effective_from. What follows a
publication needs the job queue, which only app/ wires: a version in effect now gets its matching, notices and
entitlement refresh queued (app.match_published); a scheduled one gets them when app.take_effect switches it.
"""

from __future__ import annotations

import datetime as dt

from app import jobs
from app.tasks import enqueue_match_published
from kit.audit import Actor
from kit.vocab import VersionStatus
from policies import service as policies
from policies.schemas import VersionRead


async def publish(
    version_id: int,
    actor: Actor,
    *,
    as_of: dt.date | None = None,
    content_hash: str | None = None,
    accept_shortfall: bool = False,
) -> VersionRead:
    """Publish version ``version_id`` as ``actor`` (a policy_reviewer) and queue what follows it."""
    version = await policies.publish_version(
        version_id, actor, as_of=as_of, content_hash=content_hash, accept_shortfall=accept_shortfall
    )
    if version.status == VersionStatus.PUBLISHED:
        await enqueue_match_published(await jobs.get_queue(), version.id, as_of)
    return version


async def publish_latest(
    code: str, actor: Actor, *, as_of: dt.date | None = None, accept_shortfall: bool = False
) -> VersionRead:
    """`zhida policies publish CODE`: ``publish`` of the latest version of CODE (it must be in review)."""
    latest = await policies.publishable_version(code)
    return await publish(latest["id"], actor, as_of=as_of, accept_shortfall=accept_shortfall)
