"""Services of notifications/ (通知): once-only notices written to the inbox, delivery jobs enqueued after commit,
and the inbox queries; recipients (notifications.recipients) are re-exported. Delivery is in notifications.delivery.

Knows nothing of policies or money: a caller hands over a notice kind, a context (strings, already
formatted) and a ``key`` it builds so that the same event can never notify twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from kit.audit import Actor, Change
from kit.db import bulk_insert, from_row, in_list, raw
from kit.i18n import _l
from kit.jobs import JobQueue
from kit.masking import mask_context
from notifications.errors import NoticeNotFound
from notifications.recipients import (  # noqa: F401 - the recipients' services, re-exported
    as_utc,
    enabled_channels,
    get_recipient,
    preferences_of,
    reading_subscribers,
    recipient_key,
    recipients_by_key,
    set_preferences,
    set_readings,
    upsert_recipient,
    upsert_recipients,
)
from notifications.rendering import check_kind, normalise_locale, render
from notifications.schemas import (
    DeliveryRead,
    NoticeRead,
    NoticeRequest,
)
from notifications.tables import Delivery, Notice

DELIVER_JOB = "notifications.deliver"
_CHUNK = 500


def job_id(notice_id: int, channel: str) -> str:
    return f"deliver:{notice_id}:{channel}"


async def _used_keys(keys: list[str]) -> set[str]:
    used: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        cond, args = in_list(keys[i : i + _CHUNK])
        rows = await raw(f"SELECT key FROM notifications_notice WHERE key {cond}", *args)
        used.update(r["key"] for r in rows)
    return used


async def used_keys(keys: list[str]) -> set[str]:
    """Which of ``keys`` a notice has already (``notify_many`` would skip those)."""
    return await _used_keys(list(keys))


# ---------------------------------------------------------------------------------------------- notify


@dataclass
class NotifyResult:
    """What ``notify_many`` did: notices created (with their queued channels) and keys already there."""

    created: list[NoticeRead] = field(default_factory=list)
    existing_keys: list[str] = field(default_factory=list)
    deliveries_queued: int = 0
    jobs_enqueued: int = 0


async def notify(
    recipient_kind: str,
    subject_id: str,
    kind: str,
    key: str,
    context: dict,
    *,
    actor: Actor,
    queue: JobQueue | None = None,
    now: dt.datetime | None = None,
) -> NoticeRead:
    """Write one notice to the subject's inbox, once per ``key``, and queue its deliveries after commit.

    Re-running with a key already used is a no-op that returns the existing notice (``existing=True``).
    """
    request = NoticeRequest(recipient_kind=recipient_kind, subject_id=subject_id, kind=kind, key=key, context=context)
    result = await notify_many([request], actor=actor, queue=queue, now=now)
    if result.created:
        return result.created[0]
    row = await Notice.select().where(Notice.key == key).first()
    return NoticeRead.from_row(row, existing=True)


async def notify_many(
    requests: Iterable[NoticeRequest | dict],
    *,
    actor: Actor,
    queue: JobQueue | None = None,
    now: dt.datetime | None = None,
) -> NotifyResult:
    """Many notices in batched inserts, one transaction; each key at most once (already-used keys are skipped)."""
    now = as_utc(now)
    reqs: dict[str, NoticeRequest] = {}
    for r in requests:
        r = r if isinstance(r, NoticeRequest) else NoticeRequest.model_validate(r)
        check_kind(r.kind)
        reqs.setdefault(r.key, r)  # the first request of a key wins, as a second call would find it used
    if not reqs:
        return NotifyResult()
    # Keys already used are left out before rendering: re-running a whole match is then cheap. The insert
    # below still ignores a key that another transaction used in between (ON CONFLICT DO NOTHING).
    used = await _used_keys(list(reqs))
    result = NotifyResult(existing_keys=[k for k in reqs if k in used])
    for k in used:
        del reqs[k]
    if not reqs:
        return result
    recipients = await recipients_by_key(recipient_key(r.recipient_kind, r.subject_id) for r in reqs.values())
    # Render (and so validate) everything before the transaction: a bad context stores nothing.
    rows: list[tuple] = []
    for r in reqs.values():
        rkey = recipient_key(r.recipient_kind, r.subject_id)
        rec = recipients.get(rkey)
        locale = normalise_locale(rec["locale"] if rec else None)
        ctx = mask_context(r.context)
        ctx.setdefault("recipient_name", rec["display_name"] if rec else "")
        text = render(r.kind, locale, ctx, masked=True, sms=False)
        rows.append(
            (
                r.key,
                rkey,
                r.recipient_kind,
                r.subject_id,
                r.kind,
                locale,
                text.title,
                text.body,
                json.dumps(ctx, ensure_ascii=False, default=str),
                now,
            )
        )

    to_enqueue: list[tuple[int, str]] = []
    async with Notice._meta.db.transaction():
        # Raw multi-row statements: the ORM's query builder and row objects cost more than the notices themselves
        # when a payment batch writes them by the thousand.
        created = await bulk_insert(
            Notice, _NOTICE_COLUMNS, rows, suffix="ON CONFLICT (key) DO NOTHING RETURNING id, key"
        )
        by_key = {r[0]: r for r in rows}
        created_keys = {c["key"] for c in created}
        result.existing_keys += [k for k in reqs if k not in created_keys]
        deliveries: list[tuple] = []
        changes: list[Change] = []
        for c in created:
            key, rkey, rkind, subject_id, kind, locale, title, body, context, _ = by_key[c["key"]]
            notice_id = int(c["id"])
            channels = enabled_channels(recipients.get(rkey))
            for ch in channels:
                deliveries.append((notice_id, rkey, ch, "queued", 0, "", now, None, now))
                to_enqueue.append((notice_id, ch))
            changes.append(
                Change(
                    "notice.create",
                    "notice",
                    str(notice_id),
                    before=None,
                    after={"key": key, "kind": kind, "recipient": rkey, "title": title, "body": body},
                    detail={"kind": kind, "channels": channels},
                )
            )
            result.created.append(
                NoticeRead(
                    id=notice_id,
                    recipient_kind=rkind,
                    subject_id=subject_id,
                    kind=kind,
                    locale=locale,
                    title=title,
                    body=body,
                    link=_link(context),
                    created_at=now,
                    read_at=None,
                )
            )
        await bulk_insert(Delivery, _DELIVERY_COLUMNS, deliveries, types=_DELIVERY_TYPES)
        if changes:
            await actor.record_many(changes)
    result.deliveries_queued = len(to_enqueue)
    if queue is not None and to_enqueue:
        result.jobs_enqueued = await enqueue_deliveries(queue, to_enqueue)
    return result


_NOTICE_COLUMNS = (
    "key",
    "recipient_key",
    "recipient_kind",
    "subject_id",
    "kind",
    "locale",
    "title",
    "body",
    "context",
    "created_at",
)
_DELIVERY_COLUMNS = (
    "notice",
    "recipient_key",
    "channel",
    "status",
    "attempts",
    "reason",
    "due_at",
    "sent_at",
    "updated_at",
)
# Given, not read off the table: kit.db knows no array type of a ForeignKey column (notice).
_DELIVERY_TYPES = ("bigint", "text", "text", "text", "bigint", "text", "timestamptz", "timestamptz", "timestamptz")


def _link(context_json: str) -> str | None:
    ctx = json.loads(context_json)
    link = ctx.get("link") or ctx.get("receipt_link")
    return link if isinstance(link, str) else None


async def enqueue_deliveries(queue: JobQueue, pairs: list[tuple[int, str]], *, suffix: str = "") -> int:
    """Enqueue ``notifications.deliver`` for (notice_id, channel) pairs; returns how many were new jobs."""
    enqueued = 0
    for i in range(0, len(pairs), 200):  # gathered in batches: ~3× faster than one by one (LIBRARY-FACTS)
        jobs = await asyncio.gather(
            *(
                queue.enqueue_job(DELIVER_JOB, nid, ch, _job_id=job_id(nid, ch) + suffix)
                for nid, ch in pairs[i : i + 200]
            )
        )
        enqueued += sum(1 for j in jobs if j is not None)
    return enqueued


# ---------------------------------------------------------------------------------------------- inbox


def _owned(kind: str, subject_id: str):
    return Notice.recipient_key == recipient_key(kind, subject_id)


def _read(row: dict, locale: str | None) -> NoticeRead:
    """A stored notice, re-rendered from its (masked) context when the reader wants another language."""
    notice = NoticeRead.from_row(row)
    if locale and normalise_locale(locale) != row["locale"]:
        try:
            text = render(row["kind"], locale, json.loads(row["context"]), masked=True, sms=False)
        except Exception:  # noqa: BLE001 — a template changed since: the stored text is still right
            return notice
        notice = notice.model_copy(update={"title": text.title, "body": text.body, "locale": normalise_locale(locale)})
    return notice


async def inbox(
    kind: str, subject_id: str, limit: int = 50, offset: int = 0, *, locale: str | None = None
) -> list[NoticeRead]:
    """The subject's notices, newest first (in ``locale`` when given, else as stored)."""
    rows = await (
        Notice.select()
        .where(_owned(kind, subject_id))
        .order_by(Notice.id, ascending=False)
        .limit(max(1, min(limit, 500)))
        .offset(max(0, offset))
    )
    return [_read(r, locale) for r in rows]


async def unread_count(kind: str, subject_id: str) -> int:
    return await Notice.count().where(_owned(kind, subject_id), Notice.read_at.is_null())


async def get_notice(notice_id: int, kind: str, subject_id: str, *, locale: str | None = None) -> NoticeRead:
    """One notice of this subject; another subject's notice is reported as not found."""
    row = await Notice.select().where(Notice.id == notice_id, _owned(kind, subject_id)).first()
    if row is None:
        raise NoticeNotFound(_l("no such notice / 没有该消息"))
    return _read(row, locale)


async def mark_read(
    notice_id: int,
    kind: str,
    subject_id: str,
    *,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
    locale: str | None = None,
) -> NoticeRead:
    """Open a notice: marks it read the first time (ownership checked); returns it."""
    now = as_utc(now)
    async with Notice._meta.db.transaction():
        row = await Notice.select().where(Notice.id == notice_id, _owned(kind, subject_id)).first()
        if row is None:
            raise NoticeNotFound(_l("no such notice / 没有该消息"))
        if row["read_at"] is None:
            await Notice.update({Notice.read_at: now}).where(Notice.id == notice_id)
            row["read_at"] = now
            if actor is not None:
                await actor.record(
                    "notice.read",
                    "notice",
                    str(notice_id),
                    before={"read_at": None},
                    after={"read_at": now.isoformat()},
                )
    return _read(row, locale)


async def deliveries(notice_id: int) -> list[DeliveryRead]:
    """Status per channel, the inbox first ("sent" while unread, then "read")."""
    notice = await Notice.select(Notice.created_at, Notice.read_at).where(Notice.id == notice_id).first()
    if notice is None:
        raise NoticeNotFound(_l("no such notice"))
    out = [
        DeliveryRead(
            channel="inbox",
            status="read" if notice["read_at"] else "sent",
            attempts=1,
            sent_at=notice["created_at"],
            updated_at=notice["read_at"] or notice["created_at"],
        )
    ]
    rows = await Delivery.select().where(Delivery.notice == notice_id).order_by(Delivery.id)
    out += [from_row(DeliveryRead, r) for r in rows]
    return out


async def delivery_counts() -> dict[str, dict[str, int]]:
    """{channel: {status: n}} over all deliveries: for operators and the demo summary."""
    rows = await Delivery.raw(
        "SELECT channel, status, COUNT(*) AS n FROM notifications_delivery GROUP BY channel, status"
    )
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r["channel"], {})[r["status"]] = int(r["n"])
    return out
