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
import logging
import os
import time
import uuid
from dataclasses import dataclass, field

from kit.time import CHINA
from payments.adapters.base import (
    BankAuthError,
    BankConflict,
    BankError,
    BankOutcomeUnknown,
    BankRateLimited,
    BankTransient,
    TransferRequest,
    TransferResult,
)
from payments.errors import PaymentsError
from payments.money import fen_to_yuan
from payments.service import ledger
from payments.service.audit import AuditChange
from payments.service.db import in_list, is_postgres, now, now_ms, raw, transaction, values_cte
from payments.service.ledger import EntryType, Move
from payments.service.receipts import settlement_receipts

log = logging.getLogger("zhida.payments")
BANK_TZ = CHINA  # the bank's and the receipts' time: China's
ACTIVE = ("created", "submitted", "accepted", "unknown")
FINAL = ("settled", "rejected", "returned", "void")


@dataclass
class RunnerOptions:
    """How a runner works; every knob has a safe default (tests and the benchmark tune some)."""

    payer_account: str
    payer_name: str = ""
    concurrency: int = 64  # bank calls in flight per runner
    claim_size: int = 400  # payments per claim
    lease_seconds: float = 30.0  # a claim not released by then may be taken by another worker
    poll_seconds: float = 0.2  # first wait before asking again about an accepted payment
    max_backoff_seconds: float = 30.0
    time_budget_seconds: float = 120.0  # a job hands over to a continuation job after this
    worker: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")


class RunnerStopped(PaymentsError):
    """The bank refuses our credentials: nothing more can be paid until the configuration is fixed."""

    status = 503


@dataclass
class Outcome:
    payment: dict
    kind: str  # answer | transient | unknown | hold | auth
    result: TransferResult | None = None
    retry_after: float = 0.0
    reason: str = ""


@dataclass
class RangeResult:
    processed: int = 0
    settled: int = 0
    rejected: int = 0
    pending: int = 0  # still active (not final) in the range when the runner stopped
    # (kind, payment ids, outbox row id) to notify after commit; the outbox row was written with the change
    notices: list[tuple[str, list[int], int]] = field(default_factory=list)


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


# Every statement of the runner finds its rows by primary key (an id range, or the ids it holds: ``_keys``). Its status
# conditions are written ``(status || '') IN (…)`` so that they can only filter those rows: as plain ``status IN``
# the planner may drive the statement by the status index instead, whenever the statistics say few rows have that
# status (they lag behind a batch whose payments all change status within minutes), and then each statement of a
# 260,000-payment batch visits every payment of that status: its cost grows with the batch, not with its group.
_RETURNED = (
    "id, batch_id, entitlement_id, version_id, policy_code, subject_kind, subject_id, payee_name, payee_account, "
    "amount_fen, request_id, status, tries, attempt"
)


async def _claim(batch_id: int, first_id: int, last_id: int, opts: RunnerOptions) -> tuple[list[dict], set[int]]:
    """Claim up to ``claim_size`` active payments of the range with a lease and, in the same transaction, mark the
    claimed ``created`` ones "submitted" (the write-ahead that makes crashes safe: it is committed before the first
    call to the bank). Returns the claimed rows (status as before the claim) and the ids that were just submitted."""
    t = now_ms()
    lease = t + int(opts.lease_seconds * 1000)
    select = (
        "SELECT id{} FROM pay_payment WHERE batch_id = {{}} AND id BETWEEN {{}} AND {{}} "
        "AND (status || '') IN ('created', 'submitted', 'accepted', 'unknown') AND exception = '' "
        "AND due_ms <= {{}} AND claimed_until_ms < {{}} ORDER BY id LIMIT {{}}"
    )
    at = now()
    if is_postgres():
        # One statement, one new row version: the claim and the write-ahead together. The previous status comes
        # from the locked rows (FOR UPDATE SKIP LOCKED re-reads a row changed concurrently), and the CASEs only move
        # a payment that is still 'created'.
        sql = (
            "UPDATE pay_payment SET claimed_by = {}, claimed_until_ms = {}, "
            "status = CASE WHEN c.prev = 'created' THEN 'submitted' ELSE pay_payment.status END, "
            "submitted_at = CASE WHEN c.prev = 'created' THEN {} ELSE pay_payment.submitted_at END, "
            "tries = CASE WHEN c.prev = 'created' THEN pay_payment.tries + 1 ELSE pay_payment.tries END, "
            "updated_at = CASE WHEN c.prev = 'created' THEN {} ELSE pay_payment.updated_at END "
            f"FROM ({select.format(', status AS prev, tries AS prev_tries')} FOR UPDATE SKIP LOCKED) c "
            "WHERE pay_payment.id = c.id RETURNING "
            + ", ".join(
                f"pay_payment.{c.strip()}" for c in _RETURNED.split(",") if c.strip() not in ("status", "tries")
            )
            + ", c.prev AS status, c.prev_tries AS tries"
        )
        async with transaction():
            rows = await raw(sql, opts.worker, lease, at, at, batch_id, first_id, last_id, t, t, opts.claim_size)
        fresh = {int(r["id"]) for r in rows if r["status"] == "created"}
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
            fresh = await _mark_submitted([r["id"] for r in rows if r["status"] == "created"], opts, at)
    return sorted(rows, key=lambda r: r["id"]), fresh


async def _mark_submitted(ids: list[int], opts: RunnerOptions, at) -> set[int]:
    """ "submitted" for claimed 'created' payments, in the claim's transaction (SQLite)."""
    if not ids:
        return set()
    marks, args = in_list(ids)
    rows = await raw(
        f"UPDATE pay_payment SET status = 'submitted', submitted_at = {{}}, tries = tries + 1, "
        f"updated_at = {{}} WHERE id {marks} AND status = 'created' AND claimed_by = {{}} RETURNING id",
        at,
        at,
        *args,
        opts.worker,
    )
    return {int(r["id"]) for r in rows}


async def _work(adapter, p: dict, fresh: bool, opts: RunnerOptions, sem: asyncio.Semaphore) -> Outcome:
    async with sem:
        try:
            if not fresh:
                # A previous try may have reached the bank: ask before anything is sent again.
                found = await adapter.query(p["request_id"])
                if found is not None:
                    return Outcome(p, "answer", found)
                if p["status"] == "accepted":
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


def _backoff_ms(tries: int, opts: RunnerOptions, retry_after: float = 0.0) -> int:
    return int(max(retry_after, min(opts.max_backoff_seconds, 0.1 * 2 ** min(tries, 10))) * 1000)


def _keys(group: list[Outcome]) -> tuple[str, list]:
    """The group's payment ids as a condition on the primary key: with it the planner looks the rows up by id
    whatever its statistics say (joined only through the VALUES/unnest list, it may scan and hash the table)."""
    return in_list([o.payment["id"] for o in group])


async def _has_leg(payment_ids: list[int], entry_type: str, account: str) -> set[int]:
    if not payment_ids:
        return set()
    marks, args = in_list(payment_ids)
    rows = await raw(
        f"SELECT payment_id FROM pay_ledger_entry WHERE entry_type = {{}} AND account = {{}} AND payment_id {marks}",
        entry_type,
        account,
        *args,
    )
    return {int(r["payment_id"]) for r in rows}


def _legs(payments: list[dict], in_transit: set[int], *then: EntryType) -> list[Move]:
    """Each payment's journals: the payment leg (committed → in transit) unless it is in transit already, then
    ``then`` in order (settlement; settlement and return for one the bank settled and sent back)."""
    return [
        Move.of_payment(t, p)
        for p in payments
        for t in ([EntryType.payment] if p["id"] not in in_transit else []) + list(then)
    ]


def _group_change(action: str, status: str, items: list[tuple[dict, str]]) -> AuditChange | None:
    """One audit entry for a group of payments that changed alike in one pass (the chain appends in batches):
    ``after`` (hashed) binds every payment id, amount and bank reference; ``detail`` names the payments."""
    if not items:
        return None
    ids = [p["id"] for p, _ in items]
    return AuditChange(
        action,
        "batch",
        items[0][0]["batch_id"],
        None,
        {"status": status, "payments": [[p["id"], p["amount_fen"], p["request_id"], ref] for p, ref in items]},
        {"payments": ids, "count": len(ids), "total_fen": sum(p["amount_fen"] for p, _ in items)},
    )


async def _record(outcomes: list[Outcome], opts: RunnerOptions, actor) -> RangeResult:
    """Write every outcome of one pass in one transaction: states, ledger, receipts, audit."""
    res = RangeResult(processed=len(outcomes))
    t = now_ms()
    at = now()
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        key = o.kind if o.kind != "answer" else o.result.status
        if key == "accepted" and o.payment["status"] == "accepted":
            key = "still_accepted"
        groups.setdefault(key, []).append(o)
    changes: list[AuditChange] = []
    async with transaction():
        settled = groups.get("settled", [])
        if settled:
            day = at.astimezone(BANK_TZ).date().isoformat()
            cte, args = values_cte([(o.payment["id"], o.result.transfer_id) for o in settled], "pid, tid")
            keys, kargs = _keys(settled)
            done = await raw(
                cte + " UPDATE pay_payment SET status = 'settled', bank_transfer_id = v.tid, "
                "settled_at = {}, settled_on = {}, claimed_by = NULL, claimed_until_ms = 0, updated_at = {} "
                "FROM v WHERE pay_payment.id = v.pid AND (pay_payment.status || '') IN ('submitted', 'accepted', "
                f"'unknown') AND pay_payment.id {keys} RETURNING id",
                *args,
                at,
                day,
                at,
                *kargs,
            )
            done_ids = {int(r["id"]) for r in done}
            mine = [o for o in settled if o.payment["id"] in done_ids]
            in_transit = await _has_leg(list(done_ids), "payment", "in_transit")
            await ledger.post(_legs([o.payment for o in mine], in_transit, EntryType.settlement))
            if mine:
                marks, eargs = in_list([o.payment["entitlement_id"] for o in mine])
                await raw(f"UPDATE pay_entitlement SET state = 'paid', updated_at = {{}} WHERE id {marks}", at, *eargs)
                await settlement_receipts([(o.payment, o.result.transfer_id) for o in mine], at, opts)
            changes.append(
                _group_change("payment.settle", "settled", [(o.payment, o.result.transfer_id) for o in mine])
            )
            res.settled = len(mine)
            res.notices.append(("money_arrived", [o.payment["id"] for o in mine]))
        accepted = groups.get("accepted", [])
        if accepted:
            cte, args = values_cte([(o.payment["id"], o.result.transfer_id) for o in accepted], "pid, tid")
            keys, kargs = _keys(accepted)
            done = await raw(
                cte + " UPDATE pay_payment SET status = 'accepted', bank_transfer_id = v.tid, due_ms = {}, "
                "claimed_by = NULL, claimed_until_ms = 0, updated_at = {} FROM v WHERE pay_payment.id = v.pid "
                f"AND (pay_payment.status || '') IN ('submitted', 'unknown') AND pay_payment.id {keys} RETURNING id",
                *args,
                t + int(opts.poll_seconds * 1000),
                at,
                *kargs,
            )
            done_ids = {int(r["id"]) for r in done}
            in_transit = await _has_leg(list(done_ids), "payment", "in_transit")
            mine = [o.payment for o in accepted if o.payment["id"] in done_ids]
            await ledger.post(_legs(mine, in_transit))
            changes.append(
                _group_change(
                    "payment.accept",
                    "accepted",
                    [(o.payment, o.result.transfer_id) for o in accepted if o.payment["id"] in done_ids],
                )
            )
            res.notices.append(("payment_sent", [p["id"] for p in mine]))
        rejected = groups.get("rejected", [])
        if rejected:
            cte, args = values_cte(
                [(o.payment["id"], o.result.transfer_id or "", (o.result.reason or "REJECTED")[:64]) for o in rejected],
                "pid, tid, why",
            )
            keys, kargs = _keys(rejected)
            done = await raw(
                cte + " UPDATE pay_payment SET status = 'rejected', bank_transfer_id = v.tid, reason = v.why, "
                "exception = 'open', claimed_by = NULL, claimed_until_ms = 0, updated_at = {} FROM v "
                "WHERE pay_payment.id = v.pid AND (pay_payment.status || '') IN ('submitted', 'accepted', 'unknown') "
                f"AND pay_payment.id {keys} RETURNING id",
                *args,
                at,
                *kargs,
            )
            done_ids = {int(r["id"]) for r in done}
            in_transit = await _has_leg(list(done_ids), "payment", "in_transit")
            mine = [o for o in rejected if o.payment["id"] in done_ids]
            # Taken then refused: the money comes back from the bank to the reservation, kept for a re-issue.
            await ledger.post(
                Move(
                    EntryType.return_,
                    o.payment["version_id"],
                    o.payment["amount_fen"],
                    batch_id=o.payment["batch_id"],
                    payment_id=o.payment["id"],
                    credit_account="in_transit",
                )
                for o in mine
                if o.payment["id"] in in_transit
            )
            changes.append(
                _group_change("payment.reject", "rejected", [(o.payment, o.result.reason or "REJECTED") for o in mine])
            )
            res.rejected = len(mine)
            res.notices.append(("payment_returned", [o.payment["id"] for o in mine]))
        reversed_ = groups.get("reversed", [])
        if reversed_:
            # The bank settled it and sent it back (退汇) before we learnt the outcome (e.g. it was unknown): the money
            # moved and returned. Recorded as settled then returned, into the exceptions queue like a recorded return.
            cte, args = values_cte([(o.payment["id"], o.result.transfer_id) for o in reversed_], "pid, tid")
            keys, kargs = _keys(reversed_)
            done = await raw(
                cte + " UPDATE pay_payment SET status = 'returned', bank_transfer_id = v.tid, "
                "reason = 'RETURNED', exception = 'open', claimed_by = NULL, claimed_until_ms = 0, "
                "updated_at = {} FROM v WHERE pay_payment.id = v.pid AND (pay_payment.status || '') IN "
                f"('submitted', 'accepted', 'unknown') AND pay_payment.id {keys} RETURNING id",
                *args,
                at,
                *kargs,
            )
            done_ids = {int(r["id"]) for r in done}
            mine = [o.payment for o in reversed_ if o.payment["id"] in done_ids]
            in_transit = await _has_leg(list(done_ids), "payment", "in_transit")
            await ledger.post(_legs(mine, in_transit, EntryType.settlement, EntryType.return_))
            changes.append(
                _group_change(
                    "payment.return",
                    "returned",
                    [(o.payment, o.result.transfer_id) for o in reversed_ if o.payment["id"] in done_ids],
                )
            )
            res.notices.append(("payment_returned", [p["id"] for p in mine]))
        for key in ("transient", "unknown", "still_accepted", "auth"):
            group = groups.get(key, [])
            if not group:
                continue
            status_sql = ", status = 'unknown'" if key == "unknown" else ""
            rows = [
                (
                    o.payment["id"],
                    t
                    + (
                        int(opts.poll_seconds * 1000 * min(2 ** min(o.payment["tries"], 5), 25))
                        if key == "still_accepted"
                        else _backoff_ms(o.payment["tries"], opts, o.retry_after)
                    ),
                )
                for o in group
            ]
            cte, args = values_cte(rows, "pid, due")
            keys, kargs = _keys(group)
            await raw(
                cte + f" UPDATE pay_payment SET due_ms = v.due, tries = tries + 1, claimed_by = NULL, "
                f"claimed_until_ms = 0, updated_at = {{}}{status_sql} FROM v WHERE pay_payment.id = v.pid "
                f"AND (pay_payment.status || '') IN ('submitted', 'accepted', 'unknown') AND pay_payment.id {keys}",
                *args,
                at,
                *kargs,
            )
            if key == "unknown":
                changes.append(_group_change("payment.outcome_unknown", "unknown", [(o.payment, "") for o in group]))
        held = groups.get("hold", [])
        if held:
            cte, args = values_cte([(o.payment["id"], o.reason) for o in held], "pid, why")
            keys, kargs = _keys(held)
            await raw(
                cte + " UPDATE pay_payment SET exception = 'open', reason = v.why, claimed_by = NULL, "
                "claimed_until_ms = 0, updated_at = {} FROM v WHERE pay_payment.id = v.pid "
                f"AND (pay_payment.status || '') IN ('submitted', 'accepted', 'unknown') AND pay_payment.id {keys}",
                *args,
                at,
                *kargs,
            )
            changes.append(_group_change("payment.hold", "held", [(o.payment, o.reason) for o in held]))
        await actor.record_many([c for c in changes if c is not None])
        res.notices = await owe_notices(res.notices, at)
    if "auth" in groups:
        raise RunnerStopped(
            "the bank refuses our signature (ZHIDA_BANK_SECRET wrong, or the clock is more than "
            "300 s off): payments are paused, nothing was lost"
        )
    return res


async def owe_notices(notices: list[tuple[str, list[int]]], at) -> list[tuple[str, list[int], int]]:
    """The notices owed for this pass, as outbox rows in the pass's own transaction (see service/notices.py)."""
    owed = [(kind, ids) for kind, ids in notices if ids]
    if not owed:
        return []
    rows = await raw(
        "INSERT INTO pay_notice_outbox (kind, payment_ids, created_at) VALUES "
        + ", ".join("({}, {}, {})" for _ in owed)
        + " RETURNING id, kind",
        *(v for kind, ids in owed for v in (kind, ",".join(map(str, ids)), at)),
    )
    ids_of = {r["kind"]: int(r["id"]) for r in rows}  # one row per kind and pass
    return [(kind, ids, ids_of[kind]) for kind, ids in owed]


async def pay_range(
    adapter, batch_id: int, first_id: int, last_id: int, *, opts: RunnerOptions, actor, on_committed=None
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
            work = [p for p in claimed if p["status"] != "created" or p["id"] in fresh]
            outcomes = await asyncio.gather(*(_work(adapter, p, p["id"] in fresh, opts, sem) for p in work))
            res = await _record(list(outcomes), opts, actor)
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
            from payments.service.runs import finish_if_done

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
        "AND (status || '') IN ('created', 'submitted', 'accepted', 'unknown') AND exception = ''",
        batch_id,
        first_id,
        last_id,
    )
    n = int(rows[0]["n"])
    return n, (int(rows[0]["due"]) if rows[0]["due"] is not None else None)
