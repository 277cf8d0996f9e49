"""The HTTP adapter against the in-process simulator: signing, idempotency, and every outcome classified."""

from __future__ import annotations

import asyncio
import json
import logging
import types
from decimal import Decimal

import httpx
import pytest

from payments.adapters import (
    BankAuthError,
    BankBadRequest,
    BankConflict,
    BankOutcomeUnknown,
    BankRateLimited,
    BankTransient,
    HttpBankAdapter,
    TransferRequest,
    get_adapter,
)
from payments.adapters.http_bank import sign
from payments.adapters.simulator import SimulatorConfig
from tests.bank.conftest import PAYER, SECRET, Clock


def transfer(rid: str = "pay-1", account: str = "6222020200112233", amount: str = "1234.56", **kw) -> TransferRequest:
    return TransferRequest(
        request_id=rid,
        payer_account=PAYER,
        payee_account=account,
        payee_name="张三",
        amount=Decimal(amount),
        memo="政策直达 测试",
        **kw,
    )


async def test_a_transfer_settles_and_moves_money_once(make_bank):
    bank, sim = make_bank()
    result = await bank.submit(transfer())
    assert result.status == "settled" and result.reason is None and result.transfer_id
    assert await bank.query("pay-1") == result
    [recorded] = sim.transfers()
    assert recorded.amount == Decimal("1234.56") and recorded.payee_account == "6222020200112233"
    assert sim.moves_per_request() == {"pay-1": 1}


async def test_wrong_secret_is_refused_with_401(make_bank):
    bank, sim = make_bank(secret="not-the-secret")
    with pytest.raises(BankAuthError):
        await bank.submit(transfer())
    with pytest.raises(BankAuthError):
        await bank.query("pay-1")
    assert sim.transfers() == [] and sim.posts_per_request() == {}


@pytest.mark.parametrize("skew, accepted", [(-301, False), (301, False), (-299, True), (299, True)])
async def test_clock_skew_beyond_300_seconds_is_refused(make_bank, skew, accepted):
    bank_clock = Clock()
    bank, sim = make_bank(clock=bank_clock, client_clock=Clock(bank_clock.now + skew))
    if accepted:
        assert (await bank.submit(transfer())).status == "settled"
    else:
        with pytest.raises(BankAuthError):
            await bank.submit(transfer())
        assert sim.transfers() == []


def _signed_transfer(sim, amount: str, **more) -> tuple[bytes, dict[str, str]]:
    """A transfer's JSON body as a client would send it, and headers signing it at the simulator's clock."""
    fields = {"request_id": "x", "payer_account": PAYER, "payee_account": "1", "payee_name": "n"}
    body = json.dumps({**fields, "amount": amount, "currency": "CNY", **more}).encode()
    ts = str(int(sim.clock()))
    return body, {"X-Timestamp": ts, "X-Signature": sign(SECRET, ts, "POST", "/transfers", body)}


async def test_signature_covers_the_body_exactly(make_bank):
    """A body altered after signing (here: the amount) is refused."""
    _, sim = make_bank()
    body, headers = _signed_transfer(sim, "1.00", memo="")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://bank.test") as client:
        assert (
            await client.post("/transfers", content=body.replace(b"1.00", b"9.00"), headers=headers)
        ).status_code == 401
        assert (await client.post("/transfers", content=body, headers=headers)).status_code == 200


async def test_same_request_id_same_body_is_the_same_transfer(make_bank):
    bank, sim = make_bank()
    first = await bank.submit(transfer())
    again = await asyncio.gather(*(bank.submit(transfer()) for _ in range(20)))
    assert {r.transfer_id for r in again} == {first.transfer_id}
    assert sim.moves_per_request() == {"pay-1": 1}
    assert sim.posts_per_request() == {"pay-1": 21}


async def test_same_request_id_other_body_is_a_conflict(make_bank):
    bank, sim = make_bank()
    await bank.submit(transfer())
    with pytest.raises(BankConflict):
        await bank.submit(transfer(amount="1234.57"))
    with pytest.raises(BankConflict):
        await bank.submit(transfer(account="6222020200112234"))
    assert sim.moves_per_request() == {"pay-1": 1}
    assert sim.transfers()[0].amount == Decimal("1234.56")


async def test_concurrent_first_submissions_move_money_once(make_bank, tmp_path):
    """Two simulators on one file stand for two processes of the bank."""
    bank_a, _ = make_bank(path=tmp_path / "shared.db")
    bank_b, sim_b = make_bank(path=tmp_path / "shared.db")
    results = await asyncio.gather(*(b.submit(transfer(f"r{i % 5}")) for i in range(40) for b in (bank_a, bank_b)))
    assert len({r.transfer_id for r in results}) == 5
    assert sim_b.moves_per_request() == {f"r{i}": 1 for i in range(5)}


async def test_503_takes_nothing_and_query_proves_it(make_bank):
    bank, sim = make_bank(SimulatorConfig(fail_rate=1.0))
    with pytest.raises(BankTransient) as caught:
        await bank.submit(transfer())
    assert not isinstance(caught.value, BankRateLimited)
    assert await bank.query("pay-1") is None
    assert sim.transfers() == []


async def test_429_carries_retry_after(make_bank):
    bank, sim = make_bank(SimulatorConfig(rate_limit_rate=1.0, retry_after=7))
    with pytest.raises(BankRateLimited) as caught:
        await bank.submit(transfer())
    assert caught.value.retry_after == 7
    assert await bank.query("pay-1") is None


async def test_withheld_answer_is_unknown_and_the_query_finds_the_transfer(make_bank):
    bank, sim = make_bank(SimulatorConfig(timeout_rate=1.0, hang_seconds=60), timeout=0.2)
    with pytest.raises(BankOutcomeUnknown):
        await bank.submit(transfer())
    found = await bank.query("pay-1")
    assert found is not None and found.status == "settled"
    assert sim.moves_per_request() == {"pay-1": 1}


async def test_dropped_connection_is_unknown_and_the_query_finds_the_transfer(make_bank):
    bank, sim = make_bank(SimulatorConfig(drop_rate=1.0))
    with pytest.raises(BankOutcomeUnknown):
        await bank.submit(transfer())
    assert (await bank.query("pay-1")).status == "settled"
    # The retry with the same request_id (after the query) moves nothing more, even if dropped again.
    with pytest.raises(BankOutcomeUnknown):
        await bank.submit(transfer())
    assert sim.moves_per_request() == {"pay-1": 1}


async def test_slow_answer_within_the_timeout_is_an_answer(make_bank):
    bank, _ = make_bank(SimulatorConfig(slow_rate=1.0, slow_seconds=0.05), timeout=2.0)
    assert (await bank.submit(transfer())).status == "settled"


async def test_slow_answer_beyond_the_timeout_is_unknown(make_bank):
    bank, sim = make_bank(SimulatorConfig(slow_rate=1.0, slow_seconds=1.0), timeout=0.1)
    with pytest.raises(BankOutcomeUnknown):
        await bank.submit(transfer())
    assert sim.moves_per_request() == {"pay-1": 1}


async def test_faults_with_a_seed_are_reproducible(make_bank):
    config = dict(fail_rate=0.3, drop_rate=0.3, seed=42)
    outcomes = []
    for _ in range(2):
        bank, _ = make_bank(SimulatorConfig(**config))
        seen = []
        for i in range(30):
            try:
                seen.append((await bank.submit(transfer(f"r{i}"))).status)
            except Exception as exc:  # noqa: BLE001 - the classification is what is compared
                seen.append(type(exc).__name__)
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert {"settled", "BankTransient", "BankOutcomeUnknown"} <= set(outcomes[0])


async def test_unreachable_bank_is_transient():
    bank = get_adapter(
        types.SimpleNamespace(
            bank_url="http://127.0.0.1:9", bank_secret=SECRET, bank_timeout_seconds=2.0, data_dir="/nonexistent"
        )
    )
    try:
        with pytest.raises(BankTransient):
            await bank.submit(transfer())
    finally:
        await bank.aclose()


@pytest.mark.parametrize(
    "account, reason",
    [
        ("6222000000000004", "ACCOUNT_NOT_FOUND"),
        ("6222000000000005", "ACCOUNT_CLOSED"),
        ("6222000000000006", "NAME_MISMATCH"),
    ],
)
async def test_default_account_rules_reject(make_bank, account, reason):
    bank, sim = make_bank()
    result = await bank.submit(transfer(account=account))
    assert (result.status, result.reason) == ("rejected", reason)
    assert await bank.query("pay-1") == result
    assert sim.moves_per_request() == {}


async def test_account_rules_are_configurable(make_bank):
    bank, _ = make_bank(SimulatorConfig(account_rules={"99": "ACCOUNT_CLOSED"}))
    assert (await bank.submit(transfer("a", account="6222000000000004"))).status == "settled"
    assert (await bank.submit(transfer("b", account="6222000000000099"))).reason == "ACCOUNT_CLOSED"


async def test_insufficient_funds_beyond_the_payer_balance(make_bank):
    bank, sim = make_bank(SimulatorConfig(payer_balance=Decimal("100.00")))
    assert (await bank.submit(transfer("a", amount="60.00"))).status == "settled"
    assert (await bank.submit(transfer("b", amount="40.01"))).reason == "INSUFFICIENT_FUNDS"
    assert (await bank.submit(transfer("c", amount="40.00"))).status == "settled"
    assert sim.moves_per_request() == {"a": 1, "c": 1}


@pytest.mark.parametrize("amount", ["1.234", "0", "0.00", "-5", "abc", "1e400"])
async def test_amounts_the_bank_cannot_pay_are_rejected_invalid_amount(make_bank, amount):
    _, sim = make_bank()
    body, headers = _signed_transfer(sim, amount)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim), base_url="http://bank.test") as client:
        answer = (await client.post("/transfers", content=body, headers=headers)).json()
    assert (answer["status"], answer["reason"]) == ("rejected", "INVALID_AMOUNT")
    assert sim.moves_per_request() == {}


@pytest.mark.parametrize("amount", ["1.234", "0", "-1", "NaN"])
async def test_the_adapter_never_sends_an_amount_it_cannot_say_exactly(make_bank, amount):
    bank, sim = make_bank()
    with pytest.raises(ValueError):
        await bank.submit(transfer(amount=amount))
    assert sim.posts_per_request() == {}


async def test_the_adapter_refuses_a_float_amount(make_bank):
    bank, _ = make_bank()
    with pytest.raises(TypeError):
        await bank.submit(TransferRequest("f", PAYER, "1", "n", 12.3))  # type: ignore[arg-type]


async def test_request_id_longer_than_64_is_a_bad_request(make_bank):
    bank, sim = make_bank()
    with pytest.raises(BankBadRequest) as caught:
        await bank.submit(transfer("r" * 65))
    assert caught.value.bank_status == 400 and caught.value.status == 502  # the bank's status kept, ours a 502
    assert (await bank.submit(transfer("r" * 64))).status == "settled"


async def test_request_ids_with_odd_characters_round_trip(make_bank):
    bank, _ = make_bank()
    rid = "批次7:支付 #12?x=1&y%"
    result = await bank.submit(transfer(rid))
    assert await bank.query(rid) == result


async def test_no_account_number_in_the_logs(make_bank, caplog):
    caplog.set_level(logging.DEBUG)
    account = "6222029988776655"
    for config in (SimulatorConfig(), SimulatorConfig(drop_rate=1.0), SimulatorConfig(fail_rate=1.0)):
        bank, _ = make_bank(config)
        try:
            await bank.submit(transfer(account=account))
        except Exception:  # noqa: BLE001 - only the logs matter here
            pass
        await bank.query("pay-1")
    assert caplog.records, "the adapter logs its calls"
    assert account not in caplog.text and PAYER not in caplog.text


async def test_get_adapter_runs_the_simulator_in_process_when_no_url(tmp_path):
    settings = types.SimpleNamespace(bank_url=None, bank_secret="s", bank_timeout_seconds=1.0, data_dir=tmp_path)
    bank = get_adapter(settings)
    try:
        result = await bank.submit(transfer())
        assert bank.simulator.transfer("pay-1").transfer_id == result.transfer_id
        assert (tmp_path / "bank-sim.db").exists()
    finally:
        await bank.aclose()
    # The record survives the process's simulator: a new one answers the same.
    again = get_adapter(settings)
    try:
        assert await again.query("pay-1") == result
        assert (await again.submit(transfer())).transfer_id == result.transfer_id
        assert again.simulator.moves_per_request() == {"pay-1": 1}
    finally:
        await again.aclose()


async def test_get_adapter_uses_the_network_when_a_url_is_set(tmp_path):
    settings = types.SimpleNamespace(
        bank_url="http://127.0.0.1:9/api", bank_secret="s", bank_timeout_seconds=1.0, data_dir=tmp_path
    )
    bank = get_adapter(settings)
    try:
        assert bank.simulator is None and bank.base_url == "http://127.0.0.1:9/api"
    finally:
        await bank.aclose()
    assert not (tmp_path / "bank-sim.db").exists()


async def test_get_adapter_with_faults_and_a_short_timeout(tmp_path):
    """What the demo does: the in-process simulator with faults on, and a client timeout short enough to wait for."""
    settings = types.SimpleNamespace(bank_url=None, bank_secret="s", bank_timeout_seconds=5.0, data_dir=tmp_path)
    bank = get_adapter(settings, simulator_config=SimulatorConfig(timeout_rate=1.0, secret="ignored"), timeout=0.2)
    try:
        with pytest.raises(BankOutcomeUnknown):
            await bank.submit(transfer())
        assert (await bank.query("pay-1")).status == "settled"
    finally:
        await bank.aclose()


async def test_an_in_process_bank_failing_after_taking_is_unknown(make_bank, tmp_path):
    """A bank that breaks while answering (here: its answer cannot be built) leaves the outcome unknown."""
    _, sim = make_bank()

    async def broken(scope, receive, send):
        await sim.handle(scope, receive, send)
        raise RuntimeError("the bank broke after answering")

    bank = HttpBankAdapter("http://bank.test", SECRET, transport=httpx.ASGITransport(app=broken))
    try:
        with pytest.raises(BankOutcomeUnknown):
            await bank.submit(transfer())
        assert sim.moves_per_request() == {"pay-1": 1}
        with pytest.raises(BankTransient):
            await bank.query("pay-1")
    finally:
        await bank.aclose()


def test_simulator_options_text():
    from payments.adapters.simulator import config_from_options

    config = config_from_options(
        "fail-rate=0.05 drop-rate=0.05 timeout-rate=0.01 seed=7 --answer-accepted "
        "reject-accounts=0004=ACCOUNT_NOT_FOUND,99=ACCOUNT_CLOSED payer-balance=1000.50"
    )
    assert (config.fail_rate, config.drop_rate, config.timeout_rate, config.seed) == (0.05, 0.05, 0.01, 7)
    assert config.answer_accepted and config.payer_balance == Decimal("1000.50")
    assert config.account_rules == {"0004": "ACCOUNT_NOT_FOUND", "99": "ACCOUNT_CLOSED"}
    assert config_from_options("reject-accounts=").account_rules == {}
    for bad in ("fail-rate=x", "flaky=1", "fail-rate=0.8 drop-rate=0.5"):
        with pytest.raises(ValueError):
            config_from_options(bad)


async def test_embedded_simulator_faults_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ZHIDA_BANK_SIM_OPTIONS", "fail-rate=1")
    settings = types.SimpleNamespace(bank_url=None, bank_secret="s", bank_timeout_seconds=1.0, data_dir=tmp_path)
    bank = get_adapter(settings)
    try:
        with pytest.raises(BankTransient):
            await bank.submit(transfer())
    finally:
        await bank.aclose()
