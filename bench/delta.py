"""Where set-based delta matching beats per-profile evaluation (eligibility/incremental.py SET_MIN).

A population of enterprise profiles, P live policies of the bundled shapes (bench/match.py varied_rulesets, seeded)
matched in full and stored; then, for each changed-set size n, n profiles change (a feed) and are re-matched once
per profile through the compiled closures and once set-based (one SQL statement per live policy over the changed
set), each way on its own freshly changed subjects. Prints one line per figure, with the machine and its load.

    .venv/bin/python bench/delta.py --rows 20000 --policies 100 --db sqlite
    ZHIDA_BENCH_PG_DSN=postgresql://user@127.0.0.1:5432/postgres .venv/bin/python bench/delta.py --db postgres

Each database runs in a child process (the Piccolo engine is chosen at import from ZHIDA_DATABASE_URL). Without
ZHIDA_BENCH_PG_DSN the PostgreSQL run is skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
AS_OF = dt.date(2025, 6, 30)


def log(msg: str) -> None:
    print(msg, flush=True)


async def child(args) -> None:
    from match import varied_rulesets

    from app.audit import AuditActor
    from app.db import migrate, open_database
    from eligibility import incremental
    from eligibility.importer import import_file
    from eligibility.matcher import match_ruleset
    from eligibility.rulesets import activate_ruleset
    from eligibility.synthetic import generate, write_csv

    await migrate()
    await open_database()
    actor = AuditActor("bench", "admin")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    base = work / f"enterprises-{args.rows}.csv"
    if not base.exists():
        write_csv("enterprise", generate("enterprise", args.rows, seed=11), str(base))
    t0 = time.perf_counter()
    await import_file(str(base), "enterprise", actor=actor)
    log(f"  import of {args.rows:,} profiles: {time.perf_counter() - t0:.1f} s")
    rulesets = varied_rulesets(args.policies, seed=7)
    t0 = time.perf_counter()
    for rs in rulesets:
        await activate_ruleset(rs)
        await match_ruleset(rs, AS_OF, store=True)
    log(f"  {len(rulesets)} policies activated and matched in full: {time.perf_counter() - t0:.1f} s")
    with open(base, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    at_emp, at_rev, at_sid = header.index("employees"), header.index("revenue"), header.index("uscc")
    rng = random.Random(5)
    order = list(range(len(rows)))
    rng.shuffle(order)
    cursor = 0
    for n in args.sizes:
        line = []
        for way in ("profile", "set"):
            picked = order[cursor : cursor + n]
            cursor += n
            if len(picked) < n:
                raise SystemExit(f"--rows {args.rows} too small for the sizes asked ({sum(args.sizes) * 2} needed)")
            changed = work / f"changed-{uuid.uuid4().hex}.csv"
            with open(changed, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                for i in picked:
                    r = list(rows[i])
                    r[at_emp] = str(int(r[at_emp]) * 3 + 7)
                    r[at_rev] = f"{float(r[at_rev] or 0) * 1.7 + 1_000_000:.2f}"
                    w.writerow(r)
            await import_file(str(changed), "enterprise", actor=actor)
            changed.unlink()
            sids = [rows[i][at_sid] for i in picked]
            ids = await incremental.profile_ids_of("enterprise", sids)
            t0 = time.perf_counter()
            found, withdrawn = await incremental._rematch_where("enterprise", "id", ids, AS_OF, None, None, way=way)
            wall = time.perf_counter() - t0
            line.append(f"{way} {wall * 1000:,.0f} ms ({found:,} matches, {len(withdrawn):,} withdrawn)")
        log(f"  {n:>6,} changed x {len(rulesets)} policies: " + "; ".join(line))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--policies", type=int, default=100)
    ap.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[10, 50, 200, 1000, 5000])
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--workdir", default=os.environ.get("ZHIDA_BENCH_DIR", "/tmp/zhida-bench"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    import platform

    log(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        env = dict(os.environ)
        tmp = tempfile.mkdtemp(prefix="zhida-delta-")
        env["ZHIDA_DATA_DIR"] = tmp
        if db == "sqlite":
            env["ZHIDA_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
        else:
            dsn = os.environ.get("ZHIDA_BENCH_PG_DSN")
            if not dsn:
                log("postgres: skipped (set ZHIDA_BENCH_PG_DSN to an empty database's DSN)")
                continue
            env["ZHIDA_DATABASE_URL"] = dsn
        log(f"{db}:")
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--rows",
                str(args.rows),
                "--policies",
                str(args.policies),
                "--sizes",
                ",".join(map(str, args.sizes)),
                "--workdir",
                args.workdir,
            ],
            env=env,
            check=True,
        )


if __name__ == "__main__":
    main()
