"""`zhida bank-sim` served by uvicorn on a loopback port: the adapter over a real socket, faults and restarts."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from payments.adapters import BankOutcomeUnknown, BankTransient, HttpBankAdapter
from payments.adapters.simulator import Simulator
from tests.bank.test_adapter import transfer
from tests.conftest import zhida

SECRET = "served-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedBank:
    def __init__(self, db: Path, *options: str) -> None:
        self.db, self.options = db, options
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> ServedBank:
        exe = Path(sys.executable).parent / "zhida"
        self.proc = subprocess.Popen(
            [str(exe), "bank-sim", "--port", str(self.port), "--db", str(self.db), "--secret", SECRET, *self.options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"bank-sim exited: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.url}/_sim/health", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("bank-sim did not come up")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def served(tmp_path):
    started: list[ServedBank] = []

    def start(*options: str, db: Path | None = None) -> ServedBank:
        bank = ServedBank(db or tmp_path / "bank.db", *options).start()
        started.append(bank)
        return bank

    yield start
    for bank in started:
        bank.stop()


async def pay_resolving(bank: HttpBankAdapter, request):
    """What a payment job does: retry transients with the same request_id, resolve unknowns by query."""
    for _ in range(50):
        try:
            return await bank.submit(request)
        except BankTransient:
            await asyncio.sleep(0.01)
        except BankOutcomeUnknown:
            found = await bank.query(request.request_id)
            if found is not None:
                return found
    raise AssertionError("never resolved")


async def test_faults_over_a_real_socket_resolve_to_exactly_once(served, tmp_path):
    sim = served(
        "--fail-rate",
        "0.2",
        "--drop-rate",
        "0.2",
        "--timeout-rate",
        "0.1",
        "--rate-limit-rate",
        "0.1",
        "--retry-after",
        "0",
        "--hang-seconds",
        "5",
        "--seed",
        "7",
        "--reject-accounts",
        "",
    )
    bank = HttpBankAdapter(sim.url, SECRET, timeout=0.5)
    try:
        requests = [
            transfer(f"served-{i}", account=f"62220000{i:04d}", amount=f"{i + 1}.{i % 100:02d}") for i in range(40)
        ]
        results = await asyncio.gather(*(pay_resolving(bank, r) for r in requests))
    finally:
        await bank.aclose()
    assert {r.status for r in results} == {"settled"}
    record = Simulator(sim.db)
    try:
        assert record.moves_per_request() == {r.request_id: 1 for r in requests}
        assert {t.request_id: t.amount for t in record.transfers()} == {r.request_id: r.amount for r in requests}
        posts = record.posts_per_request()
        assert sum(posts.values()) > len(requests), "faults were injected"
    finally:
        record.close()


async def test_the_record_survives_a_restart(served, tmp_path):
    first = served()
    bank = HttpBankAdapter(first.url, SECRET, timeout=2)
    try:
        result = await bank.submit(transfer("kept"))
    finally:
        await bank.aclose()
    first.stop()
    second = served(db=first.db)
    bank = HttpBankAdapter(second.url, SECRET, timeout=2)
    try:
        assert await bank.query("kept") == result
        assert await bank.submit(transfer("kept")) == result
        assert await bank.query("never") is None
    finally:
        await bank.aclose()
    record = Simulator(first.db)
    try:
        assert record.moves_per_request() == {"kept": 1}
    finally:
        record.close()


async def test_the_reverse_endpoint_of_the_served_simulator(served):
    sim = served()
    bank = HttpBankAdapter(sim.url, SECRET, timeout=2)
    try:
        await bank.submit(transfer("back"))
        response = await bank._send("POST", "/_sim/reverse/back")
        assert response.status_code == 200 and response.json()["status"] == "reversed"
        assert (await bank.query("back")).status == "reversed"
    finally:
        await bank.aclose()


def test_bank_sim_refuses_fault_rates_above_one(tmp_path):
    proc = zhida("bank-sim", "--db", str(tmp_path / "b.db"), "--fail-rate", "0.7", "--drop-rate", "0.5")
    assert proc.returncode == 1 and "sum to at most 1" in proc.stderr
    proc = zhida("bank-sim", "--db", str(tmp_path / "b.db"), "--reject-accounts", "0004=BROKE")
    assert proc.returncode == 1 and "bad account rule" in proc.stderr
    proc = zhida("bank-sim", "--fail-rate", "2")
    assert proc.returncode == 2


async def test_the_bank_killed_mid_load_keeps_an_exact_record(served, tmp_path):
    """SIGKILL the simulator while transfers are in flight, restart it: every request resolves by query to
    exactly one movement of money, and what was answered before the kill is still what the bank says."""
    first = served("--reject-accounts", "")
    requests = [transfer(f"kill-{i}", account=f"62221111{i:04d}", amount=f"{i + 10}.05") for i in range(300)]
    answered: dict[str, str] = {}
    bank = HttpBankAdapter(first.url, SECRET, timeout=2)

    async def send(r):
        try:
            answered[r.request_id] = (await bank.submit(r)).transfer_id
        except (BankTransient, BankOutcomeUnknown):
            pass

    tasks = [asyncio.create_task(send(r)) for r in requests]
    for _ in range(3000):
        if len(answered) >= 50:
            break
        await asyncio.sleep(0.01)
    first.proc.kill()  # mid-load: about 50 answered, the rest in flight or not yet sent
    await asyncio.gather(*tasks)
    await bank.aclose()
    assert len(answered) >= 50

    second = served("--reject-accounts", "", db=first.db)
    bank = HttpBankAdapter(second.url, SECRET, timeout=2)
    try:
        for r in requests:
            result = await bank.query(r.request_id)
            if result is None:  # only the bank's 404 allows sending again, with the same request_id
                assert r.request_id not in answered
                result = await pay_resolving(bank, r)
            if r.request_id in answered:
                assert result.transfer_id == answered[r.request_id]
            assert result.status == "settled"
    finally:
        await bank.aclose()
    record = Simulator(first.db)
    try:
        assert record.moves_per_request() == {r.request_id: 1 for r in requests}
        assert sum(record.net_paid_per_payee().values()) == sum(r.amount for r in requests)
    finally:
        record.close()
