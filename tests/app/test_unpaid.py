"""应享未享 (/oversight/unpaid) through HTTP: the count and amount of each reason, and the list of each, equal what
this test classifies on its own in Python from the rows (matches, versions, applications, entitlements, risk flags,
budgets, ledger, profiles) over a generated world with planted cases of every reason, with and without the filters
(days, policy, district); the CSV / Excel downloads say the same; only finance and audit staff may open it; talents'
ID numbers and names are masked."""

from __future__ import annotations

import csv
import datetime as dt
import html as htmlmod
import io
import re
from collections import defaultdict

import openpyxl

from eligibility.tables import Match
from kit.db import raw
from kit.masking import mask_id_number
from kit.time import now
from policies.applications.tables import Application
from policies.tables import Policy, PolicyVersion
from tests.payments import dashboard_data
from tests.payments import risk_data as d
from tests.web import alogin, asgi_client, ensure_user

REASONS = ("not_applied", "no_account", "held", "budget", "other")


def _ts(v) -> dt.datetime:
    v = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


async def _expected(days: int = 30, policy: str = "", region: str = "") -> dict[str, dict[int, int]]:
    """reason → {match id: amount}, classified here from the rows."""
    at = now()
    region_of = {}
    for r in await raw("SELECT subject_id, region_code FROM eligibility_enterprise"):
        region_of[("enterprise", r["subject_id"])] = r["region_code"]
    for r in await raw("SELECT subject_id, region_code FROM eligibility_talent"):
        region_of[("talent", r["subject_id"])] = r["region_code"]
    mode = {int(v["id"]): v["mode"] for v in await raw("SELECT id, mode FROM policies_version")}
    applied = {
        (a["policy_code"], a["subject_kind"], a["subject_id"])
        for a in await raw("SELECT * FROM policies_application")
        if a["status"] != "rejected"
    }
    holding = {int(f["entitlement_id"]) for f in await raw("SELECT * FROM pay_risk_flag") if f["state"] != "cleared"}
    ents = defaultdict(list)
    for e in await raw("SELECT * FROM pay_entitlement"):
        ents[(e["policy_code"], e["subject_kind"], e["subject_id"])].append(e)
    budgets = await raw("SELECT * FROM pay_budget")
    latest: dict[str, dict] = {}
    for b in budgets:
        if b["policy_code"] not in latest or b["policy_version"] > latest[b["policy_code"]]["policy_version"]:
            latest[b["policy_code"]] = b
    code_of = {int(b["version_id"]): b["policy_code"] for b in budgets}
    used = defaultdict(int)
    for entry in await raw("SELECT * FROM pay_ledger_entry"):
        if entry["account"] == "budget":
            used[code_of.get(int(entry["version_id"]))] -= int(entry["amount_fen"])
    left = {c: int(b["budget_fen"]) - used[c] for c, b in latest.items()}
    out: dict[str, dict[int, int]] = {r: {} for r in REASONS}
    for m in await raw("SELECT * FROM eligibility_match"):
        who = (m["code"], m["subject_kind"], m["subject_id"])
        if m["state"] != "current" or int(m["amount_fen"]) <= 0 or _ts(m["created_at"]) > at - dt.timedelta(days=days):
            continue
        if (policy and m["code"] != policy) or (region and region_of.get(who[1:], "") != region):
            continue
        mine = ents[who]
        if any(e["state"] == "paid" for e in mine):
            continue
        payable = [e for e in mine if e["state"] == "payable"]
        if mode.get(int(m["version_id"])) == "apply" and who not in applied:
            reason = "not_applied"
        elif any(e["state"] == "waiting_account" for e in mine):
            reason = "no_account"
        elif any(
            e["held_by"] is not None
            or (e["publicity_until"] is not None and _ts(e["publicity_until"]) > at)
            or int(e["id"]) in holding
            for e in payable
        ):
            reason = "held"
        elif any(e["batch_id"] is None and int(e["amount_fen"]) > left.get(e["policy_code"], 0) for e in payable):
            reason = "budget"
        else:
            reason = "other"
        out[reason][int(m["id"])] = int(m["amount_fen"])
    return out


async def _plant(codes: dict[str, str]) -> dict[str, str]:
    """Every reason at least once, on top of the dashboard world; old matches and a few recent ones."""
    stamp = now()
    # an 依申请 policy: three talents matched, one applied (submitted: not "not applied"), one rejected (still is)
    pol = Policy(code="APPLY-1", subject="talent", created_by="t", created_at=stamp)
    await Policy.insert(pol)
    ver = PolicyVersion(
        policy=pol.id, code="APPLY-1", number=1, status="published", title="依申请政策", issuer="南昌市科学技术局",
        subject="talent", mode="apply", effective_from=dt.date(2025, 1, 1), budget_fen=10**9, content_hash="h",
        author="t", created_at=stamp,
    )  # fmt: skip
    await PolicyVersion.insert(ver)
    for i in (201, 202, 203):
        sid = await d.talent(i)
        await _match("APPLY-1", int(ver.id), "talent", sid, 50_000 + i)
    for i, status in ((202, "submitted"), (203, "rejected")):
        await Application.insert(
            Application(
                application_no=f"A{i}", version_id=int(ver.id), policy_code="APPLY-1", policy_title="t",
                subject_kind="talent", subject_id=d.id_number(i), applicant="x", amount_fen=1, status=status,
                created_at=stamp, updated_at=stamp,
            )
        )  # fmt: skip
    # a fund too small: two payable entitlements, in no batch, more than is left of it
    f_b = d.facts(subject="talent")
    for i in (301, 302):
        sid = await d.talent(i)
        await d.entitle(f_b, "talent", sid, 400_000 + i, d.account("talent", i))
        await _match(f_b.code, f_b.version_id, "talent", sid, 400_000 + i)
    await raw("UPDATE pay_budget SET budget_fen = 100 WHERE policy_code = {}", f_b.code)
    # no verified account: one of the budget policy's entitlements waits for one (counted under no_account first)
    await raw(
        "UPDATE pay_entitlement SET state = 'waiting_account' WHERE subject_id = {} AND policy_code = {}",
        d.id_number(302),
        f_b.code,
    )
    # held in its 公示 period, and one held by an objection
    f_h = d.facts(subject="talent")
    for i, col in ((401, "publicity_until"), (402, "held_by")):
        sid = await d.talent(i)
        await d.entitle(f_h, "talent", sid, 70_000 + i, d.account("talent", i))
        await _match(f_h.code, f_h.version_id, "talent", sid, 70_000 + i)
        value = stamp + dt.timedelta(days=10) if col == "publicity_until" else 1
        await raw(f"UPDATE pay_entitlement SET {col} = {{}} WHERE subject_id = {{}}", value, sid)
    # every match is 40 days old but two: one 10 days (kept with days=5), one made today
    await raw("UPDATE eligibility_match SET created_at = {}", stamp - dt.timedelta(days=40))
    ids = [int(r["id"]) for r in await raw("SELECT id FROM eligibility_match WHERE state = 'current' ORDER BY id")]
    await raw("UPDATE eligibility_match SET created_at = {} WHERE id = {}", stamp - dt.timedelta(days=10), ids[0])
    await raw("UPDATE eligibility_match SET created_at = {} WHERE id = {}", stamp, ids[1])
    return {"budget": f_b.code, "held": f_h.code}


async def _match(code: str, vid: int, kind: str, sid: str, fen: int) -> None:
    await Match.insert(
        Match(
            ruleset_key=f"{code}@{vid}", version_id=vid, code=code, subject_kind=kind, subject_id=sid, clauses="main",
            amount_fen=fen, as_of=dt.date(2026, 10, 1), profile_digest=f"p{sid}", rule_digest="r",
            match_digest=f"m{code}{sid}", created_at=now(),
        )
    )  # fmt: skip


def _summary(html: str) -> dict[str, tuple[int, int]]:
    body = re.search(r'data-testid="t-unpaid-summary">(.*?)</table>', html, re.S).group(1)
    return {
        k: (int(n), int(fen))
        for k, n, fen in re.findall(r'<tr data-key="(\w+)".*?data-n="(\d+)".*?data-fen="(\d+)"', body, re.S)
    }


def _listed(html: str) -> dict[int, int]:
    body = re.search(r'data-testid="t-unpaid-list">(.*?)</table>', html, re.S).group(1)
    return {int(k): int(f) for k, f in re.findall(r'<tr data-key="(\d+)">.*?data-fen="(\d+)"', body, re.S)}


def _check(html: str, exp: dict[str, dict[int, int]]) -> None:
    shown = _summary(html)
    assert {k: v for k, v in shown.items() if k != "all"} == {r: (len(exp[r]), sum(exp[r].values())) for r in REASONS}
    assert shown["all"] == (sum(len(v) for v in exp.values()), sum(sum(v.values()) for v in exp.values()))


async def test_eligible_but_unpaid_by_reason_equals_an_independent_classification(fresh_db, tmp_dir):
    codes = await dashboard_data.build(tmp_dir)
    planted = await _plant(codes)
    exp = await _expected()
    # the world is what the test means: every reason has at least one case, and the recent matches are left out
    assert all(exp[r] for r in REASONS), {r: len(v) for r, v in exp.items()}
    assert len(exp["budget"]) == 1 and len(exp["held"]) >= 4 and len(exp["not_applied"]) == 2
    assert sum(len(v) for v in (await _expected(days=5)).values()) == sum(len(v) for v in exp.values()) + 1
    for name, role in (("auditor1", "auditor"), ("maker1", "finance_maker"), ("officer1", "policy_officer")):
        await ensure_user(name, role)
    async with asgi_client() as client:
        await alogin(client, "officer1")
        for url in ("/oversight/unpaid", "/oversight/unpaid/export?table=list"):
            assert (await client.get(url)).status_code == 403, url
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        r = await client.get("/oversight/unpaid")
        assert r.status_code == 200
        _check(r.text, exp)
        for reason in REASONS:
            html = (await client.get("/oversight/unpaid", params={"reason": reason})).text
            assert _listed(html) == exp[reason], reason
        # talents are masked on the page: no whole ID number, no whole name
        html = (await client.get("/oversight/unpaid", params={"reason": "held"})).text
        assert d.id_number(401) not in html and mask_id_number(d.id_number(401)) in html and "人才401" not in html
        for params in (
            {"days": "5"},
            {"days": "0"},
            {"policy": planted["held"]},
            {"policy": codes["talent"]},
            {"region": "360103"},
            {"region": "360102", "days": "5"},
        ):
            html = (await client.get("/oversight/unpaid", params=params)).text
            want = await _expected(
                days=int(params.get("days", 30)), policy=params.get("policy", ""), region=params.get("region", "")
            )
            _check(html, want)
            for reason in REASONS:
                html = (await client.get("/oversight/unpaid", params={**params, "reason": reason})).text
                assert _listed(html) == want[reason], (params, reason)
    async with asgi_client() as client:
        await alogin(client, "maker1")
        text = (await client.get("/oversight/unpaid/export", params={"table": "list", "format": "csv"})).text
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert rows[0][:2] == ["原因", "政策"] and len(rows) - 1 == sum(len(v) for v in exp.values())
        assert not any(d.id_number(401) in c or "人才401" in c for r in rows for c in r)
        by_reason: dict[str, int] = defaultdict(int)
        for r in rows[1:]:
            by_reason[r[0]] += 1
        assert sorted(by_reason.values()) == sorted(len(v) for v in exp.values())
        x = await client.get("/oversight/unpaid/export", params={"table": "summary", "format": "xlsx"})
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        got = [r[1] for r in ws.iter_rows(min_row=2, values_only=True)]
        assert got == [len(exp[r]) for r in REASONS]
        x = await client.get("/oversight/unpaid/export", params={"table": "list", "reason": "budget", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert len(rows) == 2 and rows[1][1] == planted["budget"]
        assert (await client.get("/oversight/unpaid/export?table=nope")).status_code == 400
        page = (await client.get("/oversight/unpaid")).text
        assert htmlmod.unescape(page).count("/policies/") >= 1
