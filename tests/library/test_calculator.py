"""The policy calculator (政策计算器): every published policy judged on facts anyone enters, by the explainer that
the portal and ``zhida explain`` use; the verdicts, amounts and 还差 lines; nothing stored, nothing logged."""

from __future__ import annotations

import logging

from piccolo.conf.apps import Finder

from kit.db import raw
from tests.library.test_library import publish_bundled
from tests.web import asgi_client

RD = {
    "region_code": "360102",
    "industry_code": "C3911",
    "scale": "medium",
    "founded_on": "2012-05-01",
    "employees": "120",
    "revenue": "80000000",
    "tax_paid": "3000000",
    "rd_expense": "800000",
    "high_tech": "true",
    "specialized": "none",
    "credit_rating": "A",
    "blacklisted": "false",
}


async def _counts() -> dict[str, int]:
    """Rows of every table of every app (the audit trail's included)."""
    names = [t._meta.tablename for t in Finder().get_table_classes() if await t.table_exists()]
    assert len(names) > 20
    return {n: (await raw(f'SELECT COUNT(*) AS n FROM "{n}"'))[0]["n"] for n in names}


async def test_a_near_miss_says_what_is_missing_and_an_eligible_one_its_amount(fresh_db):
    await publish_bundled()
    async with asgi_client() as client:
        zh = {"accept-language": "zh-CN"}
        body = {"kind": "enterprise", "facts": RD, "as_of": "2025-06-30"}
        r = await client.post("/api/public/calculator", json=body, headers=zh)
        assert r.status_code == 200, r.text
        rd = next(v for v in r.json() if v["code"] == "NC-RD-SUBSIDY-2025")
        assert not rd["eligible"] and rd["amount"] == "0.00"
        assert any("100 万元" in m and "80 万元" in m and m.startswith("还差") for m in rd["missing"]), rd["missing"]
        richer = {**body, "facts": {**RD, "rd_expense": "5000000"}}
        rd = next(
            v for v in (await client.post("/api/public/calculator", json=richer)).json() if v["code"] == rd["code"]
        )
        assert rd["eligible"] and rd["amount"] == "750000.00" and rd["amount_text"] == "¥750,000.00"
        bad = await client.post("/api/public/calculator", json={**body, "facts": {"rd_expense": "lots"}})
        assert bad.status_code == 422 and "rd_expense" in bad.text


async def test_the_calculator_page_shows_verdicts_in_the_visitors_language(fresh_db):
    await publish_bundled()
    async with asgi_client() as client:
        page = await client.get("/library/calculator")
        assert page.status_code == 200 and "上年度研发费用" in page.text and "统一社会信用代码" not in page.text
        form = {**RD, "kind": "enterprise", "as_of": "2025-06-30", "_csrf_token": client.cookies.get("csrftoken")}
        r = await client.post("/library/calculator", data=form)
        assert r.status_code == 200, r.text
        assert "企业研发投入后补助" in r.text and "还差" in r.text and "80 万元" in r.text
        talent = await client.get("/library/calculator", params={"kind": "talent"})
        assert "出生日期" in talent.text and "居民身份证号" not in talent.text


async def test_nothing_entered_is_stored_or_logged(fresh_db, caplog):
    await publish_bundled()
    before = await _counts()
    marker = "8765432.10"  # an amount no other line holds
    with caplog.at_level(logging.DEBUG):
        async with asgi_client() as client:
            r = await client.post(
                "/api/public/calculator",
                json={"kind": "enterprise", "facts": {**RD, "rd_expense": marker}, "as_of": "2025-06-30"},
            )
            assert r.status_code == 200
            form = {**RD, "rd_expense": marker, "kind": "enterprise", "_csrf_token": client.cookies.get("csrftoken")}
            assert (await client.post("/library/calculator", data=form)).status_code == 200
    assert await _counts() == before
    assert caplog.records  # the requests were logged, …
    assert not [rec for rec in caplog.records if marker in rec.getMessage() or "8765432" in str(rec.__dict__)]
