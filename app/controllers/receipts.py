"""HTTP routes of receipts: the public verify page (/verify/<code>, upload a PDF to check it) and the PDF download."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body
from litestar.response import File, Template

from app.auth.guards import PUBLIC, requires
from app.config import get_settings
from app.schemas.errors import errors
from kit.time import format_china
from kit.vocab import Role
from payments.receipts.amount_words import amount_in_words
from payments.receipts.bulk import ReceiptRenderer, receipt_filename
from payments.receipts.schemas import ReceiptFacts, facts_digest
from payments.receipts.verify import VerifyReport, verify_receipt_pdf
from payments.service import receipt_facts, receipt_standing
from payments.service.receipts import write_batch_receipts_zip

MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # a receipt is ~100 KiB; refuse anything absurd before parsing it


def renderer() -> ReceiptRenderer:
    return ReceiptRenderer.from_settings(get_settings())


async def _receipt_or_404(code: str) -> ReceiptFacts:
    facts = await receipt_facts(code)
    if facts is None:
        raise NotFoundException("no receipt has this verification code / 没有该验证码对应的回单")
    return facts


async def _page(
    request: Request,
    facts: ReceiptFacts,
    report: VerifyReport | None = None,
    upload_name: str | None = None,
    status_code: int = 200,
) -> Template:
    return Template(
        "receipts/verify.html",
        status_code=status_code,
        context={
            "f": facts,
            "withdrawn": await receipt_standing(
                facts
            ),  # e.g. 'returned': the money did not stay, whatever the PDF says
            "amount_figures": f"{facts.amount:,.2f}",
            "amount_words": amount_in_words(facts.amount),
            "settled_local": format_china(facts.settled_at, seconds=True),
            "digest": facts_digest(facts),
            "pdf_url": f"/api/receipts/{facts.code}.pdf",
            "report": report,
            "upload_name": upload_name,
        },
    )


@get("/verify/{code:str}", opt={PUBLIC: True}, include_in_schema=False)
async def verify_page(request: Request, code: str) -> Template:
    """Anyone holding a receipt's code sees its facts (personal ones masked) and may check a PDF of it."""
    return await _page(request, await _receipt_or_404(code))


@dataclass
class ReceiptUpload:
    file: UploadFile


@post("/verify/{code:str}", opt={PUBLIC: True}, include_in_schema=False, status_code=200)
async def verify_upload(
    request: Request, code: str, data: Annotated[ReceiptUpload, Body(media_type=RequestEncodingType.MULTI_PART)]
) -> Template:
    """Check an uploaded PDF: is the seal's signature intact and ours, and does it state this record's facts."""
    facts = await _receipt_or_404(code)
    content = await data.file.read(MAX_UPLOAD_BYTES + 1)
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationException("the file is larger than any receipt / 文件过大，不是回单")
    seal = await asyncio.to_thread(renderer().seal)
    # pyHanko's checks are CPU-bound and run their own event loop: do them off this one
    report = await asyncio.to_thread(
        verify_receipt_pdf, content, facts_digest(facts), trust_certs=[seal.certificate], expected_code=facts.code
    )
    return await _page(request, facts, report, upload_name=data.file.filename)


@get(
    "/api/receipts/{filename:str}",
    opt={PUBLIC: True},
    media_type="application/pdf",
    summary="A receipt's signed PDF by its verification code: /api/receipts/<code>.pdf",
    responses=errors(404, guarded=False),
)
async def receipt_pdf(filename: str) -> File:
    """The signed PDF receipt (回单); the 80-bit verification code is the key, as on the paper copy."""
    if not filename.lower().endswith(".pdf"):
        raise NotFoundException("receipts are served as /api/receipts/<code>.pdf")
    facts = await _receipt_or_404(filename[:-4])
    path = await asyncio.to_thread(renderer().pdf_path, facts)
    return File(
        path=path, filename=receipt_filename(facts), media_type="application/pdf", content_disposition_type="inline"
    )


@get(
    "/api/receipts/batches/{batch_id:int}/receipts.zip",
    guards=[requires(Role.AUDITOR, Role.FINANCE_MAKER, Role.FINANCE_CHECKER)],
    media_type="application/zip",
    summary="Every receipt of a batch as one ZIP (PDFs + manifest.csv)",
    responses=errors(404),
)
async def batch_receipts_zip(batch_id: int) -> File:
    r = renderer()
    # one file per batch, rebuilt on each request: PDFs come from the cache, so only new ones are rendered
    path = await write_batch_receipts_zip(
        batch_id, r.data_dir / "receipts" / "zips" / f"batch-{batch_id}.zip", renderer=r, processes=2
    )
    if path is None:
        raise NotFoundException(f"batch {batch_id} has no settled payment, so no receipt")
    return File(path=path, filename=f"receipts-batch-{batch_id}.zip", media_type="application/zip")


route_handlers: list[Any] = [verify_page, verify_upload, receipt_pdf, batch_receipts_zip]
