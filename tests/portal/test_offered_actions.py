"""What a page offers, the server accepts; a refusal that still happens (another tab, a race) comes back to the page
the form was on as a message in the reader's language, never as a bare error page; an objection is confirmed.

Finance: 重发 before the account is corrected, a second approval by the same checker, 生成代发批次 with nothing
payable or an unknown code. Portal and review: an objection, a second approval by the same officer."""

from __future__ import annotations

from payments.service import approve_batch, create_batch, exceptions_queue, record_entitlements
from tests.payments.factories import CHECKER, MAKER, THRESHOLD_FEN, bank_settings, payee, policy
from tests.portal.conftest import csrf
from tests.portal.fixtures import APPLY_TALENT, AUTO_ENT, ENT_A, REVIEWER, TALENT_A
from tests.web import ensure_user

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


async def _form(client, action: str, page: str, data: dict | None = None, **kw):
    """A browser's form post: its page as Referer, HTML wanted, the CSRF token."""
    return await client.post(
        action,
        data=data or {},
        headers={**csrf(client), "accept": "text/html", "referer": f"http://testserver{page}"},
        follow_redirects=False,
        **kw,
    )


async def _came_back_with_a_message(client, r, page: str, words: str) -> str:
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert r.headers["location"] == page
    html = (await client.get(page)).text
    assert 'data-testid="flash"' in html and words in html, html[:2000]
    assert 'data-testid="flash"' not in (await client.get(page)).text  # shown once
    return html


async def _finance(client_as):
    await ensure_user(MAKER.name, "finance_maker")
    await ensure_user(CHECKER.name, "finance_checker")
    return await client_as(MAKER.name), await client_as(CHECKER.name)


async def test_reissue_is_not_offered_before_the_account_is_corrected_and_a_refusal_comes_back(
    world, client_as, tmp_dir
):
    from payments.adapters import get_adapter
    from tests.payments.test_exceptions import _run

    maker, _ = await _finance(client_as)
    facts = policy(budget_fen=10_000_000)
    await record_entitlements(facts, [payee(2, 200_000, account="62220000000000004")], actor=MAKER)
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await approve_batch(made.batch_id, actor=CHECKER)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await _run(adapter, made.batch_id)
    finally:
        await adapter.aclose()
    (rejected,) = await exceptions_queue()
    html = (await maker.get("/finance/exceptions")).text
    assert f'action="/finance/payments/{rejected.id}/reissue"' not in html  # not offered…
    assert "须先更正并核验收款账户" in html  # …and the page says why
    r = await _form(maker, f"/finance/payments/{rejected.id}/reissue", "/finance/exceptions")
    await _came_back_with_a_message(maker, r, "/finance/exceptions", "当前状态不允许此操作")


async def test_a_checker_is_not_offered_a_second_approval_of_their_own(world, client_as):
    _, checker = await _finance(client_as)
    facts = policy(budget_fen=1_000_000_000)
    await record_entitlements(facts, [payee(i, 60_000_000) for i in (1, 2)], actor=MAKER)  # 1.2 million yuan
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert await approve_batch(made.batch_id, actor=CHECKER) == "checked"
    page = f"/finance/batches/{made.batch_id}"
    html = (await checker.get(page)).text
    assert f'action="{page}/approve"' not in html and "须由另一位复核员二次审核" in html
    r = await _form(checker, f"{page}/approve", page)
    await _came_back_with_a_message(checker, r, page, "您无权执行此操作")


async def test_a_batch_is_offered_only_for_what_is_payable_and_an_unknown_code_comes_back(world, client_as):
    maker, _ = await _finance(client_as)
    from kit.db import raw

    await raw("UPDATE pay_entitlement SET state = 'withdrawn' WHERE state = 'payable'")  # nothing payable
    html = (await maker.get("/finance")).text
    assert 'name="policy_code"' not in html and "暂无待发放的享受记录" in html
    r = await _form(maker, "/finance/batches", "/finance", {"policy_code": "NO-SUCH-POLICY"})
    await _came_back_with_a_message(maker, r, "/finance", "没有找到要操作的对象")

    facts = policy()
    await record_entitlements(facts, [payee(7, 100_000)], actor=MAKER)
    html = (await maker.get("/finance")).text
    assert f'<option value="{facts.code}">' in html and "1 笔" in html


async def test_a_second_approval_by_the_same_officer_comes_back_to_the_application(world, client_as):
    t, officer = await client_as(TALENT_A), await client_as(REVIEWER)
    r = await t.post(
        f"/api/portal/policies/{world.versions[APPLY_TALENT]}/applications",
        data={"statement": "我符合条件"},
        files=[("files", ("degree.pdf", PDF, "application/pdf"))],
        headers=csrf(t),
    )
    app = r.json()
    assert app["needs_two"] is True
    page = f"/applications/{app['id']}"
    r = await _form(officer, f"{page}/approve", page, {"reason": ""})
    assert r.status_code in (302, 303), r.text
    html = (await officer.get(page)).text
    assert 'data-testid="flash"' not in html, html[html.find("flash") - 200 : html.find("flash") + 300]
    assert f'action="{page}/approve"' not in (await officer.get(page)).text  # not offered to them again
    r = await _form(officer, f"{page}/approve", page)
    await _came_back_with_a_message(officer, r, page, "您无权执行此操作")


async def test_an_objection_is_confirmed_on_the_page_it_was_sent_from(world, client_as):
    a = await client_as(ENT_A)
    item = next(i for i in (await a.get("/api/portal/overview")).json()["policies"] if i["code"] == AUTO_ENT)
    page = f"/portal/policies/{item['version_id']}"
    r = await _form(
        a,
        "/portal/objections",
        page,
        {"target": "entitlement", "target_id": item["entitlement_id"], "text": "金额应为三万", "next": page},
    )
    assert r.status_code in (302, 303) and r.headers["location"] == page
    html = (await a.get(page)).text
    assert 'data-testid="flash"' in html and "已提交异议" in html and "前答复" in html
