"""Fixtures for notifications/: a real SMTP server, an HTTP SMS gateway / webhook receiver, recipients, and the
settings the in-process arq worker sees (app.jobs.drain runs the real job functions)."""

from __future__ import annotations

import pytest

from app.audit import AuditActor
from notifications.schemas import ChannelPreferences, RecipientUpsert
from notifications.service import upsert_recipient
from notifications.sinks import HttpSink, SmtpSink, free_port

SMS_SECRET = "test-sms-secret"
PLATFORM_WEBHOOK_SECRET = "test-webhook-secret"


class SettingsView:
    """The platform settings with a few values replaced (channel settings are read duck-typed)."""

    def __init__(self, base, **overrides) -> None:
        self._base = base
        self._overrides = overrides

    def __getattr__(self, name):
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._base, name)


@pytest.fixture
def actor():
    return AuditActor("notifier-test", "system")


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def http_sink():
    sink = HttpSink(secrets=[SMS_SECRET, PLATFORM_WEBHOOK_SECRET, "alice-own-secret"]).start()
    yield sink
    sink.stop()


@pytest.fixture
def channel_settings(monkeypatch, smtp_sink, http_sink):
    """Point the worker's channels at the test's SMTP server and SMS gateway; fast retries, no quiet hours.
    Returns a function to change values (e.g. configure(smtp_port=<closed port>))."""
    import app.worker
    from app.config import get_settings

    values = dict(
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        sms_url=f"{http_sink.url}/sms",
        sms_secret=SMS_SECRET,
        webhook_secret=PLATFORM_WEBHOOK_SECRET,
        webhook_allow_hosts="127.0.0.1",  # the sinks listen on loopback (urlguard refuses it otherwise)
        notify_retry_base_seconds=0.02,
        notify_max_attempts=3,
        notify_sms_quiet_hours="",
        notify_daily_limit=20,
        notify_http_timeout_seconds=5,
    )
    view = SettingsView(get_settings(), **values)
    monkeypatch.setattr(app.worker, "get_settings", lambda: view)

    def configure(**more):
        values.update(more)
        view._overrides = dict(values)
        return view

    configure.view = view
    return configure


async def make_recipient(
    actor,
    subject_id="91360100MA35ABCDE1",
    kind="enterprise",
    *,
    email="finance@example.cn",
    phone="13812345678",
    webhook_url=None,
    webhook_secret=None,
    locale="zh-CN",
    preferences: ChannelPreferences | None = None,
    display_name="南昌示例科技有限公司",
):
    return await upsert_recipient(
        RecipientUpsert(
            kind=kind,
            subject_id=subject_id,
            display_name=display_name,
            email=email,
            phone=phone,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            locale=locale,
            preferences=preferences,
        ),
        actor=actor,
    )


def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


CTX = {
    "policy_title": "高新技术企业认定奖励",
    "amount": "200,000.00",
    "link": "http://127.0.0.1:8000/portal/policies/7",
    "account": "6222021234567890123",
    "phone": "13812345678",
    "id_number": "360102199001011234",
    "reason": "收款账户已销户",
    "application_no": "SQ-2026-000123",
    "answer": "经复核，维持原决定。",
    "receipt_link": "http://127.0.0.1:8000/receipts/42.pdf",
    "missing": ["还差：研发费用 ≥ 100万元，当前 80万元"],
}


@pytest.fixture
async def queue(fresh_db):
    """The embedded queue, emptied: ids restart with a fresh database, and arq keeps results of job ids."""
    from app.jobs import get_queue

    q = await get_queue()
    await q.flushall()
    return q
