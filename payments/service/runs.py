"""Running an approved batch: the plan of chunk jobs (ids derived from what they pay), progress, completion.

The runner (service/transfer.py) calls ``finish_if_done`` here; paying a batch in this process without the queue is
service/local_run.py."""

from __future__ import annotations

from dataclasses import dataclass

from kit.audit import Actor
from kit.db import is_postgres, raw, sql_literals, transaction
from kit.i18n import _l
from kit.money import fen_to_yuan
from kit.time import now
from kit.vocab import ACTIVE_PAYMENT_STATUSES, BatchStatus
from payments.errors import InvalidState, NotFound
from payments.service import reverify, risk
from payments.service.batches import lock_batch
from payments.tables import Batch

DEFAULT_CHUNK = 2000
_ACTIVE = sql_literals(ACTIVE_PAYMENT_STATUSES)
RUNNABLE = (BatchStatus.APPROVED, BatchStatus.RUNNING, BatchStatus.COMPLETED)  # `batch run` again resumes a batch


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


async def start_batch(batch_id: int, *, actor: Actor, chunk_size: int = DEFAULT_CHUNK) -> list[Chunk]:
    """Mark an approved batch running (or resume a running one) and plan chunks of its active payments."""
    async with transaction():
        b = await lock_batch(batch_id)
        if b["status"] not in RUNNABLE:
            if b["status"] == BatchStatus.CHECKED:
                raise InvalidState(
                    _l(
                        "batch {batch_id} is {batch_state}: only an approved batch can run (it needs a second checker's approval)"
                    ),
                    batch_id=batch_id,
                    batch_state=b["status"],
                )
            raise InvalidState(
                _l("batch {batch_id} is {batch_state}: only an approved batch can run"),
                batch_id=batch_id,
                batch_state=b["status"],
            )
        # 资格复核: a payment not sent yet whose subject no longer qualifies (or for another amount) is withheld.
        told = await reverify.screen_run(batch_id, actor=actor)
        # 风险拦截: a payment whose entitlement a risk flag now holds is withheld too (never sent).
        await risk.screen_run(batch_id, actor=actor)
        generation = int(b["run_count"]) + 1
        at = now()
        await Batch.update(
            {
                Batch.status: BatchStatus.RUNNING,
                Batch.run_count: generation,
                Batch.started_at: b["started_at"] or at,
                Batch.finished_at: None,
            }
        ).where(Batch.id == batch_id)
        ids = [
            int(r["id"])
            for r in await raw(
                f"SELECT id FROM pay_payment WHERE batch_id = {{}} AND status IN ({_ACTIVE}) "
                "AND exception = '' ORDER BY id",
                batch_id,
            )
        ]
        await actor.record(
            "batch.run",
            "batch",
            batch_id,
            {"status": b["status"]},
            {"status": BatchStatus.RUNNING},
            detail={"run": generation, "active_payments": len(ids)},
        )
    await reverify.tell_withdrawn(told, actor=actor)
    if not ids:  # nothing (left) to pay, e.g. every payment withheld: no chunk job will finish the batch
        await finish_if_done(batch_id, actor=actor)
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
        raise NotFound(_l("batch {batch_id} does not exist"), batch_id=batch_id)
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
        if r["status"] in ACTIVE_PAYMENT_STATUSES:
            if r["exception"]:
                held += int(r["n"])
            else:
                active += int(r["n"])
    return Progress(batch_id, b["status"], counts, totals, active, held)


async def has_active(batch_id: int) -> bool:
    """Whether any payment of the batch is still being worked on (``not progress(batch_id).done``), without counting
    them all: cheap enough to poll on a batch of hundreds of thousands."""
    rows = await raw(
        f"SELECT id FROM pay_payment WHERE batch_id = {{}} AND status IN ({_ACTIVE}) AND exception = '' LIMIT 1",
        batch_id,
    )
    return bool(rows)


async def finish_if_done(batch_id: int, *, actor: Actor) -> bool:
    """A running batch with no active payment left becomes completed (once, whoever notices first)."""
    if await has_active(batch_id):  # the usual case for all but the last chunk: no need to count the batch
        return False
    p = await progress(batch_id)
    if not p.done or p.status != BatchStatus.RUNNING:
        return False
    async with transaction():
        done = await raw(
            f"UPDATE pay_batch SET status = {sql_literals([BatchStatus.COMPLETED])}, finished_at = {{}} "
            f"WHERE id = {{}} AND status = {sql_literals([BatchStatus.RUNNING])} RETURNING id",
            now(),
            batch_id,
        )
        if done:
            await actor.record(
                "batch.complete",
                "batch",
                batch_id,
                {"status": BatchStatus.RUNNING},
                {"status": BatchStatus.COMPLETED},
                detail={"counts": p.counts, "held": p.held},
            )
    return bool(done)
