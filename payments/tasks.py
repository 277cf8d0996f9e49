"""Jobs of payments/: ``payments.pay_chunk`` (pays one chunk of a batch) and ``payments.notify`` (notices after commit).

A chunk job's id derives from what it pays (batch, run, first and last payment id), so the same chunk cannot be
queued twice; running one twice anyway (a worker crash, two runs) pays nothing twice: see service/transfer.py.

The worker's start-up puts the platform's settings (``ctx["settings"]``) and the actor jobs record as
(``ctx["system_actor"]``) into every job's ctx: payments never imports the platform (app/) itself.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from arq import ArqRedis
from arq.cron import cron
from arq.worker import func

from kit.audit import Actor
from payments.adapters import BankAdapter, get_adapter
from payments.service.notices import notify_owed, notify_payments, sweep_notice_outbox
from payments.service.runs import Chunk
from payments.service.transfer import RunnerOptions, pay_range

log = logging.getLogger("zhida.payments")

# Runner knobs the settings may set (ZHIDA_PAYMENTS_<KNOB>); None keeps RunnerOptions' own default.
KNOBS = ("concurrency", "claim_size", "lease_seconds", "poll_seconds", "time_budget_seconds", "max_backoff_seconds")


class PaymentSettings(Protocol):
    """What payments' jobs read of the platform settings (app/config.py's Settings has every one)."""

    payer_account: str
    payer_name: str
    base_url: str
    payments_concurrency: int | None
    payments_claim_size: int | None
    payments_lease_seconds: float | None
    payments_poll_seconds: float | None
    payments_time_budget_seconds: float | None
    payments_max_backoff_seconds: float | None


def runner_options(settings: PaymentSettings) -> RunnerOptions:
    """Runner knobs: the payer from the settings, and each payments_<knob> the settings set."""
    opts = RunnerOptions(payer_account=settings.payer_account, payer_name=settings.payer_name)
    for name in KNOBS:
        value = getattr(settings, f"payments_{name}", None)
        if value is not None:
            setattr(opts, name, value)
    return opts


def system_actor(ctx: dict[str, Any]) -> Actor:
    """The actor jobs record as, from the worker's start-up."""
    return ctx["system_actor"]


def settings_of(ctx: dict[str, Any]) -> PaymentSettings:
    return ctx["settings"]


def bank_of(ctx: dict[str, Any]) -> BankAdapter:
    """One adapter per worker process (its connection pool is reused across jobs)."""
    adapter = ctx.get("payments.bank")
    if adapter is None:
        adapter = ctx["payments.bank"] = get_adapter(settings_of(ctx))
    return adapter


async def enqueue_chunks(queue: ArqRedis, chunks: list[Chunk]) -> int:
    """Queue the chunk jobs of a run (after the commit that started it); returns how many were new."""
    n = 0
    for c in chunks:
        job = await queue.enqueue_job(
            "payments.pay_chunk", c.batch_id, c.generation, c.first_id, c.last_id, 0, _job_id=c.job_id
        )
        n += job is not None
    return n


async def pay_chunk(
    ctx: dict[str, Any], batch_id: int, generation: int, first_id: int, last_id: int, continuation: int = 0
) -> dict:
    actor = system_actor(ctx)
    queue: ArqRedis | None = ctx.get("redis")

    async def after_commit(kind: str, ids: list[int], outbox_id: int) -> None:
        if queue is not None:
            await queue.enqueue_job(
                "payments.notify",
                kind,
                ids,
                outbox_id,
                _job_id=f"payments.notify:{kind}:{ids[0]}:{ids[-1]}:{len(ids)}:{outbox_id}",
            )

    result = await pay_range(
        bank_of(ctx),
        batch_id,
        first_id,
        last_id,
        opts=runner_options(settings_of(ctx)),
        actor=actor,
        on_committed=after_commit,
    )
    if result.pending:
        # The time budget is spent (e.g. waiting for settlements): hand over to a continuation job.
        nxt = continuation + 1
        if queue is not None:
            await queue.enqueue_job(
                "payments.pay_chunk",
                batch_id,
                generation,
                first_id,
                last_id,
                nxt,
                _job_id=f"{Chunk(batch_id, generation, first_id, last_id).job_id}:c{nxt}",
                _defer_by=1,
            )
    return {
        "processed": result.processed,
        "settled": result.settled,
        "rejected": result.rejected,
        "pending": result.pending,
    }


async def notify(ctx: dict[str, Any], kind: str, payment_ids: list[int], outbox_id: int | None = None) -> int:
    """The notices owed for one committed pass (its outbox row); without an outbox id (jobs queued before the
    outbox existed), the given payments."""
    base_url = settings_of(ctx).base_url
    if outbox_id is None:
        return await notify_payments(
            kind, payment_ids, actor=system_actor(ctx), queue=ctx.get("redis"), base_url=base_url
        )
    return await notify_owed(outbox_id, actor=system_actor(ctx), queue=ctx.get("redis"), base_url=base_url)


async def notify_sweep(ctx: dict[str, Any]) -> int:
    """Notices owed whose job never came (a worker killed between commit and enqueue): written here."""
    return await sweep_notice_outbox(
        actor=system_actor(ctx), queue=ctx.get("redis"), base_url=settings_of(ctx).base_url
    )


functions = [
    func(pay_chunk, name="payments.pay_chunk", max_tries=20),
    func(notify, name="payments.notify"),
    func(notify_sweep, name="payments.notify_sweep"),
]
cron_jobs = [cron(notify_sweep, name="payments.notify_sweep.cron", second=30, run_at_startup=True)]
