"""A failed bank call is ours to report: 502 (bad gateway) or 503 (try later), the bank's own status kept aside."""

from __future__ import annotations

import pytest

from kit.errors import BadGateway, Unavailable, http_status_of
from payments.adapters import BankBadRequest, BankTransient, HttpBankAdapter
from payments.adapters.simulator import InProcessTransport, SimulatorConfig
from tests.bank.conftest import SECRET
from tests.bank.test_adapter import transfer


async def test_a_404_from_a_wrong_bank_url_is_our_502_with_the_banks_404_kept(make_bank):
    _, sim = make_bank()
    # The simulator behind a misconfigured URL: it answers 404 (no such route), having taken nothing.
    wrong = HttpBankAdapter("http://bank.test/not-the-gateway", SECRET, transport=InProcessTransport(sim))
    try:
        with pytest.raises(BankBadRequest) as caught:
            await wrong.submit(transfer("wrong-url-1"))
    finally:
        await wrong.aclose()
    assert caught.value.bank_status == 404
    assert caught.value.status == 502 == http_status_of(caught.value) == BadGateway.status
    assert sim.transfers() == []


async def test_an_unavailable_bank_is_our_503(make_bank):
    bank, sim = make_bank(SimulatorConfig(fail_rate=1.0))
    with pytest.raises(BankTransient) as caught:
        await bank.submit(transfer("unavailable-1"))
    assert caught.value.status == 503 == http_status_of(caught.value) == Unavailable.status
    assert sim.transfers() == []
