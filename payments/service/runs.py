"""Running an approved batch: the plan of chunk jobs (ids derived from what they pay), progress, completion."""

from __future__ import annotations

from dataclasses import dataclass

from payments.errors import InvalidState, NotFound
from payments.money import fen_to_yuan
from payments.service.batches import _lock_batch
from payments.service.db import is_postgres, now, raw, transaction
from payments.tables import Batch

DEFAULT_CHUNK = 2000


@dataclass(frozen=True)
class Chunk:
    batch_id: int
    generation: int
    first_id: int
    last_id: int

    @property
    def job_id(self) -> str:
        # Derived from what the job pays: the same chunk of the same run cannot be queued twice.
        return f"payments.pay_chunk:{self.batch_id}:{self.generation}:{self.first_id}-{self.last_id}"


async def start_batch(batch_id: int, *, actor, chunk_size: int = DEFAULT_CHUNK) -> list[Chunk]:
    """Mark an approved batch running (or resume a running one) and plan chunks of its active payments."""
    async with transaction():
        b = await _lock_batch(batch_id)
        if b["status"] not in ("approved", "running", "completed"):
            raise InvalidState(
                f"batch {batch_id} is {b['status']}: only an approved batch can run"
                + (" (it needs a second checker's approval)" if b["status"] == "checked" else "")
            )
        generation = int(b["run_count"]) + 1
        at = now()
        await Batch.update(
            {
                Batch.status: "running",
                Batch.run_count: generation,
                Batch.started_at: b["started_at"] or at,
                Batch.finished_at: None,
            }
        ).where(Batch.id == batch_id)
        ids = [
            int(r["id"])
            for r in await raw(
                "SELECT id FROM pay_payment WHERE batch_id = {} AND status IN ('created', 'submitted', 'accepted', 'unknown') "
                "AND exception = '' ORDER BY id",
                batch_id,
            )
        ]
        await actor.record(
            "batch.run",
            "batch",
            batch_id,
            {"status": b["status"]},
            {"status": "running"},
            detail={"run": generation, "active_payments": len(ids)},
        )
    if is_postgres() and len(ids) >= 1000:
        # Fresh statistics before the runners' statements are planned: right after a batch of many payments is
        # created they still say the table is nearly empty, and the claim and the per-group UPDATEs are then
        # planned as scans of the whole batch (a bitmap of every row, a hash of every payment) instead of
        # index look-ups: the cost of each statement would grow with the batch. Reads and writes go on meanwhile.
        await raw("ANALYZE pay_payment, pay_entitlement")
    return [
        Chunk(batch_id, generation, ids[i], ids[min(i + chunk_size, len(ids)) - 1])
        for i in range(0, len(ids), chunk_size)
    ]


@dataclass(frozen=True)
class Progress:
    batch_id: int
    status: str
    counts: dict[str, int]
    totals_fen: dict[str, int]
    active: int  # not yet final, being worked on
    held: int  # in the exceptions queue without a final status (outcome to be settled by a person)

    @property
    def done(self) -> bool:
        return self.active == 0

    def summary(self) -> str:
        parts = [f"{k} {self.counts[k]} (¥{fen_to_yuan(self.totals_fen[k]):,.2f})" for k in sorted(self.counts)]
        return "; ".join(parts)


async def progress(batch_id: int) -> Progress:
    b = await Batch.select(Batch.status).where(Batch.id == batch_id).first()
    if b is None:
        raise NotFound(f"batch {batch_id} does not exist")
    rows = await raw(
        "SELECT status, exception, COUNT(*) AS n, SUM(amount_fen) AS total FROM pay_payment "
        "WHERE batch_id = {} GROUP BY status, exception",
        batch_id,
    )
    counts: dict[str, int] = {}
    totals: dict[str, int] = {}
    active = held = 0
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + int(r["n"])
        totals[r["status"]] = totals.get(r["status"], 0) + int(r["total"])
        if r["status"] in ("created", "submitted", "accepted", "unknown"):
            if r["exception"]:
                held += int(r["n"])
            else:
                active += int(r["n"])
    return Progress(batch_id, b["status"], counts, totals, active, held)


async def has_active(batch_id: int) -> bool:
    """Whether any payment of the batch is still being worked on (``not progress(batch_id).done``), without counting
    them all: cheap enough to poll on a batch of hundreds of thousands."""
    rows = await raw(
        "SELECT id FROM pay_payment WHERE batch_id = {} AND status IN ('created', 'submitted', 'accepted', "
        "'unknown') AND exception = '' LIMIT 1",
        batch_id,
    )
    return bool(rows)


async def finish_if_done(batch_id: int, *, actor) -> bool:
    """A running batch with no active payment left becomes completed (once, whoever notices first)."""
    if await has_active(batch_id):  # the usual case for all but the last chunk: no need to count the batch
        return False
    p = await progress(batch_id)
    if not p.done or p.status != "running":
        return False
    async with transaction():
        done = await raw(
            "UPDATE pay_batch SET status = 'completed', finished_at = {} WHERE id = {} AND status = 'running' "
            "RETURNING id",
            now(),
            batch_id,
        )
        if done:
            await actor.record(
                "batch.complete",
                "batch",
                batch_id,
                {"status": "running"},
                {"status": "completed"},
                detail={"counts": p.counts, "held": p.held},
            )
    return bool(done)


async def run_batch(
    adapter,
    batch_id: int,
    *,
    actor,
    opts,
    notify_queue=None,
    chunk_size: int = DEFAULT_CHUNK,
    notify: bool = True,
    max_rounds: int = 30,
) -> Progress:
    """Start (or resume) a batch and pay it here, its chunks concurrently, without the queue (the demo, tests,
    one-off operator runs); notices are written after each commit. Returns the final progress."""
    import asyncio

    from payments.service.notices import notify_owed
    from payments.service.transfer import pay_range

    async def after_commit(kind: str, ids: list[int], outbox_id: int) -> None:
        if notify:
            await notify_owed(outbox_id, actor=actor, queue=notify_queue)

    for _ in range(max_rounds):
        chunks = await start_batch(batch_id, actor=actor, chunk_size=chunk_size)
        await asyncio.gather(
            *(
                pay_range(adapter, batch_id, c.first_id, c.last_id, opts=opts, actor=actor, on_committed=after_commit)
                for c in chunks
            )
        )
        p = await progress(batch_id)
        if p.done:  # each pay_range stops after its time budget: go round again until every payment is final
            break
    return p
