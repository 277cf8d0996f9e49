"""Issue 17, item 2: the receipt verification page (opened on a phone from the receipt's QR code) reads in Chinese
in zh mode, whatever it answers: the facts, a valid upload, a tampered one, an unreadable file, a returned payment."""

from __future__ import annotations

import re

from tests.receipts.test_web import _upload, auditor, batch_facts, client, returned  # noqa: F401 (fixtures)

# What a Chinese page may still show in Latin letters: codes and data, not sentences.
ALLOWED = {"PDF", "SHA", "Zhida", "HTTP", "CN"}


def english_words(html: str, facts, upload_name: str = "receipt.pdf") -> list[str]:
    body = html[html.index("<main") if "<main" in html else 0 :]
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    for data in (upload_name, facts.code, facts.policy_code, facts.bank_transfer_id, facts.payer_account_masked or ""):
        text = text.replace(data, " ")
    text = re.sub(r"\b[0-9a-f]{64}\b", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in ALLOWED]


async def test_the_verify_page_reads_in_chinese(client, batch_facts):  # noqa: F811
    facts = batch_facts[0]
    page = await client.get(f"/verify/{facts.code}")
    assert page.status_code == 200 and not english_words(page.text, facts), english_words(page.text, facts)
    pdf = (await client.get(f"/api/receipts/{facts.code}.pdf")).content
    for content in (pdf, pdf[:-200] + b"x" * 200, b"not a pdf at all"):
        r = await _upload(client, facts.code, content)
        assert r.status_code in (200, 400, 422) and "data-verdict" in r.text, r.text[:500]
        assert not english_words(r.text, facts), english_words(r.text, facts)


async def test_a_returned_receipts_page_reads_in_chinese(returned, client, batch_facts):  # noqa: F811
    facts = returned
    page = await client.get(f"/verify/{facts.code}")
    assert 'data-testid="withdrawn"' in page.text
    assert not english_words(page.text, facts), english_words(page.text, facts)
    pdf = (await client.get(f"/api/receipts/{facts.code}.pdf")).content
    r = await _upload(client, facts.code, pdf)
    assert 'data-verdict="withdrawn"' in r.text and not english_words(r.text, facts), english_words(r.text, facts)
