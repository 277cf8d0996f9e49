"""The portal inbox over HTTP: list with the unread count, opening a notice marks it read, another subject's
notice is not found, the opt-out form, and notices in the reader's language."""

from __future__ import annotations

import contextlib

import pytest

from notifications.service import deliveries, notify
from tests.notifications.conftest import CTX, make_recipient
from tests.web import alogin, ensure_user, own_loop_client

A = "91360100MA35AAAAA1"
B = "91360100MA35BBBBB2"


def csrf_headers(client) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken")}


@pytest.fixture
async def users(fresh_db):
    await ensure_user(A, "enterprise")
    await ensure_user(B, "enterprise")


@contextlib.asynccontextmanager
async def client():
    """One client of the app (tests.web.own_loop_client, no database calls of the test's own inside);
    ``await alogin(c, name)`` switches the session."""
    async with own_loop_client() as c:
        await c.get("/login")
        yield c


async def test_inbox_unread_open_and_ownership(users, actor):
    await make_recipient(actor, A, phone="13812345678")
    first = await notify("enterprise", A, "matched_auto", "m:A:1", CTX, actor=actor)
    second = await notify("enterprise", A, "payment_returned", "r:A:1", CTX, actor=actor)
    other = await notify("enterprise", B, "matched_auto", "m:B:1", CTX, actor=actor)
    async with client() as c:
        await alogin(c, A)
        body = (await c.get("/api/portal/notices")).json()
        assert body["unread"] == 2 and [n["id"] for n in body["notices"]] == [second.id, first.id]
        page = await c.get("/portal/inbox")
        assert page.status_code == 200 and 'data-testid="unread-count">2<' in page.text and second.title in page.text

        opened = await c.get(f"/portal/inbox/{first.id}")
        assert opened.status_code == 200 and first.title in opened.text
        assert "6222021234567890123" not in opened.text and "****0123" in opened.text
        assert (await c.get("/api/portal/notices")).json()["unread"] == 1
        ds = (await c.get(f"/api/portal/notices/{first.id}/deliveries")).json()
        assert {d["channel"]: d["status"] for d in ds} == {"inbox": "read", "email": "queued", "sms": "queued"}
        assert (await c.get(f"/api/portal/notices/{other.id}")).status_code == 404

        # B sees none of A's notices and cannot mark them read.
        await alogin(c, B)
        for url in (
            f"/api/portal/notices/{first.id}",
            f"/portal/inbox/{first.id}",
            f"/api/portal/notices/{first.id}/deliveries",
        ):
            assert (await c.get(url)).status_code == 404
        assert (await c.post(f"/api/portal/notices/{second.id}/read", headers=csrf_headers(c))).status_code == 404
        assert [n["id"] for n in (await c.get("/api/portal/notices")).json()["notices"]] == [other.id]

        await alogin(c, A)
        assert (await c.get("/api/portal/notices")).json()["unread"] == 1  # B's attempt changed nothing
        r = await c.post(f"/api/portal/notices/{second.id}/read", headers=csrf_headers(c))
        assert r.status_code == 200 and r.json()["read_at"] is not None
        assert (await c.get("/api/portal/notices")).json()["unread"] == 0


async def test_opt_out_form_and_api(users, actor):
    await make_recipient(actor, A)
    async with client() as c:
        await alogin(c, A)
        prefs = (await c.get("/api/portal/preferences")).json()
        assert prefs["preferences"] == {"email": True, "sms": True, "webhook": True}
        r = await c.post("/portal/preferences", data={"email": "true"}, headers=csrf_headers(c), follow_redirects=False)
        assert r.status_code in (302, 303)
        prefs = (await c.get("/api/portal/preferences")).json()
        assert prefs["preferences"] == {"email": True, "sms": False, "webhook": False}
        assert prefs["phone_masked"] == "138****5678"
        page = await c.get("/portal/preferences?saved=1")
        assert 'data-testid="saved"' in page.text and "13812345678" not in page.text
        r = await c.put(
            "/api/portal/preferences", json={"email": True, "sms": False, "webhook": False}, headers=csrf_headers(c)
        )
        assert r.status_code == 200 and r.json()["preferences"] == {"email": True, "sms": False, "webhook": False}
    n = await notify("enterprise", A, "application_received", "ar:1", CTX, actor=actor)
    assert [d.channel for d in await deliveries(n.id)] == ["inbox", "email"]


async def test_notice_shown_in_the_readers_language(users, actor):
    n = await notify("enterprise", A, "application_rejected", "rej:1", CTX, actor=actor)
    async with client() as c:
        await alogin(c, A)
        assert "未通过" in (await c.get(f"/api/portal/notices/{n.id}")).json()["title"]
        c.cookies.set("lang", "en")
        body = (await c.get(f"/api/portal/notices/{n.id}")).json()
        assert "was not approved" in body["title"] and "收款账户已销户" in body["body"]


async def test_a_delivery_deferred_by_quiet_hours_reads_in_chinese(users, actor, channel_settings):
    """The SMS of a notice made at Beijing night waits for the morning: the notice page says why in Chinese."""
    import datetime as dt
    import re
    from zoneinfo import ZoneInfo

    from notifications.channels import DeliveryConfig
    from notifications.delivery import attempt

    night = dt.datetime(2026, 11, 22, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    cfg = DeliveryConfig.from_settings(channel_settings(notify_sms_quiet_hours="22:00-08:00"))
    await make_recipient(actor, A)
    n = await notify("enterprise", A, "matched_auto", "q:A:1", CTX, actor=actor, now=night)
    assert (await attempt(n.id, "sms", cfg, now=night)).status == "deferred"
    async with client() as c:
        await alogin(c, A)
        page = (await c.get(f"/portal/inbox/{n.id}")).text
        table = page[page.index("<table") : page.index("</table>")]
        assert "免打扰" in table
        assert "quiet hours" not in page
        words = [w for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", " ", table)) if w not in {"SMS"}]
        assert not words, words


async def test_the_three_stored_delivery_reasons_read_in_chinese(users, actor, channel_settings, http_sink):
    """Issue 17, item 4: "the sms channel is not configured", "daily limit of 1 reached" and "attempt 1 of 3: …" are
    stored in English (the CLI and the API read them) and shown in the reader's language on the notice page."""
    import datetime as dt
    import re

    from notifications.channels import DeliveryConfig
    from notifications.delivery import attempt

    day = dt.datetime.now(dt.UTC)  # today: nothing deferred falls due while the page is read
    await make_recipient(actor, A)
    cfg = DeliveryConfig.from_settings(channel_settings(sms_url=None, notify_daily_limit=1))
    first = await notify("enterprise", A, "application_received", "r:1", CTX, actor=actor, now=day)
    assert (await attempt(first.id, "email", cfg, now=day)).status == "sent"
    n = await notify("enterprise", A, "application_received", "r:2", CTX, actor=actor, now=day)
    assert (await attempt(n.id, "email", cfg, now=day)).reason == "daily limit of 1 reached"
    assert (await attempt(n.id, "sms", cfg, now=day)).reason == "the sms channel is not configured"
    http_sink.respond_with = [503]
    cfg = DeliveryConfig.from_settings(
        channel_settings(sms_url=f"{http_sink.url}/sms", notify_daily_limit=0, notify_retry_base_seconds=3600)
    )
    other = await notify("enterprise", A, "application_received", "r:3", CTX, actor=actor, now=day)
    retried = await attempt(other.id, "sms", cfg, now=day)
    assert (retried.status, retried.reason) == ("retrying", "attempt 1 of 3: the SMS gateway answered HTTP 503")
    async with client() as c:
        await alogin(c, A)
        for notice_id, wanted in (
            (n.id, ("每日发送上限", "1", "短信渠道未配置")),
            (other.id, ("第 1 次", "共 3 次", "短信网关", "503")),
        ):
            page = (await c.get(f"/portal/inbox/{notice_id}")).text
            table = page[page.index("<table") : page.index("</table>")]
            for w in wanted:
                assert w in table, table
            words = [w for w in re.findall(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", " ", table)) if w not in {"SMS", "HTTP"}]
            assert not words, (words, table)
        c.cookies.set("lang", "en")
        page = (await c.get(f"/portal/inbox/{n.id}")).text
        assert "daily limit of 1 reached" in page and "the sms channel is not configured" in page
