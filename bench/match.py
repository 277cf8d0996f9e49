"""Benchmark of eligibility/ at province scale (issue 4, Performance): import, push-down match, all bundled
policies, the incremental path, and the naive rule-engine path, on SQLite and PostgreSQL.

    .venv/bin/pip install -e '.[bench]'            # numpy, for the vectorised comparison
    .venv/bin/python bench/match.py --rows 1000000 --db both
    ZHIDA_BENCH_PG_DSN=postgresql://user@host:5432/postgres .venv/bin/python bench/match.py --db postgres

Without ZHIDA_BENCH_PG_DSN a throw-away PostgreSQL cluster is started like scripts/test does. Each
database runs in a child process (the Piccolo engine is chosen at import from ZHIDA_DATABASE_URL).
Prints one line per figure; not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pgdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
AS_OF = dt.date(2025, 6, 30)
FILTER_ROUNDS = 7
TYPICAL = {  # a typical enterprise policy: 研发费用补助, filter on five fields, amount from a money field
    "code": "BENCH-RD",
    "subject": "enterprise",
    "effective_from": dt.date(2025, 1, 1),
    "combine": "first",
    "cap_per_subject": 500000,
    "when": 'region_code =~ "^3601" and not blacklisted and credit_rating in ["A", "B"]',
    "clauses": [
        {"code": "ht", "when": "high_tech and rd_expense >= 1000000", "amount": "rd_expense * 0.15"},
        {"code": "base", "when": "rd_expense >= 3000000 and employees >= 50", "amount": "rd_expense * 0.10"},
    ],
}


def log(msg: str) -> None:
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------- parent


def machine() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores {cpu}, {mem:.1f} GiB, Python {platform.python_version()}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowAwayPostgres:
    """A PostgreSQL cluster in a temporary directory, loopback only (as scripts/test starts one)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="zhida-bench-pg."))
        self.port = free_port()
        self.bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]

    def _as_pg(self, *cmd: str) -> None:
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)

    def __enter__(self) -> str:
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._as_pg(
            str(self.bin / "initdb"),
            "-D",
            str(self.dir / "data"),
            "-U",
            "zhida",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self._as_pg(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-l",
            str(self.dir / "log"),
            "-w",
            "-o",
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c shared_buffers=512MB -c max_wal_size=4GB",
            "start",
        )
        return f"postgresql://zhida@127.0.0.1:{self.port}/postgres"

    def __exit__(self, *exc) -> None:
        try:
            self._as_pg(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def run_child(db_url: str, args, csv_path: Path) -> None:
    env = pgdb.throwaway_secrets({**os.environ, "ZHIDA_DATABASE_URL": db_url})
    cmd = (
        [
            sys.executable,
            __file__,
            "--child",
            "--rows",
            str(args.rows),
            "--policies",
            str(args.policies),
            "--csv",
            str(csv_path),
            "--naive-sample",
            str(args.naive_sample),
            "--match-jobs",
            str(args.match_jobs),
        ]
        + (["--reuse"] if args.reuse else [])
        + (["--import-only"] if args.import_only else [])
        + [a for c in args.pg_index for a in ("--pg-index", c)]
    )
    subprocess.run(cmd, env=env, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--policies", type=int, default=1000, help="active rule sets for the incremental path")
    ap.add_argument(
        "--match-jobs",
        type=int,
        default=0,
        help="policies matched at once (default: 2 on PostgreSQL, the compose file's worker count; "
        "1 on SQLite, whose single writer makes them take turns anyway)",
    )
    ap.add_argument("--naive-sample", type=int, default=20000, help="profiles evaluated by rule-engine (extrapolated)")
    ap.add_argument("--workdir", default=os.environ.get("ZHIDA_BENCH_DIR", "/tmp/zhida-bench"))
    ap.add_argument(
        "--reuse", action="store_true", help="SQLite: keep an earlier bench.db holding the rows (skip import)"
    )
    ap.add_argument(
        "--pg-index",
        action="append",
        default=[],
        metavar="COLUMN",
        help="PostgreSQL: a B-tree index on this profile column (e.g. rd_expense_fen) made before the "
        "import, to measure what it costs the import and gives the filter (repeatable; not a "
        "migration: the product makes no such index)",
    )
    ap.add_argument(
        "--import-only", action="store_true", help="measure the import and the re-import only (no matching)"
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--csv", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args))
        return
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    log(f"machine: {machine()}")
    log(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    csv_path = work / f"enterprises-{args.rows}.csv"
    if not csv_path.exists():
        from eligibility.synthetic import generate, write_csv

        t = time.perf_counter()
        write_csv("enterprise", generate("enterprise", args.rows, seed=2025), str(csv_path))
        log(f"generated {args.rows:,} enterprise profiles in {time.perf_counter() - t:.1f} s ({csv_path})")
    if args.db in ("sqlite", "both"):
        db = work / "bench.db"
        if not args.reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        log("== SQLite")
        run_child(f"sqlite:///{db}", args, csv_path)
    if args.db in ("postgres", "both"):
        log("== PostgreSQL")
        admin = os.environ.get("ZHIDA_BENCH_PG_DSN")
        if admin:
            _pg_child(admin, args, csv_path)
        else:
            with ThrowAwayPostgres() as admin:
                _pg_child(admin, args, csv_path)


def _pg_child(admin: str, args, csv_path: Path) -> None:
    with pgdb.database(admin, "zhida_bench") as dsn:
        run_child(dsn, args, csv_path)


# ----------------------------------------------------------------------------------------------- child


def ruleset_from(p: dict, key_suffix: str = "1"):
    from eligibility.schemas import RuleClause, RuleSet

    return RuleSet(
        key=f"{p['code']}@{key_suffix}",
        code=p["code"],
        subject=p["subject"],
        when=None if p.get("when") is None else str(p["when"]),
        combine=p.get("combine", "first"),
        cap_per_subject=p.get("cap_per_subject"),
        effective_from=p["effective_from"],
        effective_to=p.get("effective_to"),
        clauses=[RuleClause(code=c["code"], when=str(c["when"]), amount=str(c["amount"])) for c in p["clauses"]],
    )


def bundled_rulesets(kind: str):
    import yaml

    out = []
    for path in sorted((ROOT / "policies" / "packs").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for p in doc.get("policies", [doc]) if isinstance(doc, dict) else doc:
            if p.get("subject") == kind:
                out.append(ruleset_from(p))
    return out


def varied_rulesets(n: int, seed: int = 7):
    """n policies shaped like the bundled ones, with other regions, thresholds and amounts."""
    rng = random.Random(seed)
    base = bundled_rulesets("enterprise")
    out = []
    for i in range(n):
        rs = base[i % len(base)]
        region = rng.choice(["^3601", "^360111", "^360102", "^36", "^3602", "^360121"])
        when = (rs.when or "true").replace('"^3601"', f'"{region}"').replace('"^36"', f'"{region}"')
        clauses = []
        for c in rs.clauses:
            w = c.when
            for lit in ("200000000", "20000000", "1000000", "3000000"):
                w = w.replace(lit, str(int(int(lit) * rng.uniform(0.5, 2))))
            clauses.append(c.model_copy(update={"when": w}))
        out.append(
            rs.model_copy(
                update={
                    "key": f"{rs.code}-V{i}@1",
                    "code": f"{rs.code}-V{i}",
                    "when": when,
                    "clauses": clauses,
                    "effective_to": None,
                }
            )
        )
    return out


async def timed(work):
    """The result of awaiting ``work``, its wall-clock seconds and this process's CPU seconds."""
    t0, c0 = time.perf_counter(), time.process_time()
    result = await work
    return result, time.perf_counter() - t0, time.process_time() - c0


async def child(args) -> None:
    from app.audit import AuditActor
    from app.db import migrate, open_database
    from eligibility import store
    from eligibility.importer import import_file
    from eligibility.match_sql import filter_query, read_connection
    from eligibility.matcher import match_ruleset
    from eligibility.rules.sql import compile_ruleset

    await migrate()
    await open_database()
    engine = store.TABLES["enterprise"]._meta.db
    pg = engine.engine_type == "postgres"
    actor = AuditActor("bench", "admin")
    n = args.rows

    from eligibility.service import count_profiles

    log(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other processes share the CPU)")
    for col in args.pg_index if pg else []:
        if col not in store.columns("enterprise"):
            raise SystemExit(f"--pg-index: no profile column {col!r}")
        await engine.run_ddl(f"CREATE INDEX IF NOT EXISTS bench_{col} ON eligibility_enterprise ({col})")
        log(f"an extra index on {col} (--pg-index), made before the import")
    if args.reuse and await count_profiles("enterprise") == n:
        from eligibility.tables import Match

        await Match.delete(force=True)  # measure storage into an empty match table, as after a fresh import
        log(f"import: reusing the {n:,} profiles already stored (matches of earlier runs deleted)")
    else:
        report, wall, cpu = await timed(import_file(args.csv, "enterprise", actor=actor))
        log(
            f"import: {report.inserted:,} rows in {wall:.1f} s = {report.inserted / wall:,.0f} rows/s "
            f"(this process's CPU {cpu:.1f} s = {report.inserted / cpu:,.0f} rows per CPU-second; full validation, "
            f"upsert, audit)"
        )
        again, wall, cpu = await timed(import_file(args.csv, "enterprise", actor=actor))
        log(
            f"re-import (all unchanged: {again.unchanged:,}): {wall:.1f} s = {n / wall:,.0f} rows/s "
            f"({n / cpu:,.0f} rows per CPU-second)"
        )
    if args.import_only:
        # Every profile changed (one more employee each): the import that replaces stored versions.
        import csv as csv_mod

        changed = Path(args.csv).with_suffix(".changed.csv")
        if not changed.exists():
            with (
                open(args.csv, encoding="utf-8", newline="") as src,
                open(changed, "w", encoding="utf-8", newline="") as dst,
            ):
                rows = csv_mod.reader(src)
                out = csv_mod.writer(dst)
                header = next(rows)
                out.writerow(header)
                at = header.index("employees")
                for row in rows:
                    row[at] = str(int(row[at]) + 1)
                    out.writerow(row)
        upd, wall, cpu = await timed(import_file(str(changed), "enterprise", actor=actor))
        log(
            f"changed import (all updated: {upd.updated:,}): {wall:.1f} s = {n / wall:,.0f} rows/s "
            f"({n / cpu:,.0f} rows per CPU-second)"
        )
        return
    if pg:
        await engine.run_ddl("ANALYZE eligibility_enterprise")

    typical = ruleset_from(TYPICAL).model_copy(update={"key": f"BENCH-RD@{time.time_ns()}"})
    run, wall, cpu = await timed(match_ruleset(typical, AS_OF, store=True, actor=actor))
    typical_wall = wall
    log(
        f"one typical policy matched and stored: {run.matched:,} of {run.profiles:,} in {wall:.2f} s "
        f"(this process's CPU {cpu:.2f} s; path {run.path}, {run.new:,} stored)"
    )
    t0 = time.perf_counter()
    rerun = await match_ruleset(typical, AS_OF, store=True, actor=actor)
    log(f"  the same again (idempotent, {rerun.new} new): {time.perf_counter() - t0:.2f} s")

    # The filter alone: SQL COUNT with the compiled WHERE, as the matcher runs it (its terms ordered, the rule index
    # on SQLite), vs numpy over the same columns in memory. The machine's speed drifts by tens of percent within
    # minutes, so the three are timed in turns, FILTER_ROUNDS times, and each gives its best.
    async with read_connection(engine) as conn:
        sql = await filter_query(conn, "enterprise", compile_ruleset(typical, AS_OF, pg)[0], pg, "COUNT(*) AS n")
        log(f"  the filter: {sql}")
        try:
            import numpy as np
        except ImportError:
            np = None
        if np is not None:  # the same columns in memory, read only for numpy
            cols = await store.fetch(
                conn,
                "SELECT region_code, blacklisted, credit_rating, high_tech, rd_expense_fen, "
                "employees FROM eligibility_enterprise",
                [],
                pg,
            )
            region = np.array([r["region_code"] for r in cols])
            black = np.array([bool(r["blacklisted"]) for r in cols])
            credit = np.array([r["credit_rating"] for r in cols])
            ht = np.array([bool(r["high_tech"]) for r in cols])
            rd = np.array(
                [r["rd_expense_fen"] if r["rd_expense_fen"] is not None else -1 for r in cols], dtype=np.int64
            )
            rd_known = np.array([r["rd_expense_fen"] is not None for r in cols])
            emp = np.array([r["employees"] for r in cols], dtype=np.int64)
            del cols
        best = floor = nbest = 1e9
        count = None
        for _ in range(FILTER_ROUNDS):
            if np is not None:
                t0 = time.perf_counter()
                mask = (
                    np.char.startswith(region, "3601")
                    & ~black
                    & np.isin(credit, ["A", "B"])
                    & rd_known
                    & ((ht & (rd >= 100_000_000)) | ((rd >= 300_000_000) & (emp >= 50)))
                )
                count = int(mask.sum())
                nbest = min(nbest, time.perf_counter() - t0)
            t0 = time.perf_counter()
            got = await store.fetch(conn, sql, [], pg)
            best = min(best, time.perf_counter() - t0)
            # The engine's floor: the simplest scan of the same table, one comparison on one column.
            t0 = time.perf_counter()
            await store.fetch(conn, "SELECT COUNT(*) AS n FROM eligibility_enterprise WHERE employees >= 50", [], pg)
            floor = min(floor, time.perf_counter() - t0)
    sql_count = int(got[0]["n"])
    if np is None:
        log(
            f"filter alone in SQL: {best * 1000:.0f} ms ({sql_count:,} rows); numpy not installed: pip install -e '.[bench]'"
        )
    else:
        log(
            f"filter alone (best of {FILTER_ROUNDS}, timed in turns): SQL {best * 1000:.0f} ms, numpy {nbest * 1000:.0f} ms "
            f"(ratio {best / nbest:.1f}x; {sql_count:,} vs {count:,} rows); the engine's floor, one comparison on one "
            f"column: {floor * 1000:.0f} ms ({floor / nbest:.1f}x numpy)"
        )

    kinds = [r.model_copy(update={"key": f"{r.key}-{time.time_ns()}"}) for r in bundled_rulesets("enterprise")]
    # As publication runs them: one app.match_published job per version, as many at once as there are workers
    # (--match-jobs; docker/compose.yaml runs 2), each stored and counted with no per-subject results in Python.
    # On SQLite the stores take turns (one writer), so one at a time; PostgreSQL runs them side by side.
    jobs = args.match_jobs or (2 if pg else 1)
    gate = asyncio.Semaphore(jobs)

    async def one(rs):
        async with gate:
            t1 = time.perf_counter()
            r = await match_ruleset(
                rs.model_copy(update={"effective_to": None}), AS_OF, store=True, actor=actor, collect=False
            )
            log(
                f"  {rs.code}: {r.matched:,} matched, {r.total_amount:,.2f} yuan in {time.perf_counter() - t1:.1f} s, "
                f"path {r.path}{' (' + r.fallback_reason + ')' if r.fallback_reason else ''}"
            )
            return r.matched

    t0 = time.perf_counter()
    total = sum(await asyncio.gather(*(one(rs) for rs in kinds)))
    log(
        f"all {len(kinds)} bundled enterprise policies matched and stored, {jobs} at a time: "
        f"{time.perf_counter() - t0:.1f} s ({total:,} matches)"
    )

    # The incremental path: one changed profile against 1,000 active policies.
    from eligibility.incremental import compiled_rulesets, evaluate_all, rematch_subject
    from eligibility.service import activate_ruleset, get_profile
    from eligibility.tables import ActiveRuleSet

    await ActiveRuleSet.delete(force=True)
    varied = varied_rulesets(args.policies)
    now = dt.datetime.now(dt.UTC)
    await ActiveRuleSet.insert(
        *[
            ActiveRuleSet(key=r.key, code=r.code, subject=r.subject, ruleset=r.model_dump_json(), activated_at=now)
            for r in varied
        ]
    )
    await activate_ruleset(varied[0])
    compiled = await compiled_rulesets("enterprise")
    ids = [
        r["subject_id"]
        for r in await store.TABLES["enterprise"].raw(
            "SELECT subject_id FROM eligibility_enterprise ORDER BY subject_id LIMIT 300"
        )
    ]
    evals, cpus, totals = [], [], []
    for sid in ids:
        profile = await get_profile("enterprise", sid)
        t0 = time.perf_counter()
        c0 = time.thread_time()
        evaluate_all(compiled, "enterprise", profile, AS_OF)
        cpus.append(time.thread_time() - c0)
        evals.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        await rematch_subject("enterprise", sid, AS_OF, actor=None)
        totals.append(time.perf_counter() - t0)

    def p95(xs):
        return statistics.quantiles(xs, n=20)[-1] * 1000

    log(
        f"incremental, one profile vs {len(compiled)} active policies: evaluation p95 {p95(evals):.2f} ms "
        f"(median {statistics.median(evals) * 1000:.2f}; CPU time p95 {p95(cpus):.2f} ms); with profile load and "
        f"match storage p95 {p95(totals):.2f} ms"
    )

    # The naive path: rule-engine per profile for the typical policy, on a sample, extrapolated.
    from eligibility.fields import derived_values
    from eligibility.rules.evaluate import evaluate_values

    sample = await store.TABLES["enterprise"].raw(f"SELECT * FROM eligibility_enterprise LIMIT {args.naive_sample}")
    profiles = [store.from_row("enterprise", r) for r in sample]
    t0 = time.perf_counter()
    for p in profiles:
        evaluate_values(typical, {**p, **derived_values("enterprise", p, AS_OF)}, AS_OF)
    per = (time.perf_counter() - t0) / len(profiles)
    naive = per * n
    log(
        f"naive rule-engine per profile: {per * 1e6:.0f} µs/profile -> {naive:.0f} s for {n:,} "
        f"(extrapolated from {len(profiles):,}); {naive / typical_wall:.0f}x the push-down match and store of the same policy"
    )
    log("RESULT " + json.dumps({"db": "postgres" if pg else "sqlite", "rows": n}))


if __name__ == "__main__":
    main()
