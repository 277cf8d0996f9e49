"""The whole way of one batch on the in-process simulator: entitlements → batch → maker-checker → paid → reconciled."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from payments.adapters import get_adapter
from payments.adapters.simulator import SimulatorConfig
from payments.errors import Forbidden, InvalidState
from payments.service import (
    approve_batch,
    check_balances,
    create_batch,
    progress,
    receipts_of_batch,
    reconcile,
    start_batch,
    version_balances,
)
from payments.service.transfer import RunnerOptions
from tests.payments.factories import (
    CHECKER,
    CHECKER2,
    MAKER,
    SYSTEM,
    THRESHOLD_FEN,
    approved_batch,
    bank_settings,
    entitled,
    policy,
    run_all,
)


async def test_batch_pays_everyone_once_and_reconciles(fresh_db, tmp_dir):
    facts = policy(budget_fen=100_000_000)
    await entitled(facts, 120, amount_fen=123_45)
    created = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert created.payment_count == 120 and created.total_fen == 120 * 123_45
    with pytest.raises(InvalidState):
        await start_batch(created.batch_id, actor=SYSTEM)
    assert await approve_batch(created.batch_id, actor=CHECKER) == "approved"
    adapter = get_adapter(bank_settings(tmp_dir), simulator_config=SimulatorConfig(fail_rate=0.1, timeout_rate=0.05))
    adapter.timeout = 1.0
    try:
        await run_all(adapter, created.batch_id)
        p = await progress(created.batch_id)
        assert p.counts == {"settled": 120} and p.status == "completed"
        moves = adapter.simulator.moves_per_request()
        assert len(moves) == 120 and set(moves.values()) == {1}
        assert sum(t.amount for t in adapter.simulator.transfers() if t.status == "settled") == Decimal("14814.00")
        assert (await check_balances()).ok
        b = await version_balances(facts.version_id)
        assert b["paid"] == 120 * 123_45 and b["committed"] == 0 and b["in_transit"] == 0
        receipts = await receipts_of_batch(created.batch_id)
        assert len(receipts) == 120 and sum(r.amount for r in receipts) == Decimal("14814.00")
        from payments.receipts.schemas import facts_digest
        from payments.service import receipt_facts
        from payments.tables import Receipt

        row = await Receipt.select().where(Receipt.payment_id == receipts[0].payment_id).first()
        assert row["content_digest"] == facts_digest(await receipt_facts(row["code"].lower()))
        result = await reconcile(adapter, dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date(), actor=CHECKER)
        assert result.clean and result.matched == 120
    finally:
        await adapter.aclose()


async def test_maker_cannot_approve_and_second_checker_must_differ(fresh_db):
    facts = policy(budget_fen=10**12)
    await entitled(facts, 3, amount_fen=60_000_000)  # 1.8M yuan: above the 1M threshold
    created = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert created.needs_second_checker
    from app.audit import AuditActor

    with pytest.raises(Forbidden):
        await approve_batch(created.batch_id, actor=AuditActor(MAKER.name, "finance_checker"))
    with pytest.raises(Forbidden):
        await approve_batch(created.batch_id, actor=MAKER)
    assert await approve_batch(created.batch_id, actor=CHECKER) == "checked"
    with pytest.raises(Forbidden):
        await approve_batch(created.batch_id, actor=CHECKER)
    assert await approve_batch(created.batch_id, actor=CHECKER2) == "approved"


async def test_run_batch_inline_sends_each_notice_once(fresh_db, tmp_dir):
    from notifications import service as notifications
    from payments.service import notify_payments, payments_of_batch, run_batch

    facts = policy(budget_fen=10**9)
    await entitled(facts, 3, amount_fen=50_000)
    created = await approved_batch(facts)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        opts = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局")
        p = await run_batch(adapter, created.batch_id, actor=SYSTEM, opts=opts)
        assert p.counts == {"settled": 3}
    finally:
        await adapter.aclose()
    pays = await payments_of_batch(created.batch_id)
    assert await notify_payments("money_arrived", [x.id for x in pays], actor=SYSTEM) == 0  # already sent
    inbox = await notifications.inbox("talent", pays[0].subject_id)
    assert [n.kind for n in inbox] == ["money_arrived"]
    assert "500.00" in inbox[0].body and pays[0].payee_account_masked[-4:] in inbox[0].body
    assert "622202000000000" not in inbox[0].body  # the account is masked in the notice


async def test_accepted_payments_are_polled_until_settled(fresh_db, tmp_dir):
    from payments.service import run_batch

    facts = policy(budget_fen=10**9)
    await entitled(facts, 20, amount_fen=70_000)
    created = await approved_batch(facts)
    # The bank answers "accepted" and settles 0.5 s later.
    adapter = get_adapter(bank_settings(tmp_dir), simulator_config=SimulatorConfig(settle_delay=0.5))
    try:
        opts = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局", poll_seconds=0.1)
        p = await run_batch(adapter, created.batch_id, actor=SYSTEM, opts=opts, notify=False)
        assert p.counts == {"settled": 20}
        assert set(adapter.simulator.moves_per_request().values()) == {1}
        assert max(adapter.simulator.posts_per_request().values()) == 1  # polled by GET, never re-sent
        from kit.db import raw

        legs = await raw(
            "SELECT entry_type, COUNT(*) AS n FROM pay_ledger_entry WHERE payment_id IS NOT NULL "
            "GROUP BY entry_type ORDER BY entry_type"
        )
        assert [(r["entry_type"], r["n"]) for r in legs] == [("payment", 40), ("settlement", 40)]
        assert (await check_balances()).ok
    finally:
        await adapter.aclose()
