"""Notices of the review flow through notifications/: written in the caller's transaction (so a decision and its
notice commit together), their deliveries enqueued after the commit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kit.audit import Actor
from kit.jobs import JobQueue
from notifications import service as notifications


async def notice(kind: str, to: Mapping[str, Any], key: str, context: dict, *, actor: Actor):
    """The notice to the subject of ``to`` (a row with subject_kind and subject_id), once per key; no queue here:
    ``deliver_after_commit`` enqueues its channels."""
    return await notifications.notify(to["subject_kind"], to["subject_id"], kind, key, context, actor=actor, queue=None)


async def deliver_after_commit(queue: JobQueue | None, notice_ids: list[int]) -> int:
    if queue is None or not notice_ids:
        return 0
    pairs = []
    for nid in notice_ids:
        pairs += [
            (nid, d.channel)
            for d in await notifications.deliveries(nid)
            if d.channel != "inbox" and d.status == "queued"
        ]
    return await notifications.enqueue_deliveries(queue, pairs) if pairs else 0
