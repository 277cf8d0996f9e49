"""The auditor's trail (issue 17): the filter form's empty date fields filter nothing (they were a 400), the page
shows its total and pages in the database, and the download carries the same filters."""

from __future__ import annotations

import csv
import io
import re

from app.audit import AuditActor
from kit.audit import Change
from tests.web import alogin, asgi_client, ensure_user

HTML = {"accept": "text/html"}
EMPTY_FORM = "actor=&action=&entity=&entity_id=&since=&until="


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def _entries(n: int) -> None:
    recorder = AuditActor("u_trail", "policy_officer")
    for i in range(n):
        await recorder.record_many([Change("trail.test", "trail_thing", str(i), None, {"n": i})])


async def test_the_filter_form_as_sent_with_empty_dates_is_answered(fresh_db):
    await ensure_user("u_trail_auditor", "auditor")
    async with asgi_client() as client:
        await alogin(client, "u_trail_auditor")
        r = await client.get(f"/audit?{EMPTY_FORM}", headers=HTML)
        assert r.status_code == 200, r.text[:300]  # was 400: "" is not a date
        r = await client.get("/audit?since=2026-13-40", headers=HTML)
        assert r.status_code == 400 and "不是日期" in r.text
        r = await client.get(f"/audit/export?format=csv&{EMPTY_FORM}")
        assert r.status_code == 200


async def test_the_trail_pages_with_its_total_and_downloads_filtered(fresh_db):
    await _entries(120)
    await ensure_user("u_trail_auditor", "auditor")
    await ensure_user("u_trail_maker", "finance_maker")
    async with asgi_client() as client:
        await alogin(client, "u_trail_auditor")
        r = await client.get("/audit?entity=trail_thing&since=&until=", headers=HTML)
        assert "共 120 条，第 1/3 页" in text_of(r.text)
        assert "page=2" in r.text and "entity=trail_thing" in r.text
        r = await client.get("/audit?entity=trail_thing&page=3", headers=HTML)
        assert "共 120 条，第 3/3 页" in text_of(r.text)
        assert 'href="/audit/export?format=csv&amp;' in r.text and "entity=trail_thing" in r.text
        csv_text = (await client.get("/audit/export?format=csv&entity=trail_thing&since=")).content.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(csv_text)))
        assert rows[0][:3] == ["序号", "时间（北京时间）", "操作人"] and len(rows) == 121
        assert {r[5] for r in rows[1:]} == {"trail_thing"}
        xlsx = await client.get("/audit/export?format=xlsx&entity=trail_thing")
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    async with asgi_client() as client:
        await alogin(client, "u_trail_maker")  # not a reader of the trail: neither its page nor its download
        assert (await client.get("/audit", headers=HTML)).status_code == 403
        assert (await client.get("/audit/export?format=csv")).status_code == 403


async def test_every_kind_of_entity_the_services_record_is_named_in_words(fresh_db):
    """A corrected receiving account (subject_account) read as a code on the zh page (found by the browser crawl)."""
    recorder = AuditActor("u_trail", "policy_officer")
    for entity in ("subject_account", "feed"):
        await recorder.record_many([Change("trail.test", entity, "x1", None, {"n": 1})])
    await ensure_user("u_trail_auditor", "auditor")
    async with asgi_client() as client:
        await alogin(client, "u_trail_auditor")
        zh = text_of((await client.get("/audit?action=trail.test", headers=HTML)).text)
        assert "收款账户 x1" in zh and "数据交换 x1" in zh and "subject_account" not in zh
        client.cookies.set("lang", "en")
        en = text_of((await client.get("/audit?action=trail.test", headers=HTML)).text)
        assert "receiving account x1" in en and "data feed x1" in en
