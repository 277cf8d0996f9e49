"""The nightly data-exchange feed at province shape (issue 19): changed enterprise profiles against live generated
policies (policies/packs/generate.py), on SQLite and PostgreSQL. Prints the machine, its load, the sizes and one line
per figure, wall seconds:

  setup    import of --rows profiles (no policy live), --policies generated enterprise packs loaded and published
           through the policy service, each matched in full and stored, their notices written;
  feed     --changed of those profiles change (employees and revenue) and arrive as a file: import; re-match of the
           changed subjects against every live policy (rematch_subjects in jobs of 1,000, as the queue runs them:
           set-based from 500), matches stored and withdrawn; notices written for the new matches
           (notify_all_published, the scheduled safety net the worker runs).

    PYTHONPATH=$PWD nice .venv/bin/python bench/province.py --rows 20000 --changed 4000 --policies 100 --db sqlite
    ZHIDA_BENCH_PG_DSN=postgresql://zhida@127.0.0.1:55432/postgres PYTHONPATH=$PWD nice .venv/bin/python \\
        bench/province.py --rows 20000 --changed 4000 --policies 100 --db postgres
    # the issue's size, on a quiet machine (hours here today; see docs/benchmarks.md):
    ... bench/province.py --rows 1000000 --changed 200000 --policies 1000 --db both

Each database runs in a child process (the engine is chosen at import from ZHIDA_DATABASE_URL); on PostgreSQL a
database is created on ZHIDA_BENCH_PG_DSN's server and dropped afterwards. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pgdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LIVE_UNTIL = dt.date(2027, 12, 31)
JOB = 1000  # changed subjects per rematch job (app/cli/profiles.py queues them so)


def log(msg: str) -> None:
    print(msg, flush=True)


def machine() -> str:
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores {cpu}, {mem:.1f} GiB, Python {platform.python_version()}"


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


async def child(args) -> None:
    from app.audit import AuditActor
    from app.db import migrate, open_database
    from app.flows import notify_all_published
    from eligibility import incremental
    from eligibility.importer import import_file
    from eligibility.matcher import match_ruleset
    from eligibility.synthetic import generate, write_csv
    from kit.time import china_today
    from policies import service
    from policies.packs.generate import generate_packs

    await migrate()
    await open_database()
    officer, reviewer, system = (
        AuditActor("bench-officer", "policy_officer"),
        AuditActor("bench-reviewer", "policy_reviewer"),
        AuditActor("bench", "admin"),
    )
    today = china_today()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    base = work / f"province-enterprises-{args.rows}.csv"
    if not base.exists():
        write_csv("enterprise", generate("enterprise", args.rows, seed=19), str(base))

    async def timed(label: str, work) -> object:
        t0 = time.perf_counter()
        out = await work
        log(f"  {label}: {time.perf_counter() - t0:,.1f} s ({load()})")
        return out

    await timed(f"setup: import of {args.rows:,} profiles", import_file(str(base), "enterprise", actor=system))

    async def publish_all() -> list[int]:
        ids = []
        for g in generate_packs(args.policies, seed=args.seed, live_until=LIVE_UNTIL, subject="enterprise"):
            [(version, _)] = await service.load_pack_text(g.text, officer, source=g.code)
            ids.append((await service.publish_version(version.id, reviewer, accept_shortfall=True)).id)
        return ids

    version_ids = await timed(f"setup: {args.policies:,} generated policies loaded and published", publish_all())

    async def match_all() -> int:
        n = 0
        for vid in version_ids:  # type: ignore[union-attr]
            n += (await match_ruleset(await service.ruleset_of(vid), today, store=True, collect=False)).matched
        return n

    matched = await timed("setup: every policy matched in full and stored", match_all())
    log(f"    {matched:,} matches")
    notices = await timed("setup: notices of those matches", notify_all_published(actor=system))
    log(f"    {notices:,} notices")

    # the feed: --changed profiles with other employees and revenue
    with open(base, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    at_emp, at_rev = header.index("employees"), header.index("revenue")
    picked = random.Random(5).sample(range(len(rows)), args.changed)
    feed = work / f"province-feed-{os.getpid()}.csv"
    with open(feed, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in picked:
            r = list(rows[i])
            r[at_emp] = str(max(0, int(r[at_emp]) * 3 // 2 - 5))
            r[at_rev] = f"{float(r[at_rev] or 0) * 1.7 + 1_000_000:.2f}"
            w.writerow(r)
    changed: list[str] = []

    async def collect(ids: list[str]) -> None:
        changed.extend(ids)

    t_feed = time.perf_counter()
    await timed(
        f"feed: import of {args.changed:,} changed profiles",
        import_file(str(feed), "enterprise", actor=system, on_changed=collect),
    )
    feed.unlink()

    async def rematch() -> int:
        n = 0
        for i in range(0, len(changed), JOB):
            n += await incremental.rematch_subjects("enterprise", changed[i : i + JOB], today, actor=system)
        return n

    found = await timed(f"feed: re-match of {len(changed):,} changed x {args.policies:,} policies, stored", rematch())
    log(f"    {found:,} matches found for the changed subjects")
    notices = await timed("feed: notices of the new matches", notify_all_published(actor=system))
    log(f"    {notices:,} notices written")
    log(f"  feed total: {time.perf_counter() - t_feed:,.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--changed", type=int, default=4000)
    ap.add_argument("--policies", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--workdir", default=os.environ.get("ZHIDA_BENCH_DIR", "/tmp/zhida-bench"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    log(f"machine: {machine()}; {load()}")
    log(f"sizes: {args.rows:,} profiles, {args.changed:,} changed, {args.policies:,} policies (seed {args.seed})")
    argv = [sys.executable, __file__, "--child", *sys.argv[1:]]
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        env = dict(os.environ)
        env.pop("ZHIDA_REDIS_URL", None)
        tmp = tempfile.mkdtemp(prefix="zhida-province-")
        env["ZHIDA_DATA_DIR"] = tmp
        pgdb.throwaway_secrets(env)  # PostgreSQL wants the deployment's own keys: throw-away ones here
        if db == "sqlite":
            env["ZHIDA_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
            log("sqlite:")
            subprocess.run(argv, env=env, check=True)
            continue
        admin = os.environ.get("ZHIDA_BENCH_PG_DSN")
        if not admin:
            log("postgres: skipped (set ZHIDA_BENCH_PG_DSN to a server's DSN)")
            continue
        with pgdb.database(admin, "zhida_province") as dsn:
            env["ZHIDA_DATABASE_URL"] = dsn
            log("postgres:")
            subprocess.run(argv, env=env, check=True)


if __name__ == "__main__":
    main()
