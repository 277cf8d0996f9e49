"""Bank adapters: the HTTP client of the bank gateway contract, and the bundled simulator of it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from payments.adapters.base import (  # noqa: F401  (the interface, re-exported)
    BankAdapter,
    BankAuthError,
    BankBadRequest,
    BankConflict,
    BankError,
    BankOutcomeUnknown,
    BankRateLimited,
    BankTransient,
    StatementLine,
    TransferRequest,
    TransferResult,
)
from payments.adapters.http_bank import HttpBankAdapter
from payments.adapters.simulator import InProcessTransport, Simulator, SimulatorConfig, config_from_options

SIMULATOR_FILE = "bank-sim.db"


def get_adapter(
    settings: Any, *, simulator_config: SimulatorConfig | None = None, timeout: float | None = None
) -> HttpBankAdapter:
    """The bank for these settings (duck-typed: bank_url, bank_secret, bank_timeout_seconds, data_dir).

    With ``bank_url`` set: the real gateway over the network. Without: the bundled simulator in this
    process, its record in ``data_dir/bank-sim.db``, reached through the very same HTTP adapter code over
    httpx.ASGITransport. ``adapter.simulator`` is then the Simulator (for inspection), else None.
    ``simulator_config`` (a SimulatorConfig; its secret is replaced by the settings') sets the in-process
    simulator's faults and rules; without it they come from ``settings.bank_sim_options`` or the
    ZHIDA_BANK_SIM_OPTIONS environment variable (`zhida bank-sim` option names, see config_from_options).
    ``timeout`` overrides ``bank_timeout_seconds`` (e.g. a short one for a demo with the timeout fault on). Close the adapter with ``await adapter.aclose()`` (it closes the in-process
    simulator too)."""
    if timeout is None:
        timeout = float(getattr(settings, "bank_timeout_seconds", 5.0))
    secret = settings.bank_secret
    if getattr(settings, "bank_url", None):
        return HttpBankAdapter(settings.bank_url, secret, timeout=timeout)
    if simulator_config is None:
        # The embedded simulator's faults for commands run as subprocesses (demo, chaos tests): ZHIDA_BANK_SIM_OPTIONS.
        options = getattr(settings, "bank_sim_options", None) or os.environ.get("ZHIDA_BANK_SIM_OPTIONS", "")
        simulator_config = config_from_options(options) if options else SimulatorConfig()
    config = dataclasses.replace(simulator_config, secret=secret)
    simulator = Simulator(Path(settings.data_dir) / SIMULATOR_FILE, config)
    adapter = HttpBankAdapter(
        "http://bank-sim.in-process", secret, timeout=timeout, transport=InProcessTransport(simulator)
    )
    adapter.simulator = simulator
    adapter.on_close(simulator.close)
    return adapter
