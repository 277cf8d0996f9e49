"""The auditor's workbench (/oversight) through HTTP: flags by severity and rule with the subject masked, the
filter, the CSV export masked, a flag's evidence and the subject's whole history, the decision with a reason and a
second auditor for a high flag; other roles are refused; the batch page says what a risk flag held out."""

from __future__ import annotations

import re

from kit.masking import mask_id_number
from payments import service as payments
from tests.payments import risk_data as d
from tests.payments.factories import MAKER, SYSTEM, THRESHOLD_FEN
from tests.web import acsrf, alogin, asgi_client, ensure_user


async def _planted() -> tuple[list[int], str]:
    await d.background()
    shared = d.account("talent", 100)
    f_t = d.facts(subject="talent")
    ids = [
        await d.entitle(f_t, "talent", await d.talent(100), 500_000, shared),
        await d.entitle(d.facts(subject="enterprise"), "enterprise", await d.enterprise(100), 2_000_000, shared),
    ]
    await d.entitle(f_t, "talent", await d.talent(101), 500_000, d.account("talent", 101))
    await payments.risk_scan(actor=SYSTEM)
    return ids, f_t.code


async def test_the_workbench_lists_filters_exports_and_decides(fresh_db):
    ids, code = await _planted()
    for name, role in (("auditor1", "auditor"), ("auditor2", "auditor"), ("maker1", "finance_maker")):
        await ensure_user(name, role)
    talent_id = d.id_number(100)
    async with asgi_client() as client:
        await alogin(client, "maker1")
        assert (await client.get("/oversight")).status_code == 403
        made = await payments.create_batch(actor=MAKER, policy_code=code, second_checker_threshold_fen=THRESHOLD_FEN)
        html = (await client.get(f"/finance/batches/{made.batch_id}")).text
        risk_row = re.search(r'data-testid="left-risk"><td>([^<]+)</td><td class="num">(\d+)<', html)
        assert risk_row and "风险标记" in risk_row.group(1) and risk_row.group(2) == "1"
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        html = (await client.get("/oversight")).text
        table = re.search(r'data-testid="flags">(.*?)</table>', html, re.S).group(1)
        assert table.count("<tr>") == 3  # the header and the two flags
        assert "同一收款账户为多个主体收款" in table and "高" in table
        assert talent_id not in html and mask_id_number(talent_id) in table
        assert "没有符合条件" in (await client.get("/oversight?severity=low")).text
        csv = (await client.get("/oversight/export?format=csv&status=open")).text
        assert csv.count("\n") == 3 and "shared_account" in csv and talent_id not in csv
        assert d.account("talent", 100) not in csv
        xlsx = await client.get("/oversight/export?format=xlsx")
        assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
        flag_id = re.search(r'href="/oversight/flags/(\d+)"', table).group(1)
        page = (await client.get(f"/oversight/flags/{flag_id}")).text
        assert 'data-testid="evidence"' in page and d.account("talent", 100) not in page
        history = re.search(r'data-testid="history">(.*)', page, re.S).group(1)
        for section in ("h-profiles", "h-entitlements", "h-flags"):
            assert f'data-testid="{section}"' in history, section
        refused = await client.post(f"/oversight/flags/{flag_id}/clear", data={"reason": ""}, headers=acsrf(client))
        assert (
            refused.status_code in (400, 303, 302, 200)
            and (await payments.get_flag(int(flag_id)))["first_cleared_by"] is None
        )
        r = await client.post(f"/oversight/flags/{flag_id}/clear", data={"reason": "已核实"}, headers=acsrf(client))
        assert r.status_code in (302, 303, 201, 200)
        assert (await payments.get_flag(int(flag_id)))["first_cleared_by"] == "auditor1"
        page = (await client.get(f"/oversight/flags/{flag_id}?msg=first")).text
        assert "另一名审计人员" in page
        audit = re.search(r'data-testid="h-audit">(.*?)</table>', page, re.S).group(1)
        assert "risk.clear_first" in audit and "auditor1" in audit
    async with asgi_client() as client:
        await alogin(client, "auditor2")
        await client.post(f"/oversight/flags/{flag_id}/clear", data={"reason": "复核同意"}, headers=acsrf(client))
        f = await payments.get_flag(int(flag_id))
        assert (f["state"], f["decided_by"]) == ("cleared", "auditor2")
