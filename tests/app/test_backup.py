"""`zhida backup` / `zhida restore`: a backup taken mid-way through a payment run restores into a fresh database with
the audit trail, the ledger and reconciliation clean; re-running the batch there pays nothing twice, although the
bank (which no restore rolls back) took more transfers after the backup. A restore over a database that holds
tables is refused; a damaged backup is refused; no secret is in a backup."""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from pathlib import Path
from types import SimpleNamespace

from app.config import get_settings
from payments.adapters import get_adapter
from payments.adapters.simulator import Simulator
from payments.service import approve_batch, create_batch, pay_range, start_batch
from payments.service.transfer import RunnerOptions
from payments.tables import Payment
from tests.conftest import zhida
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, entitled, policy

N = 30
OPTS = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局")


def _bank(data_dir: Path):
    # The in-process simulator keeps its record in the data dir, as the embedded mode's does.
    return get_adapter(
        SimpleNamespace(
            bank_url=None, bank_secret=get_settings().bank_secret, bank_timeout_seconds=5.0, data_dir=data_dir
        )
    )


async def test_a_backup_mid_run_restores_clean_and_a_rerun_pays_nothing_twice(fresh_db, tmp_dir, empty_database_url):
    data = tmp_dir / "data"
    facts = policy(budget_fen=100_000_000)
    await entitled(facts, N, amount_fen=321_00)
    batch = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await approve_batch(batch.batch_id, actor=CHECKER)
    chunks = await start_batch(batch.batch_id, actor=SYSTEM, chunk_size=10)
    assert len(chunks) == 3
    adapter = _bank(data)
    try:
        await pay_range(adapter, batch.batch_id, chunks[0].first_id, chunks[0].last_id, opts=OPTS, actor=SYSTEM)
        (tmp_dir / "data" / "receipts").mkdir(parents=True, exist_ok=True)
        (tmp_dir / "data" / "receipts" / "note.txt").write_text("a receipt cache file")

        # The backup, while the batch is a third paid.
        made = zhida("backup", "--out", str(tmp_dir / "backup"), env={"ZHIDA_DATA_DIR": str(data)})
        assert made.returncode == 0, made.stderr
        assert "audit key" in made.stderr

        # The run goes on after the backup: the bank takes the second third.
        await pay_range(adapter, batch.batch_id, chunks[1].first_id, chunks[1].last_id, opts=OPTS, actor=SYSTEM)
    finally:
        await adapter.aclose()
    settled_at_backup = 10
    assert await Payment.count().where(Payment.batch_id == batch.batch_id, Payment.status == "settled") == 20

    manifest = json.loads((tmp_dir / "backup" / "manifest.json").read_text())
    assert manifest["database"]["payments"].get("settled") == settled_at_backup
    names = {f["path"] for f in manifest["files"]}
    assert "bank-sim.db" in names and "receipts/note.txt" in names and "secrets.json" not in names
    assert "ZHIDA_AUDIT_KEY" in manifest["not_included"]
    backed_up = b"".join(p.read_bytes() for p in (tmp_dir / "backup").rglob("*") if p.is_file())
    assert get_settings().audit_key.encode() not in backed_up and get_settings().bank_secret.encode() not in backed_up

    # Over the database in use (it holds tables): refused, nothing written.
    over = zhida("restore", "--from", str(tmp_dir / "backup"), env={"ZHIDA_DATA_DIR": str(tmp_dir / "other")})
    assert over.returncode == 1 and "not empty" in over.stderr and "Traceback" not in over.stderr, over.stderr

    restored = {"ZHIDA_DATABASE_URL": empty_database_url, "ZHIDA_DATA_DIR": str(tmp_dir / "restored")}
    done = zhida("restore", "--from", str(tmp_dir / "backup"), env=restored)
    assert done.returncode == 0, done.stderr
    again = zhida("restore", "--from", str(tmp_dir / "backup"), env=restored)
    assert again.returncode == 1 and "not empty" in again.stderr
    assert zhida("db", "migrate", env=restored).returncode == 0

    verify = zhida("audit", "verify", env=restored)
    assert verify.returncode == 0, verify.stderr
    check = zhida("payments", "check", env=restored)
    assert check.returncode == 0, check.stderr
    day = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    rec = zhida("reconcile", "--date", day, env=restored)
    assert rec.returncode == 0 and " 0 differences" in rec.stdout, rec.stdout + rec.stderr

    # The bank is not rolled back by a restore: it still holds the transfers taken after the backup.
    live_bank = sqlite3.connect(data / "bank-sim.db")
    into = sqlite3.connect(tmp_dir / "restored" / "bank-sim.db")
    live_bank.backup(into)
    into.close()
    live_bank.close()

    rerun = zhida("batch", "run", str(batch.batch_id), "--wait", env=restored)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert re.search(rf"^settled\t{N}\t", rerun.stdout, re.M), rerun.stdout
    sim = Simulator(tmp_dir / "restored" / "bank-sim.db")
    try:
        moves = sim.moves_per_request()
    finally:
        sim.close()
    assert len(moves) == N and set(moves.values()) == {1}, moves  # each payment moved money exactly once
    assert zhida("payments", "check", env=restored).returncode == 0
    assert zhida("audit", "verify", env=restored).returncode == 0
    rec = zhida("reconcile", "--date", day, env=restored)
    assert rec.returncode == 0 and " 0 differences" in rec.stdout, rec.stdout


def test_a_damaged_backup_is_refused(tmp_dir, empty_database_url):
    made = zhida("backup", "--out", str(tmp_dir / "b"), env={"ZHIDA_DATA_DIR": str(tmp_dir / "d")})
    assert made.returncode == 0, made.stderr
    dump = next(p for p in (tmp_dir / "b").iterdir() if p.name.startswith("database."))
    with open(dump, "r+b") as f:
        f.seek(200)
        f.write(b"\x00damaged\x00")
    refused = zhida("restore", "--from", str(tmp_dir / "b"), env={"ZHIDA_DATABASE_URL": empty_database_url})
    assert refused.returncode == 1 and "checksum" in refused.stderr, refused.stderr
    nonempty = zhida("backup", "--out", str(tmp_dir / "b"))
    assert nonempty.returncode == 1 and "not empty" in nonempty.stderr
