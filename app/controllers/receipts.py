"""HTTP routes of receipts: the public verify page (/verify/<code>, upload a PDF to check it) and the PDF download."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any

from arq.jobs import Job, JobStatus
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Body
from litestar.response import File, Redirect, Template

from app import jobs
from app.auth.guards import PUBLIC, requires
from app.config import get_settings
from app.i18n import lang_of, render
from app.progress import ProgressRead
from app.schemas.errors import errors
from app.schemas.finance import ReceiptsZipRead
from kit.i18n import _l
from kit.time import format_china
from kit.vocab import Role
from payments.errors import InvalidState
from payments.receipt_tasks import enqueue_receipts_zip, receipts_zip_job_id
from payments.receipts.amount_words import amount_in_words
from payments.receipts.bulk import ReceiptRenderer, receipt_filename
from payments.receipts.schemas import ReceiptFacts, facts_digest
from payments.receipts.verify import VerifyReport, verify_receipt_pdf
from payments.service import receipt_facts, receipt_standing
from payments.service.receipts import batch_zip_target, receipts_of_batch

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
    withdrawn = await receipt_standing(facts)
    return Template(
        "receipts/verify.html",
        status_code=status_code,
        context={
            "f": facts,
            "withdrawn": withdrawn,  # e.g. 'returned': the money did not stay, whatever the PDF says
            "withdrawn_text": render(
                lang_of(request),
                _l("The payment this receipt records is now {state}: it no longer stands for money received."),
                {"state": withdrawn},
            ),
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


ZIP_ROLES = (Role.AUDITOR, Role.FINANCE_MAKER, Role.FINANCE_CHECKER)


def _zip_link(batch_id: int) -> str:
    return f"/api/receipts/batches/{batch_id}/receipts.zip"


async def receipts_zip_status(batch_id: int) -> ReceiptsZipRead:
    """Whether the ZIP of the batch's receipts as they stand now is built, being built, or neither (404: none)."""
    target = await batch_zip_target(batch_id, renderer())
    if target is None:
        raise NotFoundException(f"batch {batch_id} has no settled payment, so no receipt")
    path, count, digest = target
    if path.exists():
        return ReceiptsZipRead(batch_id=batch_id, status="ready", receipts=count, download=_zip_link(batch_id))
    state = await Job(receipts_zip_job_id(batch_id, digest), await jobs.get_queue(), _queue_name=jobs.QUEUE).status()
    preparing = state in (JobStatus.queued, JobStatus.deferred, JobStatus.in_progress)
    return ReceiptsZipRead(batch_id=batch_id, status="preparing" if preparing else "absent", receipts=count)


async def prepare_receipts_zip(batch_id: int) -> ReceiptsZipRead:
    """Queue the build unless the ZIP is ready or being built (a build that ended without its file is queued again)."""
    status = await receipts_zip_status(batch_id)
    if status.status == "absent":
        target = await batch_zip_target(batch_id, renderer())
        assert target is not None
        queue = await jobs.get_queue()
        if not await enqueue_receipts_zip(queue, batch_id, target[2]):
            await enqueue_receipts_zip(queue, batch_id, target[2], again=True)
        status.status = "preparing"
    return status


@get(
    "/api/receipts/batches/{batch_id:int}/receipts-zip",
    guards=[requires(*ZIP_ROLES)],
    summary="Whether a batch's receipts ZIP is ready, being prepared, or not prepared",
    responses=errors(404),
)
async def batch_receipts_zip_status(batch_id: int) -> ReceiptsZipRead:
    return await receipts_zip_status(batch_id)


@post(
    "/api/receipts/batches/{batch_id:int}/receipts-zip",
    guards=[requires(*ZIP_ROLES)],
    status_code=202,
    summary="Prepare a batch's receipts ZIP (a job); follow it with GET, then download it",
    responses=errors(404),
)
async def batch_receipts_zip_prepare(batch_id: int) -> ReceiptsZipRead:
    """Rendering a whole batch takes long (13.7 s for a few hundred receipts): a job builds the ZIP; this returns at
    once with ``preparing`` (or ``ready`` when it is built already)."""
    return await prepare_receipts_zip(batch_id)


@get(
    "/api/receipts/batches/{batch_id:int}/receipts-zip/progress",
    guards=[requires(*ZIP_ROLES)],
    summary="How far the build of a batch's receipts ZIP has got, for the page's progress bar",
    responses=errors(404),
)
async def batch_receipts_zip_progress(batch_id: int) -> ProgressRead:
    """``fraction`` is the share of the batch's receipts rendered (then the ZIP written); ``done`` once the ZIP is
    ready, or once no build runs any more (the page then offers to prepare it again)."""
    status = await receipts_zip_status(batch_id)
    counts = {"receipts": status.receipts}
    if status.status == "ready":
        return ProgressRead(stage="done", fraction=1.0, done=True, counts=counts)
    if status.status == "absent":
        return ProgressRead(stage="none", fraction=0.0, done=True, counts=counts)
    rendered = await asyncio.to_thread(renderer().cached_count, await receipts_of_batch(batch_id))
    part = rendered / status.receipts if status.receipts else 0.0
    return ProgressRead(
        stage="running", fraction=round(0.05 + 0.9 * part, 3), done=False, counts={**counts, "rendered": rendered}
    )


@get(
    "/api/receipts/batches/{batch_id:int}/receipts.zip",
    guards=[requires(*ZIP_ROLES)],
    media_type="application/zip",
    summary="Every receipt of a batch as one ZIP (PDFs + manifest.csv), once prepared",
    responses=errors(404, 409),
)
async def batch_receipts_zip(batch_id: int) -> File:
    """The prepared ZIP; 409 while it is not built for the receipts as they stand (POST …/receipts-zip first)."""
    status = await receipts_zip_status(batch_id)
    if status.status != "ready":
        raise InvalidState(
            _l(
                "the receipts ZIP of batch {batch_id} is {state}: prepare it with POST /api/receipts/batches/{batch_id}/receipts-zip, then download it here / 回单压缩包尚未生成"
            ),
            batch_id=batch_id,
            state=status.status,
            status=409,
        )
    target = await batch_zip_target(batch_id, renderer())
    assert target is not None
    return File(path=target[0], filename=f"receipts-batch-{batch_id}.zip", media_type="application/zip")


@post("/receipts/batches/{batch_id:int}/zip", guards=[requires(*ZIP_ROLES)], include_in_schema=False)
async def batch_receipts_zip_page(batch_id: int) -> Redirect:
    """The batch page's button: queue the build and go back to the page, which shows "preparing", then the link."""
    await prepare_receipts_zip(batch_id)
    return Redirect(f"/finance/batches/{batch_id}?msg=receipts-zip")


route_handlers: list[Any] = [
    verify_page,
    verify_upload,
    receipt_pdf,
    batch_receipts_zip_status,
    batch_receipts_zip_prepare,
    batch_receipts_zip_progress,
    batch_receipts_zip,
    batch_receipts_zip_page,
]
