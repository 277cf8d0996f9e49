"""The finance pages through HTTP: what a batch's creation left out and why, payment rows with their real state, a
completed batch that says how many the bank refused, and account verification that can reject with a reason and
shows the account being replaced (masked)."""

from __future__ import annotations

import re

from app.audit import AuditActor
from eligibility.profiles import id_check_char
from eligibility.service import upsert_profile
from payments.adapters import get_adapter
from payments.service import approve_batch, create_batch, record_entitlements, run_batch
from payments.service.transfer import RunnerOptions
from policies.applications.accounts import confirm_account
from policies.applications.schemas import AccountConfirm
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, bank_settings, payee, policy
from tests.web import acsrf, alogin, asgi_client, ensure_user


async def test_the_batch_page_says_what_was_left_out_and_why(fresh_db):
    await ensure_user("maker1", "finance_maker")
    facts = policy(budget_fen=250_000)  # room for two of the four payable ones
    entitlements = [payee(i, 100_000) for i in range(4)] + [payee(9, 100_000, verified=False)]
    await record_entitlements(facts, entitlements, actor=SYSTEM)
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert made.payment_count == 2 and made.left_for_budget == 2
    async with asgi_client() as client:
        await alogin(client, "maker1")
        html = (await client.get(f"/finance/batches/{made.batch_id}")).text
    table = re.search(r'data-testid="left-out">(.*?)</table>', html, re.S).group(1)
    budget = re.search(r'data-testid="left-budget"><td>([^<]+)</td><td class="num">(\d+)<', table)
    assert "预算不足" in budget.group(1) and budget.group(2) == "2"
    waiting = re.search(r'data-testid="left-waiting_account"><td>(.*?)</td>\s*<td class="num">(\d+)<', table, re.S)
    assert "账户" in waiting.group(1) and waiting.group(2) == "1"


async def test_a_completed_batch_with_refusals_says_so_and_rows_show_their_state(fresh_db, tmp_dir):
    await ensure_user("checker1", "finance_checker")
    facts = policy(budget_fen=10**9)
    # the simulator refuses accounts ending 0004/0005/0006 (tests/payments/factories.account_of)
    await record_entitlements(
        facts, [payee(i, 10_000, account=f"62220200000000{i:04d}") for i in (1, 2, 4, 5)], actor=SYSTEM
    )
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await approve_batch(made.batch_id, actor=CHECKER)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        opts = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局")
        p = await run_batch(adapter, made.batch_id, actor=SYSTEM, opts=opts)
    finally:
        await adapter.aclose()
    assert p.status == "completed" and p.counts.get("rejected") == 2, p
    async with asgi_client() as client:
        await alogin(client, "checker1")
        html = (await client.get(f"/finance/batches/{made.batch_id}")).text
        assert re.search(r'data-testid="status">已完成，2 笔被退回<', html)
        states = re.findall(r'data-testid="payment-status">([^<]+)<', html)
        assert sorted(states) == ["已到账", "已到账", "已退回 · 待人工处理", "已退回 · 待人工处理"], states
        listing = (await client.get("/finance")).text
        assert "已完成，2 笔被退回" in listing


def _id(i: int) -> str:
    first17 = f"36010219900101{i:03d}"
    return first17 + id_check_char(first17)


async def test_account_verification_can_reject_with_a_reason_and_shows_the_old_account_masked(fresh_db):
    await ensure_user("maker1", "finance_maker")
    subject = _id(7)
    await ensure_user(subject, "talent")
    await upsert_profile(
        "talent",
        {
            "id_number": subject,
            "name": "李四",
            "region_code": "360102",
            "education": "doctor",
            "arrived_on": "2024-01-15",
            "social_insurance_months": "12",
            "bank_name": "中国银行",
            "bank_account": "6217000000001111",
        },
        actor=AuditActor("feed", "system"),
    )

    async def no_sync(*_a):
        return None

    await confirm_account(
        "talent",
        subject,
        AccountConfirm(bank_name="建设银行", account="6227000000002222"),
        actor=AuditActor(subject, "talent"),
        sync=no_sync,
    )
    async with asgi_client() as client:
        await alogin(client, "maker1")
        page = (await client.get("/applications/accounts")).text
        old = re.search(r'data-testid="previous-account">([^<]+)<', page).group(1)
        assert old.endswith("1111") and "6217000000001111" not in page  # the old one masked
        assert subject not in page  # the ID number masked, and the forms name the account by its row id
        reject = re.search(r'action="(/applications/accounts/\d+/reject)"', page).group(1)
        r = await client.post(reject, data={"reason": ""}, headers=acsrf(client))
        assert r.status_code >= 400  # a reason is required
        r = await client.post(
            reject,
            data={"reason": "户名与账号不符"},
            headers=acsrf(client),
            follow_redirects=True,
        )
        assert r.status_code == 200 and "已退回" in r.text and "6227000000002222" not in r.text
        # the same 退回 again, from a tab left open: the refusal comes back as a message in Chinese (it was English:
        # "only an account awaiting verification can be rejected; this one is rejected", found by the browser crawl)
        r = await client.post(
            reject,
            data={"reason": "户名与账号不符"},
            headers={**acsrf(client), "accept": "text/html", "referer": "http://testserver/applications/accounts"},
            follow_redirects=True,
        )
        flash = re.search(r'data-testid="flash">([^<]+)<', r.text).group(1)
        assert flash == "未能完成：当前状态不允许此操作：该账户已被退回，待对象重新更正", flash
        await alogin(client, subject)
        portal = (await client.get("/portal")).text
        assert "户名与账号不符" in re.search(r'data-testid="account-rejected">(.*?)</span>', portal, re.S).group(1)


async def test_finance_and_audit_pages_name_staff_by_their_display_names(fresh_db):
    """A batch's maker and checker, the reconciliation's and the audit trail's actor are shown by name, not user name."""
    from app.tables import User

    await ensure_user("maker1", "finance_maker")
    await ensure_user("checker1", "finance_checker")
    await ensure_user("audit1", "auditor")
    names = {"maker1": "王制单", "checker1": "李复核"}
    for username, display in names.items():
        await User.update({User.display_name: display}).where(User.username == username)
    facts = policy(budget_fen=10**9)
    await record_entitlements(facts, [payee(1, 10_000)], actor=SYSTEM)
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await approve_batch(made.batch_id, actor=CHECKER)
    async with asgi_client() as client:
        await alogin(client, "checker1")
        detail = (await client.get(f"/finance/batches/{made.batch_id}")).text
        assert re.search(r'data-testid="maker">([^<]*)<', detail).group(1) == "王制单"
        assert re.search(r'data-testid="checker">([^<]*)<', detail).group(1) == "李复核"
        listing = (await client.get("/finance")).text
        row = re.search(r"<tbody>(.*?)</tbody>", listing, re.S).group(1)
        assert "王制单 / 李复核" in row and "maker1" not in row and "checker1" not in row
        await alogin(client, "audit1")
        trail = (await client.get("/audit")).text
        assert "王制单" in trail and "李复核" in trail
