"""Fixtures of receipts: a signed receipt PDF, a renderer on a temporary data directory, a settled batch."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from payments.receipts.bulk import ReceiptRenderer
from tests.receipts.factories import receipt_facts

BASE_URL = "https://zhida.example.gov.cn"


@pytest.fixture(scope="session")
def renderer() -> ReceiptRenderer:
    return ReceiptRenderer(data_dir=Path(tempfile.mkdtemp(prefix="zhida-receipts-")), base_url=BASE_URL)


@pytest.fixture(scope="session")
def facts():
    return receipt_facts()


@pytest.fixture(scope="session")
def receipt_pdf(renderer, facts) -> Path:
    """One signed receipt, rendered once for the whole run."""
    return renderer.pdf_path(facts)


@pytest.fixture
async def settled_batch(fresh_db, tmp_dir):
    """A batch of 3 payments paid through payments' own flow on the in-process bank simulator: its id."""
    from payments.adapters import get_adapter
    from payments.adapters.simulator import SimulatorConfig
    from tests.payments.factories import (
        approved_batch,
        bank_settings,
        entitled,
        policy,
        run_all,
    )

    facts = policy(code="NC-TALENT-HOUSING", budget_fen=10_000_000)
    await entitled(facts, 3, amount_fen=1_640_902)
    created = await approved_batch(facts)
    adapter = get_adapter(bank_settings(tmp_dir), simulator_config=SimulatorConfig(fail_rate=0.0, timeout_rate=0.0))
    try:
        await run_all(adapter, created.batch_id)
    finally:
        await adapter.aclose()
    return created.batch_id
