"""The public verify page and the PDF download, over HTTP, for receipts of a batch paid through payments' flow."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from tests.web import ensure_user, own_loop_client


@pytest.fixture
async def batch_facts(settled_batch):
    from payments.service import receipts_of_batch

    facts = await receipts_of_batch(settled_batch)
    assert len(facts) == 3
    return facts


@pytest.fixture
async def auditor(fresh_db):
    await ensure_user("auditor1", "auditor")


@pytest.fixture
async def client(batch_facts, auditor):
    async with own_loop_client() as c:
        yield c


def _csrf(client) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken")}


async def _upload(client, code: str, content: bytes, name: str = "receipt.pdf"):
    await client.get(f"/verify/{code}")  # sets the CSRF cookie, as a browser visiting the page would
    return await client.post(
        f"/verify/{code}", files={"file": (name, content, "application/pdf")}, headers=_csrf(client)
    )


def _verdict(html: str) -> str:
    marker = 'data-verdict="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def test_verify_page_shows_the_facts_masked(client, batch_facts):
    facts = batch_facts[0]
    r = await client.get(f"/verify/{facts.code}")
    assert r.status_code == 200
    assert facts.policy_title in r.text and "人民币壹万陆仟肆佰零玖元零贰分" in r.text
    assert facts.payee_name in r.text and "*" in facts.payee_name  # a talent's name is masked
    assert "data-verdict" not in r.text  # nothing uploaded yet
    assert (await client.get(f"/verify/{facts.code.lower()}")).status_code == 200  # codes are typed by people


async def test_unknown_code_is_404(client):
    assert (await client.get("/verify/0000000000000000")).status_code == 404
    assert (await client.get("/api/receipts/0000000000000000.pdf")).status_code == 404


async def test_download_then_upload_says_valid(client, batch_facts):
    facts = batch_facts[0]
    r = await client.get(f"/api/receipts/{facts.code}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert facts.code in r.headers["content-disposition"]
    r = await _upload(client, facts.code, r.content)
    assert r.status_code == 200
    assert _verdict(r.text) == "valid"


async def test_tampered_upload_says_invalid(client, batch_facts):
    facts = batch_facts[1]
    pdf = bytearray((await client.get(f"/api/receipts/{facts.code}.pdf")).content)
    pdf[len(pdf) // 2] ^= 0x01
    r = await _upload(client, facts.code, bytes(pdf))
    assert r.status_code == 200
    assert _verdict(r.text) == "invalid"


async def test_another_receipt_uploaded_to_this_code_says_invalid(client, batch_facts):
    other = (await client.get(f"/api/receipts/{batch_facts[2].code}.pdf")).content
    r = await _upload(client, batch_facts[0].code, other, "other.pdf")
    assert _verdict(r.text) == "invalid"
    assert "回单内容与支付记录不一致" in r.text  # the verify page speaks Chinese
    assert "该 PDF 是另一张回单，不是本记录的回单" in r.text  # was English in a Chinese page (the browser crawl)


async def test_an_unreadable_upload_is_answered_in_the_readers_language(client, batch_facts):
    r = await _upload(client, batch_facts[0].code, b"%PDF-1.4 not really", "crawl.pdf")
    assert r.status_code == 200 and _verdict(r.text) == "invalid"
    assert "文件不是可读取的 PDF" in r.text and "PdfReadError" not in r.text and "readable" not in r.text
    client.cookies.set("lang", "en")
    r = await _upload(client, batch_facts[0].code, b"%PDF-1.4 not really", "crawl.pdf")
    assert "the file is not a readable PDF" in r.text


async def test_auditor_prepares_the_batch_zip_as_a_job_then_downloads_it(batch_facts, auditor):
    """Rendering a whole batch is a job (security review, item 11: the GET took 13.7 s): the batch page offers to
    prepare the ZIP, shows "preparing" while the job is queued, then the link; the download serves the built file."""
    from app import jobs
    from tests.web import acsrf, alogin, asgi_client

    batch_id = batch_facts[0].batch_id
    async with asgi_client() as client:
        assert (await client.get(f"/api/receipts/batches/{batch_id}/receipts.zip")).status_code == 401
        await alogin(client, "auditor1")
        r = await client.get(f"/api/receipts/batches/{batch_id}/receipts.zip")
        assert r.status_code == 409 and "receipts-zip" in r.json()["error"], r.text
        page = (await client.get(f"/finance/batches/{batch_id}")).text
        assert 'data-testid="receipts-zip-prepare"' in page
        r = await client.post(f"/receipts/batches/{batch_id}/zip", headers=acsrf(client), follow_redirects=True)
        assert 'data-testid="receipts-zip-preparing"' in r.text, r.text[-2000:]
        # a progress bar polled by static/progress.js (under the CSP nonce), not a meta refresh (issue 17)
        head = r.text.split("</head>")[0]
        assert 'http-equiv="refresh"' not in head.replace(
            '<noscript><meta http-equiv="refresh" content="5"></noscript>', ""
        )
        progress_url = f"/api/receipts/batches/{batch_id}/receipts-zip/progress"
        bar = re.search(r'<div class="progress-box".*?</noscript>\s*</div>', r.text, re.S)
        assert bar and f'data-progress-url="{progress_url}"' in bar.group(0)
        nonce = re.search(r"'nonce-([^']+)'", r.headers["content-security-policy"]).group(1)
        assert f'<script src="/static/progress.js" nonce="{nonce}"' in r.text
        p = (await client.get(progress_url)).json()
        assert p["done"] is False and 0 < p["fraction"] < 1 and p["counts"]["receipts"] == 3, p
        r = await client.post(f"/api/receipts/batches/{batch_id}/receipts-zip", headers=acsrf(client))
        assert r.status_code == 202 and r.json() == {
            "batch_id": batch_id,
            "status": "preparing",
            "receipts": 3,
            "download": None,
        }
        await jobs.drain()  # the worker builds it
        p = (await client.get(progress_url)).json()
        assert p["done"] is True and p["fraction"] == 1.0, p
        status = (await client.get(f"/api/receipts/batches/{batch_id}/receipts-zip")).json()
        assert status["status"] == "ready" and status["download"] == f"/api/receipts/batches/{batch_id}/receipts.zip"
        page = (await client.get(f"/finance/batches/{batch_id}")).text
        assert f'href="{status["download"]}"' in page
        r = await client.get(status["download"])
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
            names = archive.namelist()
        assert len(names) == 4 and names[-1] == "manifest.csv"
        assert all(n.startswith(f"{batch_id}-") for n in names[:-1])
        assert (await client.get("/api/receipts/batches/999999/receipts.zip")).status_code == 404
        assert (
            await client.post("/api/receipts/batches/999999/receipts-zip", headers=acsrf(client))
        ).status_code == 404


@pytest.fixture
async def returned(batch_facts, tmp_dir):
    """The bank sends the second receipt's payment back (退汇) and finance records it, before the app opens."""
    from payments.adapters import get_adapter
    from payments.service import record_return
    from payments.tables import Payment
    from tests.payments.factories import CHECKER, bank_settings

    facts = batch_facts[1]
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        request_id = (await Payment.select(Payment.request_id).where(Payment.id == facts.payment_id).first())[
            "request_id"
        ]
        adapter.simulator.reverse(request_id)
        await record_return(facts.payment_id, actor=CHECKER, adapter=adapter)
    finally:
        await adapter.aclose()
    return facts


async def test_a_returned_payments_receipt_no_longer_stands(returned, client, batch_facts):
    """After a 退汇 the receipt's page says the money was sent back, and its own genuine PDF is not 'valid' any more;
    the other receipts of the batch are untouched."""
    page = (await client.get(f"/verify/{returned.code}")).text
    assert 'data-testid="withdrawn" data-standing="returned"' in page and "退汇" in page
    pdf = (await client.get(f"/api/receipts/{returned.code}.pdf")).content
    assert _verdict((await _upload(client, returned.code, pdf)).text) == "withdrawn"
    other = batch_facts[0]
    assert 'data-testid="withdrawn"' not in (await client.get(f"/verify/{other.code}")).text
    pdf = (await client.get(f"/api/receipts/{other.code}.pdf")).content
    assert _verdict((await _upload(client, other.code, pdf)).text) == "valid"


async def test_a_receipt_carries_nothing_derived_from_the_payees_id_number(batch_facts):
    """The payment request id is a hash of the payee's ID number with no secret: beside the masked ID on a receipt it
    would give the whole number away in a few million guesses. Receipts no longer carry it (nor does their digest);
    one issued before keeps its request id and its digest, so its PDF still verifies."""
    import hashlib
    import json

    from payments.receipts.schemas import canonical_json, facts_digest
    from payments.tables import Payment, Receipt

    for facts in batch_facts:
        request_id = (await Payment.select(Payment.request_id).where(Payment.id == facts.payment_id).first())[
            "request_id"
        ]
        stored = (await Receipt.select(Receipt.facts).where(Receipt.code == facts.code).first())["facts"]
        assert facts.request_id is None and request_id not in stored and "request_id" not in json.loads(stored)
        older = facts.model_copy(update={"request_id": request_id})
        assert json.loads(canonical_json(older))["request_id"] == request_id
        assert facts_digest(older) == hashlib.sha256(canonical_json(older)).hexdigest() != facts_digest(facts)


@pytest.fixture
async def edited(batch_facts):
    """An insider raises the amount in the third receipt's stored facts and recomputes their stored digest."""
    import hashlib
    import json

    from payments.tables import Receipt

    facts = batch_facts[2]
    row = await Receipt.select().where(Receipt.code == facts.code).first()
    data = json.loads(row["facts"])
    data["amount"] = "99999.00"
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    await Receipt.update(
        {Receipt.facts: text, Receipt.content_digest: hashlib.sha256(text.encode()).hexdigest()}
    ).where(Receipt.id == row["id"])
    return facts


async def test_a_receipt_record_edited_in_the_database_is_neither_shown_nor_signed(edited, client, batch_facts):
    r = await client.get(f"/verify/{edited.code}")
    assert r.status_code == 409 and "99999" not in r.text
    r = await client.get(f"/api/receipts/{edited.code}.pdf")
    assert r.status_code == 409 and not r.content.startswith(b"%PDF")
    assert (await client.get(f"/verify/{batch_facts[0].code}")).status_code == 200
