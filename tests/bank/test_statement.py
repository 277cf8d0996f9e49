"""Settlement over time, reversals (退汇 after settlement) and the statement of a bank day (Asia/Shanghai)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from payments.adapters.simulator import SimulatorConfig
from tests.bank.conftest import Clock
from tests.bank.test_adapter import transfer

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


async def test_accepted_settles_after_the_delay(make_bank):
    clock = Clock(at("2026-11-22 10:00:00"))
    bank, _ = make_bank(SimulatorConfig(settle_delay=30), clock=clock)
    assert (await bank.submit(transfer())).status == "accepted"
    clock.now += 29
    assert (await bank.query("pay-1")).status == "accepted"
    assert await bank.statement(dt.date(2026, 11, 22)) == []
    clock.now += 1
    assert (await bank.query("pay-1")).status == "settled"
    [line] = await bank.statement(dt.date(2026, 11, 22))
    assert line.settled_at == dt.datetime(2026, 11, 22, 10, 0, 30, tzinfo=SHANGHAI)


async def test_answer_accepted_settles_on_the_next_request(make_bank):
    bank, _ = make_bank(SimulatorConfig(answer_accepted=True))
    assert (await bank.submit(transfer())).status == "accepted"
    assert (await bank.query("pay-1")).status == "settled"


async def test_statement_holds_the_day_in_bank_time(make_bank):
    clock = Clock(at("2026-11-21 23:59:59"))
    bank, _ = make_bank(clock=clock)
    late = await bank.submit(transfer("late", amount="0.01"))
    clock.now = at("2026-11-22 00:00:00")
    early = await bank.submit(transfer("early", amount="99999999.99"))
    await bank.submit(transfer("refused", account="6222000000000004"))
    day21 = await bank.statement(dt.date(2026, 11, 21))
    day22 = await bank.statement(dt.date(2026, 11, 22))
    assert [(s.request_id, s.transfer_id, s.amount, s.status) for s in day21] == [
        ("late", late.transfer_id, Decimal("0.01"), "settled")
    ]
    assert [(s.request_id, s.transfer_id, s.amount, s.status) for s in day22] == [
        ("early", early.transfer_id, Decimal("99999999.99"), "settled")
    ]
    assert day22[0].payee_account == "6222020200112233"
    assert day22[0].settled_at.utcoffset() == dt.timedelta(hours=8)
    assert await bank.statement(dt.date(2026, 11, 23)) == []


async def test_a_reversal_appears_on_its_own_day_and_the_settlement_stays_on_its(make_bank):
    clock = Clock(at("2026-11-22 09:00:00"))
    bank, sim = make_bank(clock=clock)
    await bank.submit(transfer())
    clock.now = at("2026-11-23 11:30:00")
    reversed_ = sim.reverse("pay-1")
    assert reversed_.status == "reversed"
    assert (await bank.query("pay-1")).status == "reversed"
    [settled] = await bank.statement(dt.date(2026, 11, 22))
    [returned] = await bank.statement(dt.date(2026, 11, 23))
    assert settled.status == "settled" and returned.status == "reversed"
    assert returned.amount == Decimal("1234.56")
    assert returned.settled_at == dt.datetime(2026, 11, 23, 11, 30, tzinfo=SHANGHAI)
    assert sim.net_paid_per_payee() == {"6222020200112233": Decimal(0)}
    assert sim.moves_per_request() == {"pay-1": 1}  # the debit happened once; the reversal is not a payment


async def test_only_a_settled_transfer_can_be_reversed(make_bank):
    bank, sim = make_bank(SimulatorConfig(settle_delay=60))
    with pytest.raises(KeyError):
        sim.reverse("never")
    await bank.submit(transfer())
    with pytest.raises(ValueError):
        sim.reverse("pay-1")


async def test_statement_of_a_bad_date_is_not_a_statement(make_bank):
    _, sim = make_bank()
    import httpx

    from payments.adapters.http_bank import sign
    from tests.bank.conftest import SECRET

    ts = str(int(sim.clock()))
    headers = {"X-Timestamp": ts, "X-Signature": sign(SECRET, ts, "GET", "/statements?date=22-11-2026", b"")}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://bank.test") as client:
        assert (await client.get("/statements?date=22-11-2026", headers=headers)).status_code == 400


async def test_the_signature_covers_the_query_string(make_bank):
    """bank-gateway.md: `path` is the request target with its query. A statement request signed over the path alone
    is refused (the date could be swapped under the signature); the adapter signs what it sends."""
    bank, sim = make_bank()
    import httpx

    from payments.adapters.http_bank import sign
    from tests.bank.conftest import SECRET

    ts = str(int(sim.clock()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://bank.test") as client:
        path_only = {"X-Timestamp": ts, "X-Signature": sign(SECRET, ts, "GET", "/statements", b"")}
        assert (await client.get("/statements?date=2026-11-22", headers=path_only)).status_code == 401
        full = {"X-Timestamp": ts, "X-Signature": sign(SECRET, ts, "GET", "/statements?date=2026-11-22", b"")}
        assert (await client.get("/statements?date=2026-11-22", headers=full)).status_code == 200
    assert await bank.statement(dt.date(2026, 11, 22)) == []
