"""Evidence-pack benchmark (证据包): one policy with N matches and N payments (each settled, with a receipt) among
other policies' rows, and an audit trail of 2N valid, chained entries (a quarter concerning the policy); then the
status check (the fingerprint: what an auditor's policy page pays on every load) and the build of the policy's pack
(app.evidence.build: the four CSV files and the chain's full walk), timed.

    .venv/bin/python bench/evidence.py --rows 100000 --db sqlite
    ZHIDA_BENCH_PG_DSN=postgresql://zhida@127.0.0.1:55432/postgres .venv/bin/python bench/evidence.py --db postgres

The PostgreSQL run creates (and drops) a database of its own on the server of ZHIDA_BENCH_PG_DSN; without it the
PostgreSQL run is skipped with a line saying so. Prints the figures; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
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
    from app import evidence
    from app.audit import GENESIS, _seal_head, entry_hash
    from app.db import migrate, open_database
    from app.tables import AuditEntry
    from eligibility.tables import Match
    from kit.db import bulk_insert, is_postgres, raw, transaction
    from payments.tables import Payment, Receipt
    from policies.tables import Policy, PolicyVersion

    await migrate()
    await open_database()
    at = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    pol = Policy(code="BENCH-EVID", subject="talent", created_by="bench", created_at=at)
    await Policy.insert(pol)
    ver = PolicyVersion(
        policy=pol.id, code="BENCH-EVID", number=1, status="published", title="t", issuer="i", subject="talent",
        mode="auto", effective_from=dt.date(2025, 1, 1), budget_fen=10**13, content_hash="h", author="bench",
        created_at=at,
    )  # fmt: skip
    await PolicyVersion.insert(ver)
    m_cols = ["ruleset_key", "version_id", "code", "subject_kind", "subject_id", "clauses", "amount_fen", "as_of",
              "profile_digest", "rule_digest", "match_digest", "created_at", "state", "withdrawn_reason"]  # fmt: skip
    p_cols = ["batch_id", "entitlement_id", "attempt", "version_id", "policy_code", "subject_kind", "subject_id",
              "payee_name", "payee_account", "amount_fen", "request_id", "status", "tries", "due_ms",
              "claimed_until_ms", "bank_transfer_id", "reason", "exception", "settled_on", "created_at",
              "updated_at", "settled_at"]  # fmt: skip
    r_cols = ["payment_id", "code", "batch_id", "subject_kind", "subject_id", "facts", "content_digest", "created_at"]
    step = 20000
    total = 2 * n  # half the rows are the policy's, half another policy's
    for lo in range(0, total, step):
        ms, ps, rs = [], [], []
        for i in range(lo, min(total, lo + step)):
            code = "BENCH-EVID" if i % 2 == 0 else "OTHER"
            vid = int(ver.id) if code == "BENCH-EVID" else 999
            sid = f"3601{i:013d}X"
            ms.append((f"{code}@1", vid, code, "talent", sid, "main", 100_000, dt.date(2025, 6, 30), f"{i:064x}",
                       "r" * 64, f"{i:064x}", at, "current", ""))  # fmt: skip
            ps.append((1 + i // 1000, i + 1, 1, vid, code, "talent", sid, "张三", f"62222{i:011d}", 100_000,
                       f"req-{i}", "settled", 1, 0, 0, f"T{i:020d}", "", "", "2025-07-01", at, at, at))  # fmt: skip
            rs.append((i + 1, f"C{i:015d}", 1 + i // 1000, "talent", sid, "{}", "d" * 64, at))
        for k in range(0, len(ms), 500):  # bulk_insert takes no Date column: the ORM for the matches
            await Match.insert(*(Match(**dict(zip(m_cols, m, strict=True))) for m in ms[k : k + 500]))
        await bulk_insert(Payment, p_cols, ps)
        await bulk_insert(Receipt, r_cols, rs)
    # The trail: 2n entries, every fourth on a payment of the policy (even ids), chained and sealed as the app does.
    a_cols = ["seq", "at", "actor", "role", "action", "entity", "entity_id", "before_digest", "after_digest",
              "detail", "prev_hash", "hash"]  # fmt: skip
    prev, seq = GENESIS, 0
    for lo in range(0, total, step):
        rows = []
        for i in range(lo, min(total, lo + step)):
            seq += 1
            e = {"seq": seq, "at": at, "actor": "checker1", "role": "finance_checker", "action": "payment.return",
                 "entity": "payment" if i % 2 == 0 else "batch", "entity_id": str(i + 1), "before_digest": "",
                 "after_digest": "", "detail": "", "prev_hash": prev}  # fmt: skip
            e["hash"] = prev = entry_hash(e)
            rows.append(tuple(e[k] for k in a_cols))
        await bulk_insert(AuditEntry, a_cols, rows)
    async with transaction():
        await _seal_head(seq, prev)
    if is_postgres():
        await raw("ANALYZE")
    log(f"  generated {total} matches, payments and receipts, {seq} audit entries in {time.perf_counter() - t0:.1f} s")
    scope = await evidence.scope_of("policy", "BENCH-EVID")
    for run in ("first", "second"):
        t1 = time.perf_counter()
        await evidence.fingerprint(scope)
        log(f"  status check (fingerprint), {run}: {time.perf_counter() - t1:.3f} s")
    t1 = time.perf_counter()
    path = await evidence.build(scope, "bench")
    manifest = evidence.read_manifest(path)
    rows = {f["name"]: f["rows"] for f in manifest["files"]}
    log(
        f"  build: {time.perf_counter() - t1:.1f} s; {path.stat().st_size / 2**20:.1f} MiB; rows {rows}; "
        f"chain verified {manifest['audit_chain']['verified']} ({manifest['audit_chain']['entries_checked']} entries)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000, help="matches (and payments) of the policy")
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(child(args.rows))
        return
    import platform

    log(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()}")
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        env = dict(os.environ)
        tmp = tempfile.mkdtemp(prefix="zhida-evidence-")
        env["ZHIDA_DATA_DIR"] = tmp
        with contextlib.ExitStack() as stack:
            if db == "sqlite":
                env["ZHIDA_DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
            else:
                admin = os.environ.get("ZHIDA_BENCH_PG_DSN")
                if not admin:
                    log("postgres: skipped (set ZHIDA_BENCH_PG_DSN)")
                    continue
                env["ZHIDA_DATABASE_URL"] = stack.enter_context(pgdb.database(admin, "zhida_bench_evidence"))
                pgdb.throwaway_secrets(env)
            log(f"{db}:")
            subprocess.run([sys.executable, __file__, "--child", "--rows", str(args.rows)], env=env, check=True)


if __name__ == "__main__":
    main()
