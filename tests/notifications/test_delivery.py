"""Delivery through the real arq machinery (app.jobs.drain): email to a real SMTP server, SMS to an HTTP
gateway, signed webhooks, retries with backoff ending in `failed` with the reason while the inbox keeps the notice."""

from __future__ import annotations

import json

from app.jobs import drain
from notifications.channels.base import sign
from notifications.schemas import ChannelPreferences
from notifications.service import deliveries, inbox, notify, set_preferences
from tests.notifications.conftest import CTX, closed_port, make_recipient

ENT = "91360100MA35ABCDE1"
TALENT = "360102199001011234"


def by_channel(ds):
    return {d.channel: d for d in ds}


async def test_email_sms_and_webhook_delivered(queue, actor, channel_settings, smtp_sink, http_sink):
    await make_recipient(actor, ENT, webhook_url=f"{http_sink.url}/webhook", webhook_secret="alice-own-secret")
    n = await notify("enterprise", ENT, "money_arrived", f"arrived:P-1:{ENT}", CTX, actor=actor, queue=queue)
    await drain()
    ds = by_channel(await deliveries(n.id))
    assert {c: d.status for c, d in ds.items()} == {"inbox": "sent", "email": "sent", "sms": "sent", "webhook": "sent"}
    assert ds["email"].attempts == 1 and ds["email"].sent_at is not None

    [mail] = smtp_sink.messages
    assert mail["to"] == ["finance@example.cn"] and mail["subject"] == n.title
    assert CTX["receipt_link"] in mail["body"] and "****0123" in mail["body"]
    assert "6222021234567890123" not in mail["raw"].decode("utf-8", "replace")

    sms = [r for r in http_sink.requests if r["path"] == "/sms"]
    assert len(sms) == 1 and sms[0]["signed_with"] == "test-sms-secret"
    assert sms[0]["json"]["to"] == "13812345678" and "回单" in sms[0]["json"]["text"]
    hooks = [r for r in http_sink.requests if r["path"] == "/webhook"]
    assert len(hooks) == 1 and hooks[0]["signed_with"] == "alice-own-secret"
    assert hooks[0]["json"]["notice_id"] == n.id and hooks[0]["json"]["kind"] == "money_arrived"
    assert hooks[0]["json"]["recipient"]["subject_id"] != ENT  # masked

    # Re-running the same event sends nothing more.
    again = await notify("enterprise", ENT, "money_arrived", f"arrived:P-1:{ENT}", CTX, actor=actor, queue=queue)
    await drain()
    assert again.existing and len(smtp_sink.messages) == 1 and len(http_sink.requests) == 2


async def test_concurrent_notifies_send_one_email(queue, actor, channel_settings, smtp_sink):
    import asyncio

    await make_recipient(actor, TALENT, kind="talent", phone=None, email="zhang@example.cn")
    await asyncio.gather(
        *(
            notify("talent", TALENT, "matched_apply", f"matched:NC-TALENT@3:{TALENT}", CTX, actor=actor, queue=queue)
            for _ in range(5)
        )
    )
    await drain()
    assert len(smtp_sink.messages) == 1


async def test_smtp_unreachable_is_retried_then_failed_and_inbox_keeps_notice(queue, actor, channel_settings):
    channel_settings(smtp_port=closed_port())
    await make_recipient(actor, ENT, phone=None)
    n = await notify("enterprise", ENT, "payment_sent", "sent:1", CTX, actor=actor, queue=queue)
    await drain()
    email = by_channel(await deliveries(n.id))["email"]
    assert email.status == "failed" and email.attempts == 3
    assert "attempt 3 of 3" in email.reason and "could not be reached" in email.reason
    assert [x.id for x in await inbox("enterprise", ENT)] == [n.id]


async def test_smtp_temporary_refusal_then_success(queue, actor, channel_settings, smtp_sink):
    smtp_sink.refuse = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    await make_recipient(actor, ENT, phone=None)
    n = await notify("enterprise", ENT, "application_approved", "approved:1", CTX, actor=actor, queue=queue)
    await drain()
    email = by_channel(await deliveries(n.id))["email"]
    assert (email.status, email.attempts) == ("sent", 3)
    assert len(smtp_sink.messages) == 1


async def test_sms_gateway_500_is_retried_then_failed(queue, actor, channel_settings, http_sink):
    http_sink.respond_with = [500, 500, 500]
    await make_recipient(actor, ENT, email=None)
    n = await notify("enterprise", ENT, "payment_returned", "returned:1", CTX, actor=actor, queue=queue)
    await drain()
    sms = by_channel(await deliveries(n.id))["sms"]
    assert sms.status == "failed" and sms.attempts == 3 and "HTTP 500" in sms.reason
    assert len(http_sink.requests) == 3 and all(r["signature_ok"] for r in http_sink.requests)
    assert [x.id for x in await inbox("enterprise", ENT)] == [n.id]


async def test_sms_gateway_refusal_is_not_retried(queue, actor, channel_settings, http_sink):
    http_sink.respond_with = [400]
    await make_recipient(actor, ENT, email=None)
    n = await notify("enterprise", ENT, "payment_sent", "sent:2", CTX, actor=actor, queue=queue)
    await drain()
    sms = by_channel(await deliveries(n.id))["sms"]
    assert (sms.status, sms.attempts, sms.reason) == ("failed", 1, "the SMS gateway answered HTTP 400")


async def test_opt_out_after_the_notice_skips_the_channel(queue, actor, channel_settings, smtp_sink, http_sink):
    await make_recipient(actor, ENT)
    n = await notify("enterprise", ENT, "matched_auto", "m:1", CTX, actor=actor)  # not enqueued yet
    await set_preferences("enterprise", ENT, ChannelPreferences(email=True, sms=False, webhook=True), actor=actor)
    from notifications.service import enqueue_deliveries

    await enqueue_deliveries(queue, [(n.id, "email"), (n.id, "sms")])
    await drain()
    ds = by_channel(await deliveries(n.id))
    assert ds["email"].status == "sent"
    assert ds["sms"].status == "skipped" and "opted out" in ds["sms"].reason
    assert http_sink.requests == []


async def test_unconfigured_email_is_skipped_not_failed(queue, actor, channel_settings):
    channel_settings(smtp_host=None)
    await make_recipient(actor, ENT, phone=None)
    n = await notify("enterprise", ENT, "matched_auto", "m:2", CTX, actor=actor, queue=queue)
    await drain()
    email = by_channel(await deliveries(n.id))["email"]
    assert email.status == "skipped" and "not configured" in email.reason


def test_signature_is_hmac_sha256_over_timestamp_and_body():
    import hashlib
    import hmac

    body = json.dumps({"to": "13800000000", "text": "hi"}).encode()
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", "1700000000", body) == f"sha256={expected}"


async def test_a_malformed_webhook_url_fails_with_a_reason_instead_of_hanging(queue, actor, channel_settings):
    from notifications.tables import Recipient

    await make_recipient(actor, ENT, email=None, phone=None, webhook_url="http://127.0.0.1:9/hook")
    # A URL that passed validation once but cannot be used (edited below the service, e.g. by a migration).
    await Recipient.update({Recipient.webhook_url: "http://[::1"}).where(Recipient.subject_id == ENT)
    n = await notify("enterprise", ENT, "matched_auto", "bad-url", CTX, actor=actor, queue=queue)
    await drain()
    hook = by_channel(await deliveries(n.id))["webhook"]
    assert hook.status == "failed" and hook.attempts == 1  # refused for good (urlguard), not retried
