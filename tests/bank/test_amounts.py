"""Money crosses the bank boundary as exact decimal strings, never floats (property tests)."""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.adapters import HttpBankAdapter, TransferRequest
from payments.adapters.http_bank import format_amount, parse_statement
from payments.adapters.simulator import InProcessTransport, Simulator, SimulatorConfig

fen = st.integers(min_value=1, max_value=10**13 - 1)


@given(fen)
def test_format_amount_says_the_exact_fen(n):
    amount = Decimal(n).scaleb(-2)
    text = format_amount(amount)
    assert Decimal(text) == amount
    whole, _, cents = text.partition(".")
    assert len(cents) == 2 and whole.isdigit() and int(whole + cents) == n


@given(fen)
def test_the_same_amount_written_differently_is_the_same_amount(n):
    amount = Decimal(n).scaleb(-2)
    for spelled in (amount, amount.normalize(), amount + Decimal("0.000")):
        assert format_amount(spelled) == format_amount(amount)


@given(st.lists(fen, min_size=1, max_size=20))
def test_statement_amounts_parse_exactly(ns):
    rows = ["transfer_id,request_id,payee_account,amount,status,settled_at"]
    rows += [f"T{i},r{i},62220,{Decimal(n).scaleb(-2)},settled,2026-11-22T10:00:00+08:00" for i, n in enumerate(ns)]
    lines = parse_statement("\r\n".join(rows))
    assert [line.amount for line in lines] == [Decimal(n).scaleb(-2) for n in ns]


_dir = Path(tempfile.mkdtemp(prefix="bank-amounts-"))
_sim = Simulator(_dir / "bank.db", SimulatorConfig(secret="s", account_rules={}))
_counter = iter(range(10**9))


@settings(max_examples=60, deadline=None)
@given(fen)
def test_amounts_round_trip_through_the_bank(n):
    """What the bank records and states is exactly what was sent."""
    amount = Decimal(n).scaleb(-2)
    rid = f"amt-{next(_counter)}"

    async def go():
        bank = HttpBankAdapter("http://bank.test", "s", transport=InProcessTransport(_sim))
        try:
            await bank.submit(TransferRequest(rid, "1", "62220000", "n", amount))
            today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
            return [line for line in await bank.statement(today) if line.request_id == rid]
        finally:
            await bank.aclose()

    lines = asyncio.run(go())
    # Around midnight the transfer may fall on the next bank day; the record still holds it exactly.
    assert all(line.amount == amount for line in lines)
    assert _sim.transfer(rid).amount == amount
