"""Disbursement benchmark: N payments end to end on PostgreSQL + Redis with `zhida worker` processes and the bank
simulator (`zhida bank-sim`, no faults) on loopback; then the approval→settled latency of single auto payments.

    .venv/bin/python bench/disburse.py --payments 260000 --workers 2
    .venv/bin/python bench/disburse.py --payments 20000 --latency-samples 100

Starts a throw-away PostgreSQL cluster and Redis on free loopback ports (as scripts/test does) unless
--pg-dsn/--redis-url are given. Prints the figures; nothing is asserted (performance is not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SECRET = "bench-bank-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.getuid() == 0 else cmd


class Services:
    """A PostgreSQL cluster and a Redis in a temporary directory, loopback only."""

    def __init__(self) -> None:
        self.work = Path(tempfile.mkdtemp(prefix="zhida-bench-"))
        os.chmod(self.work, 0o755)
        self.pg_port, self.redis_port = free_port(), free_port()
        self.pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    def start(self) -> tuple[str, str]:
        pgdata = self.work / "pg"
        pgdata.mkdir()
        if os.getuid() == 0:
            shutil.chown(pgdata, "postgres")
        subprocess.run(
            as_pg(
                [
                    str(self.pgbin / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    "zhida",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            as_pg(
                [
                    str(self.pgbin / "pg_ctl"),
                    "-D",
                    str(pgdata),
                    "-l",
                    str(pgdata / "log"),
                    "-w",
                    "-o",
                    f"-p {self.pg_port} -k {pgdata} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                    "-c shared_buffers=512MB -c synchronous_commit=off " + os.environ.get("ZHIDA_BENCH_PG_OPTIONS", ""),
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "yes",
                "--pidfile",
                str(self.work / "redis.pid"),
                "--dir",
                str(self.work),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        subprocess.run(
            as_pg([str(self.pgbin / "createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "zhida", "zhida"]),
            check=True,
        )
        return (f"postgresql://zhida@127.0.0.1:{self.pg_port}/zhida", f"redis://127.0.0.1:{self.redis_port}/0")

    def stop(self) -> None:
        pid = self.work / "redis.pid"
        if pid.exists():
            subprocess.run(["kill", pid.read_text().strip()], check=False)
        subprocess.run(
            as_pg([str(self.pgbin / "pg_ctl"), "-D", str(self.work / "pg"), "-m", "immediate", "stop"]),
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        shutil.rmtree(self.work, ignore_errors=True)


TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, children: bool = False) -> float:
    """CPU seconds (user + system) of one process from /proc; with ``children``, also its reaped children's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / TICK


def _children_of(ppid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == ppid:
                    out.append(int(d.name))
            except (OSError, IndexError):
                pass
    return out


class CpuMeter:
    """CPU seconds spent by each part of the set-up (robust to other load on the machine, unlike wall time)."""

    def __init__(self, procs: dict[str, int], postmaster: int | None, redis: int | None) -> None:
        self.procs, self.postmaster, self.redis = procs, postmaster, redis

    def snapshot(self) -> dict[str, float]:
        snap = {name: _proc_cpu(pid) for name, pid in self.procs.items()}
        if self.postmaster:
            snap["postgres"] = _proc_cpu(self.postmaster, children=True) + sum(
                _proc_cpu(c) for c in _children_of(self.postmaster)
            )
        if self.redis:
            snap["redis"] = _proc_cpu(self.redis)
        snap["bench (this process)"] = _proc_cpu(os.getpid())
        return snap

    @staticmethod
    def report(before: dict[str, float], after: dict[str, float], n: int, wall: float) -> None:
        total = 0.0
        print(
            f"CPU during the bulk run ({wall:.1f} s wall; load average {os.getloadavg()[0]:.2f} "
            f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at the end):"
        )
        for name in after:
            used = after[name] - before.get(name, 0.0)
            total += used
            print(f"  {name:<24} {used:8.1f} s  {used / n * 1000:6.3f} ms/payment")
        print(
            f"  {'total':<24} {total:8.1f} s  {total / n * 1000:6.3f} ms/payment "
            f"(2 cores for {wall:.0f} s = {2 * wall:.0f} s)"
        )


def zhida(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "zhida"), *args], env=env, capture_output=True, text=True, cwd=ROOT)
    if check and proc.returncode not in (0,):
        raise SystemExit(f"zhida {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


async def seed(n: int, code: str, version_id: int) -> None:
    """N payable entitlements of one auto policy version (verified accounts), as matching would leave them."""
    import datetime as dt

    from app.audit import SYSTEM
    from payments.schemas import EntitlementCreate, PolicyFacts
    from payments.service import record_entitlements

    facts = PolicyFacts(
        version_id=version_id,
        code=code,
        version=1,
        title="新南昌人生活补贴 (bench)",
        issuer="bench",
        subject="talent",
        mode="auto",
        budget_fen=10**15,
        effective_from=dt.date(2025, 1, 1),
        clause_titles={"main": "主条款"},
    )
    step = 20000
    for start in range(0, n, step):
        items = [
            EntitlementCreate(
                subject_kind="talent",
                subject_id=f"B{version_id:04d}{i:09d}",
                amount_fen=1_000_00 + (i % 1000),
                clause_codes=["main"],
                source="auto",
                source_ref=str(i),
                payee_name=f"人才{i}",
                bank_name="bench bank",
                payee_account=f"6222{version_id:04d}{i:09d}1",
                account_verified=True,
            )
            for i in range(start, min(n, start + step))
        ]
        await record_entitlements(facts, items, actor=SYSTEM)


async def main_async(args, env: dict) -> None:
    from app import jobs
    from app.audit import AuditActor
    from app.db import open_database
    from payments import service
    from payments.tasks import enqueue_chunks

    await open_database(max_size=4)
    maker, checker = AuditActor("bench-maker", "finance_maker"), AuditActor("bench-checker", "finance_checker")

    t = time.perf_counter()
    await seed(args.payments, "BENCH-BULK", 1)
    print(f"seeded {args.payments} entitlements in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    made = await service.create_batch(actor=maker, policy_code="BENCH-BULK", second_checker_threshold_fen=10**15)
    print(
        f"batch {made.batch_id} created (budget reserved, {made.payment_count} payments) in {time.perf_counter() - t:.1f} s"
    )
    await service.approve_batch(made.batch_id, actor=checker)

    meter = args.meter
    cpu0 = meter.snapshot() if meter else None
    t0 = time.perf_counter()
    chunks = await service.start_batch(made.batch_id, actor=checker, chunk_size=args.chunk)
    await enqueue_chunks(await jobs.get_queue(), chunks)
    while await service.has_active(made.batch_id):  # the same condition as progress().done, without counting
        await asyncio.sleep(1)
    elapsed = time.perf_counter() - t0
    p = await service.progress(made.batch_id)
    print(
        f"BULK: {args.payments} payments approved→settled in {elapsed:.1f} s = {args.payments / elapsed:.0f} payments/s "
        f"({args.workers} workers, chunks of {args.chunk}); statuses {p.counts}"
    )
    if meter:
        CpuMeter.report(cpu0, meter.snapshot(), args.payments, elapsed)
    check = await service.check_balances()
    print(f"ledger balanced: {check.ok} ({check.journals} journals) {check.problems[:3]}")

    queue = await jobs.get_queue()
    t = time.perf_counter()
    shown = False
    while await queue.zcard(jobs.QUEUE) and time.perf_counter() - t < args.drain_timeout:
        await asyncio.sleep(1)  # the notices of the bulk run are still being delivered
        if not shown and time.perf_counter() - t > 5:
            shown = True
            print("still queued after 5 s:", await queue.zrange(jobs.QUEUE, 0, 4, withscores=True), time.time() * 1000)
    left = await queue.zcard(jobs.QUEUE)
    if meter:
        CpuMeter.report(cpu0, meter.snapshot(), args.payments, time.perf_counter() - t0)
    print(
        f"queue {'drained' if not left else f'still holds {left} jobs'} (notices and their deliveries) "
        f"{time.perf_counter() - t:.1f} s after the last settlement"
    )

    if args.latency_samples:
        await seed(args.latency_samples, "BENCH-ONE", 2)
        from payments.tables import Entitlement

        ids = [
            r["id"]
            for r in await Entitlement.select(Entitlement.id)
            .where(Entitlement.version_id == 2)
            .order_by(Entitlement.id)
        ]
        latencies = []
        for eid in ids:
            one = await service.create_batch(actor=maker, entitlement_ids=[eid], second_checker_threshold_fen=10**15)
            t = time.perf_counter()
            await service.approve_batch(one.batch_id, actor=checker)
            await enqueue_chunks(await jobs.get_queue(), await service.start_batch(one.batch_id, actor=checker))
            while not (await service.progress(one.batch_id)).done:
                await asyncio.sleep(0.005)
            latencies.append(time.perf_counter() - t)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
        print(
            f"LATENCY: one auto payment approval→settled over {len(latencies)} samples: p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--payments", type=int, default=260_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=2000)
    ap.add_argument("--latency-samples", type=int, default=100)
    ap.add_argument("--drain-timeout", type=float, default=600, help="seconds to wait for the queue before latency")
    ap.add_argument("--logs", help="a folder for the workers' output (default: discarded)")
    ap.add_argument("--pg-dsn")
    ap.add_argument("--redis-url")
    args = ap.parse_args()
    services = None
    if not (args.pg_dsn and args.redis_url):
        services = Services()
        args.pg_dsn, args.redis_url = services.start()
    data = Path(tempfile.mkdtemp(prefix="zhida-bench-data-"))
    bank_port = free_port()
    env = {
        **os.environ,
        "ZHIDA_DATABASE_URL": args.pg_dsn,
        "ZHIDA_REDIS_URL": args.redis_url,
        "ZHIDA_BANK_URL": f"http://127.0.0.1:{bank_port}",
        "ZHIDA_BANK_SECRET": SECRET,
        "ZHIDA_DATA_DIR": str(data),
    }
    procs: list[subprocess.Popen] = []
    try:
        zhida(env, "db", "migrate")
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "zhida"),
                    "bank-sim",
                    "--port",
                    str(bank_port),
                    "--reject-accounts",
                    "",
                    "--db",
                    str(data / "bank.db"),
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        for i in range(args.workers):
            log = open(Path(args.logs) / f"worker-{i + 1}.log", "w") if args.logs else subprocess.DEVNULL
            procs.append(
                subprocess.Popen(
                    [str(BIN / "zhida"), "worker"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT if args.logs else subprocess.DEVNULL,
                )
            )
        time.sleep(2)
        names = ["bank-sim"] + [f"worker {i + 1}" for i in range(args.workers)]
        postmaster = redis = None
        if services:
            postmaster = int((services.work / "pg" / "postmaster.pid").read_text().split()[0])
            redis = int((services.work / "redis.pid").read_text().strip())
        args.meter = CpuMeter({n: p.pid for n, p in zip(names, procs)}, postmaster, redis)
        os.environ.update(env)  # this process talks to the same database and queue
        print(
            f"machine: {os.cpu_count()} cores; PostgreSQL {args.pg_dsn.rsplit('@', 1)[-1]}, Redis, "
            f"{args.workers} zhida worker, zhida bank-sim (no faults)"
        )
        asyncio.run(main_async(args, env))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if services:
            services.stop()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
