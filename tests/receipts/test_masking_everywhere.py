"""One masking rule per datum (kit/masking.py): the same payee's account and ID number read the same on the receipt
(its facts, its PDF's text and its verify page), in the money-arrived notice, on the payee's own portal page, on the
finance batch page and in the batch's downloads (CSV and .xlsx), and the whole number appears on none of them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess

import openpyxl

from app.auth.service import create_user
from kit.db import raw
from kit.masking import mask_account, mask_id_number
from notifications.rendering import render
from payments.service import receipts_of_batch
from policies.applications.tables import SubjectAccount
from tests.notifications.conftest import CTX
from tests.web import PASSWORD, alogin, asgi_client, ensure_user


async def test_one_account_and_one_id_number_read_the_same_on_every_surface(settled_batch, renderer):
    [p] = await raw(
        "SELECT subject_id, payee_account, payee_name FROM pay_payment WHERE batch_id = {} ORDER BY id LIMIT 1",
        settled_batch,
    )
    account, id_number = p["payee_account"], p["subject_id"]
    want_account, want_id = mask_account(account), mask_id_number(id_number)
    assert want_account == f"{account[:4]}****{account[-4:]}"
    assert want_id == id_number[:3] + "*" * (len(id_number) - 7) + id_number[-4:]

    # The receipt: its facts, the text of its signed PDF, and the page its QR code opens.
    facts = next(f for f in await receipts_of_batch(settled_batch) if f.payee_account_masked == want_account)
    assert facts.payee_id_masked == want_id
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(renderer.pdf_path(facts)), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert want_account in text and account not in text
    async with asgi_client() as client:
        page = (await client.get(f"/verify/{facts.code}")).text
    assert want_account in page and want_id in page and account not in page and id_number not in page

    # The notice that tells the payee the money arrived.
    notice = render("money_arrived", "zh-CN", {**CTX, "account": account, "id_number": id_number})
    assert want_account in notice.body and account not in notice.body

    # The finance batch page.
    await ensure_user("u_mask_checker", "finance_checker")
    async with asgi_client() as client:
        await alogin(client, "u_mask_checker")
        finance = (await client.get(f"/finance/batches/{settled_batch}", headers={"accept": "text/html"})).text
    assert want_account in finance and account not in finance

    # The batch's downloads: the CSV and the Excel file a clerk takes to a meeting.
    async with asgi_client() as client:
        await alogin(client, "u_mask_checker")
        csv_text = (await client.get(f"/finance/batches/{settled_batch}/export?format=csv")).content.decode("utf-8-sig")
        xlsx = (await client.get(f"/finance/batches/{settled_batch}/export?format=xlsx")).content
    [header, *rows] = list(csv.reader(io.StringIO(csv_text)))
    ours = next(r for r in rows if r[header.index("收款账户")] == want_account)
    assert ours[header.index("证件号码")] == want_id
    assert account not in csv_text and id_number not in csv_text
    sheet = [[c.value for c in row] for row in openpyxl.load_workbook(io.BytesIO(xlsx)).active.iter_rows()]
    line = next(r for r in sheet[1:] if r[header.index("收款账户")] == want_account)
    assert line[header.index("证件号码")] == want_id
    assert not any(account == v or id_number == v for r in sheet for v in r)

    # The payee's own portal page: its receiving account (as it confirmed it) and its ID number.
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    await SubjectAccount.insert(
        SubjectAccount(
            subject_key=f"talent:{id_number}",
            subject_kind="talent",
            subject_id=id_number,
            payee_name=p["payee_name"],
            bank_name="中国银行南昌分行",
            account=account,
            status="verified",
            source="exchange",
            confirmed_by=id_number,
            confirmed_at=at,
        )
    )
    await create_user(id_number, "talent", PASSWORD)
    async with asgi_client() as client:
        await alogin(client, id_number)
        portal = (await client.get("/portal", headers={"accept": "text/html"})).text
    assert f'data-testid="account-masked">{want_account}<' in portal
    assert f'data-testid="subject-id">{want_id}<' in portal
    assert account not in portal and id_number not in portal
