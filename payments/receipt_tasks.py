"""Jobs of receipts (payments.render_receipts), beside payments/tasks.py: they load facts through payments.service, which
the receipts package itself (rendering, signing) never imports: render and cache the signed PDFs of a chunk of receipt codes, within a time limit."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Callable, Sequence

from arq.connections import ArqRedis
from arq.worker import func

from payments.receipts.bulk import ReceiptRenderer
from payments.receipts.schemas import ReceiptFacts
from payments.service.receipts import build_batch_receipts_zip, receipt_facts

CHUNK_SIZE = 40  # ~5-8 s of rendering: well inside the time limit, small enough to retry cheaply
CHUNK_TIMEOUT_SECONDS = 180
ZIP_TIMEOUT_SECONDS = 1800  # a whole batch's receipts: ~8 a second when none is cached

ReceiptLoader = Callable[[Sequence[str]], Awaitable[list[ReceiptFacts]]]


async def load_receipt_facts(codes: Sequence[str]) -> list[ReceiptFacts]:
    """The stored facts of these codes through payments' service (unknown codes are left out)."""
    found = [await receipt_facts(code) for code in codes]
    return [facts for facts in found if facts is not None]


async def render_receipts_chunk(ctx: dict, codes: list[str]) -> dict:
    """Render (or find cached) the signed PDFs of these receipt codes.

    ctx["settings"] is the platform settings (set by the worker's start-up); ctx["receipt_loader"], when
    present, replaces the default record loader (load_receipt_facts: payments.service.receipt_facts).
    """
    renderer = ReceiptRenderer.from_settings(ctx["settings"])
    loader: ReceiptLoader = ctx.get("receipt_loader") or load_receipt_facts
    facts = await loader(codes)
    # CPU-bound: off the event loop so the worker keeps its heartbeat
    paths = await asyncio.to_thread(lambda: [renderer.pdf_path(f) for f in facts])
    found = {f.code for f in facts}
    return {"rendered": len(paths), "missing": [c for c in codes if c not in found]}


async def enqueue_receipt_renders(queue: ArqRedis, codes: Sequence[str], *, chunk_size: int = CHUNK_SIZE) -> int:
    """Queue render jobs for these codes in chunks (after the settling transaction commits); returns the count.

    Each job's id is derived from its codes, so queuing the same chunk twice runs it once.
    """
    queued = 0
    for start in range(0, len(codes), chunk_size):
        chunk = list(codes[start : start + chunk_size])
        job_id = "receipts:" + hashlib.sha256(",".join(chunk).encode()).hexdigest()[:24]
        if await queue.enqueue_job("payments.render_receipts", chunk, _job_id=job_id) is not None:
            queued += 1
    return queued


def receipts_zip_job_id(batch_id: int, digest: str) -> str:
    """One build per batch and set of receipts: asking again while it is queued or running queues nothing."""
    return f"receipts-zip:{batch_id}:{digest}"


async def build_receipts_zip(ctx: dict, batch_id: int) -> dict:
    """The ZIP of a batch's receipts (PDFs + manifest.csv) that the finance page then links to; ids only."""
    renderer = ReceiptRenderer.from_settings(ctx["settings"])
    path = await build_batch_receipts_zip(batch_id, renderer=renderer)
    return {"batch_id": batch_id, "built": path is not None}


async def enqueue_receipts_zip(queue: ArqRedis, batch_id: int, digest: str, *, again: bool = False) -> bool:
    """Queue the ZIP build (after a failed or lost build, ``again`` queues a fresh one); True when one was queued."""
    job_id = receipts_zip_job_id(batch_id, digest) + (
        f":{hashlib.sha256(os.urandom(8)).hexdigest()[:8]}" if again else ""
    )
    return await queue.enqueue_job("payments.build_receipts_zip", batch_id, _job_id=job_id) is not None


functions = [
    func(render_receipts_chunk, name="payments.render_receipts", timeout=CHUNK_TIMEOUT_SECONDS),
    func(build_receipts_zip, name="payments.build_receipts_zip", timeout=ZIP_TIMEOUT_SECONDS),
]
