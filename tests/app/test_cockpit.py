"""驾驶舱 (/oversight/cockpit) and the policy funnel (/oversight/funnel) through HTTP: every figure on the pages and in
their CSV / Excel downloads equals what this test computes on its own from the rows (payments, batches, profiles,
matches, notices, entitlements, ledger) in Python — the 秒到账 percentiles too, nearest-rank over the durations it
reads — with and without the filters; only finance and audit staff may open them."""

from __future__ import annotations

import csv
import datetime as dt
import html as htmlmod
import io
import json
import math
import re
from collections import defaultdict
from decimal import Decimal

import openpyxl

from app.i18n import gettext as translated
from kit.db import raw
from kit.time import in_china
from payments.service.risk import RULE_BY_CODE
from tests.payments import dashboard_data
from tests.web import alogin, asgi_client, ensure_user

LIVE = {"waiting_account", "payable", "amount_changed", "batched", "paid"}
COUNTED = {"settled", "returned", "created", "submitted", "accepted", "unknown"}
STAGES = ("matched", "notified", "read", "applied", "approved", "entitled", "batched", "paid")
APPLY = ("applied", "approved")


def _ts(v) -> dt.datetime:
    v = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


def _nearest_rank(values: list[float], p: int) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[max(1, math.ceil(p * len(s) / 100)) - 1]


async def _profiles() -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, subject) → (district, industry group)."""
    out = {}
    for r in await raw("SELECT subject_id, region_code, industry_code FROM eligibility_enterprise"):
        out[("enterprise", r["subject_id"])] = (r["region_code"], r["industry_code"][:1])
    for r in await raw("SELECT subject_id, region_code FROM eligibility_talent"):
        out[("talent", r["subject_id"])] = (r["region_code"], "talent")
    return out


async def _cockpit(policy: str = "", date_from: str = "", date_to: str = "", region: str = "") -> dict:
    prof = await _profiles()
    batches = {int(b["id"]): b for b in await raw("SELECT id, checked_at, second_checked_at FROM pay_batch")}
    day = defaultdict(lambda: defaultdict(int))
    reach = {g: defaultdict(lambda: {"paid_fen": 0, "paid_n": 0, "payees": set()}) for g in ("industry", "district")}
    secs, reached = [], set()
    for p in await raw("SELECT * FROM pay_payment"):
        if p["status"] not in COUNTED:
            continue
        reg, ind = prof.get((p["subject_kind"], p["subject_id"]), ("", ""))
        d = p["settled_on"] or in_china(_ts(p["created_at"])).date().isoformat()
        if (policy and p["policy_code"] != policy) or (region and reg != region):
            continue
        if (date_from and d < date_from) or (date_to and d > date_to):
            continue
        kind = {"settled": "paid", "returned": "returned"}.get(p["status"], "pending")
        day[d][f"{kind}_fen"] += int(p["amount_fen"])
        day[d][f"{kind}_n"] += 1
        b = batches[int(p["batch_id"])]
        if p["settled_at"] is not None and b["checked_at"] is not None:
            secs.append((_ts(p["settled_at"]) - _ts(b["second_checked_at"] or b["checked_at"])).total_seconds())
        if p["status"] == "settled":
            who = (p["subject_kind"], p["subject_id"])
            reached.add(who)
            for g, k in (("industry", ind), ("district", reg)):
                reach[g][k]["paid_fen"] += int(p["amount_fen"])
                reach[g][k]["paid_n"] += 1
                reach[g][k]["payees"].add(who)
    for g in reach:
        reach[g] = {k: {**v, "payees": len(v["payees"])} for k, v in reach[g].items()}
    return {"day": {k: dict(v) for k, v in day.items()}, **reach, "secs": secs, "reached": len(reached)}


async def _funnel(policy: str = "", region: str = "") -> dict:
    prof = await _profiles()
    notices = {r["key"]: r["read_at"] for r in await raw("SELECT key, read_at FROM notifications_notice")}
    out = defaultdict(lambda: defaultdict(int))
    for m in await raw("SELECT * FROM eligibility_match"):
        reg = prof.get((m["subject_kind"], m["subject_id"]), ("", ""))[0]
        if m["state"] != "current" or (policy and m["code"] != policy) or (region and reg != region):
            continue
        out[m["code"]]["matched_n"] += 1
        out[m["code"]]["matched_fen"] += int(m["amount_fen"])
        if f"matched:{m['version_id']}:{m['subject_id']}" in notices:
            out[m["code"]]["notified_n"] += 1
            out[m["code"]]["notified_fen"] += int(m["amount_fen"])
            if notices[f"matched:{m['version_id']}:{m['subject_id']}"] is not None:
                out[m["code"]]["read_n"] += 1
                out[m["code"]]["read_fen"] += int(m["amount_fen"])
    for e in await raw("SELECT * FROM pay_entitlement"):
        reg = prof.get((e["subject_kind"], e["subject_id"]), ("", ""))[0]
        if e["state"] not in LIVE or (policy and e["policy_code"] != policy) or (region and reg != region):
            continue
        stages = (
            ["entitled"]
            + (["batched"] if e["state"] in ("batched", "paid") else [])
            + (["paid"] if e["state"] == "paid" else [])
        )
        for s in stages:
            out[e["policy_code"]][f"{s}_n"] += 1
            out[e["policy_code"]][f"{s}_fen"] += int(e["amount_fen"])
    return {k: dict(v) for k, v in out.items()}


async def _projection(policy: str = "") -> dict:
    budgets = await raw("SELECT * FROM pay_budget")
    latest = {}
    for b in budgets:
        if b["policy_code"] not in latest or b["policy_version"] > latest[b["policy_code"]]["policy_version"]:
            latest[b["policy_code"]] = b
    code_of = {int(b["version_id"]): b["policy_code"] for b in budgets}
    bal = defaultdict(int)
    for entry in await raw("SELECT version_id, account, amount_fen FROM pay_ledger_entry"):
        bal[(code_of.get(int(entry["version_id"])), entry["account"])] += int(entry["amount_fen"])
    pipe = defaultdict(int)
    for e in await raw("SELECT * FROM pay_entitlement"):
        if e["state"] in ("waiting_account", "payable", "amount_changed"):
            pipe[e["policy_code"]] += int(e["pending_amount_fen"] or e["amount_fen"])
    out = {}
    for code, b in latest.items():
        if policy and code != policy:
            continue
        used = sum(bal[(code, a)] for a in ("paid", "in_transit", "committed"))
        cap = int(b["budget_fen"])
        out[code] = {
            "cap_fen": cap, "paid_fen": bal[(code, "paid")], "in_transit_fen": bal[(code, "in_transit")],
            "committed_fen": bal[(code, "committed")], "remaining_fen": cap - used, "pipeline_fen": pipe[code],
            "after_fen": cap - used - pipe[code],
        }  # fmt: skip
    return out


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:,.2f}"


def _cells(html: str, name: str) -> dict[str, list[str]]:
    body = re.search(rf'data-testid="t-{name}">(.*?)</table>', html, re.S).group(1)
    return {
        htmlmod.unescape(key): [
            re.sub(r"<[^>]+>", " ", c).split()[0] for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)
    }


def _attrs(html: str, name: str, attr: str) -> dict[str, list[int]]:
    body = re.search(rf'data-testid="t-{name}">(.*?)</table>', html, re.S).group(1)
    return {
        htmlmod.unescape(key): [int(v) for v in re.findall(rf'{attr}="(-?\d+)"', row)]
        for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)
    }


def _check_cockpit(html: str, exp: dict) -> None:
    days = _cells(html, "day")
    assert set(days) == set(exp["day"])
    for k, c in days.items():
        e = exp["day"][k]
        assert c[1:] == [
            _yuan(e.get("paid_fen", 0)), str(e.get("paid_n", 0)), _yuan(e.get("pending_fen", 0)),
            _yuan(e.get("returned_fen", 0)),
        ]  # fmt: skip
    for g in ("industry", "district"):
        shown = _cells(html, g)
        assert set(shown) == set(exp[g]), g
        for k, c in shown.items():
            assert c[1:] == [_yuan(exp[g][k]["paid_fen"]), str(exp[g][k]["paid_n"]), str(exp[g][k]["payees"])]
    kpi = dict(re.findall(r'data-k="(\w+)" data-(?:fen|n|s)="([^"]*)"', html))
    today = in_china(dt.datetime.now(dt.UTC)).date().isoformat()
    for span, n in (("today", 10), ("month", 7), ("year", 4)):
        assert int(kpi[span]) == sum(v.get("paid_fen", 0) for d, v in exp["day"].items() if d[:n] == today[:n])
    assert int(kpi["reached"]) == exp["reached"]
    for p in (50, 95):
        want = _nearest_rank(exp["secs"], p)
        assert (float(kpi[f"p{p}"]) if kpi[f"p{p}"] else None) == want, p
    charts = json.loads(htmlmod.unescape(re.search(r'id="dash-data">(.*?)</script>', html, re.S).group(1)))
    assert charts["day"]["labels"] == sorted(exp["day"])
    assert charts["day"]["paid"] == [exp["day"][d].get("paid_fen", 0) / 100 for d in sorted(exp["day"])]
    assert sum(charts["district"]["payees"]) == sum(v["payees"] for v in exp["district"].values())


def _check_funnel(html: str, exp: dict, proj: dict) -> None:
    shown = _attrs(html, "funnel", "data-n")
    fen = _attrs(html, "funnel", "data-fen")
    stages = STAGES
    assert set(shown) == set(exp)
    for k in exp:
        # no application under these codes: 免申即享, applied / approved are "—" (no figure)
        assert shown[k] == [exp[k].get(f"{s}_n", 0) for s in stages if s not in APPLY], k
        assert fen[k] == [exp[k].get(f"{s}_fen", 0) for s in stages if s not in APPLY], k
        assert re.search(rf'<tr data-key="{re.escape(k)}">(?:(?!</tr>).)*data-n="na"', html, re.S), k
    got = _attrs(html, "projection", "data-fen")
    keys = ("cap_fen", "paid_fen", "in_transit_fen", "committed_fen", "remaining_fen", "pipeline_fen", "after_fen")
    assert got == {k: [v[x] for x in keys] for k, v in proj.items()}
    charts = json.loads(htmlmod.unescape(re.search(r'id="dash-data">(.*?)</script>', html, re.S).group(1)))
    assert charts["funnel"]["stages"] == [s for s in stages if s not in APPLY]
    assert charts["funnel"]["n"] == [sum(v.get(f"{s}_n", 0) for v in exp.values()) for s in stages if s not in APPLY]


async def test_the_cockpit_and_the_funnel_show_what_independent_sums_give(fresh_db, tmp_dir):
    codes = await dashboard_data.build(tmp_dir)
    exp = await _cockpit()
    # the world is what the test means: several days, 秒到账 times spread out, industries and districts, a funnel
    # that narrows at each stage, a fund with money paid, in transit and still to batch
    assert len(exp["day"]) >= 2 and len(exp["secs"]) >= 4 and len(set(exp["secs"])) == len(exp["secs"])
    assert {"talent", ""} < set(exp["industry"]) and len(exp["district"]) >= 4
    fun = await _funnel()
    t = fun[codes["talent"]]
    assert t["matched_n"] > t["notified_n"] > 0 and t["entitled_n"] > t["paid_n"] > 0
    proj = await _projection()
    assert (
        proj[codes["talent"]]["paid_fen"] > 0
        and proj[codes["enterprise"]]["in_transit_fen"] + proj[codes["enterprise"]]["committed_fen"] > 0
    )
    for name, role in (("auditor1", "auditor"), ("maker1", "finance_maker"), ("officer1", "policy_officer")):
        await ensure_user(name, role)
    async with asgi_client() as client:
        await alogin(client, "officer1")
        for url in ("/oversight/cockpit", "/oversight/funnel", "/oversight/cockpit/export?table=funnel"):
            assert (await client.get(url)).status_code == 403, url
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        r = await client.get("/oversight/cockpit")
        assert r.status_code == 200
        _check_cockpit(r.text, exp)
        assert "/static/vendor/echarts/echarts.min.js" in r.text and 'type="date"' not in r.text
        for params in (
            {"policy": codes["talent"]},
            {"region": "360103"},
            {"date_from": "2026-10-01", "date_to": "2026-10-31"},
            {"policy": codes["enterprise"], "date_from": "2026-12-01"},
        ):
            html = (await client.get("/oversight/cockpit", params=params)).text
            _check_cockpit(html, await _cockpit(**params))
        r = await client.get("/oversight/funnel")
        assert r.status_code == 200
        _check_funnel(r.text, fun, proj)
        for params in ({"policy": codes["talent"]}, {"region": "360102"}, {"policy": codes["enterprise"]}):
            html = (await client.get("/oversight/funnel", params=params)).text
            _check_funnel(html, await _funnel(**params), await _projection(params.get("policy", "")))
    async with asgi_client() as client:
        await alogin(client, "maker1")
        text = (await client.get("/oversight/cockpit/export", params={"table": "district", "format": "csv"})).text
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert rows[0] == ["区县", "已拨付（元）", "已拨付笔数", "受益对象数"]
        assert {r[0]: int(r[3]) for r in rows[1:]} == {
            ("未登记" if k == "" else next(x for x in [r[0] for r in rows[1:]] if x.endswith(f"（{k}）"))): v["payees"]
            for k, v in exp["district"].items()
        }
        x = await client.get("/oversight/cockpit/export", params={"table": "funnel", "format": "xlsx"})
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        got = {r[0]: r[1:17:2] for r in ws.iter_rows(min_row=2, values_only=True)}
        assert got == {k: tuple("—" if s in APPLY else v.get(f"{s}_n", 0) for s in STAGES) for k, v in fun.items()}
        x = await client.get("/oversight/cockpit/export", params={"table": "projection", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert {r[0]: r[6] for r in rows[1:]} == {k: _yuan(v["remaining_fen"]) for k, v in proj.items()}
        client.cookies.set("lang", "en")
        x = await client.get("/oversight/cockpit/export", params={"table": "day", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert rows[0][0] == "Day (Beijing time)" and [r[0] for r in rows[1:]] == sorted(exp["day"])
        # the flags export's rule title and state follow the reader's language, as its headers do (they were
        # always Chinese)
        x = await client.get("/oversight/dashboard/export", params={"table": "flags", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert rows[0][:3] == ["Rule", "Rule title", "State"]
        titles = {r.code: r.title for r in RULE_BY_CODE.values()}
        assert rows[1:] and all(
            r[1] == translated("en", titles[r[0]]) and r[2] in {"open", "confirmed", "cleared"} for r in rows[1:]
        )
        assert not any(re.search(r"[\u4e00-\u9fff]", c) for r in rows for c in r[1:3])
        client.cookies.set("lang", "zh")
        x = await client.get("/oversight/dashboard/export", params={"table": "flags", "format": "csv"})
        rows = list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))
        assert all(r[1] == translated("zh", titles[r[0]]) and re.search(r"[\u4e00-\u9fff]", r[2]) for r in rows[1:])
        assert (await client.get("/oversight/cockpit/export?table=nope")).status_code == 400
