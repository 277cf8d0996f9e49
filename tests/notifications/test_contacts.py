"""Contact points the subject sets in the portal (联系方式): each verified by a code sent through that very channel
(SMTP server, SMS gateway and webhook receiver of the tests: the edge); the code stored hashed, expiring, with
limited attempts, every step audited; an unverified address never receives a notice; opt-outs kept."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from app.audit import AuditActor
from kit.db import raw
from notifications import contacts
from notifications.channels.base import DeliveryConfig
from notifications.errors import RecipientInvalid
from notifications.service import deliveries, get_recipient, notify
from tests.notifications.conftest import CTX, SMS_SECRET
from tests.web import acsrf, alogin, asgi_client, ensure_user

A = "91360100MA35CCCCC3"


def _code(text: str) -> str:
    found = re.findall(r"\b(\d{6})\b", text)
    assert found, text
    return found[-1]


async def _actions() -> list[str]:
    return [r["action"] for r in await raw("SELECT action FROM app_audit_entry ORDER BY id")]


async def test_a_mobile_number_is_used_only_once_its_code_comes_back(fresh_db, channel_settings, http_sink, actor):
    await ensure_user(A, "enterprise")
    async with asgi_client() as c:
        await alogin(c, A)
        r = await c.post("/api/portal/contacts/sms/code", json={"address": "139 1234 5678"}, headers=acsrf(c))
        assert r.status_code == 202, r.text
        assert r.json()["address_masked"] == "139****5678"
        (sms,) = [q for q in http_sink.requests if q["path"] == "/sms"]
        assert sms["signature_ok"] and sms["json"]["to"] == "13912345678" and "验证码" in sms["json"]["text"]
        code = _code(sms["json"]["text"])
        # Waiting for its code, the number is not the recipient's: a notice now goes to the inbox only.
        assert (await c.get("/api/portal/preferences")).json()["phone_masked"] == ""
        before = await notify("enterprise", A, "matched_auto", "m:contacts:1", CTX, actor=actor)
        assert {d.channel for d in await deliveries(before.id)} == {"inbox"}
        # Stored hashed: the code is in no column of its row.
        (row,) = await raw("SELECT * FROM notifications_contact_code")
        assert code not in " ".join(str(v) for v in row.values()) and row["status"] == "pending"

        again = await c.post("/api/portal/contacts/sms/code", json={"address": "13912345678"}, headers=acsrf(c))
        assert again.status_code == 429  # one code a minute per channel
        wrong = "000000" if code != "000000" else "111111"
        bad = await c.post("/api/portal/contacts/sms/verify", json={"code": wrong}, headers=acsrf(c))
        assert bad.status_code == 422 and "4" in bad.json()["error"]
        ok = await c.post("/api/portal/contacts/sms/verify", json={"code": code}, headers=acsrf(c))
        assert ok.status_code == 200 and ok.json()["phone_masked"] == "139****5678"
        after = await notify("enterprise", A, "matched_auto", "m:contacts:2", CTX, actor=actor)
        assert {d.channel for d in await deliveries(after.id)} == {"inbox", "sms"}
        used = await c.post("/api/portal/contacts/sms/verify", json={"code": code}, headers=acsrf(c))
        assert used.status_code == 422  # a code is good once
    actions = await _actions()
    assert actions.count("contact.code_sent") == 1 and "contact.code_wrong" in actions
    assert "contact.verified" in actions
    trail = " ".join(str(r) for r in await raw("SELECT * FROM app_audit_entry WHERE action LIKE 'contact.%'"))
    assert "13912345678" not in trail and code not in trail


async def test_the_contacts_page_verifies_an_email_address_and_keeps_the_opt_out(
    fresh_db, channel_settings, smtp_sink, http_sink
):
    await ensure_user(A, "enterprise")
    async with asgi_client() as c:
        await alogin(c, A)
        off = await c.put(
            "/api/portal/preferences", json={"email": False, "sms": True, "webhook": True}, headers=acsrf(c)
        )
        assert off.status_code == 200
        c.headers["accept"] = "text/html"  # a browser: a refused form comes back to its page with the reason
        page = await c.get("/portal/contacts")
        assert page.status_code == 200 and "联系方式" in page.text and "发送验证码" in page.text
        form = {"address": "Finance@Example.cn", "_csrf_token": c.cookies.get("csrftoken")}
        sent = await c.post("/portal/contacts/email/code", data=form, follow_redirects=True)
        assert sent.status_code == 200 and "验证码已发送至 f***@example.cn" in sent.text
        (mail,) = smtp_sink.messages
        assert mail["to"] == ["finance@example.cn"] and "验证码" in mail["subject"]
        code = _code(mail["body"])
        assert 'data-testid="contact-email-verify"' in sent.text
        wrong = {"code": "12", "_csrf_token": c.cookies.get("csrftoken")}
        refused = await c.post("/portal/contacts/email/verify", data=wrong, follow_redirects=True)
        assert "验证码不正确" in refused.text
        done = await c.post(
            "/portal/contacts/email/verify",
            data={"code": code, "_csrf_token": c.cookies.get("csrftoken")},
            follow_redirects=True,
        )
        assert 'data-testid="contact-email-current">finance@example.cn<' in done.text and "已关闭" in done.text
        prefs = (await c.get("/api/portal/preferences")).json()
        assert prefs["email"] == "finance@example.cn" and prefs["preferences"]["email"] is False  # opt-out kept
        removed = await c.post(
            "/portal/contacts/email/remove", data={"_csrf_token": c.cookies.get("csrftoken")}, follow_redirects=True
        )
        assert removed.status_code == 200 and (await c.get("/api/portal/preferences")).json()["email"] is None


async def test_a_webhook_code_expires_and_wrong_codes_run_out(fresh_db, http_sink):
    actor = AuditActor(A, "enterprise")
    config = DeliveryConfig(webhook_secret="test-webhook-secret", sms_secret=SMS_SECRET, webhook_allow=("127.0.0.1",))
    t0 = dt.datetime(2026, 12, 3, 8, 0, tzinfo=dt.UTC)
    url = f"{http_sink.url}/hook"
    await contacts.start("enterprise", A, "webhook", url, actor=actor, config=config, now=t0)
    (hook,) = http_sink.requests
    assert hook["signature_ok"] and hook["json"]["kind"] == "contact_code"
    code = _code(hook["json"]["body"])
    late = t0 + dt.timedelta(minutes=contacts.CODE_MINUTES, seconds=1)
    with pytest.raises(contacts.CodeRefused, match="expired"):
        await contacts.confirm("enterprise", A, "webhook", code, actor=actor, now=late)
    t1 = t0 + dt.timedelta(minutes=20)
    await contacts.start("enterprise", A, "webhook", url, actor=actor, config=config, now=t1)
    code = _code(http_sink.requests[-1]["json"]["body"])
    wrong = "000000" if code != "000000" else "111111"
    for left in range(contacts.MAX_ATTEMPTS - 1, -1, -1):
        with pytest.raises(contacts.CodeRefused, match=f"{left} attempts left"):
            await contacts.confirm("enterprise", A, "webhook", wrong, actor=actor, now=t1)
    with pytest.raises(contacts.CodeRefused):  # the right code, after the attempts ran out
        await contacts.confirm("enterprise", A, "webhook", code, actor=actor, now=t1)
    assert await get_recipient("enterprise", A) is None  # the URL never became a contact point
    for channel, address in (("sms", "1234"), ("email", "no-at-sign"), ("webhook", "ftp://x")):
        with pytest.raises(RecipientInvalid):
            await contacts.start("enterprise", A, channel, address, actor=actor, config=config, now=t1)
