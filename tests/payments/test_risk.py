"""风险拦截 (issue 18): each risk rule flags exactly the cases planted in generated data — not the near misses, not
the background; a scan twice raises no duplicate; a flagged entitlement is never paid until cleared (batch creation
and the start of a run, with the bank simulator); clearing needs an auditor, a reason, and for a high-severity flag a
second, different auditor."""

from __future__ import annotations

import dataclasses
import json

import pytest

from app.audit import AuditActor
from app.tables import AuditEntry
from kit.db import raw
from payments import service as payments
from payments.adapters import get_adapter
from payments.errors import Forbidden, NotFound, PaymentsError
from payments.service import risk
from payments.service.risk import RiskSettings
from tests.conftest import zhida
from tests.payments import risk_data as d
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, bank_settings, run_all
from tests.web import ACTOR_ENV, ensure_user

AUDITOR = AuditActor("auditor1", "auditor")
AUDITOR2 = AuditActor("auditor2", "auditor")


async def _flagged(settings: RiskSettings | None = None) -> set[tuple[str, int]]:
    await payments.risk_scan(actor=SYSTEM, settings=settings)
    return {(r["rule"], int(r["entitlement_id"])) for r in await raw("SELECT rule, entitlement_id FROM pay_risk_flag")}


@pytest.fixture
async def world(fresh_db):
    return await d.background()


async def test_the_background_raises_no_flag(world):
    assert await _flagged() == set()
    assert len(await raw("SELECT id FROM pay_entitlement WHERE state = 'payable'")) == 2 * d.BACKGROUND


async def test_shared_account(world):
    t, e = await d.talent(100), await d.enterprise(100)
    shared = d.account("talent", 100)
    hits = [
        await d.entitle(d.facts(subject="talent"), "talent", t, 500_000, shared),
        await d.entitle(d.facts(subject="enterprise"), "enterprise", e, 2_000_000, shared),
    ]
    # Near miss: one subject receiving twice on its own account.
    t2 = await d.talent(101)
    for _ in range(2):
        await d.entitle(d.facts(subject="talent"), "talent", t2, 500_000, d.account("talent", 101))
    assert await _flagged() == {("shared_account", i) for i in hits}
    flag = (await payments.list_flags(rule="shared_account"))[0]
    assert flag["severity"] == "high"
    evidence = (await payments.get_flag(int(flag["id"])))["evidence"]
    assert evidence["figures"]["subjects"] == 2 and evidence["thresholds"]["shared_account_subjects"] == 2


async def test_account_change(world):
    f = d.facts(subject="talent")
    recent, old, exchange, by_maker, by_other = [await d.talent(200 + i) for i in range(5)]
    ids = {sid: await d.entitle(f, "talent", sid, 500_000, d.account("talent", 200 + n))
           for n, sid in enumerate((recent, old, exchange, by_maker, by_other))}  # fmt: skip
    await d.portal_account("talent", recent, d.account("talent", 200), days_ago=2)
    await d.portal_account("talent", old, d.account("talent", 201), days_ago=30)  # outside the 7 days
    await d.portal_account("talent", exchange, d.account("talent", 202), source="exchange", days_ago=1)  # not corrected
    await d.portal_account("talent", by_maker, d.account("talent", 203), days_ago=30, verified_by=MAKER.name)
    await d.portal_account("talent", by_other, d.account("talent", 204), days_ago=30, verified_by="maker2")
    made = await payments.create_batch(
        actor=MAKER, entitlement_ids=[ids[by_maker], ids[by_other]], second_checker_threshold_fen=THRESHOLD_FEN
    )
    assert made.payment_count == 2
    assert await _flagged() == {("account_change", ids[recent]), ("account_change", ids[by_maker])}
    severity = {int(r["entitlement_id"]): r["severity"] for r in await payments.list_flags()}
    assert severity == {ids[recent]: "medium", ids[by_maker]: "high"}
    # Configurable: with a 1-day window the two-day-old correction is no longer recent.
    await raw("DELETE FROM pay_risk_flag")
    assert await _flagged(RiskSettings(account_change_days=1)) == {("account_change", ids[by_maker])}


async def test_new_enterprise(world):
    big = d.facts(subject="enterprise")  # effective 2025-01-01
    small = d.facts(subject="enterprise")
    young = await d.enterprise(300, founded=20241015)  # 3 months before
    older = await d.enterprise(301, founded=20240601)  # 7 months before: a near miss
    young_small = await d.enterprise(302, founded=20241015)
    after = await d.enterprise(303, founded=20250210)  # founded after the policy took effect
    hit = await d.entitle(big, "enterprise", young, 6_000_000, d.account("enterprise", 300))
    await d.entitle(big, "enterprise", older, 6_000_000, d.account("enterprise", 301))
    await d.entitle(small, "enterprise", young_small, 4_000_000, d.account("enterprise", 302))  # below 50,000.00
    hit2 = await d.entitle(big, "enterprise", after, 5_000_000, d.account("enterprise", 303))
    assert await _flagged() == {("new_enterprise", hit), ("new_enterprise", hit2)}


async def test_employer_cluster(world):
    f = d.facts(subject="talent")
    crowded, modest = d.uscc(400), d.uscc(401)
    hits = [await d.entitle(f, "talent", await d.talent(400 + i, employer=crowded), 500_000,
                            d.account("talent", 400 + i)) for i in range(5)]  # fmt: skip
    for i in range(4):  # one benefit short of the threshold
        await d.entitle(f, "talent", await d.talent(420 + i, employer=modest), 500_000, d.account("talent", 420 + i))
    assert await _flagged(RiskSettings(employer_max_benefits=5)) == {("employer_cluster", i) for i in hits}


async def test_year_total(world):
    p1, p2 = d.facts(subject="enterprise"), d.facts(subject="enterprise")
    over, under = await d.enterprise(500), await d.enterprise(501)
    low_tax = await d.enterprise(502, tax_paid_fen=1_000_000)  # 2 × 10,000.00 = 20,000.00 < 25,000.00 received
    enough_tax = await d.enterprise(503, tax_paid_fen=1_500_000)  # 2 × 15,000.00 ≥ 25,000.00
    a = d.account("enterprise", 500)
    hits = [
        await d.entitle(p1, "enterprise", over, 60_000_000, a),
        await d.entitle(p2, "enterprise", over, 50_000_000, a),
    ]
    b = d.account("enterprise", 501)
    await d.entitle(p1, "enterprise", under, 60_000_000, b)
    await d.entitle(p2, "enterprise", under, 39_000_000, b)  # 990,000.00 in all: under 1,000,000.00
    c = d.account("enterprise", 502)
    hits += [
        await d.entitle(p1, "enterprise", low_tax, 2_000_000, c),
        await d.entitle(p2, "enterprise", low_tax, 500_000, c),
    ]
    e = d.account("enterprise", 503)
    await d.entitle(p1, "enterprise", enough_tax, 2_000_000, e)
    await d.entitle(p2, "enterprise", enough_tax, 500_000, e)
    assert await _flagged() == {("year_total", i) for i in hits}


async def test_exclusive_multi(world):
    # The engine pays one policy of an exclusive group (就高); a second one that got past it (an imported or
    # re-opened row) is what the rule exists for: planted by putting the excluded row back to payable.
    hr = d.facts(subject="talent", group="G-HOUSING", issuer="南昌市人力资源和社会保障局")
    sci = d.facts(subject="talent", group="G-HOUSING", issuer="南昌市科学技术局")
    hr2 = d.facts(subject="talent", group="G-HOUSING", issuer="南昌市人力资源和社会保障局")
    two_issuers, one_issuer = await d.talent(600), await d.talent(601)
    hits = [await d.entitle(hr, "talent", two_issuers, 500_000, d.account("talent", 600)),
            await d.entitle(sci, "talent", two_issuers, 400_000, d.account("talent", 600))]  # fmt: skip
    misses = [await d.entitle(hr, "talent", one_issuer, 500_000, d.account("talent", 601)),
              await d.entitle(hr2, "talent", one_issuer, 400_000, d.account("talent", 601))]  # fmt: skip
    await raw(
        "UPDATE pay_entitlement SET state = 'payable', batch_id = NULL WHERE id IN ({}, {}, {}, {})", *hits, *misses
    )
    assert await _flagged() == {("exclusive_multi", i) for i in hits}


async def test_no_insured(world):
    f = d.facts(subject="enterprise")
    nobody = await d.enterprise(700, employees=0)
    unpaid = await d.enterprise(701, insurance_fen=0)
    small = await d.enterprise(702, employees=0)
    unknown = await d.enterprise(703, insurance_fen=None)  # not reported: not "no insured employees"
    hits = [await d.entitle(f, "enterprise", nobody, 15_000_000, d.account("enterprise", 700)),
            await d.entitle(f, "enterprise", unpaid, 10_000_000, d.account("enterprise", 701))]  # fmt: skip
    await d.entitle(f, "enterprise", small, 9_000_000, d.account("enterprise", 702))  # under 100,000.00
    await d.entitle(f, "enterprise", unknown, 15_000_000, d.account("enterprise", 703))
    assert await _flagged() == {("no_insured", i) for i in hits}


async def test_below_threshold(world):
    bunched, pair, lower = d.facts(subject="talent"), d.facts(subject="talent"), d.facts(subject="talent")
    hits = [await d.entitle(bunched, "talent", await d.talent(800 + i), 4_900_000, d.account("talent", 800 + i))
            for i in range(3)]  # fmt: skip
    for i in range(2):  # only two in the band: not bunched
        await d.entitle(pair, "talent", await d.talent(810 + i), 4_900_000, d.account("talent", 810 + i))
    for i in range(3):  # 47,000.00: below the 5 % band under 50,000.00
        await d.entitle(lower, "talent", await d.talent(820 + i), 4_700_000, d.account("talent", 820 + i))
    await d.entitle(bunched, "talent", await d.talent(830), 5_000_000, d.account("talent", 830))  # at the threshold
    assert await _flagged() == {("below_threshold", i) for i in hits}


async def test_a_second_scan_creates_no_duplicate(world):
    t, e = await d.talent(100), await d.enterprise(100)
    shared = d.account("talent", 100)
    await d.entitle(d.facts(subject="talent"), "talent", t, 500_000, shared)
    await d.entitle(d.facts(subject="enterprise"), "enterprise", e, 2_000_000, shared)
    first = await payments.risk_scan(actor=SYSTEM)
    second = await payments.risk_scan(actor=SYSTEM)
    assert (first.created, second.created, second.refreshed) == (2, 0, 2)
    assert len(await raw("SELECT id FROM pay_risk_flag")) == 2


async def _shared_pair(f_t, f_e, n: int = 100) -> list[int]:
    shared = d.account("talent", n)
    return [
        await d.entitle(f_t, "talent", await d.talent(n), 500_000, shared),
        await d.entitle(f_e, "enterprise", await d.enterprise(n), 2_000_000, shared),
    ]


async def test_batch_creation_leaves_flagged_out_and_a_run_withholds_a_late_flag(world, tmp_dir):
    f_t = d.facts(subject="talent")
    f_e = d.facts(subject="enterprise")
    held = await _shared_pair(f_t, f_e)
    others = [
        await d.entitle(f_t, "talent", await d.talent(150 + i), 500_000, d.account("talent", 150 + i)) for i in range(3)
    ]
    await payments.risk_scan(actor=SYSTEM)
    made = await payments.create_batch(actor=MAKER, policy_code=f_t.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert (made.payment_count, made.risk_held) == (3, 1)
    entry = (
        await AuditEntry.select(AuditEntry.detail)
        .where((AuditEntry.action == "batch.create") & (AuditEntry.entity_id == str(made.batch_id)))
        .first()
    )
    assert entry is not None
    detail = json.loads(entry["detail"])
    assert (detail["risk_held"], detail["risk_held_ids"]) == (1, [held[0]])
    # A flag that appears after the batch was made: the run refuses that payment (withheld, never sent).
    late = others[0]
    await raw("UPDATE pay_entitlement SET payee_account = {} WHERE id = {}", d.account("talent", 100), late)
    await raw("UPDATE pay_payment SET payee_account = {} WHERE entitlement_id = {}", d.account("talent", 100), late)
    await payments.risk_scan(actor=SYSTEM)
    assert ("shared_account", late) in {(r["rule"], int(r["entitlement_id"])) for r in await payments.list_flags()}
    await payments.approve_batch(made.batch_id, actor=CHECKER)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await run_all(adapter, made.batch_id)
        pays = {
            int(p["entitlement_id"]): p
            for p in await raw("SELECT * FROM pay_payment WHERE batch_id = {}", made.batch_id)
        }
        assert pays[late]["status"] == "void" and pays[late]["reason"] == risk.RISK_HOLD
        assert pays[late]["bank_transfer_id"] == "" and pays[late]["submitted_at"] is None
        assert all(pays[i]["status"] == "settled" for i in others[1:])
        ent = (await raw("SELECT state, batch_id FROM pay_entitlement WHERE id = {}", late))[0]
        assert (ent["state"], ent["batch_id"]) == ("payable", None)
        # Held until cleared: no batch takes it; once both auditors cleared the high flag, it is paid.
        with pytest.raises(NotFound):
            await payments.create_batch(actor=MAKER, policy_code=f_t.code, second_checker_threshold_fen=THRESHOLD_FEN)
        # and the maker's page offers no batch for it (the button would be refused)
        assert f_t.code not in await payments.payable_by_policy()
        flags = {int(r["entitlement_id"]): int(r["id"]) for r in await payments.list_flags(state="open")}
        assert await payments.clear_flag(flags[late], actor=AUDITOR, reason="同一账户系家庭共用，已核实") == "open"
        with pytest.raises(NotFound):  # one auditor is not enough for a high flag
            await payments.create_batch(actor=MAKER, policy_code=f_t.code, second_checker_threshold_fen=THRESHOLD_FEN)
        assert await payments.clear_flag(flags[late], actor=AUDITOR2, reason="复核同意") == "cleared"
        again = await payments.create_batch(
            actor=MAKER, policy_code=f_t.code, second_checker_threshold_fen=THRESHOLD_FEN
        )
        # The talent of the original shared pair is still held (its flag is open); the cleared one is paid.
        assert (again.payment_count, again.risk_held) == (1, 1)
        assert f_t.code not in await payments.payable_by_policy()  # the one left is still held
        await payments.approve_batch(again.batch_id, actor=CHECKER)
        await run_all(adapter, again.batch_id)
        paid = await raw(
            "SELECT status FROM pay_payment WHERE batch_id = {} AND entitlement_id = {}", again.batch_id, late
        )
        assert [p["status"] for p in paid] == ["settled"]
        never = await raw("SELECT id FROM pay_payment WHERE entitlement_id = {}", held[0])
        assert never == []
    finally:
        await adapter.aclose()


async def test_clearing_needs_an_auditor_a_reason_and_four_eyes_for_high(world):
    f_t, f_e = d.facts(subject="talent"), d.facts(subject="enterprise")
    held = await _shared_pair(f_t, f_e)
    medium = await d.entitle(
        d.facts(subject="talent"), "talent", await d.talent(200), 500_000, d.account("talent", 200)
    )
    await d.portal_account("talent", d.id_number(200), d.account("talent", 200), days_ago=1)
    await payments.risk_scan(actor=SYSTEM)
    flags = {int(r["entitlement_id"]): r for r in await payments.list_flags()}
    high_id, medium_id = int(flags[held[0]]["id"]), int(flags[medium]["id"])
    assert flags[medium]["severity"] == "medium"
    for who in (MAKER, CHECKER, AuditActor("officer", "policy_officer"), AuditActor("admin", "admin")):
        with pytest.raises(Forbidden):
            await payments.clear_flag(high_id, actor=who, reason="ok")
        with pytest.raises(Forbidden):
            await payments.confirm_flag(high_id, actor=who, reason="ok")
    with pytest.raises(PaymentsError):
        await payments.clear_flag(high_id, actor=AUDITOR, reason="  ")
    assert await payments.clear_flag(high_id, actor=AUDITOR, reason="已电话核实") == "open"
    with pytest.raises(Forbidden):  # the same auditor on both sides of the four-eyes step
        await payments.clear_flag(high_id, actor=AUDITOR, reason="再次确认")
    assert (await payments.get_flag(high_id))["state"] == "open"
    assert await payments.clear_flag(high_id, actor=AUDITOR2, reason="复核同意") == "cleared"
    assert await payments.clear_flag(medium_id, actor=AUDITOR, reason="账户更正有银行证明") == "cleared"
    # Confirming keeps the entitlement held.
    other = int(flags[held[1]]["id"])
    assert await payments.confirm_flag(other, actor=AUDITOR, reason="冒领嫌疑，移交纪检") == "confirmed"
    assert await risk.holding([held[1], held[0], medium]) == {held[1]: ["shared_account"]}
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).where(AuditEntry.entity == "risk_flag")]
    assert sorted(actions) == ["risk.clear", "risk.clear", "risk.clear_first", "risk.confirm"]
    # A rescan leaves the decisions standing.
    await payments.risk_scan(actor=SYSTEM)
    states = {int(r["id"]): r["state"] for r in await payments.list_flags()}
    assert states == {high_id: "cleared", medium_id: "cleared", other: "confirmed"}


async def test_cli_scan_and_clear(world):
    await _shared_pair(d.facts(subject="talent"), d.facts(subject="enterprise"))
    await ensure_user("auditor1", "auditor")
    await ensure_user("maker1", "finance_maker")
    first = zhida("risk", "scan", env=ACTOR_ENV)
    assert first.returncode == 0 and "shared_account\t2" in first.stdout and "new flags 2" in first.stdout
    second = zhida("risk", "scan", env=ACTOR_ENV)
    assert second.returncode == 0 and "new flags 0" in second.stdout
    listed = zhida("risk", "list", env=ACTOR_ENV)
    flag_id = listed.stdout.split("\t")[0]
    refused = zhida("risk", "clear", flag_id, "--actor", "maker1", "--reason", "x", env=ACTOR_ENV)
    assert refused.returncode == 1 and "auditor" in refused.stderr and "Traceback" not in refused.stderr
    ok = zhida("risk", "clear", flag_id, "--actor", "auditor1", "--reason", "已核实", env=ACTOR_ENV)
    assert ok.returncode == 0 and "second auditor" in ok.stdout


def test_thresholds_come_from_the_configuration(monkeypatch):
    from app.config import Settings

    monkeypatch.setenv("ZHIDA_RISK_ACCOUNT_CHANGE_DAYS", "3")
    monkeypatch.setenv("ZHIDA_RISK_NO_INSURED_MIN", "80000.00")
    s = Settings().risk_settings()
    assert (s.account_change_days, s.no_insured_min_fen) == (3, 8_000_000)
    assert dataclasses.replace(s, account_change_days=7) != s
