"""CPU per payment of the payment runner alone (claim, write-ahead, state updates, ledger, receipts, audit) on
PostgreSQL, with an instant in-process bank, and of the notices written for them: robust to other load on the
machine because it counts CPU seconds (this process and PostgreSQL's), not wall time.

    .venv/bin/python bench/runner_cpu.py --payments 10000 [--profile out.pstats] [--notices]

Starts a throw-away PostgreSQL (as bench/disburse.py does) unless --pg-dsn is given.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class InstantBank:
    """Answers every transfer settled at once, without HTTP: what is left is the runner's own cost."""

    def __init__(self) -> None:
        self.n = 0

    async def submit(self, request):
        from payments.adapters.base import TransferResult

        self.n += 1
        return TransferResult(request_id=request.request_id, transfer_id=f"T{self.n:020d}", status="settled")

    async def query(self, request_id):
        return None

    async def aclose(self):
        return None


async def run(args) -> None:
    from app.audit import SYSTEM, AuditActor
    from app.db import migrate, open_database
    from bench.disburse import seed
    from payments import service
    from payments.service.notices import notify_owed
    from payments.service.transfer import RunnerOptions, pay_range

    await migrate()
    await open_database(max_size=4)
    maker, checker = AuditActor("bench-maker", "finance_maker"), AuditActor("bench-checker", "finance_checker")
    await seed(args.payments, "BENCH-CPU", 1)
    made = await service.create_batch(actor=maker, policy_code="BENCH-CPU", second_checker_threshold_fen=10**15)
    await service.approve_batch(made.batch_id, actor=checker)
    chunks = await service.start_batch(made.batch_id, actor=checker, chunk_size=args.chunk)
    notices: list[int] = []

    async def after_commit(kind, ids, outbox_id):
        notices.append(outbox_id)

    opts = RunnerOptions(payer_account="360100000000000001", payer_name="bench")
    meter = args.meter
    before, cpu0, t0 = meter.snapshot(), time.process_time(), time.perf_counter()
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    bank = InstantBank()
    sem = asyncio.Semaphore(args.parallel)

    async def one(c):
        async with sem:
            await pay_range(
                bank, made.batch_id, c.first_id, c.last_id, opts=opts, actor=SYSTEM, on_committed=after_commit
            )

    await asyncio.gather(*(one(c) for c in chunks))
    if prof:
        prof.disable()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    after = meter.snapshot()
    pg = after["postgres"] - before["postgres"]
    print(
        f"runner: {args.payments} payments in {wall:.1f} s wall; runner CPU {cpu:.1f} s = {cpu / args.payments * 1000:.3f} "
        f"ms/payment; PostgreSQL {pg:.1f} s = {pg / args.payments * 1000:.3f} ms/payment; load {os.getloadavg()}"
    )
    p = await service.progress(made.batch_id)
    print("statuses", p.counts)
    if args.notices:
        before, cpu0, t0 = meter.snapshot(), time.process_time(), time.perf_counter()
        if prof:
            prof.enable()
        for outbox_id in notices:
            await notify_owed(outbox_id, actor=SYSTEM)
        if prof:
            prof.disable()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        pg = meter.snapshot()["postgres"] - before["postgres"]
        print(
            f"notices: {wall:.1f} s wall; CPU {cpu / args.payments * 1000:.3f} ms/payment; PostgreSQL "
            f"{pg / args.payments * 1000:.3f} ms/payment"
        )
    if prof:
        prof.dump_stats(args.profile)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bench.disburse import CpuMeter, Services

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--payments", type=int, default=10000)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--parallel", type=int, default=4, help="chunks worked on at once")
    ap.add_argument("--profile", help="write cProfile stats here")
    ap.add_argument("--notices", action="store_true", help="also write the notices afterwards and count them")
    ap.add_argument("--pg-dsn")
    args = ap.parse_args()
    services = None
    if not args.pg_dsn:
        services = Services()
        args.pg_dsn, _ = services.start()
    os.environ["ZHIDA_DATABASE_URL"] = args.pg_dsn
    os.environ.pop("ZHIDA_REDIS_URL", None)
    postmaster = int((services.work / "pg" / "postmaster.pid").read_text().split()[0]) if services else None
    args.meter = CpuMeter({}, postmaster, None)
    try:
        asyncio.run(run(args))
    finally:
        if services:
            services.stop()


if __name__ == "__main__":
    main()
