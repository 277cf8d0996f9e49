"""资格复核 (issue 15, reproduction 1): money goes only to a subject eligible on the current data when its batch is
made and when its run starts. A re-match withdraws what no longer qualifies; batch creation and the start of a run
check every entitlement again; a changed amount waits for the finance maker."""

from __future__ import annotations

import csv

import pytest

from app.audit import AuditActor
from eligibility import service as eligibility
from eligibility.matcher import match_ruleset
from kit.db import raw
from kit.time import china_today
from payments import service as payments
from payments.adapters import get_adapter
from payments.errors import Forbidden, NotFound
from payments.service.transfer import RunnerOptions
from policies import service as policies
from tests.conftest import zhida
from tests.eligibility.helpers import enterprise_profile as enterprise
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, bank_settings
from tests.web import ACTOR_ENV, alogin

OFFICER = AuditActor("rv_officer", "policy_officer")
REVIEWER = AuditActor("rv_reviewer", "policy_reviewer")
ENT_A, ENT_B = "91360100000000001Q", "91360100000000002U"
TAL_1, TAL_2, TAL_3 = "360102199207081233", "360102197911031230", "360102198801011233"

PACK = """
policies:
  - code: RV-HIRE
    title: 测试吸纳就业补贴
    issuer: 南昌市人力资源和社会保障局
    subject: enterprise
    mode: auto
    effective_from: 2025-01-01
    budget: 1000000.00
    when: blacklisted == false
    clauses:
      - code: big
        title: 吸纳一百人以上
        when: employees >= 100
        amount: 15000
      - code: base
        title: 吸纳十人以上
        when: employees >= 10
        amount: 7500
    tests:
      - name: big
        profile: {uscc: "91360100000000001Q", name: 甲, region_code: "360106", industry_code: I6513, scale: small, founded_on: 2019-05-01, employees: 120, revenue: "1000.00", tax_paid: "10.00", high_tech: false, specialized: none, credit_rating: A, blacklisted: false}
        expect: {eligible: true, clauses: [big], amount: 15000}
      - name: base
        profile: {uscc: "91360100000000001Q", name: 甲, region_code: "360106", industry_code: I6513, scale: small, founded_on: 2019-05-01, employees: 60, revenue: "1000.00", tax_paid: "10.00", high_tech: false, specialized: none, credit_rating: A, blacklisted: false}
        expect: {eligible: true, clauses: [base], amount: 7500}
      - name: blacklisted
        profile: {uscc: "91360100000000001Q", name: 甲, region_code: "360106", industry_code: I6513, scale: small, founded_on: 2019-05-01, employees: 60, revenue: "1000.00", tax_paid: "10.00", high_tech: false, specialized: none, credit_rating: A, blacklisted: true}
        expect: {eligible: false}
  - code: RV-TALENT
    title: 测试人才安居补贴
    issuer: 南昌市人力资源和社会保障局
    subject: talent
    mode: auto
    effective_from: 2025-01-01
    budget: 1000000.00
    when: region_code =~ "^3601"
    clauses:
      - code: base
        title: 在昌人才
        when: social_insurance_months >= 6
        amount: 5000
    tests:
      - name: in region
        profile: {id_number: "360102199207081233", name: 张, region_code: "360102", education: master, arrived_on: 2024-09-01, social_insurance_months: 10}
        expect: {eligible: true, clauses: [base], amount: 5000}
      - name: moved out
        profile: {id_number: "360102199207081233", name: 张, region_code: "110105", education: master, arrived_on: 2024-09-01, social_insurance_months: 10}
        expect: {eligible: false}
"""


def talent(id_number: str, name: str, account: str, **over) -> dict:
    row = {
        "id_number": id_number,
        "name": name,
        "region_code": "360102",
        "education": "master",
        "arrived_on": "2024-09-01",
        "social_insurance_months": "10",
        "bank_name": "中国银行南昌分行",
        "bank_account": account,
    }
    row.update(over)
    return row


ACC_A, ACC_B = "6222020200001231", "6222020200005671"
RV_ENV = {"ZHIDA_ACTOR_PASSWORD": "Rv-pass-2025"}  # the CLI users' password: --actor authenticates
ACC_1, ACC_2, ACC_3 = "6222020200011111", "6222020200022221", "6222020200033331"


async def publish(code: str) -> int:
    await policies.load_pack_text(PACK, OFFICER, source="tests/reverify")
    v = await policies.publish(code, REVIEWER, as_of=china_today())
    await match_ruleset(await policies.ruleset_of(v.id), china_today(), store=True, actor=SYSTEM)
    return v.id


async def rematch(kind: str, subject_id: str) -> None:
    """What a feed's upsert queues: the incremental re-match job, run by the in-process worker."""
    from app.jobs import drain, enqueue
    from eligibility.incremental import profile_ids_of

    # The job carries the profile's row id, never the subject id (an ID number: job arguments are logged).
    (profile_id,) = await profile_ids_of(kind, [subject_id])
    await enqueue("eligibility.rematch_subject", kind, profile_id, china_today().isoformat())
    await drain()


def opts() -> RunnerOptions:
    return RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局")


async def batch_subjects(batch_id: int) -> dict[str, int]:
    return {p.subject_id: int(p.amount * 100) for p in await payments.payments_of_batch(batch_id)}


async def entitlement_of(kind: str, subject_id: str, code: str):
    (ent,) = [e for e in await payments.entitlements_of_subject(kind, subject_id) if e.policy_code == code]
    return ent


def _write_csv(path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


async def test_blacklisted_after_matching_is_not_batched_cli(fresh_db, tmp_dir):
    """The issue's reproduction, step by step on the CLI: import, publish, match, re-import with blacklisted=true,
    explain says 不符合, batch create leaves the enterprise out."""
    for name, role in (
        ("rv_officer", "policy_officer"),
        ("rv_reviewer", "policy_reviewer"),
        ("rv_maker", "finance_maker"),
    ):
        zhida("users", "create", name, "--role", role, "--password-stdin", input="Rv-pass-2025\n", check=True)
    pack = tmp_dir / "pack.yaml"
    pack.write_text(PACK, encoding="utf-8")
    feed = tmp_dir / "enterprises.csv"
    _write_csv(feed, [enterprise(ENT_A, "甲科技有限公司", ACC_A), enterprise(ENT_B, "乙科技有限公司", ACC_B)])
    zhida("profiles", "import", str(feed), "--kind", "enterprise", check=True)
    zhida("policies", "load", str(pack), "--actor", "rv_officer", check=True, env=RV_ENV)
    zhida("policies", "publish", "RV-HIRE", "--actor", "rv_reviewer", check=True, env=RV_ENV)
    matched = zhida("match", "RV-HIRE", check=True)
    assert ENT_A in matched.stdout and ENT_B in matched.stdout
    _write_csv(
        feed,
        [enterprise(ENT_A, "甲科技有限公司", ACC_A, blacklisted="true"), enterprise(ENT_B, "乙科技有限公司", ACC_B)],
    )
    zhida("profiles", "import", str(feed), "--kind", "enterprise", check=True)
    explained = zhida("explain", "RV-HIRE", ENT_A, check=True)
    assert "不符合" in explained.stdout
    made = zhida("batch", "create", "RV-HIRE", "--actor", "rv_maker", check=True, env=RV_ENV)
    assert "1 payments, ¥7,500.00" in made.stderr, made.stderr
    batch_id = int(made.stdout.strip().splitlines()[-1])
    paid = {r["subject_id"] for r in await raw("SELECT subject_id FROM pay_payment WHERE batch_id = {}", batch_id)}
    assert paid == {ENT_B}
    # The publication made its entitlement; the feed's re-match withdrew it, with the failing condition in words.
    (gone,) = await payments.entitlements_of_subject("enterprise", ENT_A)
    assert gone.state == "withdrawn" and "列入严重失信主体名单" in gone.reason and gone.batch_id is None


async def test_talent_moved_out_of_region_is_not_batched(fresh_db):
    """One moved and was re-matched (the feed's job): its payable entitlement is withdrawn and it is told; one moved
    and no re-match ran yet: batch creation checks it on the current data; the one who stayed is paid."""
    for sid, name, acc in ((TAL_1, "张一", ACC_1), (TAL_2, "张二", ACC_2), (TAL_3, "张三", ACC_3)):
        await eligibility.upsert_profile("talent", talent(sid, name, acc), actor=SYSTEM)
    await publish("RV-TALENT")
    await payments.refresh_entitlements("RV-TALENT", actor=MAKER)
    assert (await entitlement_of("talent", TAL_1, "RV-TALENT")).state == "payable"

    await eligibility.upsert_profile("talent", talent(TAL_1, "张一", ACC_1, region_code="110105"), actor=SYSTEM)
    await rematch("talent", TAL_1)
    ent1 = await entitlement_of("talent", TAL_1, "RV-TALENT")
    assert ent1.state == "withdrawn" and "region_code" in ent1.reason, ent1.reason
    assert [m.subject_id for m in await eligibility.withdrawn_matches(await _version("RV-TALENT"))] == [TAL_1]
    from notifications import service as notifications

    inbox = await notifications.inbox("talent", TAL_1)
    assert [n.kind for n in inbox if n.kind == "entitlement_withdrawn"] == ["entitlement_withdrawn"]

    await eligibility.upsert_profile("talent", talent(TAL_2, "张二", ACC_2, region_code="110105"), actor=SYSTEM)
    await payments.refresh_entitlements("RV-TALENT", actor=MAKER)
    made = await payments.create_batch(actor=MAKER, policy_code="RV-TALENT", second_checker_threshold_fen=THRESHOLD_FEN)
    assert await batch_subjects(made.batch_id) == {TAL_3: 500_000}
    assert made.held_out == 1
    ent2 = await entitlement_of("talent", TAL_2, "RV-TALENT")
    assert ent2.state == "withdrawn" and "110105" in ent2.reason, ent2.reason
    held = await payments.held_out()
    assert {(h.subject_id, h.stage, h.outcome) for h in held} == {
        (TAL_1, "match", "withdrawn"),
        (TAL_2, "batch", "withdrawn"),
    }
    audit = await raw("SELECT action FROM app_audit_entry WHERE action LIKE 'entitlement.withdrawn' ORDER BY seq")
    assert len(audit) == 2
    # The match is withdrawn too, so the next refresh does not bring the entitlement back.
    await payments.refresh_entitlements("RV-TALENT", actor=MAKER)
    assert (await entitlement_of("talent", TAL_2, "RV-TALENT")).state == "withdrawn"


async def _version(code: str) -> int:
    return (await policies.published_ruleset(code)).version_id


async def _batch_for(code: str) -> int:
    await payments.refresh_entitlements(code, actor=MAKER)
    made = await payments.create_batch(actor=MAKER, policy_code=code, second_checker_threshold_fen=THRESHOLD_FEN)
    await payments.approve_batch(made.batch_id, actor=CHECKER)
    return made.batch_id


async def test_ineligible_between_approval_and_run_is_held_and_paid_once_when_eligible_again(fresh_db, tmp_dir):
    await eligibility.upsert_profile("enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A), actor=SYSTEM)
    await eligibility.upsert_profile("enterprise", enterprise(ENT_B, "乙科技有限公司", ACC_B), actor=SYSTEM)
    version_id = await publish("RV-HIRE")
    batch_id = await _batch_for("RV-HIRE")
    assert await batch_subjects(batch_id) == {ENT_A: 750_000, ENT_B: 750_000}
    # Approved; then the next feed blacklists A (no re-match has run yet).
    await eligibility.upsert_profile(
        "enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A, blacklisted="true"), actor=SYSTEM
    )
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        p = await payments.run_batch(adapter, batch_id, actor=SYSTEM, opts=opts())
        assert p.counts == {"settled": 1, "void": 1} and p.status == "completed"
        sent = {t.payee_account for t in adapter.simulator.transfers()}
        assert sent == {ACC_B}  # nothing went to the bank for A
        (held,) = [x for x in await payments.payments_of_batch(batch_id) if x.subject_id == ENT_A]
        assert held.status == "void" and held.exception == "withheld" and held.reason == "NOT_ELIGIBLE"
        (h,) = await payments.held_out(batch_id=batch_id)
        assert h.stage == "run" and h.payment_id == held.id and "失信" in h.reason, h.reason
        b = await payments.version_balances(version_id)
        assert b["committed"] == 0 and b["paid"] == 750_000 and b["budget"] == -750_000  # A's reservation released
        assert (await payments.check_balances()).ok
        ent = await entitlement_of("enterprise", ENT_A, "RV-HIRE")
        assert ent.state == "withdrawn" and ent.batch_id is None and "失信" in ent.reason
        assert await raw("SELECT 1 FROM app_audit_entry WHERE action = 'batch.withhold'")

        # Eligible again later: paid, once.
        await eligibility.upsert_profile("enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A), actor=SYSTEM)
        await rematch("enterprise", ENT_A)
        again = await _batch_for("RV-HIRE")
        assert await batch_subjects(again) == {ENT_A: 750_000}
        p = await payments.run_batch(adapter, again, actor=SYSTEM, opts=opts())
        assert p.counts == {"settled": 1}
        to_a = [t for t in adapter.simulator.transfers() if t.payee_account == ACC_A and t.status == "settled"]
        assert len(to_a) == 1
        assert (await payments.subject_paid("enterprise", ENT_A)) == {version_id: 750_000}
        await payments.refresh_entitlements("RV-HIRE", actor=MAKER)
        with pytest.raises(NotFound):
            await payments.create_batch(actor=MAKER, policy_code="RV-HIRE", second_checker_threshold_fen=THRESHOLD_FEN)
        assert (await payments.check_balances()).ok
    finally:
        await adapter.aclose()


async def test_changed_amount_waits_for_the_maker(fresh_db, tmp_dir):
    from tests.web import ensure_user

    await ensure_user("rv_maker", "finance_maker")
    await eligibility.upsert_profile("enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A), actor=SYSTEM)
    await eligibility.upsert_profile("enterprise", enterprise(ENT_B, "乙科技有限公司", ACC_B), actor=SYSTEM)
    await publish("RV-HIRE")
    await payments.refresh_entitlements("RV-HIRE", actor=MAKER)
    # A now employs 120: still eligible, for ¥15,000 instead of ¥7,500.
    await eligibility.upsert_profile(
        "enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A, employees="120"), actor=SYSTEM
    )
    made = await payments.create_batch(actor=MAKER, policy_code="RV-HIRE", second_checker_threshold_fen=THRESHOLD_FEN)
    assert await batch_subjects(made.batch_id) == {ENT_B: 750_000}
    assert made.held_out == 1
    ent = await entitlement_of("enterprise", ENT_A, "RV-HIRE")
    assert ent.state == "amount_changed" and ent.amount == 7500 and ent.pending_amount == 15000
    assert "15,000.00" in ent.reason
    # Neither amount is paid by a refresh (the re-match stored the new amount): it still waits.
    await payments.refresh_entitlements("RV-HIRE", actor=MAKER)
    assert (await entitlement_of("enterprise", ENT_A, "RV-HIRE")).state == "amount_changed"
    with pytest.raises(NotFound):
        await payments.create_batch(actor=MAKER, policy_code="RV-HIRE", second_checker_threshold_fen=THRESHOLD_FEN)
    with pytest.raises(Forbidden):
        await payments.accept_amount(ent.id, actor=CHECKER)
    accepted = zhida("batch", "accept-amount", str(ent.id), "--actor", "rv_maker", env=ACTOR_ENV)
    assert accepted.returncode == 0, accepted.stderr
    assert "15,000.00 accepted" in accepted.stdout
    ent = await entitlement_of("enterprise", ENT_A, "RV-HIRE")
    assert ent.state == "payable" and ent.amount == 15000 and ent.pending_amount is None
    assert await raw("SELECT 1 FROM app_audit_entry WHERE action = 'entitlement.accept_amount'")
    second = await payments.create_batch(actor=MAKER, policy_code="RV-HIRE", second_checker_threshold_fen=THRESHOLD_FEN)
    assert await batch_subjects(second.batch_id) == {ENT_A: 1_500_000}


async def test_amount_changed_after_approval_is_withheld_until_accepted(fresh_db, tmp_dir):
    await eligibility.upsert_profile("enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A), actor=SYSTEM)
    version_id = await publish("RV-HIRE")
    batch_id = await _batch_for("RV-HIRE")
    await eligibility.upsert_profile(
        "enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A, employees="120"), actor=SYSTEM
    )
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        p = await payments.run_batch(adapter, batch_id, actor=SYSTEM, opts=opts())
        assert p.counts == {"void": 1} and p.status == "completed"
        assert adapter.simulator.transfers() == []
        (pay,) = await payments.payments_of_batch(batch_id)
        assert pay.exception == "withheld" and pay.reason == "AMOUNT_CHANGED"
        assert (await payments.version_balances(version_id))["budget"] == 0
        ent = await entitlement_of("enterprise", ENT_A, "RV-HIRE")
        assert ent.state == "amount_changed" and ent.pending_amount == 15000
        await payments.accept_amount(ent.id, actor=MAKER)
        again = await _batch_for("RV-HIRE")
        p = await payments.run_batch(adapter, again, actor=SYSTEM, opts=opts())
        assert p.counts == {"settled": 1}
        assert [t.amount for t in adapter.simulator.transfers()] == [15000]
    finally:
        await adapter.aclose()


async def test_portal_shows_the_reason(fresh_db):
    from app.controllers.portal_standing import subject_overview

    await eligibility.upsert_profile("talent", talent(TAL_1, "张一", ACC_1), actor=SYSTEM)
    await publish("RV-TALENT")
    await payments.refresh_entitlements("RV-TALENT", actor=MAKER)
    await eligibility.upsert_profile("talent", talent(TAL_1, "张一", ACC_1, region_code="110105"), actor=SYSTEM)
    await rematch("talent", TAL_1)
    (item,) = await subject_overview("talent", TAL_1)
    assert item.stage == "withdrawn" and "110105" in item.reason and item.stage_zh.startswith("已取消")


async def test_finance_sees_the_hold_and_the_maker_accepts_on_the_web(fresh_db):
    import httpx

    from app.main import create_app
    from tests.web import ensure_user

    await ensure_user("rv_maker", "finance_maker")
    await ensure_user("rv_checker", "finance_checker")
    await eligibility.upsert_profile("enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A), actor=SYSTEM)
    await publish("RV-HIRE")
    await payments.refresh_entitlements("RV-HIRE", actor=MAKER)
    await eligibility.upsert_profile(
        "enterprise", enterprise(ENT_A, "甲科技有限公司", ACC_A, employees="120"), actor=SYSTEM
    )
    with pytest.raises(NotFound, match="held out on re-verification"):
        await payments.create_batch(actor=MAKER, policy_code="RV-HIRE", second_checker_threshold_fen=THRESHOLD_FEN)
    ent = await entitlement_of("enterprise", ENT_A, "RV-HIRE")

    async def session(user: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://testserver")
        return await alogin(client, user)

    checker = await session("rv_checker")
    try:
        (held,) = (await checker.get("/api/finance/held")).json()
        assert held["outcome"] == "amount_changed" and held["new_amount"] == "15000.00"
        page = await checker.get("/finance/exceptions", headers={"accept": "text/html"})
        assert page.status_code == 200 and "15,000.00" in page.text and "accept-amount" not in page.text
        r = await checker.post(
            f"/api/finance/entitlements/{ent.id}/accept-amount",
            headers={"x-csrftoken": checker.cookies.get("csrftoken")},
        )
        assert r.status_code == 403
    finally:
        await checker.aclose()
    maker = await session("rv_maker")
    try:
        page = await maker.get("/finance/exceptions", headers={"accept": "text/html"})
        assert f"/finance/entitlements/{ent.id}/accept-amount" in page.text
        r = await maker.post(
            f"/finance/entitlements/{ent.id}/accept-amount",
            headers={"x-csrftoken": maker.cookies.get("csrftoken"), "accept": "text/html"},
            follow_redirects=False,
        )
        assert r.status_code in (302, 303), r.text[:300]
    finally:
        await maker.aclose()
    ent = await entitlement_of("enterprise", ENT_A, "RV-HIRE")
    assert ent.state == "payable" and ent.amount == 15000
