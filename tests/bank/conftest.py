"""Fixtures of the bank tests: the simulator in-process (its own SQLite file per test) and a settable clock."""

from __future__ import annotations

import time

import pytest

from payments.adapters import HttpBankAdapter
from payments.adapters.simulator import InProcessTransport, Simulator, SimulatorConfig

SECRET = "test-bank-secret"
PAYER = "360100000000000001"


class Clock:
    """Bank time and client time, moved by hand."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def make_bank(tmp_path):
    """make_bank(config=None, *, clock=None, timeout=2.0, client_clock=None) -> (adapter, simulator)."""
    opened: list[tuple[HttpBankAdapter, Simulator]] = []

    def make(
        config: SimulatorConfig | None = None,
        *,
        clock=None,
        timeout: float = 2.0,
        client_clock=None,
        secret: str = SECRET,
        path=None,
    ):
        config = config or SimulatorConfig()
        config.secret = SECRET
        clock = clock or time.time
        sim = Simulator(path or tmp_path / f"bank-{len(opened)}.db", config, clock=clock)
        adapter = HttpBankAdapter(
            "http://bank.test", secret, timeout=timeout, transport=InProcessTransport(sim), clock=client_clock or clock
        )
        opened.append((adapter, sim))
        return adapter, sim

    yield make
    for adapter, sim in opened:
        await adapter.aclose()
        sim.close()
