"""Acceptance: a few thousand payments against the simulator with 503s, lost answers after the transfer was taken and
answers slower than the client timeout, the runner SIGKILLed mid-batch and restarted: every entitled payee paid exactly
once with the exact amount (by the simulator's own record), the ledger balanced, reconciliation clean."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from kit.db import raw
from payments.adapters import simulator_store
from payments.adapters.http_bank import HttpBankAdapter
from payments.service import approve_batch, check_balances, create_batch, progress, reconcile
from tests.payments.factories import CHECKER, MAKER, entitled, policy

N = 2000
SECRET = "chaos-bank-secret-0123456789abcdef"  # 32+ bytes: a bank URL needs a real secret


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _zhida() -> str:
    return str(Path(sys.executable).parent / "zhida")


def _wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the bank simulator did not start")


def _bank_sim(port: int, bank_db: Path, env: dict, *options: str) -> subprocess.Popen:
    """`zhida bank-sim` on a loopback port with ``options``, refusing no account; its output discarded."""
    return subprocess.Popen(
        [_zhida(), "bank-sim", "--port", str(port), "--db", str(bank_db), *options, "--reject-accounts", ""],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _settled() -> int:
    return int((await raw("SELECT COUNT(*) AS n FROM pay_payment WHERE status = 'settled'"))[0]["n"])


async def test_chaos_sigkill_and_restart_pays_everyone_exactly_once(fresh_db, tmp_dir):
    port = _free_port()
    bank_db = tmp_dir / "bank.db"
    env = {
        **os.environ,
        "ZHIDA_BANK_URL": f"http://127.0.0.1:{port}",
        "ZHIDA_BANK_SECRET": SECRET,
        "ZHIDA_BANK_TIMEOUT_SECONDS": "1",
        "ZHIDA_PAYMENTS_CLAIM_SIZE": "100",
        "ZHIDA_PAYMENTS_LEASE_SECONDS": "4",
        "ZHIDA_PAYMENTS_CONCURRENCY": "32",
    }
    sim = _bank_sim(
        port,
        bank_db,
        env,
        *("--secret", SECRET, "--fail-rate", "0.05", "--timeout-rate", "0.025", "--drop-rate", "0.025"),
        *("--slow-rate", "0.01", "--slow-seconds", "1.5", "--hang-seconds", "3", "--seed", "7"),
    )
    try:
        _wait_for_port(port)
        facts = policy(budget_fen=10**12)
        # Amounts differ per payee, so a payment to the wrong payee or of the wrong amount cannot hide.
        for start in range(0, N, 500):
            await entitled(facts, 500, amount_fen=10_000 + start, start=start)
        created = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=10**15)
        assert created.payment_count == N
        await approve_batch(created.batch_id, actor=CHECKER)

        runner = subprocess.Popen(
            [_zhida(), "batch", "run", str(created.batch_id), "--wait"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_dir,
        )
        deadline = time.monotonic() + 300
        while await _settled() < N // 4:
            assert runner.poll() is None, f"the runner ended before it was killed: {runner.stderr.read()}"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        killed_at = await _settled()
        assert killed_at < N, "the runner finished before the kill: not a mid-batch kill"

        again = subprocess.run(
            [_zhida(), "batch", "run", str(created.batch_id), "--wait"],
            env=env,
            capture_output=True,
            text=True,
            cwd=tmp_dir,
            timeout=600,
        )
        assert again.returncode == 0, again.stderr
        assert f"settled\t{N}\t" in again.stdout

        p = await progress(created.batch_id)
        assert p.counts == {"settled": N} and p.status == "completed"
        # The bank's own record: one money movement per request, the exact amount, to the right account.
        moves = simulator_store.moves_per_request(bank_db)
        transfers = {t.request_id: t for t in simulator_store.all_transfers(bank_db)}
        payments = await raw("SELECT request_id, amount_fen, payee_account FROM pay_payment")
        assert len(payments) == N
        for row in payments:
            assert moves.get(row["request_id"]) == 1, row["request_id"]
            t = transfers[row["request_id"]]
            assert t.status == "settled"
            assert t.amount == Decimal(row["amount_fen"]) / 100
            assert t.payee_account == row["payee_account"]
        assert len(transfers) == N
        # The faults did happen: some requests were posted more than once.
        assert max(simulator_store.posts_per_request(bank_db).values()) > 1
        check = await check_balances()
        assert check.ok, check.problems
        adapter = HttpBankAdapter(f"http://127.0.0.1:{port}", SECRET, timeout=5)
        try:
            today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
            result = await reconcile(adapter, today, actor=CHECKER)
        finally:
            await adapter.aclose()
        assert result.clean, result.differences[:5]
        assert result.matched == N
    finally:
        sim.terminate()
        sim.wait(10)
