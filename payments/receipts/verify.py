"""Checking a receipt PDF: is the seal's signature intact and trusted, and do its facts match the record."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from io import BytesIO

from asn1crypto import x509 as asn1_x509
from pydantic import BaseModel

from kit.i18n import _l
from payments.receipts.render import DIGEST_MARK

_DIGEST_RE = re.compile(re.escape(DIGEST_MARK) + r"([0-9a-f]{64})")
_CODE_RE = re.compile(r"Zhida receipt ([0-9A-Z]{16})")


class VerifyReport(BaseModel):
    """What a receipt PDF proves. `ok` is the one answer a verify page shows."""

    readable: bool = False
    signed: bool = False
    intact: bool = False  # the signed bytes are unchanged
    valid: bool = False  # the signature value matches them
    trusted: bool = False  # signed by the platform's seal certificate
    covers_whole_file: bool = False  # nothing appended after signing
    signer: str | None = None
    # The signer's name parts (organization_name, common_name, …) without the certificate library's English labels.
    signer_fields: dict[str, str] = {}
    signed_at: datetime | None = None
    code: str | None = None
    embedded_digest: str | None = None
    expected_digest: str | None = None
    digest_matches: bool | None = None  # None when no record digest was given
    padding_clean: bool = True  # the signature container holds nothing after the CMS but zeros
    problems: list[str] = []

    @property
    def ok(self) -> bool:
        return (
            self.readable
            and self.signed
            and self.intact
            and self.valid
            and self.trusted
            and self.covers_whole_file
            and self.padding_clean
            and self.digest_matches is not False
        )


def _padding_is_zero(contents) -> bool:
    """pyHanko ignores what follows the CMS in /Contents; a receipt's must be the zero padding it was signed with."""
    from asn1crypto import parser

    data = bytes(contents or b"")
    try:
        _, _, _, header, content, trailer = parser.parse(data, strict=False)
    except Exception:
        return False
    used = len(header) + len(content) + len(trailer)
    return not data[used:].strip(b"\x00")


def verify_receipt_pdf(
    pdf_bytes: bytes,
    expected_digest: str | None,
    *,
    trust_certs: Sequence[asn1_x509.Certificate] = (),
    expected_code: str | None = None,
) -> VerifyReport:
    """Check a receipt PDF (sync; from async code prefer async_verify_receipt_pdf, or this in a thread)."""
    from payments.receipts.signing import run_blocking

    return run_blocking(
        lambda: async_verify_receipt_pdf(
            pdf_bytes, expected_digest, trust_certs=trust_certs, expected_code=expected_code
        )
    )


async def async_verify_receipt_pdf(
    pdf_bytes: bytes,
    expected_digest: str | None,
    *,
    trust_certs: Sequence[asn1_x509.Certificate] = (),
    expected_code: str | None = None,
) -> VerifyReport:
    """Check a receipt PDF against the seal certificates to trust and the record's facts digest."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    report = VerifyReport(expected_digest=expected_digest)
    try:
        reader = PdfFileReader(BytesIO(pdf_bytes), strict=False)
        signatures = reader.embedded_signatures
    except Exception:  # a damaged file is an answer, not an error (and its parser's exception says nothing to a reader)
        report.problems.append(_l("the file is not a readable PDF"))
        return report
    report.readable = True
    if not signatures:
        report.problems.append(_l("the PDF carries no signature"))
        return report
    report.signed = True
    signature = signatures[-1]
    try:
        reason = str(signature.sig_object.get("/Reason", ""))
        if match := _DIGEST_RE.search(reason):
            report.embedded_digest = match.group(1)
        if match := _CODE_RE.search(reason):
            report.code = match.group(1)
        if not _padding_is_zero(signature.sig_object.get("/Contents")):
            report.problems.append(_l("bytes were changed in the signature's padding"))
            report.padding_clean = False
        context = ValidationContext(trust_roots=list(trust_certs), allow_fetching=False)
        status = await async_validate_pdf_signature(signature, signer_validation_context=context)
        report.intact, report.valid, report.trusted = status.intact, status.valid, status.trusted
        report.covers_whole_file = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
        report.signer = status.signing_cert.subject.human_friendly
        report.signer_fields = {
            k: str(v) for k, v in (status.signing_cert.subject.native or {}).items() if isinstance(v, str)
        }
        report.signed_at = status.signer_reported_dt
    except Exception:
        report.problems.append(_l("the signature could not be checked"))
    if not report.intact:
        report.problems.append(_l("the signed content was changed after signing"))
    elif not report.valid:
        report.problems.append(_l("the signature value does not match"))
    elif not report.trusted:
        report.problems.append(_l("the signer is not this platform's receipt seal"))
    if report.intact and not report.covers_whole_file:
        report.problems.append(_l("content was appended after the signature"))
    if expected_code is not None and report.code is not None and report.code != expected_code:
        report.problems.append(_l("this PDF is another receipt, not the one of this record"))
    if expected_digest is not None:
        report.digest_matches = report.embedded_digest == expected_digest
        if not report.digest_matches:
            report.problems.append(_l("the receipt's facts differ from the payment record"))
    return report
