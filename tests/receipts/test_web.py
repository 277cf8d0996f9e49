"""The public verify page and the PDF download, over HTTP, for receipts of a batch paid through payments' flow."""
from __future__ import annotations

import io
import zipfile

import pytest
from litestar.testing import TestClient

from app.main import create_app
from tests.web import csrf_headers, ensure_user, login


@pytest.fixture
async def batch_facts(settled_batch):
    from payments.service import receipts_of_batch

    facts = await receipts_of_batch(settled_batch)
    assert len(facts) == 3
    return facts


@pytest.fixture
def client(batch_facts):
    with TestClient(create_app()) as c:
        yield c


def _verdict(html: str) -> str:
    marker = 'data-verdict="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def test_verify_page_shows_the_facts_masked(client, batch_facts):
    facts = batch_facts[0]
    r = client.get(f"/verify/{facts.code}")
    assert r.status_code == 200
    assert facts.policy_title in r.text and "人民币壹万陆仟肆佰零玖元零贰分" in r.text
    assert facts.payee_name in r.text and "*" in facts.payee_name  # a talent's name is masked
    assert "data-verdict" not in r.text  # nothing uploaded yet
    assert client.get(f"/verify/{facts.code.lower()}").status_code == 200  # codes are typed by people


def test_unknown_code_is_404(client):
    assert client.get("/verify/0000000000000000").status_code == 404
    assert client.get("/api/receipts/0000000000000000.pdf").status_code == 404


def test_download_then_upload_says_valid(client, batch_facts):
    facts = batch_facts[0]
    r = client.get(f"/api/receipts/{facts.code}.pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    assert facts.code in r.headers["content-disposition"]
    page = client.get(f"/verify/{facts.code}")
    assert page.status_code == 200
    r = client.post(f"/verify/{facts.code}", files={"file": ("receipt.pdf", r.content, "application/pdf")},
                    headers=csrf_headers(client))
    assert r.status_code == 200
    assert _verdict(r.text) == "valid"


def test_tampered_upload_says_invalid(client, batch_facts):
    facts = batch_facts[1]
    pdf = bytearray(client.get(f"/api/receipts/{facts.code}.pdf").content)
    pdf[len(pdf) // 2] ^= 0x01
    client.get(f"/verify/{facts.code}")
    r = client.post(f"/verify/{facts.code}", files={"file": ("receipt.pdf", bytes(pdf), "application/pdf")},
                    headers=csrf_headers(client))
    assert _verdict(r.text) == "invalid"


def test_another_receipt_uploaded_to_this_code_says_invalid(client, batch_facts):
    other = client.get(f"/api/receipts/{batch_facts[2].code}.pdf").content
    client.get(f"/verify/{batch_facts[0].code}")
    r = client.post(f"/verify/{batch_facts[0].code}", files={"file": ("other.pdf", other, "application/pdf")},
                    headers=csrf_headers(client))
    assert _verdict(r.text) == "invalid"
    assert "differ from the payment record" in r.text


@pytest.fixture
async def auditor(fresh_db):
    await ensure_user("auditor1", "auditor")


def test_auditor_downloads_the_batch_zip(auditor, client, batch_facts):
    batch_id = batch_facts[0].batch_id
    assert client.get(f"/api/receipts/batches/{batch_id}/receipts.zip").status_code == 401
    login(client, "auditor1")
    r = client.get(f"/api/receipts/batches/{batch_id}/receipts.zip")
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        names = archive.namelist()
    assert len(names) == 4 and names[-1] == "manifest.csv"
    assert all(n.startswith(f"{batch_id}-") for n in names[:-1])
    assert client.get("/api/receipts/batches/999999/receipts.zip").status_code == 404
