"""Rejections go to the exceptions queue with the bank's reason; after the account is corrected and re-verified a
re-issue pays once, linked to the old payment with a new request_id; abandoning releases the budget; a reversal at the
bank shows up in reconciliation and is recorded by finance, never fixed silently."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from app.tables import AuditEntry
from kit.db import raw
from notifications import service as notifications
from payments.adapters import get_adapter
from payments.errors import Forbidden, InvalidState
from payments.service import (
    abandon_payment,
    account_verified,
    approve_batch,
    budget_usage,
    check_balances,
    exceptions_queue,
    pay_range,
    payments_of_subject,
    reconcile,
    record_entitlements,
    record_return,
    reissue_payments,
    reject_batch,
    start_batch,
    subject_paid,
)
from payments.service.transfer import RunnerOptions
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, approved_batch, bank_settings, payee, policy

BANK_DAY = lambda: dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()  # noqa: E731


async def _approved_batch(items):
    """A policy with 100,000 yuan of budget, these entitlements, and their batch made and approved."""
    facts = policy(budget_fen=10_000_000)
    await record_entitlements(facts, items, actor=SYSTEM)
    made = await approved_batch(facts)
    return facts, made


async def _run(adapter, batch_id):
    opts = RunnerOptions(payer_account="360100000000000001", payer_name="南昌市财政局")
    for c in await start_batch(batch_id, actor=SYSTEM):
        await pay_range(adapter, batch_id, c.first_id, c.last_id, opts=opts, actor=SYSTEM)


async def test_rejection_reissue_after_correction_and_abandon(fresh_db, tmp_dir):
    # Accounts ending 0004 are unknown to the simulated bank (ACCOUNT_NOT_FOUND).
    items = [
        payee(1, 100_000),
        payee(2, 200_000, account="62220000000000004"),
        payee(3, 300_000, account="62220000000000005"),
    ]
    facts, made = await _approved_batch(items)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await _run(adapter, made.batch_id)
        queue = await exceptions_queue()
        assert sorted((p.subject_id[-4:], p.reason) for p in queue) == [
            ("0002", "ACCOUNT_NOT_FOUND"),
            ("0003", "ACCOUNT_CLOSED"),
        ]
        assert all("0004" not in p.payee_account_masked[:-4] for p in queue)  # masked
        rejected = {p.subject_id[-4:]: p for p in queue}
        # Not before the account is corrected.
        with pytest.raises(InvalidState):
            await reissue_payments([rejected["0002"].id], actor=MAKER, second_checker_threshold_fen=THRESHOLD_FEN)
        await account_verified(
            "talent",
            items[1].subject_id,
            payee_name=items[1].payee_name,
            bank_name="工商银行",
            payee_account="62220000000000777",
            actor=SYSTEM,
        )
        with pytest.raises(Forbidden):
            await reissue_payments([rejected["0002"].id], actor=CHECKER, second_checker_threshold_fen=THRESHOLD_FEN)
        # A re-issue batch sent back keeps the reservation, and its audit entry says nothing was released.
        (used,) = await budget_usage(facts.version_id)
        sent_back = await reissue_payments(
            [rejected["0002"].id], actor=MAKER, second_checker_threshold_fen=THRESHOLD_FEN
        )
        await reject_batch(sent_back, actor=CHECKER, reason="账户待再核")
        entry = (await AuditEntry.select().where(AuditEntry.action == "batch.reject").order_by(AuditEntry.seq))[-1]
        assert entry["entity_id"] == str(sent_back) and json.loads(entry["detail"])["released_fen"] == 0
        assert await budget_usage(facts.version_id) == [used]
        assert rejected["0002"].id in [p.id for p in await exceptions_queue()]
        again = await reissue_payments([rejected["0002"].id], actor=MAKER, second_checker_threshold_fen=THRESHOLD_FEN)
        await approve_batch(again, actor=CHECKER)
        await _run(adapter, again)
        paid = await payments_of_subject("talent", items[1].subject_id)
        assert [(p.status, p.attempt) for p in paid] == [("rejected", 1), ("void", 2), ("settled", 3)]
        assert paid[2].reissue_of == paid[0].id and paid[2].request_id not in (paid[0].request_id, paid[1].request_id)
        assert sum((await subject_paid("talent", items[1].subject_id)).values()) == 200_000
        # Final rejection of the other one releases its reservation.
        with pytest.raises(Forbidden):
            await abandon_payment(rejected["0003"].id, actor=MAKER, reason="closed for good")
        await abandon_payment(rejected["0003"].id, actor=CHECKER, reason="closed for good")
        (usage,) = await budget_usage(facts.version_id)
        assert (usage.paid_fen, usage.committed_fen, usage.used_fen) == (300_000, 0, 300_000)
        assert await exceptions_queue() == []
        assert (await check_balances()).ok

        # 退汇: the bank reverses a settled payment; reconciliation reports it, finance records it.
        first = (await payments_of_subject("talent", items[0].subject_id))[0]
        # Not before the bank has reversed it: the bank is asked, and a settled transfer is refused.
        with pytest.raises(InvalidState, match="not reversed"):
            await record_return(first.id, actor=CHECKER, adapter=adapter)
        assert await exceptions_queue() == []
        assert sum((await subject_paid("talent", items[0].subject_id)).values()) == 100_000
        adapter.simulator.reverse(first.request_id)
        result = await reconcile(adapter, BANK_DAY(), actor=CHECKER)
        assert [d.kind for d in result.differences] == ["status_differs"]
        await record_return(first.id, actor=CHECKER, adapter=adapter)
        assert [p.id for p in await exceptions_queue()] == [first.id]
        # The payee is told the money came back, at once (no outbox row of it is left for the sweep).
        kinds = [n.kind for n in await notifications.inbox("talent", items[0].subject_id)]
        assert kinds.count("payment_returned") == 1
        assert (
            await raw(
                "SELECT id FROM pay_notice_outbox WHERE kind = 'payment_returned' AND payment_ids = {}", str(first.id)
            )
            == []
        )
        assert sum((await subject_paid("talent", items[0].subject_id)).values()) == 0
        assert (await reconcile(adapter, BANK_DAY(), actor=CHECKER)).clean
        assert (await check_balances()).ok
    finally:
        await adapter.aclose()


class _Bank:
    """A bank that knows a transfer we never sent, and forgot one we did (for reconciliation's other cases)."""

    def __init__(self, real, extra, drop: str):
        self.real, self.extra, self.drop = real, extra, drop

    async def statement(self, date):
        lines = [line for line in await self.real.statement(date) if line.request_id != self.drop]
        return lines + ([self.extra] if date == BANK_DAY() else [])


async def test_reconciliation_reports_every_kind_and_fixes_nothing(fresh_db, tmp_dir):
    from decimal import Decimal

    from payments.adapters.base import StatementLine
    from payments.tables import Payment

    facts, made = await _approved_batch([payee(i, 100_000) for i in range(3)])
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await _run(adapter, made.batch_id)
        rows = await Payment.select().order_by(Payment.id)
        stranger = StatementLine(
            "T-X", "ZD-NOT-OURS", "6222000011112222", Decimal("5.00"), "settled", dt.datetime.now(dt.UTC)
        )
        result = await reconcile(_Bank(adapter, stranger, rows[0]["request_id"]), BANK_DAY(), actor=CHECKER)
        assert sorted(d.kind for d in result.differences) == ["missing_at_bank", "unknown_to_us"]
        assert result.matched == 2
        # Nothing was changed by it.
        assert [r["status"] for r in await Payment.select().order_by(Payment.id)] == ["settled"] * 3
        assert (await check_balances()).ok
    finally:
        await adapter.aclose()


class _Statement:
    """The real bank's statement of a day, rewritten by ``edit`` (for the differences a bank error would make)."""

    def __init__(self, real, edit):
        self.real, self.edit = real, edit

    async def statement(self, date):
        return self.edit(await self.real.statement(date)) if date == BANK_DAY() else await self.real.statement(date)


async def test_reconciliation_reports_a_double_payment_a_foreign_transfer_and_another_account(fresh_db, tmp_dir):
    """A statement line that repeats a request, names a transfer we did not record, or pays another account than ours
    is a difference, never matched (the contract: every difference is reported)."""
    from dataclasses import replace

    facts, made = await _approved_batch([payee(i, 100_000) for i in range(4)])
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await _run(adapter, made.batch_id)
        real = sorted(await adapter.statement(BANK_DAY()), key=lambda line: line.request_id)
        assert len(real) == 4 and (await reconcile(adapter, BANK_DAY(), actor=CHECKER)).clean

        def edit(lines):
            by = {line.request_id: line for line in lines}
            a, b, c, d = (by[line.request_id] for line in real)
            return [
                a,
                replace(a, transfer_id=a.transfer_id + "-2"),  # the same request paid twice
                replace(b, transfer_id="T-SOMEONE-ELSE"),  # a transfer we never recorded for that request
                replace(c, payee_account="62229999999999999"),  # another account than the one we sent
                replace(d, status="pending"),
            ]  # neither settled nor reversed

        result = await reconcile(_Statement(adapter, edit), BANK_DAY(), actor=CHECKER)
        kinds = {d.request_id: d.kind for d in result.differences}
        assert kinds == {
            real[0].request_id: "duplicate_at_bank",
            real[1].request_id: "transfer_differs",
            real[2].request_id: "account_differs",
            real[3].request_id: "status_differs",
        }
        assert result.matched == 1 and len(result.differences) == 4
        shown = next(d for d in result.differences if d.kind == "account_differs").detail
        assert "62229999999999999" not in shown and "6222****9999" in shown  # masked, as everywhere (kit.masking)
        # A reversal of another amount than the payment's.
        rows = sorted(await payments_of_subject("talent", payee(0, 1).subject_id), key=lambda p: p.id)
        adapter.simulator.reverse(rows[0].request_id)
        await record_return(rows[0].id, actor=CHECKER, adapter=adapter)

        def short(lines):
            return [replace(line, amount=line.amount - 1) if line.status == "reversed" else line for line in lines]

        result = await reconcile(_Statement(adapter, short), BANK_DAY(), actor=CHECKER)
        assert [(d.kind, d.bank_amount_fen, d.ledger_amount_fen) for d in result.differences] == [
            ("amount_differs", 99_900, 100_000)
        ]
        assert (await reconcile(adapter, BANK_DAY(), actor=CHECKER)).clean
        assert (await check_balances()).ok
    finally:
        await adapter.aclose()


class _AnswerLost:
    """The bank takes and settles each transfer but the answer never arrives; before we ask, it sends the money
    back (退汇). Only the bank is stood in for: the runner, ledger and queue are the real ones."""

    def __init__(self, real):
        self.real = real

    async def submit(self, request):
        from payments.adapters.base import BankOutcomeUnknown

        await self.real.submit(request)
        self.real.simulator.reverse(request.request_id)
        raise BankOutcomeUnknown("the connection dropped after the bank took the transfer")

    async def query(self, request_id):
        return await self.real.query(request_id)

    async def statement(self, date):
        return await self.real.statement(date)


async def test_a_transfer_reversed_before_its_outcome_was_known_lands_in_the_queue_once(fresh_db, tmp_dir):
    """Asked about a transfer whose answer was lost, the bank says `reversed`: the runner records it settled then
    returned (ledger balanced, paid nothing), puts it in the exceptions queue and the batch finishes; before, the
    answer was dropped and the payment was asked about again and again."""
    from payments.service import get_batch

    facts, made = await _approved_batch([payee(1, 100_000)])
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        opts = RunnerOptions(
            payer_account="360100000000000001",
            payer_name="南昌市财政局",
            poll_seconds=0.05,
            max_backoff_seconds=0.1,
            time_budget_seconds=20,
        )
        for c in await start_batch(made.batch_id, actor=SYSTEM):
            await asyncio.wait_for(
                pay_range(_AnswerLost(adapter), made.batch_id, c.first_id, c.last_id, opts=opts, actor=SYSTEM), 30
            )
        (p,) = await payments_of_subject("talent", payee(1).subject_id)
        assert (p.status, p.exception, p.reason) == ("returned", "open", "RETURNED") and p.bank_transfer_id
        assert [q.id for q in await exceptions_queue()] == [p.id]
        assert (await get_batch(made.batch_id)).status not in ("approved", "running")
        assert sum((await subject_paid("talent", payee(1).subject_id)).values()) == 0
        (usage,) = await budget_usage(facts.version_id)
        assert (usage.paid_fen, usage.committed_fen) == (0, 100_000)  # still reserved, for a re-issue or abandon
        assert (await check_balances()).ok
        assert (await reconcile(adapter, BANK_DAY(), actor=CHECKER)).clean  # settled and reversed lines both match
    finally:
        await adapter.aclose()


class _QueryKeepsSettled:
    """A bank true to the contract's query statuses: a reversed transfer still answers 'settled' there; only its
    statement shows the reversal (status=reversed)."""

    def __init__(self, real):
        self.real = real

    async def query(self, request_id):
        from dataclasses import replace

        answer = await self.real.query(request_id)
        return replace(answer, status="settled") if answer is not None and answer.status == "reversed" else answer

    async def statement(self, date):
        return await self.real.statement(date)


async def test_a_return_is_recorded_from_the_statement_when_the_query_keeps_saying_settled(fresh_db, tmp_dir):
    facts, made = await _approved_batch([payee(1, 100_000)])
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await _run(adapter, made.batch_id)
        (p,) = await payments_of_subject("talent", payee(1).subject_id)
        bank = _QueryKeepsSettled(adapter)
        with pytest.raises(InvalidState, match="not reversed .* no statement since"):
            await record_return(p.id, actor=CHECKER, adapter=bank)
        adapter.simulator.reverse(p.request_id)
        await record_return(p.id, actor=CHECKER, adapter=bank)
        (back,) = await payments_of_subject("talent", payee(1).subject_id)
        assert back.status == "returned" and [q.id for q in await exceptions_queue()] == [p.id]
        entry = (await AuditEntry.select().where(AuditEntry.action == "payment.return").order_by(AuditEntry.seq))[-1]
        assert "statement" in json.loads(entry["detail"])["evidence"]
        assert (await reconcile(adapter, BANK_DAY(), actor=CHECKER)).clean and (await check_balances()).ok
    finally:
        await adapter.aclose()
