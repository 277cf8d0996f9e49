"""Risk-scan benchmark (风险拦截): N payable entitlements over N/2 enterprises and N/2 talents, with about 1 % planted
hits across the eight rules; then the full scan (payments.service.risk.scan: every rule's statement, the flags
written) timed twice — the first raises the flags, the second only refreshes them.

    .venv/bin/python bench/risk.py --entitlements 100000 --db sqlite
    ZHIDA_BENCH_PG_DSN=postgresql://zhida@127.0.0.1:55432/postgres .venv/bin/python bench/risk.py --db postgres

The PostgreSQL run creates (and drops) a database of its own on the server of ZHIDA_BENCH_PG_DSN; without it the
PostgreSQL run is skipped with a line saying so. Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pgdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def log(msg: str) -> None:
    print(msg, flush=True)


async def child(n: int) -> None:
    from app.audit import AuditActor
    from app.db import migrate, open_database
    from eligibility.tables import EnterpriseProfile, TalentProfile
    from kit.db import bulk_insert, is_postgres, raw
    from payments.service.risk import RiskSettings, scan
    from payments.tables import Budget, Entitlement

    await migrate()
    await open_database()
    rng = random.Random(18)
    at = dt.datetime.now(dt.UTC)
    half = n // 2
    t0 = time.perf_counter()
    policies = 40
    await bulk_insert(
        Budget,
        ["version_id", "policy_code", "policy_version", "budget_fen", "alert_level", "policy_facts", "updated_at"],
        [
            (v, f"B-{v}", 1, 10**13, 0, json.dumps({"issuer": f"issuer-{v % 7}", "title": f"B-{v}"}), at)
            for v in range(1, policies + 1)
        ],
    )
    ent_cols = ["subject_id", "name", "region_code", "industry_code", "scale", "founded_on_ymd", "employees",
                "revenue_fen", "tax_paid_fen", "unemployment_insurance_paid_fen", "high_tech", "specialized",
                "credit_rating", "blacklisted", "bank_name", "bank_account", "digest", "updated_at"]  # fmt: skip
    tal_cols = ["subject_id", "name", "region_code", "education", "arrived_on_ymd", "social_insurance_months",
                "employer_uscc", "bank_name", "bank_account", "birth_on_ymd", "digest", "updated_at"]  # fmt: skip
    e_cols = ["key", "right_key", "period", "version_id", "policy_code", "policy_version", "subject_kind",
              "subject_id", "source", "source_ref", "amount_fen", "clause_codes", "exclusive_group", "effective_from",
              "state", "reason", "payee_name", "bank_name", "payee_account", "created_at", "updated_at",
              "pending_clause_codes"]  # fmt: skip
    step = 20000
    for lo in range(0, half, step):
        ents, tals, rows = [], [], []
        for i in range(lo, min(half, lo + step)):
            uscc, idn = f"9136{i:013d}X", f"3601{i:013d}X"
            odd = rng.random() < 0.01  # planted: a young, uninsured enterprise; a shared account
            ents.append((uscc, f"E{i}", "360106", "I6513", "small", 20241101 if odd else 20150301, 0 if odd else 50,
                         10**10, 10**9, 1_200_000, False, "none", "A", False, "b", f"62221{i:011d}", f"e{i}", at))  # fmt: skip
            tals.append((idn, f"T{i}", "360102", "master", 20240901, 12, f"9136{(i // 3):013d}X", "b",
                         f"62222{i:011d}", 19900101, f"t{i}", at))  # fmt: skip
            v = 1 + i % policies
            shared = f"62221{i - 1:011d}" if odd and i else f"62221{i:011d}"
            for kind, sid, acct, amount in (("enterprise", uscc, shared, 12_000_000 if odd else 2_000_000),
                                            ("talent", idn, f"62222{i:011d}", 500_000)):  # fmt: skip
                key = f"B-{v}||{kind}|{sid}"
                rows.append((key, key, "", v, f"B-{v}", 1, kind, sid, "auto", "", amount, "main", None,
                             "2025-01-01", "payable", "", "p", "b", acct, at, at, ""))  # fmt: skip
        await bulk_insert(EnterpriseProfile, ent_cols, ents)
        await bulk_insert(TalentProfile, tal_cols, tals)
        await bulk_insert(Entitlement, e_cols, rows)
    if is_postgres():
        await raw("ANALYZE")
    count = (await raw("SELECT COUNT(*) AS n FROM pay_entitlement WHERE state = 'payable'"))[0]["n"]
    log(
        f"  generated {count} payable entitlements, {half} enterprises, {half} talents in {time.perf_counter() - t0:.1f} s"
    )
    actor = AuditActor("bench", "admin")
    for run in ("first scan", "second scan"):
        t1 = time.perf_counter()
        result = await scan(actor=actor, settings=RiskSettings())
        log(
            f"  {run}: {time.perf_counter() - t1:.2f} s; hits {sum(result.found.values())} "
            f"({', '.join(f'{k} {v}' for k, v in result.found.items() if v)}); new {result.created}, "
            f"refreshed {result.refreshed}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entitlements", type=int, default=100_000)
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args.entitlements))
        return
    import platform

    log(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        env = dict(os.environ)
        tmp = tempfile.mkdtemp(prefix="zhida-risk-")
        env["ZHIDA_DATA_DIR"] = tmp
        with contextlib.ExitStack() as stack:
            if db == "sqlite":
                env["ZHIDA_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
            else:
                admin = os.environ.get("ZHIDA_BENCH_PG_DSN")
                if not admin:
                    log("postgres: skipped (set ZHIDA_BENCH_PG_DSN)")
                    continue
                env["ZHIDA_DATABASE_URL"] = stack.enter_context(pgdb.database(admin, "zhida_bench_risk"))
                pgdb.throwaway_secrets(env)
            log(f"{db}:")
            subprocess.run(
                [sys.executable, __file__, "--child", "--entitlements", str(args.entitlements)], env=env, check=True
            )


if __name__ == "__main__":
    main()
