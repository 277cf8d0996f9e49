"""The portal inbox over HTTP: list with the unread count, opening a notice marks it read, another subject's
notice is not found, the opt-out form, and notices in the reader's language."""
from __future__ import annotations

import contextlib

import pytest
from litestar.testing import TestClient

from app.main import create_app
from notifications.service import notify
from tests.notifications.conftest import CTX, make_recipient
from tests.web import csrf_headers, ensure_user, login

A = "91360100MA35AAAAA1"
B = "91360100MA35BBBBB2"


@pytest.fixture
async def clients(fresh_db):
    await ensure_user(A, "enterprise")
    await ensure_user(B, "enterprise")
    app = create_app()
    with contextlib.ExitStack() as stack:
        yield {name: login(stack.enter_context(TestClient(app)), name) for name in (A, B)}


async def test_inbox_unread_open_and_ownership(clients, actor):
    await make_recipient(actor, A, phone="13812345678")
    first = await notify("enterprise", A, "matched_auto", "m:A:1", CTX, actor=actor)
    second = await notify("enterprise", A, "payment_returned", "r:A:1", CTX, actor=actor)
    other = await notify("enterprise", B, "matched_auto", "m:B:1", CTX, actor=actor)
    a, b = clients[A], clients[B]

    body = a.get("/api/portal/notices").json()
    assert body["unread"] == 2 and [n["id"] for n in body["notices"]] == [second.id, first.id]
    page = a.get("/portal/inbox")
    assert page.status_code == 200 and 'data-testid="unread-count">2<' in page.text and second.title in page.text

    opened = a.get(f"/portal/inbox/{first.id}")
    assert opened.status_code == 200 and first.title in opened.text
    assert "6222021234567890123" not in opened.text and "****0123" in opened.text
    assert a.get("/api/portal/notices").json()["unread"] == 1
    deliveries = a.get(f"/api/portal/notices/{first.id}/deliveries").json()
    assert {d["channel"]: d["status"] for d in deliveries} == {"inbox": "read", "email": "queued", "sms": "queued"}

    # B sees none of A's notices, and A none of B's.
    for url in (f"/api/portal/notices/{first.id}", f"/portal/inbox/{first.id}", f"/api/portal/notices/{first.id}/deliveries"):
        assert b.get(url).status_code == 404
    assert b.post(f"/api/portal/notices/{second.id}/read", headers=csrf_headers(b)).status_code == 404
    assert a.get(f"/api/portal/notices/{other.id}").status_code == 404
    assert a.get("/api/portal/notices").json()["unread"] == 1  # B's attempt changed nothing
    assert [n["id"] for n in b.get("/api/portal/notices").json()["notices"]] == [other.id]

    r = a.post(f"/api/portal/notices/{second.id}/read", headers=csrf_headers(a))
    assert r.status_code == 200 and r.json()["read_at"] is not None
    assert a.get("/api/portal/notices").json()["unread"] == 0


async def test_opt_out_form_and_api(clients, actor):
    await make_recipient(actor, A)
    a = clients[A]
    assert a.get("/api/portal/preferences").json()["preferences"] == {"email": True, "sms": True, "webhook": True}
    r = a.post("/portal/preferences", data={"email": "true"}, headers=csrf_headers(a), follow_redirects=False)
    assert r.status_code in (302, 303)
    prefs = a.get("/api/portal/preferences").json()
    assert prefs["preferences"] == {"email": True, "sms": False, "webhook": False}
    assert prefs["phone_masked"] == "138****5678"
    page = a.get("/portal/preferences?saved=1")
    assert 'data-testid="saved"' in page.text and "13812345678" not in page.text
    n = await notify("enterprise", A, "application_received", "ar:1", CTX, actor=actor)
    assert [d["channel"] for d in a.get(f"/api/portal/notices/{n.id}/deliveries").json()] == ["inbox", "email"]
    r = a.put("/api/portal/preferences", json={"email": False, "sms": True, "webhook": True}, headers=csrf_headers(a))
    assert r.status_code == 200 and r.json()["preferences"]["email"] is False


async def test_notice_shown_in_the_readers_language(clients, actor):
    n = await notify("enterprise", A, "application_rejected", "rej:1", CTX, actor=actor)
    a = clients[A]
    assert "未通过" in a.get(f"/api/portal/notices/{n.id}").json()["title"]
    a.cookies.set("lang", "en")
    body = a.get(f"/api/portal/notices/{n.id}").json()
    assert "was not approved" in body["title"] and "收款账户已销户" in body["body"]
