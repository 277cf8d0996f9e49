"""Every payment gets its notice, exactly once, even when the notice job is lost after the payments' commit: what is
owed is written to the outbox in the same transaction, and the sweep writes what no job did."""

from __future__ import annotations

from kit.db import raw
from payments.adapters import get_adapter
from payments.service import start_batch
from payments.service.notices import notify_owed, sweep_notice_outbox
from payments.service.transfer import RunnerOptions, pay_range
from tests.payments.factories import (
    SYSTEM,
    approved_batch,
    bank_settings,
    entitled,
    policy,
)

N = 90


async def _notice_keys() -> dict[str, int]:
    rows = await raw("SELECT key, COUNT(*) AS n FROM notifications_notice GROUP BY key")
    return {r["key"]: int(r["n"]) for r in rows}


async def _batch(n: int) -> int:
    facts = policy(budget_fen=10**10)
    await entitled(facts, n, amount_fen=40_000)
    created = await approved_batch(facts)
    return created.batch_id


async def _pay(batch_id: int, tmp_dir, on_committed) -> None:
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        opts = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局", claim_size=20)
        for chunk in await start_batch(batch_id, actor=SYSTEM, chunk_size=30):
            await pay_range(
                adapter, batch_id, chunk.first_id, chunk.last_id, opts=opts, actor=SYSTEM, on_committed=on_committed
            )
    finally:
        await adapter.aclose()


async def test_notice_jobs_lost_after_the_commit_are_written_by_the_sweep(fresh_db, tmp_dir):
    batch_id = await _batch(N)
    done: list[int] = []
    calls = 0

    async def some_jobs_lost(kind, ids, outbox_id):
        # Every other commit's job "never comes" (the worker died right after the commit, Redis was unreachable…).
        nonlocal calls
        calls += 1
        if calls % 2:
            done.append(outbox_id)
            await notify_owed(outbox_id, actor=SYSTEM)

    await _pay(batch_id, tmp_dir, some_jobs_lost)
    paid = [
        int(r["id"])
        for r in await raw("SELECT id FROM pay_payment WHERE batch_id = {} AND status = 'settled'", batch_id)
    ]
    assert len(paid) == N
    keys = await _notice_keys()
    missing = [p for p in paid if f"payment:{p}:money_arrived" not in keys]
    assert 0 < len(missing) < N  # some jobs were lost: those notices are owed, in the outbox
    assert await sweep_notice_outbox(actor=SYSTEM, older_than_seconds=3600) == 0  # not yet due for the sweep
    assert await sweep_notice_outbox(actor=SYSTEM, older_than_seconds=0) > 0
    keys = await _notice_keys()
    assert {p: keys.get(f"payment:{p}:money_arrived") for p in paid} == {p: 1 for p in paid}
    assert (await raw("SELECT COUNT(*) AS n FROM pay_notice_outbox"))[0]["n"] == 0
    # A late job for a row the sweep already did writes nothing twice.
    assert await notify_owed(done[0], actor=SYSTEM) == 0
    assert sum(keys.values()) == N


async def test_each_settled_payment_gets_one_money_arrived_notice_through_the_jobs(fresh_db, tmp_dir):
    """Through the queue, as `zhida batch run --wait` runs it in the embedded mode: no notice missing, none twice."""
    from app import jobs
    from payments.tasks import enqueue_chunks

    batch_id = await _batch(N)
    await enqueue_chunks(await jobs.get_queue(), await start_batch(batch_id, actor=SYSTEM, chunk_size=40))
    await jobs.drain()
    paid = [
        int(r["id"])
        for r in await raw("SELECT id FROM pay_payment WHERE batch_id = {} AND status = 'settled'", batch_id)
    ]
    assert len(paid) == N
    keys = await _notice_keys()
    assert {p: keys.get(f"payment:{p}:money_arrived") for p in paid} == {p: 1 for p in paid}
    assert (await raw("SELECT COUNT(*) AS n FROM pay_notice_outbox"))[0]["n"] == 0
