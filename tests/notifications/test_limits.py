"""Quiet hours for SMS and the daily limit per subject, with a fixed clock (delivery.attempt takes `now`);
deferred deliveries leave the queue and come back through release_due."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from app.jobs import drain
from notifications.channels import DeliveryConfig
from notifications.delivery import attempt, quiet_until, release_due
from notifications.service import deliveries, notify
from tests.notifications.conftest import CTX, make_recipient

SH = ZoneInfo("Asia/Shanghai")
ENT = "91360100MA35ABCDE1"


def at(h, m=0, day=22):
    return dt.datetime(2026, 11, day, h, m, tzinfo=SH)


def config(channel_settings, **kw):
    return DeliveryConfig.from_settings(channel_settings(**kw))


def test_quiet_hours_window():
    c = DeliveryConfig()  # 22:00-08:00 Asia/Shanghai by default
    assert quiet_until(at(21, 59), c) is None
    assert quiet_until(at(22, 0), c) == at(8, 0, day=23)
    assert quiet_until(at(3, 0), c) == at(8, 0)
    assert quiet_until(at(8, 0), c) is None
    assert quiet_until(at(23, 0), DeliveryConfig(sms_quiet_hours=None)) is None


async def test_sms_in_quiet_hours_waits_until_morning(queue, actor, channel_settings, http_sink):
    cfg = config(channel_settings, notify_sms_quiet_hours="22:00-08:00")
    await make_recipient(actor, ENT)
    n = await notify("enterprise", ENT, "matched_auto", "q:1", CTX, actor=actor, now=at(23, 30))
    sms = await attempt(n.id, "sms", cfg, now=at(23, 30))
    email = await attempt(n.id, "email", cfg, now=at(23, 30))
    assert (sms.status, sms.reason, email.status) == ("deferred", "quiet hours", "sent")
    d = {x.channel: x for x in await deliveries(n.id)}["sms"]
    assert d.due_at == at(8, 0, day=23) and d.attempts == 0
    # A job run early (a duplicate, or a sweep) does nothing.
    assert (await attempt(n.id, "sms", cfg, now=at(7, 59, day=23))).status == "noop"
    assert await release_due(queue, now=at(7, 59, day=23)) == 0
    assert await release_due(queue, now=at(8, 0, day=23)) == 1
    channel_settings(notify_sms_quiet_hours="")  # the worker runs at wall-clock time, whatever it is
    await drain()
    assert {x.channel: x.status for x in await deliveries(n.id)}["sms"] == "sent"
    assert len(http_sink.requests) == 1


async def test_daily_limit_defers_the_excess_to_the_next_day(queue, actor, channel_settings, smtp_sink):
    cfg = config(channel_settings, notify_daily_limit=2)
    await make_recipient(actor, ENT, phone=None)
    notices = [
        await notify("enterprise", ENT, "application_received", f"r:{i}", CTX, actor=actor, now=at(10))
        for i in range(3)
    ]
    outcomes = [await attempt(n.id, "email", cfg, now=at(10, i)) for i, n in enumerate(notices)]
    assert [o.status for o in outcomes] == ["sent", "sent", "deferred"]
    assert outcomes[2].reason == "daily limit of 2 reached"
    third = {x.channel: x for x in await deliveries(notices[2].id)}["email"]
    assert third.due_at == at(0, day=23)
    # Another subject is not held back by this one's limit.
    await make_recipient(actor, "91360100MA35OTHER1", phone=None)
    other = await notify("enterprise", "91360100MA35OTHER1", "application_received", "r:o", CTX, actor=actor)
    assert (await attempt(other.id, "email", cfg, now=at(10, 5))).status == "sent"
    # Next day the deferred one goes out.
    assert await release_due(queue, now=at(0, 1, day=23)) == 1
    assert (await attempt(notices[2].id, "email", cfg, now=at(0, 1, day=23))).status == "sent"
    assert len(smtp_sink.messages) == 4


async def test_sms_over_the_limit_late_in_the_day_waits_for_quiet_hours_to_end(queue, actor, channel_settings):
    cfg = config(channel_settings, notify_daily_limit=1, notify_sms_quiet_hours="22:00-08:00")
    await make_recipient(actor, ENT, email=None)
    a = await notify("enterprise", ENT, "payment_sent", "s:1", CTX, actor=actor)
    b = await notify("enterprise", ENT, "payment_sent", "s:2", CTX, actor=actor)
    assert (await attempt(a.id, "sms", cfg, now=at(21))).status == "sent"
    assert (await attempt(b.id, "sms", cfg, now=at(21, 30))).status == "deferred"
    assert {x.channel: x for x in await deliveries(b.id)}["sms"].due_at == at(8, day=23)


async def test_lost_jobs_are_queued_again_but_never_duplicated(queue, actor, channel_settings, smtp_sink):
    await make_recipient(actor, ENT, phone=None)
    n = await notify(
        "enterprise",
        ENT,
        "matched_auto",
        "lost:1",
        CTX,
        actor=actor,
        queue=queue,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10),
    )
    # Its job is still queued: the sweep's copy is refused by the job id.
    assert await release_due(queue) == 0
    await queue.flushall()  # the queue loses it (an embedded restart)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert await release_due(queue, now=later) == 1
    await drain()
    assert {d.channel: d.status for d in await deliveries(n.id)}["email"] == "sent"
    assert len(smtp_sink.messages) == 1


async def test_a_delivery_left_sending_by_a_dead_worker_is_sent_after_the_stale_time(
    queue, actor, channel_settings, smtp_sink
):
    """A worker killed (or its job cancelled) mid-send leaves the row 'sending'. The job that finds it fresh ends as a
    no-op and nothing else would ever send it: the sweep puts it back on the queue once it is stale, not before."""
    from notifications.tables import Delivery

    await make_recipient(actor, ENT, phone=None)
    n = await notify("enterprise", ENT, "matched_auto", "dead:1", CTX, actor=actor, queue=None)
    left = dt.datetime.now(dt.UTC)
    # The state a worker that died after claiming the email leaves behind.
    await Delivery.update({Delivery.status: "sending", Delivery.updated_at: left}).where(
        (Delivery.notice == n.id) & (Delivery.channel == "email")
    )
    assert (
        await attempt(n.id, "email", config(channel_settings), now=left + dt.timedelta(minutes=11))
    ).status == "noop"
    assert await release_due(queue, now=left + dt.timedelta(minutes=11)) == 0
    assert await release_due(queue, now=left + dt.timedelta(minutes=16)) == 1
    await drain()
    assert {d.channel: d.status for d in await deliveries(n.id)}["email"] == "sent"
    assert len(smtp_sink.messages) == 1
    assert await release_due(queue, now=left + dt.timedelta(minutes=40)) == 0  # sent: never again
