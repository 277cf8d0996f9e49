"""The signed receipt PDF: its text, embedded CJK font, signature, tamper detection, cache, bulk files and ZIP."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile

import pytest

from payments.receipts.amount_words import amount_in_words
from payments.receipts.bulk import receipt_filename, write_receipts, write_receipts_zip
from payments.receipts.schemas import facts_digest
from payments.receipts.verify import verify_receipt_pdf
from tests.receipts.factories import receipt_facts


def _text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def test_text_has_policy_title_amount_in_words_and_facts(receipt_pdf, facts):
    text = _text(receipt_pdf)
    compact = re.sub(r"\s+", "", text)
    assert facts.policy_title in compact
    assert amount_in_words(facts.amount) == "人民币壹万陆仟肆佰零玖元零贰分"
    assert amount_in_words(facts.amount) in compact
    assert "¥16,409.02" in compact
    assert facts.code in compact and facts.bank_transfer_id in compact
    assert "张*明" in compact and "张晓明" not in compact
    assert "2026-11-2010:15:30" in compact  # 02:15:30 UTC shown in Asia/Shanghai
    assert facts_digest(facts) in compact


def test_cjk_font_is_embedded(receipt_pdf):
    fonts = subprocess.run(["pdffonts", str(receipt_pdf)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert rows, fonts
    cjk = [r for r in rows if "WenQuanYi" in r[0] or "NotoSansCJK" in r[0] or "NotoSansSC" in r[0]]
    assert cjk, fonts
    # columns: name type... encoding emb sub uni object ID — 'emb' is the 5th from the end
    assert all(r[-5] == "yes" for r in rows), fonts


def test_pdf_is_a4_single_page(receipt_pdf):
    info = subprocess.run(["pdfinfo", str(receipt_pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"Pages:\s+1\b", info)
    assert "595.2" in info and "841.8" in info  # A4 in points
    assert "facts-sha256:" in info  # the digest in the keywords


def test_signature_validates_and_names_the_facts(receipt_pdf, renderer, facts):
    report = verify_receipt_pdf(
        receipt_pdf.read_bytes(), facts_digest(facts), trust_certs=[renderer.seal().certificate]
    )
    assert report.ok, report.problems
    assert report.intact and report.valid and report.trusted and report.covers_whole_file
    assert report.code == facts.code and report.embedded_digest == facts_digest(facts)
    assert "回单专用章" in report.signer and "回单专用章" in report.signer_fields["common_name"]


def test_other_facts_do_not_match(receipt_pdf, renderer):
    report = verify_receipt_pdf(receipt_pdf.read_bytes(), "0" * 64, trust_certs=[renderer.seal().certificate])
    assert not report.ok and report.intact and report.digest_matches is False


def test_untrusted_without_the_seal_certificate(receipt_pdf):
    report = verify_receipt_pdf(receipt_pdf.read_bytes(), None)
    assert report.intact and not report.trusted and not report.ok


def _flip(data: bytes, position: int) -> bytes:
    changed = bytearray(data)
    changed[position] = ord("1") if changed[position] != ord("1") else ord("2")
    return bytes(changed)


def test_changing_one_byte_anywhere_fails(receipt_pdf, renderer, facts):
    data = receipt_pdf.read_bytes()
    contents = re.search(rb"/Contents <([0-9a-fA-F]+)>", data)
    der_end = contents.start(1) + len(contents.group(1).rstrip(b"0"))
    positions = {
        "page content": len(data) // 3,
        "middle": len(data) // 2,
        "keywords": data.index(b"/Keywords (") + 60,
        "signature value": der_end - 6,
        "signature padding": der_end + 40,
        "signature reason": data.index(b"/Reason (Zhida receipt ") + 30,
    }
    trust = [renderer.seal().certificate]
    for where, position in positions.items():
        report = verify_receipt_pdf(_flip(data, position), facts_digest(facts), trust_certs=trust)
        assert not report.ok, f"a change in the {where} at byte {position} went unnoticed"
        assert report.problems


def test_appended_content_is_reported(receipt_pdf, renderer):
    data = receipt_pdf.read_bytes() + b"\n1 0 obj\n<< >>\nendobj\n"
    report = verify_receipt_pdf(data, None, trust_certs=[renderer.seal().certificate])
    assert not report.ok


def test_garbage_is_reported_not_raised():
    report = verify_receipt_pdf(b"not a pdf at all", None)
    assert not report.readable and not report.ok and report.problems


def test_cache_renders_once_per_content(renderer, facts, receipt_pdf):
    again = renderer.pdf_path(facts)
    assert again == receipt_pdf
    assert again.stat().st_mtime_ns == receipt_pdf.stat().st_mtime_ns
    assert again.name.startswith(facts_digest(facts))
    other = renderer.pdf_path(facts.model_copy(update={"bank_transfer_id": "BK-OTHER"}))
    assert other != receipt_pdf


@pytest.mark.parametrize("processes", [1, 2])
def test_write_receipts_one_file_per_payment(renderer, tmp_path, processes):
    facts_list = [
        receipt_facts(
            payment_id=100 + i,
            payee_kind="enterprise",
            payee_name="南昌市某某科技有限公司",
            payee_id_masked="91360100MA35XXXX0X",
        )
        for i in range(5)
    ]
    paths = write_receipts(facts_list, tmp_path / "out", renderer=renderer, processes=processes)
    assert [p.name for p in paths] == [receipt_filename(f) for f in facts_list]
    assert paths[0].name == f"7-100-{facts_list[0].code}.pdf"
    trust = [renderer.seal().certificate]
    for facts, path in zip(facts_list, paths):
        assert verify_receipt_pdf(path.read_bytes(), facts_digest(facts), trust_certs=trust).ok


def test_zip_for_the_auditor(renderer, tmp_path, facts):
    facts_list = [facts, receipt_facts(payment_id=2001)]
    path = write_receipts_zip(facts_list, tmp_path / "batch-7.zip", renderer=renderer, processes=1)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names == [receipt_filename(f) for f in facts_list] + ["manifest.csv"]
        manifest = archive.read("manifest.csv").decode()
        assert archive.read(names[0]).startswith(b"%PDF")
    assert facts_digest(facts) in manifest and "16409.02" in manifest
    assert "张" not in manifest  # no personal data in the index


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbarimg (Debian zbar-tools) is not installed")
def test_qr_code_links_to_the_verify_page(receipt_pdf, facts, tmp_path):
    subprocess.run(
        ["pdftoppm", "-png", "-r", "150", "-singlefile", str(receipt_pdf), str(tmp_path / "page")], check=True
    )
    decoded = subprocess.run(
        ["zbarimg", "-q", "--raw", str(tmp_path / "page.png")], capture_output=True, text=True
    ).stdout
    assert decoded.strip() == f"https://zhida.example.gov.cn/verify/{facts.code}"


async def test_sync_api_works_inside_a_running_event_loop(renderer, facts):
    # CLI commands and jobs call the sync API from async code: pyHanko's own loop must not clash with theirs
    other = facts.model_copy(update={"payment_id": 4242})
    pdf = renderer.pdf_bytes(other)
    assert verify_receipt_pdf(pdf, facts_digest(other), trust_certs=[renderer.seal().certificate]).ok
