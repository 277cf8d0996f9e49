"""The portal and the review flow through HTTP: status to the money, explanation, account confirmation and
verification, applications with attachments, four eyes, rejection, objections, audit without personal data."""

from __future__ import annotations

import datetime as dt
import json

from kit import workdays
from kit.time import now
from tests.payments.factories import bank_settings, run_all
from tests.portal.conftest import csrf as csrf_headers
from tests.portal.fixtures import (
    ACCOUNT_A,
    APPLY_ENT,
    APPLY_TALENT,
    AUTO_ENT,
    ENT_A,
    ENT_B,
    EXE,
    FINANCE,
    PDF,
    PNG,
    REVIEWER,
    REVIEWER2,
    TALENT_A,
    TALENT_B,
)


async def _item(client, code):
    r = await client.get("/api/portal/overview")
    assert r.status_code == 200, r.text
    return next(i for i in r.json()["policies"] if i["code"] == code), r.json()


async def _apply(client, version_id, files, statement="我符合条件"):
    return await client.post(
        f"/api/portal/policies/{version_id}/applications",
        data={"statement": statement},
        files=files,
        headers=csrf_headers(client),
    )


async def test_home_shows_each_policy_with_its_stage_and_the_unread_count(world, client_as):
    a = await client_as(ENT_A)
    item, body = await _item(a, AUTO_ENT)
    assert body["unread"] == 2  # matched_auto and matched_apply
    assert item["stage"] == "payable" and item["amount"] == "20,000.00" and item["mode"] == "auto"
    assert [s["state"] for s in item["steps"]][:3] == ["done", "done", "current"]
    assert (await _item(a, APPLY_ENT))[0]["stage"] == "may_apply"
    page = await a.get("/portal")
    assert page.status_code == 200 and "测试稳岗返还" in page.text and 'data-testid="unread-count">2<' in page.text
    assert "/portal/inbox" in page.text
    assert ACCOUNT_A not in page.text and "6222****1234" in page.text


async def test_policy_page_explains_why_in_chinese_and_english(world, client_as):
    a = await client_as(ENT_A)
    vid = world.versions[AUTO_ENT]
    r = await a.get(f"/api/portal/policies/{vid}")
    assert r.status_code == 200
    body = r.json()
    assert body["explanation"]["eligible"] is True and body["content"]["summary"].startswith("参保职工")
    assert body["account"]["account_masked"] == "6222****1234"
    page = await a.get(f"/portal/policies/{vid}")
    assert "为什么您符合条件" in page.text and "稳岗返还" in page.text
    a.cookies.set("lang", "en")
    page = await a.get(f"/portal/policies/{vid}")
    assert "Why you qualify" in page.text
    en = (await a.get(f"/api/portal/policies/{vid}")).json()["explanation"]
    assert en["summary"] != body["explanation"]["summary"]
    # a talent policy is not an enterprise's to see
    assert (await a.get(f"/api/portal/policies/{world.versions[APPLY_TALENT]}")).status_code == 404


async def test_confirming_keeps_the_account_verified_and_a_correction_holds_payment_until_verified(world, client_as):
    a, finance, auditor = await client_as(ENT_A), await client_as(FINANCE), await client_as("pt_auditor")
    r = await a.put(
        "/api/portal/account", json={"bank_name": "中国银行南昌分行", "account": ACCOUNT_A}, headers=csrf_headers(a)
    )
    assert r.status_code == 200 and r.json()["status"] == "verified" and r.json()["confirmed"]
    assert (await _item(a, AUTO_ENT))[0]["stage"] == "payable"

    r = await a.put(
        "/api/portal/account",
        json={"bank_name": "工商银行南昌分行", "account": "6212 2602 0000 9999"},
        headers=csrf_headers(a),
    )
    assert r.status_code == 200
    assert r.json()["status"] == "unverified" and r.json()["account_masked"] == "6212****9999"
    assert (await _item(a, AUTO_ENT))[0]["stage"] == "account_unverified"  # no payment to an unverified account

    assert (await a.get("/api/applications/accounts")).status_code == 403
    queue = (await finance.get("/api/applications/accounts")).json()
    assert [q["account"] for q in queue] == ["6212260200009999"]
    r = await finance.post(f"/api/applications/accounts/enterprise/{ENT_A}/verify", headers=csrf_headers(finance))
    assert r.status_code == 200 and r.json()["status"] == "verified"
    assert (await _item(a, AUTO_ENT))[0]["stage"] == "payable"
    assert (
        await finance.post(f"/api/applications/accounts/enterprise/{ENT_A}/verify", headers=csrf_headers(finance))
    ).status_code == 409

    entries = (await auditor.get("/api/audit?entity=subject_account")).json()
    assert [e["action"] for e in entries] == ["account.verify", "account.correct", "account.confirm"]
    text = json.dumps(entries, ensure_ascii=False)
    assert "6212260200009999" not in text and ACCOUNT_A not in text

    r = await a.put("/api/portal/account", json={"bank_name": "x", "account": "12ab"}, headers=csrf_headers(a))
    assert r.status_code == 400


async def test_a_talent_applies_with_an_attachment_and_two_officers_approve_it(world, client_as):
    t, r1, r2 = await client_as(TALENT_A), await client_as(REVIEWER), await client_as(REVIEWER2)
    vid = world.versions[APPLY_TALENT]
    unread_before = (await _item(t, APPLY_TALENT))[1]["unread"]
    r = await _apply(
        t, vid, [("files", ("degree.pdf", PDF, "application/pdf")), ("files", ("photo.png", PNG, "image/png"))]
    )
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["status"] == "submitted" and app["amount"] == "80000.00" and app["needs_two"] is True
    assert [f["content_type"] for f in app["attachments"]] == ["application/pdf", "image/png"]
    assert (await _item(t, APPLY_TALENT))[0]["stage"] == "applied"
    assert (await _apply(t, vid, [])).status_code == 409  # once

    att = app["attachments"][0]["id"]
    got = await t.get(f"/api/portal/attachments/{att}")
    assert got.status_code == 200 and got.content == PDF and "attachment" in got.headers["content-disposition"]
    assert (await r1.get(f"/api/applications/attachments/{att}")).content == PDF
    queue = (await r1.get("/api/applications?status=submitted")).json()
    assert [q["id"] for q in queue] == [app["id"]]
    assert "degree.pdf" in (await r1.get(f"/applications/{app['id']}")).text

    r = await r1.post(f"/api/applications/{app['id']}/approve", json={}, headers=csrf_headers(r1))
    assert r.status_code == 200 and r.json()["status"] == "first_approved"
    r = await r1.post(f"/api/applications/{app['id']}/approve", json={}, headers=csrf_headers(r1))
    assert r.status_code == 403 and "another officer" in r.json()["error"]
    assert (await t.post(f"/api/applications/{app['id']}/approve", json={}, headers=csrf_headers(t))).status_code == 403
    r = await r2.post(f"/api/applications/{app['id']}/approve", json={"reason": "材料齐全"}, headers=csrf_headers(r2))
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["entitlement_id"]
    assert (
        await r2.post(f"/api/applications/{app['id']}/approve", json={}, headers=csrf_headers(r2))
    ).status_code == 409

    item, body = await _item(t, APPLY_TALENT)
    # no account came with the talent's profile: the entitlement waits for one, entered and then verified
    assert item["stage"] == "waiting_account" and item["entitlement_id"] == r.json()["entitlement_id"]
    assert body["unread"] == unread_before + 2  # received, approved
    await t.put(
        "/api/portal/account", json={"bank_name": "建设银行", "account": "6217000000001111"}, headers=csrf_headers(t)
    )
    assert (await _item(t, APPLY_TALENT))[0]["stage"] == "account_unverified"
    finance = await client_as(FINANCE)
    assert (
        await finance.post(f"/api/applications/accounts/talent/{TALENT_A}/verify", headers=csrf_headers(finance))
    ).status_code == 200
    assert (await _item(t, APPLY_TALENT))[0]["stage"] == "payable"
    assert "已通过" in (await t.get(f"/portal/applications/{app['id']}")).text


async def test_below_the_threshold_one_approval_suffices(world, client_as):
    t, r1 = await client_as(TALENT_B), await client_as(REVIEWER)
    app = (await _apply(t, world.versions[APPLY_TALENT], [("files", ("d.pdf", PDF, "application/pdf"))])).json()
    assert app["amount"] == "30000.00" and app["needs_two"] is False
    r = await r1.post(f"/api/applications/{app['id']}/approve", json={}, headers=csrf_headers(r1))
    assert r.json()["status"] == "approved"


async def test_bad_attachments_are_refused_and_nothing_is_stored(world, client_as):
    t = await client_as(TALENT_A)
    vid = world.versions[APPLY_TALENT]
    r = await _apply(t, vid, [("files", ("cv.pdf", EXE, "application/pdf"))])
    assert r.status_code == 400 and "PDF" in r.json()["error"]
    r = await _apply(t, vid, [("files", ("big.pdf", PDF + b"0" * (5 * 1024 * 1024), "application/pdf"))])
    assert r.status_code == 413
    r = await _apply(t, vid, [("files", (f"f{i}.png", PNG, "image/png")) for i in range(6)])
    assert r.status_code == 400
    assert (await t.get("/api/portal/applications")).json() == []
    # an auto-mode policy takes no application
    e = await client_as(ENT_A)
    assert (await _apply(e, world.versions[AUTO_ENT], [])).status_code == 409


async def test_rejection_with_a_reason_then_an_objection_answered_before_the_deadline(world, client_as):
    t, r1 = await client_as(TALENT_B), await client_as(REVIEWER)
    app = (await _apply(t, world.versions[APPLY_TALENT], [("files", ("d.pdf", PDF, "application/pdf"))])).json()
    r = await r1.post(f"/api/applications/{app['id']}/reject", json={"reason": ""}, headers=csrf_headers(r1))
    assert r.status_code == 409
    r = await r1.post(
        f"/api/applications/{app['id']}/reject", json={"reason": "学位证书不清晰"}, headers=csrf_headers(r1)
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (await _item(t, APPLY_TALENT))[0]["stage"] == "rejected"
    assert "学位证书不清晰" in (await t.get(f"/portal/applications/{app['id']}")).text

    r = await t.post(
        "/api/portal/objections",
        json={"target": "application", "target_id": app["id"], "text": "证书已重新上传"},
        headers=csrf_headers(t),
    )
    assert r.status_code == 201, r.text
    obj = r.json()
    # 15 Chinese working days (official holidays and swapped weekends), ending at midnight Beijing time
    due = dt.datetime.fromisoformat(obj["due_at"])
    assert due == workdays.deadline(now(), 15) and workdays.workdays_left(now(), due) == 15
    assert 20 * 86400 < obj["seconds_left"] <= (due - now()).total_seconds() + 5
    days_left = obj["seconds_left"] // 86400
    assert (
        await t.post(
            "/api/portal/objections",
            json={"target": "application", "target_id": app["id"], "text": "again"},
            headers=csrf_headers(t),
        )
    ).status_code == 409
    queue = (await r1.get("/api/applications/objections")).json()
    assert [o["id"] for o in queue] == [obj["id"]] and queue[0]["seconds_left"] > 20 * 86400
    page = await r1.get("/applications/objections")
    assert 'data-testid="countdown"' in page.text and f"{days_left}天" in page.text
    unread = (await _item(t, APPLY_TALENT))[1]["unread"]
    r = await r1.post(
        f"/api/applications/objections/{obj['id']}/answer", json={"answer": "请重新提交申请"}, headers=csrf_headers(r1)
    )
    assert r.status_code == 200 and r.json()["status"] == "answered"
    assert (await t.get(f"/api/portal/objections/{obj['id']}")).json()["answer"] == "请重新提交申请"
    assert (await _item(t, APPLY_TALENT))[1]["unread"] == unread + 1
    # after a rejection the subject may apply again
    assert (await _apply(t, world.versions[APPLY_TALENT], [])).status_code == 201


async def test_an_objection_to_an_entitlement(world, client_as):
    a = await client_as(ENT_A)
    ent = (await _item(a, AUTO_ENT))[0]["entitlement_id"]
    r = await a.post(
        "/api/portal/objections",
        json={"target": "entitlement", "target_id": ent, "text": "金额应为三万"},
        headers=csrf_headers(a),
    )
    assert r.status_code == 201 and r.json()["policy_code"] == AUTO_ENT
    assert (await a.get(f"/api/portal/entitlements/{ent}")).json()["status"]["stage"] == "payable"


async def test_staff_have_no_portal_and_subjects_no_review_queue(world, client_as):
    r1, a = await client_as(REVIEWER), await client_as(ENT_A)
    assert (await r1.get("/api/portal/overview")).status_code == 403
    assert (await a.get("/api/applications")).status_code == 403
    assert (await a.get("/applications/objections")).status_code == 403


async def test_a_paid_entitlement_shows_paid_with_its_receipt_and_only_to_its_owner(world, client_as, tmp_path):

    from app.audit import AuditActor
    from payments.adapters import get_adapter
    from payments.service import approve_batch, create_batch

    created = await create_batch(
        actor=AuditActor("pt_maker", "finance_maker"), policy_code=AUTO_ENT, second_checker_threshold_fen=10**12
    )
    assert created.payment_count == 2
    await approve_batch(created.batch_id, actor=AuditActor(FINANCE, "finance_checker"))
    adapter = get_adapter(bank_settings(tmp_path))
    try:
        await run_all(adapter, created.batch_id)
    finally:
        await adapter.aclose()
    a = await client_as(ENT_A)
    item, _ = await _item(a, AUTO_ENT)
    assert item["stage"] == "paid" and [s["state"] for s in item["steps"]][-1] == "current"
    assert item["payment"]["status"] == "settled" and item["payment"]["account"].endswith("1234")
    code = item["receipt"]["code"]
    assert item["receipt"]["url"] == f"/api/receipts/{code}.pdf"
    assert code in (await a.get("/portal")).text
    b_item, _ = await _item(await client_as(ENT_B), AUTO_ENT)
    assert b_item["receipt"]["code"] != code


async def test_two_payments_in_one_batch_each_show_under_their_own_policy_and_a_return_shows_no_receipt(
    world, client_as, tmp_path
):
    """One batch may pay a subject under two policies: each policy shows its own payment (the bank settled one and
    refused the other), the refused one is marked returned with no receipt; after a 退汇 is recorded the paid one
    loses its receipt and says so too."""

    from app.audit import AuditActor
    from payments.adapters import get_adapter
    from payments.schemas import EntitlementCreate
    from payments.service import (
        approve_batch,
        create_batch,
        entitlements_of_subject,
        payments_of_subject,
        record_entitlements,
        record_return,
        reissue_payments,
        reject_batch,
    )
    from payments.service.sources import policy_facts_of

    system, checker = AuditActor("system", "system"), AuditActor(FINANCE, "finance_checker")
    # A second entitlement of enterprise A, to an account the simulated bank reports closed (suffix 0005).
    await record_entitlements(
        await policy_facts_of(world.versions[APPLY_ENT]),
        [
            EntitlementCreate(
                subject_kind="enterprise",
                subject_id=ENT_A,
                amount_fen=1_000_000,
                clause_codes=["trade"],
                source="application",
                source_ref="test",
                payee_name="甲科技有限公司",
                bank_name="中国银行",
                payee_account="6222020200000005",
                account_verified=True,
            )
        ],
        actor=system,
    )
    ents = await entitlements_of_subject("enterprise", ENT_A)
    assert len(ents) == 2
    created = await create_batch(
        actor=AuditActor("pt_maker", "finance_maker"),
        entitlement_ids=[e.id for e in ents],
        second_checker_threshold_fen=10**12,
    )
    await approve_batch(created.batch_id, actor=checker)
    adapter = get_adapter(bank_settings(tmp_path))
    try:
        await run_all(adapter, created.batch_id)
        a = await client_as(ENT_A)
        paid, _ = await _item(a, AUTO_ENT)
        refused, _ = await _item(a, APPLY_ENT)
        assert (paid["stage"], paid["payment"]["status"], paid["amount"]) == ("paid", "settled", "20,000.00")
        assert paid["receipt"] is not None and paid["payment"]["account"].endswith("1234")
        assert (refused["stage"], refused["payment"]["status"], refused["receipt"]) == (
            "payment_returned",
            "rejected",
            None,
        )
        assert refused["payment"]["account"].endswith("0005") and refused["stage_zh"] == "款项被退回，待重新发放"
        # The bank sends the paid one back; finance records it: no receipt is offered for money that did not stay.
        settled = next(p for p in await payments_of_subject("enterprise", ENT_A) if p.status == "settled")
        adapter.simulator.reverse(settled.request_id)
        await record_return(settled.id, actor=checker, adapter=adapter)
        back, _ = await _item(a, AUTO_ENT)
        assert (back["stage"], back["payment"]["status"], back["receipt"]) == ("payment_returned", "returned", None)
        # A re-issue whose batch the checker sends back leaves the returned payment as the one that stands.
        again = await reissue_payments(
            [settled.id], actor=AuditActor("pt_maker", "finance_maker"), second_checker_threshold_fen=10**12
        )
        await reject_batch(again, actor=checker, reason="先核实账户")
        still, _ = await _item(a, AUTO_ENT)
        assert (still["stage"], still["payment"]["status"]) == ("payment_returned", "returned")
    finally:
        await adapter.aclose()
