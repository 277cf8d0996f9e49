"""Near misses in aggregate (/oversight/near) through HTTP: for a rule set with two conditions in a clause, the
subjects failing only one of them and within P % of its threshold, as the page and its downloads show them, equal
independent SQL counts over the same generated profiles, for two distances; only finance and audit staff may open
it."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re

import openpyxl

from eligibility.rulesets import activate_ruleset
from eligibility.schemas import RuleClause, RuleSet
from kit.db import raw
from tests.payments import risk_data as d
from tests.web import alogin, asgi_client, ensure_user

RD_FEN = 100_000_000  # 1,000,000 yuan


async def _world(start: int = 1) -> None:
    rng = random.Random(18)
    for i in range(start, start + 80):
        await d.enterprise(i, employees=rng.randint(10, 40))
        rd = None if i % 9 == 0 else rng.randint(70_000_000, 120_000_000)
        await raw("UPDATE eligibility_enterprise SET rd_expense_fen = {} WHERE subject_id = {}", rd, d.uscc(i))
    # exactly on the edges: 10 % below the threshold (in), one fen more below (out); 18 employees (in), 17 (out)
    for i, (emp, rd) in enumerate(((25, 90_000_000), (25, 89_999_999), (18, RD_FEN), (17, RD_FEN)), start=start + 100):
        await d.enterprise(i, employees=emp)
        await raw("UPDATE eligibility_enterprise SET rd_expense_fen = {} WHERE subject_id = {}", rd, d.uscc(i))
    await activate_ruleset(
        RuleSet(
            key="RD-NEAR@1", code="RD-NEAR", subject="enterprise", effective_from=dt.date(2025, 1, 1),
            clauses=[RuleClause(code="rd", title="研发投入奖励", when="rd_expense >= 1000000 and employees >= 20",
                                amount="100000")],
        )
    )  # fmt: skip


async def _count(sql: str, *args) -> int:
    return int((await raw(f"SELECT COUNT(*) AS n FROM eligibility_enterprise WHERE {sql}", *args))[0]["n"])


async def _expected(pct: int) -> dict[str, tuple[int, int]]:
    """condition → (failing only it, … within pct %), by SQL over the profiles."""
    rd_only = "employees >= 20 AND rd_expense_fen IS NOT NULL AND rd_expense_fen < {}"
    emp_only = "rd_expense_fen >= {} AND employees < 20"
    return {
        "rd_expense": (
            await _count(rd_only, RD_FEN),
            await _count(rd_only + " AND rd_expense_fen * 100 >= {}", RD_FEN, RD_FEN * (100 - pct)),
        ),
        "employees": (
            await _count(emp_only, RD_FEN),
            await _count(emp_only + " AND employees * 100 >= {}", RD_FEN, 20 * (100 - pct)),
        ),
    }


def _shown(html: str) -> dict[str, tuple[int, int]]:
    body = re.search(r'data-testid="t-near">(.*?)</table>', html, re.S).group(1)
    out = {}
    for key, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S):
        assert key.startswith("RD-NEAR@1|rd|"), key
        name = "rd_expense" if "rd_expense" in key else "employees"
        a, b = re.findall(r'data-n="(\d+)"', row)
        out[name] = (int(a), int(b))
    return out


async def test_near_misses_equal_independent_sql_counts(fresh_db):
    await _world()
    exp10 = await _expected(10)
    # the world is what the test means: both conditions have near misses, and some failing subjects are far off
    assert all(0 < w < n for n, w in exp10.values()), exp10
    for name, role in (("auditor1", "auditor"), ("maker1", "finance_maker"), ("officer1", "policy_officer")):
        await ensure_user(name, role)
    async with asgi_client() as client:
        await alogin(client, "officer1")
        assert (await client.get("/oversight/near")).status_code == 403
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        r = await client.get("/oversight/near")
        assert r.status_code == 200 and "研发" in r.text
        visible = re.sub(r"<[^>]+>", " ", r.text)  # the condition in words for the reader: no field names
        assert "rd_expense" not in visible and "employees" not in visible
        assert _shown(r.text) == exp10
        r = await client.get("/oversight/near", params={"policy": "RD-NEAR", "within": "5"})
        assert _shown(r.text) == await _expected(5)
        r = await client.get("/oversight/near", params={"policy": "OTHER"})
        assert _shown(r.text) == {}
    async with asgi_client() as client:
        await alogin(client, "maker1")
        text = (await client.get("/oversight/near/export", params={"format": "csv"})).text
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
        assert rows[0][-2:] == ["仅差此条件（个）", "在门槛范围内（个）"]
        got = {("rd_expense" if "研发" in r[3] else "employees"): (int(r[5]), int(r[6])) for r in rows[1:]}
        assert got == exp10
        x = await client.get("/oversight/near/export", params={"format": "xlsx", "within": "5"})
        ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
        assert sorted(r[6] for r in ws.iter_rows(min_row=2, values_only=True)) == sorted(
            w for _, w in (await _expected(5)).values()
        )
