"""Who a policy reaches, on /oversight/funnel with a policy chosen: money by clause and by district, and the 企业画像 /
人才画像 of its beneficiaries (scale, industry, years since founding; education, age). Subjects of known profiles are
planted; every table on the page and in its CSV / Excel download equals what this test counts on its own in Python
from the rows (ages by calendar, not by the page's YYYYMMDD arithmetic), with and without the district and date
filters; only finance and audit staff may open them."""

from __future__ import annotations

import csv
import datetime as dt
import html as htmlmod
import io
import json
import re
from collections import defaultdict

import openpyxl

from kit.db import raw
from kit.time import in_china
from tests.payments import dashboard_data
from tests.web import alogin, asgi_client, ensure_user

LIVE = {"waiting_account", "payable", "amount_changed", "batched", "paid"}
SCALES = ("large", "medium", "small", "micro")
INDUSTRIES = ("C3911", "I6513", "M7320", "C2710")
FOUNDED = (20240101, 20231231, 20200601, 20000101)  # to 2026-12-31: under 3, exactly 3, 6, 26 years
EDUCATIONS = ("doctor", "master", "bachelor", "college", "other")
BORN = (19970101, 19961231, 19920615, 19850301, 19700101, 20000101)  # to 2026-12-31: 29, 30, 34, 41, 56, 26


def _ts(v) -> dt.datetime:
    v = dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    return v if v.tzinfo else v.replace(tzinfo=dt.UTC)


def _bj(v) -> str:
    return in_china(_ts(v)).date().isoformat()


def _years(ymd: int, on: dt.date) -> int:
    born = dt.date(ymd // 10000, ymd // 100 % 100, ymd % 100)
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _band(years: int, bands: tuple[tuple[str, int], ...], last: str) -> str:
    return next((name for name, top in bands if years < top), last)


async def _plant() -> None:
    """Known scales, industries, founding days, educations and birth days; clauses A, B and A;B on the matches and
    entitlements (the world has "main" everywhere)."""
    ents = await raw("SELECT subject_id FROM eligibility_enterprise ORDER BY subject_id")
    for i, r in enumerate(ents):
        await raw(
            "UPDATE eligibility_enterprise SET scale = {}, industry_code = {}, founded_on_ymd = {} WHERE subject_id = {}",
            SCALES[i % 4],
            INDUSTRIES[i % 4],
            FOUNDED[i % 4],
            r["subject_id"],
        )
    tals = await raw("SELECT subject_id FROM eligibility_talent ORDER BY subject_id")
    for i, r in enumerate(tals):
        await raw(
            "UPDATE eligibility_talent SET education = {}, birth_on_ymd = {} WHERE subject_id = {}",
            EDUCATIONS[i % 5],
            BORN[i % 6],
            r["subject_id"],
        )
    for table, col in (("pay_entitlement", "clause_codes"), ("eligibility_match", "clauses")):
        for r in await raw(f"SELECT id FROM {table} ORDER BY id"):
            await raw(f"UPDATE {table} SET {col} = {{}} WHERE id = {{}}", ("A", "B", "A;B")[int(r["id"]) % 3], r["id"])


async def _expected(policy: str, date_from: str = "", date_to: str = "", region: str = "") -> dict[str, dict]:
    """Every table of the section, counted in Python: table → group key → figures."""
    prof: dict[tuple[str, str], dict] = {}
    for r in await raw("SELECT * FROM eligibility_enterprise"):
        prof[("enterprise", r["subject_id"])] = dict(r)
    for r in await raw("SELECT * FROM eligibility_talent"):
        prof[("talent", r["subject_id"])] = dict(r)

    def inr(day: str) -> bool:
        return (not date_from or day >= date_from) and (not date_to or day <= date_to)

    def reg(kind: str, sid: str) -> str:
        return prof.get((kind, sid), {}).get("region_code", "")

    settled = defaultdict(list)
    for p in await raw("SELECT entitlement_id, status, settled_on FROM pay_payment"):
        if p["status"] == "settled":
            settled[int(p["entitlement_id"])].append(p["settled_on"])
    money = {g: defaultdict(lambda: {k: set() for k in ("m", "e", "p")} | {"mf": 0, "ef": 0, "pf": 0}) for g in "cr"}
    for m in await raw("SELECT * FROM eligibility_match WHERE state = 'current' AND code = {}", policy):
        who = (m["subject_kind"], m["subject_id"])
        if (region and reg(*who) != region) or not inr(_bj(m["created_at"])):
            continue
        for g, k in (("c", m["clauses"]), ("r", reg(*who))):
            money[g][k]["m"].add(who)
            money[g][k]["mf"] += int(m["amount_fen"])
    ben: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"ef": 0, "pf": 0})
    for x in await raw("SELECT * FROM pay_entitlement WHERE policy_code = {}", policy):
        who = (x["subject_kind"], x["subject_id"])
        if x["state"] not in LIVE or (region and reg(*who) != region):
            continue
        entitled = inr(_bj(x["created_at"]))
        paid = x["state"] == "paid" and (not (date_from or date_to) or any(inr(d) for d in settled[int(x["id"])] if d))
        for g, k in (("c", x["clause_codes"]), ("r", reg(*who))):
            if entitled:
                money[g][k]["e"].add(who)
                money[g][k]["ef"] += int(x["amount_fen"])
            if paid:
                money[g][k]["p"].add(who)
                money[g][k]["pf"] += int(x["amount_fen"])
        if entitled or paid:
            b = ben[who]
            b["ef"] += int(x["amount_fen"]) if entitled else 0
            b["pf"] += int(x["amount_fen"]) if paid else 0
    on = dt.date.fromisoformat(date_to) if date_to else in_china(dt.datetime.now(dt.UTC)).date()
    out: dict[str, dict] = {}
    for name, g in (("by_clause", "c"), ("by_region", "r")):
        out[name] = {
            k: [len(v["m"]), v["mf"], len(v["e"]), v["ef"], len(v["p"]), v["pf"]]
            for k, v in money[g].items()
            if v["m"] or v["e"] or v["p"]
        }
    group = {
        "ent_scale": lambda p: p["scale"],
        "ent_industry": lambda p: p["industry_code"][:1],
        "ent_age": lambda p: _band(_years(p["founded_on_ymd"], on), (("lt3", 3), ("3to10", 10)), "ge10"),
        "tal_education": lambda p: p["education"],
        "tal_age": lambda p: _band(
            _years(p["birth_on_ymd"], on), (("lt30", 30), ("30to35", 35), ("35to45", 45)), "ge45"
        ),
    }
    for name, key in group.items():
        kind = "enterprise" if name.startswith("ent") else "talent"
        t: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for (k2, sid), b in ben.items():
            if k2 != kind:
                continue
            p = prof.get((kind, sid))
            row = t[key(p) if p else ""]
            row[0] += 1
            row[1] += b["pf"] > 0
            row[2] += b["ef"]
            row[3] += b["pf"]
        out[name] = dict(t)
    return out


def _shown(html: str, name: str) -> dict[str, list[int]]:
    """A table's rows (its group key → figures); {} when the page leaves it out (a profile with no one in it)."""
    found = re.search(rf'data-testid="t-{name}">(.*?)</table>', html, re.S)
    if found is None:
        return {}
    body = found.group(1)
    return {
        htmlmod.unescape(key): [int(v) for v in re.findall(r'data-v="(-?\d+)"', row)]
        for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)
    }


def _check(html: str, exp: dict[str, dict]) -> None:
    for name, want in exp.items():
        assert _shown(html, name) == want, name
    charts = json.loads(htmlmod.unescape(re.search(r'id="dash-data">(.*?)</script>', html, re.S).group(1)))
    for name in exp:
        paid = [v[-1] / 100 for v in _shown(html, name).values()]
        assert charts["who"][name]["paid"] == paid, name
        assert len(charts["who"][name]["labels"]) == len(paid), name


async def test_the_funnel_page_profiles_a_policys_beneficiaries(fresh_db, tmp_dir):
    codes = await dashboard_data.build(tmp_dir)
    await _plant()
    talent, enterprise = codes["talent"], codes["enterprise"]
    third = (
        await raw(
            "SELECT MIN(policy_code) AS c FROM pay_entitlement WHERE policy_code NOT IN ({}, {})", talent, enterprise
        )
    )[0]["c"]
    exp_t = await _expected(talent)
    # the world is what the test means: clauses A, B, A;B, several districts and the no-profile subject, talents in
    # several educations and every age band, some paid and some not; enterprises of several scales and age bands
    assert {"A", "B", "A;B"} <= set(exp_t["by_clause"]) and "" in exp_t["by_region"] and len(exp_t["by_region"]) >= 3
    assert len(exp_t["tal_education"]) >= 4 and {"lt30", "30to35", "35to45", "ge45"} <= set(exp_t["tal_age"])
    assert 0 < sum(v[1] for v in exp_t["tal_education"].values()) < sum(v[0] for v in exp_t["tal_education"].values())
    assert exp_t["ent_scale"] == {}
    exp_m = await _expected(third)
    assert len(exp_m["ent_scale"]) >= 2 and len(exp_m["ent_age"]) >= 2 and len(exp_m["ent_industry"]) >= 2
    for name, role in (("auditor1", "auditor"), ("maker1", "finance_maker"), ("officer1", "policy_officer")):
        await ensure_user(name, role)
    async with asgi_client() as client:
        await alogin(client, "officer1")
        for url in (f"/oversight/funnel?policy={talent}", "/oversight/cockpit/export?table=tal_age&policy=" + talent):
            assert (await client.get(url)).status_code == 403, url
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        html = (await client.get("/oversight/funnel")).text
        assert 'data-testid="reach-choose"' in html and 'data-testid="t-by_clause"' not in html
        for params in (
            {"policy": talent},
            {"policy": third},
            {"policy": enterprise},
            {"policy": talent, "region": "360103"},
            {"policy": third, "region": "360106"},
            {"policy": talent, "date_from": "2026-10-01", "date_to": "2026-10-31"},
            {"policy": third, "date_to": "2026-12-31"},
            {"policy": talent, "date_to": "2026-12-31"},
        ):
            r = await client.get("/oversight/funnel", params=params)
            assert r.status_code == 200
            exp = await _expected(**params)
            _check(r.text, exp)
            for kind in ("ent", "tal"):  # a profile of no one is left out, not shown as empty tables
                assert (f'data-testid="t-{kind}_' in r.text) == any(exp[n] for n in exp if n.startswith(kind))
            if len(params) > 1:  # a filter narrows (or keeps) every table
                whole = await _expected(params["policy"])
                for name in exp:
                    assert sum(v[0] for v in exp[name].values()) <= sum(v[0] for v in whole[name].values())
        # the founding-age edge: founded 2023-12-31 is exactly 3 years old on 2026-12-31, 2024-01-01 under 3
        by_age = await _expected(third, date_to="2026-12-31")
        assert by_age["ent_age"] and set(by_age["ent_age"]) <= {"lt3", "3to10", "ge10"}
    async with asgi_client() as client:
        await alogin(client, "maker1")
        r = await client.get("/oversight/cockpit/export", params={"table": "tal_education", "policy": talent})
        rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
        assert rows[0] == ["学历", "受益对象（个）", "其中已拨付（个）", "应享金额（元）", "已拨付金额（元）"]
        labels = {
            "doctor": "博士研究生",
            "master": "硕士研究生",
            "bachelor": "大学本科",
            "college": "大学专科",
            "other": "其他学历",
        }
        assert {r[0]: int(r[1]) for r in rows[1:]} == {
            labels.get(k, "未登记"): v[0] for k, v in exp_t["tal_education"].items()
        }
        x = await client.get(
            "/oversight/cockpit/export", params={"table": "by_clause", "format": "xlsx", "policy": talent}
        )
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        got = {r[0]: [r[1], r[3], r[5]] for r in ws.iter_rows(min_row=2, values_only=True)}
        assert got == {k: [v[0], v[2], v[4]] for k, v in exp_t["by_clause"].items()}
        client.cookies.set("lang", "en")
        r = await client.get("/oversight/cockpit/export", params={"table": "ent_age", "policy": third})
        rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
        assert rows[0][0] == "Years since founded" and len(rows) == 1 + len(exp_m["ent_age"])
        assert not any(re.search(r"[\u4e00-\u9fff]", c) for row in rows for c in row)
        # no policy: nothing (the section is for one policy)
        r = await client.get("/oversight/cockpit/export", params={"table": "by_region"})
        assert len(list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))) == 1
