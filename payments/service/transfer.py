"""The payment runner: the state machine created → submitted → accepted → settled | rejected | unknown, exactly once.

Why it is safe under retries, crashes and several workers at once:
- a payment's ``request_id`` derives from what it pays and never changes, so the bank deduplicates any resend;
- "submitted" is committed BEFORE the bank is called, so a crash can only leave a payment whose outcome must be
  asked for (GET /transfers/{request_id}); only the bank's 404 allows sending it again, with the same request_id;
- workers claim rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an atomic UPDATE in SQLite's serialised write
  transaction) with a lease, and every result is written by a conditional UPDATE on the previous status: a late
  second writer changes nothing, and the ledger's unique keys refuse a second posting of the same leg.

Throughput comes from chunks: one claim takes hundreds of payments, the bank calls run concurrently, and each
outcome group is written with a few set-based statements (ledger, receipts, audit) in one transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kit.audit import Actor
from kit.db import in_list, is_postgres, raw, sql_literals, transaction
from kit.money import fen_to_yuan
from kit.time import now, now_ms
from kit.vocab import ACTIVE_PAYMENT_STATUSES, PaymentStatus
from payments.adapters.base import (
    BankAdapter,
    BankAuthError,
    BankConflict,
    BankError,
    BankOutcomeUnknown,
    BankRateLimited,
    BankTransient,
    TransferRequest,
)
from payments.service.options import RunnerOptions
from payments.service.outcomes import Outcome, RangeResult, RunnerStopped, record_pass
from payments.service.runs import finish_if_done

# What the jobs (payments/tasks.py) and callers take from here: pay_range raises RunnerStopped.
__all__ = ["RangeResult", "RunnerOptions", "RunnerStopped", "pay_range"]

log = logging.getLogger("zhida.payments")
_ACTIVE = sql_literals(ACTIVE_PAYMENT_STATUSES)
_CREATED = sql_literals([PaymentStatus.CREATED])
_SUBMITTED = sql_literals([PaymentStatus.SUBMITTED])
# Called after each committed pass with (notice kind, payment ids, outbox row id): see service/notices.py.
OnCommitted = Callable[[str, list[int], int], Awaitable[None]]


def memo_for(p: dict) -> str:
    # Part of the signed body, so it must be the same on every retry: derived from the payment only.
    return f"政策直达 {p['policy_code']} #{p['id']}"


def transfer_request(p: dict, opts: RunnerOptions) -> TransferRequest:
    return TransferRequest(
        request_id=p["request_id"],
        payer_account=opts.payer_account,
        payee_account=p["payee_account"],
        payee_name=p["payee_name"],
        amount=fen_to_yuan(p["amount_fen"]),
        memo=memo_for(p),
    )


# Every statement of the runner finds its rows by primary key, its status conditions written ``(status || '') IN
# (…)`` so that they can only filter those rows (see service/outcomes.py).
_RETURNED = (
    "id, batch_id, entitlement_id, version_id, policy_code, subject_kind, subject_id, payee_name, payee_account, "
    "amount_fen, request_id, status, tries, attempt"
)


async def _claim(
    batch_id: int, first_id: int, last_id: int, opts: RunnerOptions
) -> tuple[list[dict[str, Any]], set[int]]:
    """Claim up to ``claim_size`` active payments of the range with a lease and, in the same transaction, mark the
    claimed ``created`` ones "submitted" (the write-ahead that makes crashes safe: it is committed before the first
    call to the bank). Returns the claimed rows (status as before the claim) and the ids that were just submitted."""
    t = now_ms()
    lease = t + int(opts.lease_seconds * 1000)
    select = (
        "SELECT id{} FROM pay_payment WHERE batch_id = {{}} AND id BETWEEN {{}} AND {{}} "
        f"AND (status || '') IN ({_ACTIVE}) AND exception = '' "
        "AND due_ms <= {{}} AND claimed_until_ms < {{}} ORDER BY id LIMIT {{}}"
    )
    at = now()
    if is_postgres():
        # One statement, one new row version: the claim and the write-ahead together. The previous status comes
        # from the locked rows (FOR UPDATE SKIP LOCKED re-reads a row changed concurrently), and the CASEs only move
        # a payment that is still 'created'.
        sql = (
            "UPDATE pay_payment SET claimed_by = {}, claimed_until_ms = {}, "
            f"status = CASE WHEN c.prev = {_CREATED} THEN {_SUBMITTED} ELSE pay_payment.status END, "
            f"submitted_at = CASE WHEN c.prev = {_CREATED} THEN {{}} ELSE pay_payment.submitted_at END, "
            f"tries = CASE WHEN c.prev = {_CREATED} THEN pay_payment.tries + 1 ELSE pay_payment.tries END, "
            f"updated_at = CASE WHEN c.prev = {_CREATED} THEN {{}} ELSE pay_payment.updated_at END "
            f"FROM ({select.format(', status AS prev, tries AS prev_tries')} FOR UPDATE SKIP LOCKED) c "
            "WHERE pay_payment.id = c.id RETURNING "
            + ", ".join(
                f"pay_payment.{c.strip()}" for c in _RETURNED.split(",") if c.strip() not in ("status", "tries")
            )
            + ", c.prev AS status, c.prev_tries AS tries"
        )
        async with transaction():
            rows = await raw(sql, opts.worker, lease, at, at, batch_id, first_id, last_id, t, t, opts.claim_size)
        fresh = {int(r["id"]) for r in rows if r["status"] == PaymentStatus.CREATED}
    else:
        # SQLite: the IMMEDIATE transaction serialises writers, so the two statements are atomic together.
        async with transaction():
            rows = await raw(
                f"UPDATE pay_payment SET claimed_by = {{}}, claimed_until_ms = {{}} WHERE id IN "
                f"({select.format('')}) RETURNING {_RETURNED}",
                opts.worker,
                lease,
                batch_id,
                first_id,
                last_id,
                t,
                t,
                opts.claim_size,
            )
            fresh = await _mark_submitted([r["id"] for r in rows if r["status"] == PaymentStatus.CREATED], opts, at)
    return sorted(rows, key=lambda r: r["id"]), fresh


async def _mark_submitted(ids: list[int], opts: RunnerOptions, at: dt.datetime) -> set[int]:
    """ "submitted" for claimed 'created' payments, in the claim's transaction (SQLite)."""
    if not ids:
        return set()
    marks, args = in_list(ids)
    rows = await raw(
        f"UPDATE pay_payment SET status = {_SUBMITTED}, submitted_at = {{}}, tries = tries + 1, "
        f"updated_at = {{}} WHERE id {marks} AND status = {_CREATED} AND claimed_by = {{}} RETURNING id",
        at,
        at,
        *args,
        opts.worker,
    )
    return {int(r["id"]) for r in rows}


async def _work(
    adapter: BankAdapter, p: dict[str, Any], fresh: bool, opts: RunnerOptions, sem: asyncio.Semaphore
) -> Outcome:
    async with sem:
        try:
            if not fresh:
                # A previous try may have reached the bank: ask before anything is sent again.
                found = await adapter.query(p["request_id"])
                if found is not None:
                    return Outcome(p, "answer", found)
                if p["status"] == PaymentStatus.ACCEPTED:
                    return Outcome(p, "hold", reason="BANK_LOST_ACCEPTED")
            return Outcome(p, "answer", await adapter.submit(transfer_request(p, opts)))
        except BankRateLimited as exc:
            return Outcome(p, "transient", retry_after=exc.retry_after)
        except BankTransient:
            return Outcome(p, "transient")
        except BankOutcomeUnknown:
            return Outcome(p, "unknown")
        except BankConflict:
            return Outcome(p, "hold", reason="IDEMPOTENCY_CONFLICT")
        except BankAuthError:
            return Outcome(p, "auth")
        except BankError as exc:  # BankBadRequest and anything new: a person must look at it
            log.error("payment %s held: %s", p["id"], exc.message)
            return Outcome(p, "hold", reason="BANK_REFUSED_REQUEST")


async def pay_range(
    adapter: BankAdapter,
    batch_id: int,
    first_id: int,
    last_id: int,
    *,
    opts: RunnerOptions,
    actor: Actor,
    on_committed: OnCommitted | None = None,
) -> RangeResult:
    """Work on the active payments of a batch with ids in [first_id, last_id] until none is left or the time budget
    is spent. ``on_committed(kind, payment_ids, outbox_id)`` is awaited after each commit (notices owed, see
    service/notices.py)."""
    total = RangeResult()
    started = time.monotonic()
    sem = asyncio.Semaphore(opts.concurrency)
    while True:
        claimed, fresh = await _claim(batch_id, first_id, last_id, opts)
        if claimed:
            work = [p for p in claimed if p["status"] != PaymentStatus.CREATED or p["id"] in fresh]
            outcomes = await asyncio.gather(*(_work(adapter, p, p["id"] in fresh, opts, sem) for p in work))
            res = await record_pass(list(outcomes), opts, actor)
            total.processed += res.processed
            total.settled += res.settled
            total.rejected += res.rejected
            if on_committed is not None:
                for kind, ids, outbox_id in res.notices:
                    await on_committed(kind, ids, outbox_id)
            continue
        pending, next_due = await _pending(batch_id, first_id, last_id)
        total.pending = pending
        if not pending:
            await finish_if_done(batch_id, actor=actor)
            return total
        if time.monotonic() - started > opts.time_budget_seconds:
            return total
        wait = max(0.02, min(1.0, (next_due - now_ms()) / 1000 if next_due else 0.2))
        await asyncio.sleep(wait)


async def _pending(batch_id: int, first_id: int, last_id: int) -> tuple[int, int | None]:
    """Active payments left in the range (not held), and when the soonest may be worked on again."""
    rows = await raw(
        "SELECT COUNT(*) AS n, MIN(CASE WHEN claimed_until_ms > due_ms THEN claimed_until_ms ELSE due_ms END)"
        " AS due FROM pay_payment WHERE batch_id = {} AND id BETWEEN {} AND {} "
        f"AND (status || '') IN ({_ACTIVE}) AND exception = ''",
        batch_id,
        first_id,
        last_id,
    )
    n = int(rows[0]["n"])
    return n, (int(rows[0]["due"]) if rows[0]["due"] is not None else None)
