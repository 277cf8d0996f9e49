"""Delivery of one notice on one outside channel: claim (opt-out, quiet hours, daily limit), send, record.

Called by the ``notifications.deliver`` job with the wall clock, and by tests with a fixed ``now``. The
database row is the truth: a delivery waiting for quiet hours or the next day is ``deferred`` with its
``due_at`` and leaves the queue (so a burst worker never waits hours); ``release_due`` puts due ones back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from kit.i18n import _l
from kit.jobs import JobQueue
from notifications.channels import SENDERS, DeliveryConfig, OutgoingMessage
from notifications.errors import ChannelError
from notifications.rendering import render
from notifications.service import enqueue_deliveries
from notifications.tables import Delivery, Recipient

log = logging.getLogger("zhida.notifications")

FINAL = ("sent", "failed", "skipped")
# A "sending" row older than this was left by a worker that died mid-send: it may be tried again.
STALE_SENDING = dt.timedelta(minutes=15)
# A queued or retrying row whose job should have run by now (the queue lost it, e.g. an embedded restart).
STALE_QUEUED = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    status: str  # the delivery's status afterwards, or "noop"
    reason: str = ""
    retry_in: float | None = None  # seconds: the job should be retried after this long


def _utc(now: dt.datetime | None) -> dt.datetime:
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def quiet_until(now: dt.datetime, config: DeliveryConfig) -> dt.datetime | None:
    """When SMS quiet hours end, if ``now`` is inside them (local time of ``config.timezone``)."""
    if not config.sms_quiet_hours:
        return None
    start, end = config.sms_quiet_hours
    local = now.astimezone(config.tz)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, end, tzinfo=config.tz).astimezone(dt.UTC)


def local_day(now: dt.datetime, config: DeliveryConfig) -> tuple[dt.datetime, dt.datetime]:
    local = now.astimezone(config.tz).date()
    start = dt.datetime.combine(local, dt.time(0), tzinfo=config.tz)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


async def _lock_recipient(rkey: str) -> None:
    # Counting today's deliveries and claiming one must be atomic per subject. SQLite transactions here
    # are IMMEDIATE (serialised already); PostgreSQL takes a transaction-scoped lock on the subject.
    await Delivery.raw("SELECT pg_advisory_xact_lock(hashtext({}))", f"zhida-notify:{rkey}")


async def _claim(notice_id: int, channel: str, config: DeliveryConfig, now: dt.datetime):
    """Decide in one transaction whether to send now; returns (Outcome or None, message to send)."""
    async with Delivery._meta.db.transaction():
        # One query for the delivery with its notice (a join); the recipient is a second one.
        d = (
            await Delivery.select(
                *Delivery.all_columns(exclude=[Delivery.notice]),
                Delivery.notice.kind,
                Delivery.notice.locale,
                Delivery.notice.title,
                Delivery.notice.body,
                Delivery.notice.context,
                Delivery.notice.created_at,
                Delivery.notice.recipient_kind,
                Delivery.notice.subject_id,
            )
            .where(Delivery.notice == notice_id, Delivery.channel == channel)
            .first()
        )
        if d is None:
            return Outcome("noop", "no such delivery"), None
        if Delivery._meta.db.engine_type == "postgres":
            await _lock_recipient(d["recipient_key"])
            d.update(
                await Delivery.select(Delivery.status, Delivery.attempts, Delivery.due_at, Delivery.updated_at)
                .where(Delivery.id == d["id"])
                .first()
            )  # fresh, under the lock
        status = d["status"]
        if status in FINAL:
            return Outcome("noop", f"already {status}"), None
        if status == "deferred" and _aware(d["due_at"]) > now:
            return Outcome("noop", "not due yet"), None
        if status == "sending" and now - _aware(d["updated_at"]) < STALE_SENDING:
            return Outcome("noop", "being sent by another worker"), None

        async def settle(new_status: str, reason: str, due: dt.datetime | None = None) -> Outcome:
            await Delivery.update(
                {
                    Delivery.status: new_status,
                    Delivery.reason: reason,
                    Delivery.due_at: due or now,
                    Delivery.updated_at: now,
                }
            ).where(Delivery.id == d["id"])
            return Outcome(new_status, reason)

        rec = await Recipient.select().where(Recipient.recipient_key == d["recipient_key"]).first()
        address = (
            None
            if rec is None
            else {"email": rec["email"], "sms": rec["phone"], "webhook": rec["webhook_url"]}[channel]
        )
        if rec is None or not rec[f"{channel}_enabled"]:
            return await settle("skipped", _l("the recipient opted out of this channel")), None
        if not address:
            return await settle("skipped", _l("the recipient has no address on this channel")), None
        if not config.channel_configured(channel):
            return await settle("skipped", _l("the {channel} channel is not configured").format(channel=channel)), None
        if channel == "sms":
            until = quiet_until(now, config)
            if until is not None:
                return await settle("deferred", _l("quiet hours"), until), None
        if config.daily_limit > 0:
            day_start, day_end = local_day(now, config)
            sent_today = await Delivery.count().where(
                Delivery.recipient_key == d["recipient_key"],
                Delivery.id != d["id"],
                ((Delivery.status == "sent") & (Delivery.sent_at >= day_start))
                | ((Delivery.status == "sending") & (Delivery.updated_at >= day_start)),
            )
            if sent_today >= config.daily_limit:
                due = day_end
                if channel == "sms":
                    due = quiet_until(due, config) or due
                return await settle(
                    "deferred", _l("daily limit of {limit} reached").format(limit=config.daily_limit), due
                ), None
        attempts = d["attempts"] + 1
        await Delivery.update(
            {Delivery.status: "sending", Delivery.attempts: attempts, Delivery.updated_at: now}
        ).where(Delivery.id == d["id"])
        n = {k.removeprefix("notice."): v for k, v in d.items() if k.startswith("notice.")}
    ctx = json.loads(n["context"])
    sms_text = render(n["kind"], n["locale"], ctx, masked=True).sms if channel == "sms" else ""
    link = ctx.get("link") or ctx.get("receipt_link")
    msg = OutgoingMessage(
        notice_id=notice_id,
        delivery_id=d["id"],
        kind=n["kind"],
        locale=n["locale"],
        address=address,
        title=n["title"],
        body=n["body"],
        sms_text=sms_text,
        link=link if isinstance(link, str) else None,
        created_at=_aware(n["created_at"]),
        recipient_kind=n["recipient_kind"],
        subject_id=n["subject_id"],
        webhook_secret=rec["webhook_secret"],
    )
    return attempts, msg


async def attempt(notice_id: int, channel: str, config: DeliveryConfig, *, now: dt.datetime | None = None) -> Outcome:
    """Try to deliver once. Returns the outcome; ``retry_in`` set means "run me again after that long"."""
    now = _utc(now)
    claimed, msg = await _claim(notice_id, channel, config, now)
    if msg is None:
        return claimed
    attempts = claimed
    try:
        try:
            await SENDERS[channel](msg, config)
        except ChannelError:
            raise
        except Exception as e:  # noqa: BLE001 — never leave a row "sending": record it and retry like any failure
            log.exception("notice %s %s: unexpected error while sending", notice_id, channel)
            raise ChannelError(_l("unexpected error: {error}"), error=type(e).__name__) from e
    except ChannelError as e:
        final = e.permanent or attempts >= config.max_attempts
        # The reason is ours or the server's words about the transport: no address or personal data in it.
        reason = (
            e.message
            if e.permanent
            else _l("attempt {attempt} of {attempts}: {reason}").format(
                attempt=attempts, attempts=config.max_attempts, reason=e.message
            )
        )
        delay = None if final else config.backoff(attempts)
        await Delivery.update(
            {
                Delivery.status: "failed" if final else "retrying",
                Delivery.reason: reason,
                Delivery.due_at: now + dt.timedelta(seconds=delay or 0),
                Delivery.updated_at: now,
            }
        ).where(Delivery.id == msg.delivery_id)
        log.info("notice %s %s %s: %s", notice_id, channel, "failed" if final else "will retry", e.message)
        return Outcome("failed" if final else "retrying", reason, retry_in=delay)
    await Delivery.update(
        {Delivery.status: "sent", Delivery.reason: "", Delivery.sent_at: now, Delivery.updated_at: now}
    ).where(Delivery.id == msg.delivery_id)
    return Outcome("sent")


async def release_due(queue: JobQueue, *, now: dt.datetime | None = None, limit: int = 5000) -> int:
    """Put deliveries whose wait is over back on the queue: deferred ones now due, queued or retrying ones
    whose job was lost, and "sending" ones left by a worker that died or was stopped mid-send (after
    STALE_SENDING; the job that found them fresh had finished as a no-op, so nothing else would ever send
    them). Returns how many jobs were enqueued. Run every minute (cron) or by hand."""
    now = _utc(now)
    release = ((Delivery.status == "deferred") & (Delivery.due_at <= now)) | (
        (Delivery.status == "sending") & (Delivery.updated_at <= now - STALE_SENDING)
    )
    lost = Delivery.status.is_in(["queued", "retrying"]) & (Delivery.due_at <= now - STALE_QUEUED)
    due = (
        await Delivery.select(Delivery.id, Delivery.notice, Delivery.channel)
        .where(release)
        .order_by(Delivery.due_at)
        .limit(limit)
    )
    stale = (
        await Delivery.select(Delivery.id, Delivery.notice, Delivery.channel)
        .where(lost)
        .order_by(Delivery.due_at)
        .limit(limit)
    )
    for rows, values, still in ((due, {Delivery.status: "queued"}, release), (stale, {}, lost)):
        ids = [r["id"] for r in rows]
        for i in range(0, len(ids), 500):
            # Only rows still as read: a worker may have claimed or settled one meanwhile.
            await Delivery.update({**values, Delivery.due_at: now, Delivery.updated_at: now}).where(
                Delivery.id.is_in(ids[i : i + 500]) & still
            )
    # A deferred (or stale sending) delivery's first job has finished and arq keeps its result under the plain
    # id, so a release needs a new id. A stale one keeps the plain id: if its job is in fact still queued (a long backlog),
    # arq refuses the duplicate; if the queue lost it, it is queued again.
    enqueued = (
        await enqueue_deliveries(queue, [(r["notice"], r["channel"]) for r in due], suffix=f"@{int(now.timestamp())}")
        if due
        else 0
    )
    if stale:
        enqueued += await enqueue_deliveries(queue, [(r["notice"], r["channel"]) for r in stale])
    return enqueued
