"""Paying a batch in this process, without the queue: the demo, tests and one-off operator runs."""

from __future__ import annotations

import asyncio

from arq.connections import ArqRedis

from kit.audit import Actor
from payments.adapters.base import BankAdapter
from payments.service.notices import notify_owed
from payments.service.options import RunnerOptions
from payments.service.runs import DEFAULT_CHUNK, Progress, progress, start_batch
from payments.service.transfer import pay_range


async def run_batch(
    adapter: BankAdapter,
    batch_id: int,
    *,
    actor: Actor,
    opts: RunnerOptions,
    notify_queue: ArqRedis | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    notify: bool = True,
    max_rounds: int = 30,
) -> Progress:
    """Start (or resume) a batch and pay it here, its chunks concurrently; notices are written after each commit.
    Returns the final progress."""

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
