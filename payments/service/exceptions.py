"""The exceptions queue (异常处理): rejected, returned (退汇) and held payments, and what finance does with them —
re-issue to a corrected, re-verified account as a new payment linked to the old one, or abandon (final rejection),
which releases the reservation."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from arq.connections import ArqRedis

from kit.audit import Actor, Change
from kit.db import bulk_insert, from_row, in_list, is_postgres, raw, rows_of_subject, sql_literals, transaction
from kit.i18n import _l
from kit.money import yuan_to_fen
from kit.paging import Page, PageRequest, Sorts, chunks, fetch_page, search
from kit.time import china_today, in_china, now
from kit.vocab import EntitlementState, PaymentException, PaymentStatus, Role
from payments.adapters.base import BankAdapter, StatementLine
from payments.errors import Forbidden, InvalidState, NotFound, PaymentsError
from payments.schemas import PaymentRead, mask_account, yuan
from payments.service import ledger
from payments.service.ledger import EntryType, Move
from payments.service.notices import notify_owed, owe_notices
from payments.service.payment_rows import PAYMENT_COLUMNS, new_batch, new_payment_row, request_id_for
from payments.tables import Payment

log = logging.getLogger(__name__)

ACCOUNT_REASONS = ("ACCOUNT_NOT_FOUND", "ACCOUNT_CLOSED", "NAME_MISMATCH")
# What finance may re-issue or abandon: refused by the bank, or sent back after settling (退汇).
REISSUABLE = (PaymentStatus.REJECTED, PaymentStatus.RETURNED)


def payment_read(p: dict[str, Any]) -> PaymentRead:
    return from_row(PaymentRead, p, payee_account_masked=mask_account(p["payee_account"]), amount=yuan(p["amount_fen"]))


# The sort keys of a list of payments (a batch's, the exceptions queue): kit.paging.Sorts.
PAYMENT_SORTS = Sorts(
    {"id": Payment.id, "amount": Payment.amount_fen, "status": Payment.status, "payee": Payment.payee_name},
    default="id",
)


def _payment_filters(status: str | None, q: str) -> list[Any]:
    """A status, and a search in the payee's name, subject id or the bank's reason."""
    return [
        Payment.status == status if status else None,
        search(q, Payment.payee_name, Payment.subject_id, Payment.reason),
    ]


async def payments_page(
    batch_id: int, request: PageRequest, status: PaymentStatus | str | None = None
) -> Page[PaymentRead]:
    """One page of a batch's payments, counted and limited by the database."""
    page = await fetch_page(
        Payment, [Payment.batch_id == batch_id, *_payment_filters(status, request.q)], request, PAYMENT_SORTS
    )
    return page.map(payment_read)


async def exceptions_page(request: PageRequest, status: PaymentStatus | str | None = None) -> Page[PaymentRead]:
    """One page of the exceptions queue (payments waiting for a person), counted and limited by the database."""
    page = await fetch_page(
        Payment,
        [Payment.exception == PaymentException.OPEN, *_payment_filters(status, request.q)],
        request,
        PAYMENT_SORTS,
    )
    return page.map(payment_read)


async def payment_chunks(
    batch_id: int | None, *, status: str | None = None, q: str = "", exceptions: bool = False
) -> AsyncIterator[list[PaymentRead]]:
    """Every payment of a batch (or of the exceptions queue) meeting the list's filters, in id order, a chunk at a
    time: what an export writes, never the whole table in memory."""
    where = [*_payment_filters(status, q)]
    if batch_id is not None:
        where.append(Payment.batch_id == batch_id)
    if exceptions:
        where.append(Payment.exception == PaymentException.OPEN)
    async for rows in chunks(Payment, where):
        yield [payment_read(r) for r in rows]


async def exceptions_queue(limit: int = 500) -> list[PaymentRead]:
    """Payments waiting for a person: rejected by the bank, returned after settlement, or held."""
    rows = await Payment.select().where(Payment.exception == PaymentException.OPEN).order_by(Payment.id).limit(limit)
    return [payment_read(r) for r in rows]


async def payments_of_batch(
    batch_id: int, status: PaymentStatus | str | None = None, limit: int = 500, offset: int = 0
) -> list[PaymentRead]:
    q = Payment.select().where(Payment.batch_id == batch_id).order_by(Payment.id).limit(limit).offset(offset)
    if status:
        q = q.where(Payment.status == status)
    return [payment_read(r) for r in await q]


async def payments_of_subject(subject_kind: str, subject_id: str) -> list[PaymentRead]:
    rows = await rows_of_subject(Payment, subject_kind, subject_id)
    return [payment_read(r) for r in rows]


def reissue_refusal(payment: dict[str, Any], entitlement: dict[str, Any]) -> str | None:
    """Why a payment cannot be re-issued now, or None: not_open (not a rejected or returned payment in the queue),
    no_account (no verified account), account_unchanged (refused for its account, which is not corrected yet)."""
    if payment["exception"] != PaymentException.OPEN or payment["status"] not in REISSUABLE:
        return "not_open"
    if not entitlement["payee_account"]:
        return "no_account"
    if payment["reason"] in ACCOUNT_REASONS and (entitlement["payee_account"], entitlement["payee_name"]) == (
        payment["payee_account"],
        payment["payee_name"],
    ):
        return "account_unchanged"
    return None


async def reissue_refusals(payment_ids: list[int]) -> dict[int, str]:
    """reissue_refusal of each payment that exists, by id (the pages offer 重发 only where it would be accepted)."""
    if not payment_ids:
        return {}
    marks, args = in_list(payment_ids)
    olds = await raw(f"SELECT * FROM pay_payment WHERE id {marks}", *args)
    marks, args = in_list(sorted({o["entitlement_id"] for o in olds}))
    ents = {r["id"]: r for r in await raw(f"SELECT * FROM pay_entitlement WHERE id {marks}", *args)}
    out = {}
    for o in olds:
        refusal = reissue_refusal(o, ents[o["entitlement_id"]]) if o["entitlement_id"] in ents else "not_open"
        if refusal:
            out[o["id"]] = refusal
    return out


async def _lock_payments(ids: list[int]) -> list[dict[str, Any]]:
    marks, args = in_list(ids)
    rows = await raw(
        f"SELECT * FROM pay_payment WHERE id {marks} ORDER BY id" + (" FOR UPDATE" if is_postgres() else ""), *args
    )
    if len(rows) != len(set(ids)):
        raise NotFound(_l("payment(s) {ids} do not exist"), ids=str(sorted(set(ids) - {r["id"] for r in rows})))
    return rows


async def reissue_payments(payment_ids: list[int], *, actor: Actor, second_checker_threshold_fen: int) -> int:
    """退汇重发: a new batch (to approve like any other) with one new payment per rejected or returned payment, to the
    subject's corrected and re-verified account, linked to the old payment, with a new request_id. Returns the batch id."""
    if actor.role != Role.FINANCE_MAKER:
        raise Forbidden(
            _l("only a {role} may re-issue payments; {name} is {actor_role}"),
            role=Role.FINANCE_MAKER,
            name=actor.name,
            actor_role=actor.role,
        )
    if not payment_ids:
        raise PaymentsError(_l("say which payments to re-issue"))
    at = now()
    async with transaction():
        olds = await _lock_payments(payment_ids)
        marks, args = in_list([o["entitlement_id"] for o in olds])
        ents = {r["id"]: r for r in await raw(f"SELECT * FROM pay_entitlement WHERE id {marks}", *args)}
        for o in olds:
            refusal = reissue_refusal(o, ents[o["entitlement_id"]])
            if refusal == "not_open":
                raise InvalidState(
                    _l(
                        "payment {payment_id} is {payment_state} ({exception}): only a rejected or returned "
                        "payment in the exceptions queue can be re-issued"
                    ),
                    payment_id=o["id"],
                    payment_state=o["status"],
                    exception=o["exception"] or _l("no exception"),
                )
            if refusal == "no_account":
                raise InvalidState(_l("payment {id}: the subject has no verified account yet"), id=o["id"])
            if refusal == "account_unchanged":
                raise InvalidState(
                    _l(
                        "payment {id} was refused for {reason}: the account must be corrected and re-verified before it is re-issued"
                    ),
                    id=o["id"],
                    reason=o["reason"],
                )
        batch = await new_batch(
            "",
            "退汇重发 re-issue",
            actor,
            [o["amount_fen"] for o in olds],
            second_checker_threshold_fen,
            at,
            reissue=True,
        )
        total = batch.total_fen
        rows: list[tuple[Any, ...]] = []
        for o in olds:
            e = ents[o["entitlement_id"]]
            attempt = (
                int((await raw("SELECT MAX(attempt) AS a FROM pay_payment WHERE entitlement_id = {}", e["id"]))[0]["a"])
                + 1
            )
            rows.append(
                new_payment_row(
                    batch.id,
                    e["id"],
                    attempt,
                    o["id"],
                    o["version_id"],
                    o["policy_code"],
                    o["subject_kind"],
                    o["subject_id"],
                    e["payee_name"],
                    e["payee_account"],
                    o["amount_fen"],
                    request_id_for(e["key"], attempt),
                    at,
                )
            )
        await bulk_insert(Payment, PAYMENT_COLUMNS, rows)
        reissued, rargs = in_list(payment_ids)
        await raw(
            f"UPDATE pay_payment SET exception = {sql_literals([PaymentException.REISSUED])}, updated_at = {{}} "
            f"WHERE id {reissued}",
            at,
            *rargs,
        )
        await raw(
            f"UPDATE pay_entitlement SET state = {sql_literals([EntitlementState.BATCHED])}, batch_id = {{}}, "
            f"updated_at = {{}} WHERE id {marks}",
            batch.id,
            at,
            *args,
        )
        await actor.record(
            "batch.create",
            "batch",
            batch.id,
            None,
            {"reissue_of": sorted(payment_ids)},
            detail={"reissue": True, "payments": len(olds), "total_fen": total},
        )
        await actor.record_many(
            [
                Change(
                    "payment.reissue",
                    "payment",
                    str(o["id"]),
                    {"exception": PaymentException.OPEN},
                    {"exception": PaymentException.REISSUED, "batch_id": batch.id},
                )
                for o in olds
            ]
        )
    return batch.id


async def abandon_payment(payment_id: int, *, actor: Actor, reason: str) -> None:
    """Final rejection (a checker's decision): the payment will not be re-issued; its reservation is released."""
    if actor.role != Role.FINANCE_CHECKER:
        raise Forbidden(
            _l("only a {role} may abandon a payment; {name} is {actor_role}"),
            role=Role.FINANCE_CHECKER,
            name=actor.name,
            actor_role=actor.role,
        )
    if not reason.strip():
        raise PaymentsError(_l("say why the payment is abandoned"))
    async with transaction():
        (p,) = await _lock_payments([payment_id])
        if p["exception"] != PaymentException.OPEN or p["status"] not in REISSUABLE:
            raise InvalidState(
                _l(
                    "payment {payment_id} is {state}: only a rejected or returned payment in the exceptions queue can be abandoned"
                ),
                payment_id=payment_id,
                state=p["status"],
            )
        at = now()
        await raw(
            f"UPDATE pay_payment SET exception = {sql_literals([PaymentException.ABANDONED])}, updated_at = {{}} "
            "WHERE id = {}",
            at,
            payment_id,
        )
        await raw(
            f"UPDATE pay_entitlement SET state = {sql_literals([EntitlementState.ABANDONED])}, updated_at = {{}} "
            "WHERE id = {}",
            at,
            p["entitlement_id"],
        )
        await ledger.post(
            [Move(EntryType.reversal, p["version_id"], p["amount_fen"], batch_id=p["batch_id"], payment_id=p["id"])]
        )
        await actor.record(
            "payment.abandon",
            "payment",
            payment_id,
            {"exception": PaymentException.OPEN},
            {"exception": PaymentException.ABANDONED},
            detail={"reason": reason[:200], "released_fen": p["amount_fen"]},
        )


RETURN_LOOKBACK_DAYS = 62  # statements searched for a reversal, back from today (bank time)


async def _reversal_on_statements(adapter: BankAdapter, p: dict[str, Any]) -> StatementLine | None:
    """The statement line reversing this payment (same request, same amount), from today back to the day it settled
    (at most RETURN_LOOKBACK_DAYS), or None."""
    today = china_today()  # the bank's day
    first = (
        dt.date.fromisoformat(p["settled_on"]) if p["settled_on"] else today - dt.timedelta(days=RETURN_LOOKBACK_DAYS)
    )
    day = today
    while day >= max(first, today - dt.timedelta(days=RETURN_LOOKBACK_DAYS)):
        for line in await adapter.statement(day):
            if (
                line.request_id == p["request_id"]
                and line.status == "reversed"
                and yuan_to_fen(line.amount) == int(p["amount_fen"])
            ):
                return line
        day -= dt.timedelta(days=1)
    return None


async def record_return(
    payment_id: int,
    *,
    actor: Actor,
    adapter: BankAdapter,
    reason: str = "RETURNED",
    queue: ArqRedis | None = None,
    base_url: str = "",
) -> None:
    """退汇: the bank sent a settled payment's money back (seen on its statement). Finance records it — never done
    automatically — and the payment joins the exceptions queue for a re-issue or a final rejection. The bank is asked
    first: a return is recorded only for a transfer the bank reports reversed (its answer to ``adapter.query``, or a
    ``reversed`` line on its statements since the payment settled), so a mistaken or dishonest entry cannot free the
    entitlement for a second payment while the first one stands."""
    if actor.role not in (Role.FINANCE_MAKER, Role.FINANCE_CHECKER):
        raise Forbidden(
            _l("only finance staff may record a returned payment; {name} is {actor_role}"),
            name=actor.name,
            actor_role=actor.role,
        )
    rows = await raw(
        "SELECT request_id, status, bank_transfer_id, amount_fen, settled_on FROM pay_payment WHERE id = {}", payment_id
    )
    if not rows:
        raise NotFound(_l("payment {payment_id} does not exist"), payment_id=payment_id)
    p0 = rows[0]
    if p0["status"] != PaymentStatus.SETTLED:
        raise InvalidState(
            _l("payment {payment_id} is {state}: only a settled payment can be returned"),
            payment_id=payment_id,
            state=p0["status"],
        )
    answer = await adapter.query(p0["request_id"])
    bank_status = answer.status if answer is not None else "unknown to the bank"
    if answer is not None and answer.status == "reversed":
        evidence, transfer_id = "the bank's answer to a query", answer.transfer_id
    else:  # the contract's query may go on answering 'settled': the statement shows the reversal
        line = await _reversal_on_statements(adapter, p0)
        if line is None:
            raise InvalidState(
                _l(
                    "payment {payment_id}: the bank reports the transfer {bank_state}, not reversed (退汇), and no "
                    "statement since {since} shows a reversal; a return is recorded only when the bank has reversed it"
                ),
                payment_id=payment_id,
                bank_state=bank_status,
                since=p0["settled_on"] or _l("it settled"),
            )
        evidence, transfer_id = (
            f"the bank's statement of {in_china(line.settled_at).date()}",
            line.transfer_id,
        )
    if p0["bank_transfer_id"] and transfer_id != p0["bank_transfer_id"]:
        raise InvalidState(
            _l(
                "payment {payment_id}: the bank reversed transfer {transfer_id}, not ours ({bank_transfer_id}); reconcile before recording anything"
            ),
            payment_id=payment_id,
            transfer_id=transfer_id,
            bank_transfer_id=p0["bank_transfer_id"],
        )
    async with transaction():
        (p,) = await _lock_payments([payment_id])
        if p["status"] != PaymentStatus.SETTLED:
            raise InvalidState(
                _l("payment {payment_id} is {state}: only a settled payment can be returned"),
                payment_id=payment_id,
                state=p["status"],
            )
        at = now()
        await raw(
            f"UPDATE pay_payment SET status = {sql_literals([PaymentStatus.RETURNED])}, "
            f"exception = {sql_literals([PaymentException.OPEN])}, reason = {{}}, updated_at = {{}} WHERE id = {{}}",
            reason[:64],
            at,
            payment_id,
        )
        await raw(
            f"UPDATE pay_entitlement SET state = {sql_literals([EntitlementState.BATCHED])}, updated_at = {{}} "
            "WHERE id = {}",
            at,
            p["entitlement_id"],
        )
        await ledger.post([Move.of_payment(EntryType.return_, p)])
        await actor.record(
            "payment.return",
            "payment",
            payment_id,
            {"status": PaymentStatus.SETTLED},
            {"status": PaymentStatus.RETURNED},
            detail={"reason": reason[:64], "evidence": evidence, "bank_transfer_id": transfer_id},
        )
        # The payee was told the money arrived: tell them it came back (the outbox row commits with the return).
        (owed,) = await owe_notices([("payment_returned", [payment_id])], at)
    try:
        await notify_owed(owed[2], actor=actor, queue=queue, base_url=base_url)
    except Exception:  # noqa: BLE001 - the outbox row stays; the sweep (payments.notify_sweep) writes the notice
        log.warning("payment %s: the return notice is left to the outbox sweep", payment_id, exc_info=True)
