"""资金监管看板 (/oversight/dashboard) through HTTP: every figure on the page (tables, headline totals and the charts'
data) and in its CSV / Excel downloads equals an aggregate computed here independently — from the payment rows,
the profiles and the ledger read on their own and summed in Python — with and without the filters (policy, dates,
district); only finance and audit staff may open it."""

from __future__ import annotations

import csv
import html as htmlmod
import io
import json
import re
from collections import defaultdict
from decimal import Decimal

import openpyxl

from eligibility.tables import EnterpriseProfile, TalentProfile
from kit.db import raw
from kit.time import in_china
from payments.tables import Budget, Payment, RiskFlag
from tests.payments import dashboard_data
from tests.web import alogin, asgi_client, ensure_user

PENDING = {"created", "submitted", "accepted", "unknown"}
KIND = {"settled": "paid", "returned": "returned", **{s: "pending" for s in PENDING}}


async def _expected(policy: str = "", date_from: str = "", date_to: str = "", region: str = "") -> dict:
    regions = {
        r["subject_id"]: r["region_code"]
        for r in await EnterpriseProfile.select(EnterpriseProfile.subject_id, EnterpriseProfile.region_code)
    }
    regions.update(
        {
            r["subject_id"]: r["region_code"]
            for r in await TalentProfile.select(TalentProfile.subject_id, TalentProfile.region_code)
        }
    )
    out: dict[str, dict] = {g: defaultdict(lambda: defaultdict(int)) for g in ("policy", "month", "region")}
    for p in await Payment.select():
        kind = KIND.get(p["status"])
        if kind is None:
            continue
        day = p["settled_on"] or in_china(p["created_at"]).date().isoformat()
        reg = regions.get(p["subject_id"], "")
        if (policy and p["policy_code"] != policy) or (region and reg != region):
            continue
        if (date_from and day < date_from) or (date_to and day > date_to):
            continue
        for group, key in (("policy", p["policy_code"]), ("month", day[:7]), ("region", reg)):
            out[group][key][f"{kind}_fen"] += p["amount_fen"]
            out[group][key][f"{kind}_n"] += 1
    budgets = {}
    for b in await Budget.select():
        if policy and b["policy_code"] != policy:
            continue
        latest = max(
            x["policy_version"]
            for x in await Budget.select(Budget.policy_version).where(Budget.policy_code == b["policy_code"])
        )
        if b["policy_version"] != latest:
            continue
        versions = [
            x["version_id"]
            for x in await Budget.select(Budget.version_id).where(Budget.policy_code == b["policy_code"])
        ]
        ledger = await raw("SELECT amount_fen, version_id, account FROM pay_ledger_entry")
        used = -sum(r["amount_fen"] for r in ledger if r["account"] == "budget" and r["version_id"] in versions)
        budgets[b["policy_code"]] = {
            "budget_fen": b["budget_fen"],
            "used_fen": used,
            "left_fen": b["budget_fen"] - used,
        }
    flags: dict[str, dict] = defaultdict(lambda: {"n": 0, "fen": 0})
    for r in await RiskFlag.select():
        if (policy and r["policy_code"] != policy) or (region and regions.get(r["subject_id"], "") != region):
            continue
        flags[f"{r['rule']}|{r['state']}"]["n"] += 1
        flags[f"{r['rule']}|{r['state']}"]["fen"] += r["amount_fen"]
    return {**{g: {k: dict(v) for k, v in out[g].items()} for g in out}, "budget": budgets, "flags": dict(flags)}


MONEY = ("paid_fen", "paid_n", "pending_fen", "pending_n", "returned_fen", "returned_n")


def _page_table(html: str, name: str) -> dict[str, list[str]]:
    body = re.search(rf'data-testid="t-{name}">(.*?)</table>', html, re.S).group(1)
    rows = {}
    for key, cells in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S):
        rows[htmlmod.unescape(key)] = [
            re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
        ]
    return rows


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f}"


def _check_page(html: str, exp: dict) -> None:
    for group in ("policy", "month", "region"):
        shown = _page_table(html, group)
        assert set(shown) == set(exp[group]), group
        for key, cells in shown.items():
            e = {k: exp[group][key].get(k, 0) for k in MONEY}
            assert cells[1:] == [
                _yuan(e["paid_fen"]),
                str(e["paid_n"]),
                _yuan(e["pending_fen"]),
                str(e["pending_n"]),
                _yuan(e["returned_fen"]),
                str(e["returned_n"]),
            ], (group, key)
    shown = _page_table(html, "budget")
    assert set(shown) == set(exp["budget"])
    for key, cells in shown.items():
        b = exp["budget"][key]
        assert cells[1:4] == [_yuan(b["budget_fen"]), _yuan(b["used_fen"]), _yuan(b["left_fen"])]
    shown = _page_table(html, "flags")
    assert {k: (int(c[2]), c[3]) for k, c in shown.items()} == {
        k: (v["n"], _yuan(v["fen"])) for k, v in exp["flags"].items()
    }
    kpis = dict(re.findall(r'<span>([^<]+)</span><strong data-fen="(-?\d+)"', html))
    for label, kind in (("已拨付", "paid"), ("在途", "pending"), ("退汇", "returned")):
        assert int(kpis[label]) == sum(v.get(f"{kind}_fen", 0) for v in exp["policy"].values())
    charts = json.loads(htmlmod.unescape(re.search(r'id="dash-data">(.*?)</script>', html, re.S).group(1)))
    months = sorted(exp["month"])
    assert charts["month"]["labels"] == months
    for kind in ("paid", "pending", "returned"):
        assert charts["month"][kind] == [exp["month"][m].get(f"{kind}_fen", 0) / 100 for m in months]
        assert sum(charts["policy"][kind]) == sum(v.get(f"{kind}_fen", 0) for v in exp["policy"].values()) / 100
    assert sum(sum(s["data"]) for s in charts["flags"]["series"]) == sum(v["n"] for v in exp["flags"].values())


async def test_the_dashboard_shows_what_independent_sums_give(fresh_db, tmp_dir):
    codes = await dashboard_data.build(tmp_dir)
    exp = await _expected()
    # the world is what the test means: three statuses, several months (one from the Beijing day), four districts
    assert {k for v in exp["policy"].values() for k, n in v.items() if n} >= {"paid_fen", "pending_fen", "returned_fen"}
    assert "2026-10" in exp["month"] and len(exp["month"]) >= 2 and "" in exp["region"] and len(exp["region"]) >= 4
    # the pending payment made at 17:30 UTC on 30 November counts on 1 December (Beijing)
    dec1 = await _expected(policy=codes["enterprise"], date_from="2026-12-01", date_to="2026-12-01")
    assert dec1["policy"][codes["enterprise"]]["pending_n"] == 1
    assert exp["flags"]
    for name, role in (("auditor1", "auditor"), ("checker1", "finance_checker"), ("officer1", "policy_officer")):
        await ensure_user(name, role)
    async with asgi_client() as client:
        await alogin(client, "officer1")
        assert (await client.get("/oversight/dashboard")).status_code == 403
        assert (await client.get("/oversight/dashboard/export?table=policy")).status_code == 403
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        r = await client.get("/oversight/dashboard")
        assert r.status_code == 200
        _check_page(r.text, exp)
        assert "/static/vendor/echarts/echarts.min.js" in r.text and "cdn" not in r.text.lower()
        filters = [
            {"policy": codes["talent"]},
            {"region": "360103"},
            {"date_from": "2026-11-01"},
            {"date_from": "2026-10-01", "date_to": "2026-10-31"},
            {"policy": codes["enterprise"], "date_from": "2026-12-01", "date_to": "2026-12-01"},
        ]
        for params in filters:
            html = (await client.get("/oversight/dashboard", params=params)).text
            _check_page(html, await _expected(**params))
    async with asgi_client() as client:
        await alogin(client, "checker1")
        for params in ({}, {"policy": codes["talent"], "region": "360102"}):
            exp = await _expected(**params)
            for table in ("policy", "month", "region"):
                text = (
                    await client.get("/oversight/dashboard/export", params={"table": table, "format": "csv", **params})
                ).text
                rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
                assert rows[0][:2] == [
                    {"policy": "政策", "month": "月份（北京时间）", "region": "区县"}[table],
                    "已拨付（元）",
                ]
                assert len(rows) - 1 == len(exp[table])
                assert sum(Decimal(r[1].replace(",", "")) for r in rows[1:]) * 100 == sum(
                    v.get("paid_fen", 0) for v in exp[table].values()
                )
                assert sum(int(r[6]) for r in rows[1:]) == sum(v.get("returned_n", 0) for v in exp[table].values())
            x = await client.get("/oversight/dashboard/export", params={"table": "budget", "format": "xlsx", **params})
            ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
            got = {r[0]: r[1:4] for r in ws.iter_rows(min_row=2, values_only=True)}
            assert got == {
                k: (_yuan(b["budget_fen"]), _yuan(b["used_fen"]), _yuan(b["left_fen"]))
                for k, b in exp["budget"].items()
            }
            x = await client.get("/oversight/dashboard/export", params={"table": "flags", "format": "xlsx", **params})
            ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
            assert sum(r[3] for r in ws.iter_rows(min_row=2, values_only=True)) == sum(
                v["n"] for v in exp["flags"].values()
            )
        assert (await client.get("/oversight/dashboard/export?table=nope")).status_code == 400
