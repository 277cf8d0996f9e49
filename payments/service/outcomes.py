"""Writing one pass of the payment runner: what each kind of outcome does to its payments is one row of TRANSITIONS
(new status, ledger journals, audit entry, notice), applied to each group by one function, all in one transaction.

Every UPDATE is conditional on the status the payment may move on from, and finds its rows by primary key (the ids
the pass holds). Its status condition is written ``(status || '') IN (…)`` so that it can only filter those rows: as
plain ``status IN`` the planner may drive the statement by the status index instead, whenever the statistics say few
rows have that status (they lag behind a batch whose payments all change status within minutes), and then each
statement of a 260,000-payment batch visits every payment of that status: its cost grows with the batch, not with
its group. A late second writer changes nothing, and the ledger's unique keys refuse a second posting of the same leg.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from kit.audit import Actor, Change
from kit.db import in_list, raw, sql_literals, transaction, values_cte
from kit.i18n import _l
from kit.metrics import PAYMENT_OUTCOMES
from kit.time import CHINA, now, now_ms
from kit.vocab import ACTIVE_PAYMENT_STATUSES, EntitlementState, PaymentException, PaymentStatus
from payments.adapters.base import TransferResult
from payments.errors import PaymentsError
from payments.service import ledger
from payments.service.ledger import EntryType, Move
from payments.service.notices import owe_notices
from payments.service.options import RunnerOptions
from payments.service.receipts import settlement_receipts

BANK_TZ = CHINA  # the bank's and the receipts' time: China's
# Sent to the bank at least once: the statuses an answer moves a payment on from.
SENT: tuple[PaymentStatus, ...] = tuple(s for s in ACTIVE_PAYMENT_STATUSES if s != PaymentStatus.CREATED)
_OPEN = f"exception = {sql_literals([PaymentException.OPEN])}"

OutcomeKind = Literal["answer", "transient", "unknown", "hold", "auth"]


class RunnerStopped(PaymentsError):
    """The bank refuses our credentials: nothing more can be paid until the configuration is fixed."""

    status = 503


@dataclass
class Outcome:
    """What one bank call (or the decision not to make one) came to for one claimed payment."""

    payment: dict[str, Any]
    kind: OutcomeKind
    result: TransferResult | None = None
    retry_after: float = 0.0
    reason: str = ""

    @property
    def answer(self) -> TransferResult:
        if self.result is None:
            raise ValueError(f"payment {self.payment['id']}: a {self.kind} outcome carries no answer of the bank")
        return self.result


@dataclass
class RangeResult:
    processed: int = 0
    settled: int = 0
    rejected: int = 0
    pending: int = 0  # still active (not final) in the range when the runner stopped
    # (kind, payment ids, outbox row id) to notify after commit; the outbox row was written with the change
    notices: list[tuple[str, list[int], int]] = field(default_factory=list)


@dataclass(frozen=True)
class Pass:
    """When a pass is written (one instant for all its groups), and how the runner works."""

    at: dt.datetime
    t: int  # the same instant in epoch milliseconds, for due times
    opts: RunnerOptions

    @property
    def day(self) -> str:
        return self.at.astimezone(BANK_TZ).date().isoformat()


def _no_columns(c: Pass) -> dict[str, Any]:
    return {}


def _no_ref(o: Outcome) -> str:
    return ""


@dataclass(frozen=True)
class Transition:
    """What one kind of outcome does to its group of payments."""

    status: PaymentStatus | None  # the new status (None: it stays)
    per_payment: Callable[[Outcome, Pass], dict[str, str | int]]  # columns set from each outcome
    shared: Callable[[Pass], dict[str, Any]] = _no_columns  # columns set to one value for the group
    sql: tuple[str, ...] = ()  # further SET clauses
    moves_from: tuple[PaymentStatus, ...] = SENT
    # An answer of the bank: only the payments its UPDATE moved go on (ledger, audit, notice); a second writer's
    # copy of the same answer finds them moved already and does nothing.
    answer: bool = False
    legs: Callable[[list[dict[str, Any]], set[int]], Iterable[Move]] | None = None  # (payments, ids in transit)
    then: Callable[[list[Outcome], Pass], Awaitable[None]] | None = None
    audit: tuple[str, str] | None = None  # (action, status) of the group's one audit entry
    ref: Callable[[Outcome], str] = _no_ref  # what the audit entry binds to each payment besides its id and amount
    notice: str | None = None
    counts: Literal["settled", "rejected"] | None = None


def _backoff_ms(tries: int, opts: RunnerOptions, retry_after: float = 0.0) -> int:
    return int(max(retry_after, min(opts.max_backoff_seconds, 0.1 * 2 ** min(tries, 10))) * 1000)


def _retry(o: Outcome, c: Pass) -> dict[str, str | int]:
    return {"due_ms": c.t + _backoff_ms(o.payment["tries"], c.opts, o.retry_after)}


def _poll_again(o: Outcome, c: Pass) -> dict[str, str | int]:
    # Accepted, not settled yet: ask again later, less often the longer it takes.
    return {"due_ms": c.t + int(c.opts.poll_seconds * 1000 * min(2 ** min(o.payment["tries"], 5), 25))}


def _transfer_id(o: Outcome, c: Pass) -> dict[str, str | int]:
    return {"bank_transfer_id": o.answer.transfer_id}


def _legs(*then: EntryType) -> Callable[[list[dict[str, Any]], set[int]], list[Move]]:
    """Each payment's journals: the payment leg (committed → in transit) unless it is in transit already, then
    ``then`` in order (settlement; settlement and return for one the bank settled and sent back)."""

    def legs(payments: list[dict[str, Any]], in_transit: set[int]) -> list[Move]:
        return [
            Move.of_payment(t, p)
            for p in payments
            for t in ([EntryType.payment] if p["id"] not in in_transit else []) + list(then)
        ]

    return legs


def _back_from_bank(payments: list[dict[str, Any]], in_transit: set[int]) -> list[Move]:
    # Taken then refused: the money comes back from the bank to the reservation, kept for a re-issue.
    return [
        Move(
            EntryType.return_,
            p["version_id"],
            p["amount_fen"],
            batch_id=p["batch_id"],
            payment_id=p["id"],
            credit_account="in_transit",
        )
        for p in payments
        if p["id"] in in_transit
    ]


async def _paid(settled: list[Outcome], c: Pass) -> None:
    """The entitlements of settled payments are paid; each payment's receipt record is written with it."""
    marks, args = in_list([o.payment["entitlement_id"] for o in settled])
    await raw(
        f"UPDATE pay_entitlement SET state = {sql_literals([EntitlementState.PAID])}, updated_at = {{}} "
        f"WHERE id {marks}",
        c.at,
        *args,
    )
    await settlement_receipts([(o.payment, o.answer.transfer_id) for o in settled], c.at, c.opts)


# The group of an outcome: the bank's answer (its status), or what happened instead; in the order they are written.
TRANSITIONS: dict[str, Transition] = {
    "settled": Transition(
        PaymentStatus.SETTLED,
        _transfer_id,
        shared=lambda c: {"settled_at": c.at, "settled_on": c.day},
        answer=True,
        legs=_legs(EntryType.settlement),
        then=_paid,
        audit=("payment.settle", PaymentStatus.SETTLED),
        ref=lambda o: o.answer.transfer_id,
        notice="money_arrived",
        counts="settled",
    ),
    "accepted": Transition(
        PaymentStatus.ACCEPTED,
        _transfer_id,
        shared=lambda c: {"due_ms": c.t + int(c.opts.poll_seconds * 1000)},
        moves_from=(PaymentStatus.SUBMITTED, PaymentStatus.UNKNOWN),
        answer=True,
        legs=_legs(),
        audit=("payment.accept", PaymentStatus.ACCEPTED),
        ref=lambda o: o.answer.transfer_id,
        notice="payment_sent",
    ),
    "rejected": Transition(
        PaymentStatus.REJECTED,
        lambda o, c: {"bank_transfer_id": o.answer.transfer_id or "", "reason": (o.answer.reason or "REJECTED")[:64]},
        sql=(_OPEN,),
        answer=True,
        legs=_back_from_bank,
        audit=("payment.reject", PaymentStatus.REJECTED),
        ref=lambda o: o.answer.reason or "REJECTED",
        notice="payment_returned",
        counts="rejected",
    ),
    # The bank settled it and sent it back (退汇) before we learnt the outcome (e.g. it was unknown): the money moved
    # and returned. Recorded as settled then returned, into the exceptions queue like a recorded return.
    "reversed": Transition(
        PaymentStatus.RETURNED,
        _transfer_id,
        sql=("reason = 'RETURNED'", _OPEN),
        answer=True,
        legs=_legs(EntryType.settlement, EntryType.return_),
        audit=("payment.return", PaymentStatus.RETURNED),
        ref=lambda o: o.answer.transfer_id,
        notice="payment_returned",
    ),
    "transient": Transition(None, _retry, sql=("tries = tries + 1",)),
    "unknown": Transition(
        PaymentStatus.UNKNOWN,
        _retry,
        sql=("tries = tries + 1",),
        audit=("payment.outcome_unknown", PaymentStatus.UNKNOWN),
    ),
    "still_accepted": Transition(None, _poll_again, sql=("tries = tries + 1",)),
    "auth": Transition(None, _retry, sql=("tries = tries + 1",)),
    # A person must look at it (the bank refused the request itself, or lost a payment it had accepted).
    "hold": Transition(
        None,
        lambda o, c: {"reason": o.reason},
        sql=(_OPEN,),
        audit=("payment.hold", "held"),  # not a status: the payment stays where it was
        ref=lambda o: o.reason,
    ),
}


def _groups(outcomes: list[Outcome]) -> dict[str, list[Outcome]]:
    groups: dict[str, list[Outcome]] = {}
    for o in outcomes:
        key: str = o.kind if o.kind != "answer" else o.answer.status
        if key == "accepted" and o.payment["status"] == PaymentStatus.ACCEPTED:
            key = "still_accepted"
        groups.setdefault(key, []).append(o)
    return groups


async def _apply(rule: Transition, group: list[Outcome], c: Pass) -> list[Outcome]:
    """One set-based UPDATE of the group's payments still where the outcome found them. Returns the payments that
    go on: for an answer, those the UPDATE moved; otherwise the whole group."""
    values = [rule.per_payment(o, c) for o in group]
    names = list(values[0])
    cte, args = values_cte([(o.payment["id"], *v.values()) for o, v in zip(group, values)], ", ".join(["pid", *names]))
    shared = rule.shared(c)
    sets = (
        [f"{n} = v.{n}" for n in names]
        + [f"{n} = {{}}" for n in shared]
        + ([f"status = {sql_literals([rule.status])}"] if rule.status is not None else [])
        + list(rule.sql)
        + ["claimed_by = NULL", "claimed_until_ms = 0", "updated_at = {}"]
    )
    keys, key_args = in_list([o.payment["id"] for o in group])
    rows = await raw(
        f"{cte} UPDATE pay_payment SET {', '.join(sets)} FROM v WHERE pay_payment.id = v.pid "
        f"AND (pay_payment.status || '') IN ({sql_literals(rule.moves_from)}) AND pay_payment.id {keys}"
        + (" RETURNING id" if rule.answer else ""),
        *args,
        *shared.values(),
        c.at,
        *key_args,
    )
    if not rule.answer:
        return group
    moved = {int(r["id"]) for r in rows}
    return [o for o in group if o.payment["id"] in moved]


async def _in_transit(payment_ids: list[int]) -> set[int]:
    """The payments whose payment leg (committed → in transit) is posted already."""
    if not payment_ids:
        return set()
    marks, args = in_list(payment_ids)
    rows = await raw(
        f"SELECT payment_id FROM pay_ledger_entry WHERE entry_type = {{}} AND account = {{}} AND payment_id {marks}",
        "payment",
        "in_transit",
        *args,
    )
    return {int(r["payment_id"]) for r in rows}


def _group_change(action: str, status: str, items: list[tuple[dict[str, Any], str]]) -> Change | None:
    """One audit entry for a group of payments that changed alike in one pass (the chain appends in batches):
    ``after`` (hashed) binds every payment id, amount and bank reference; ``detail`` names the payments."""
    if not items:
        return None
    ids = [p["id"] for p, _ in items]
    return Change(
        action,
        "batch",
        str(items[0][0]["batch_id"]),
        None,
        {"status": status, "payments": [[p["id"], p["amount_fen"], p["request_id"], ref] for p, ref in items]},
        {"payments": ids, "count": len(ids), "total_fen": sum(p["amount_fen"] for p, _ in items)},
    )


async def record_pass(outcomes: list[Outcome], opts: RunnerOptions, actor: Actor) -> RangeResult:
    """Write every outcome of one pass in one transaction: states, ledger, receipts, audit, notices owed."""
    res = RangeResult(processed=len(outcomes))
    c = Pass(at=now(), t=now_ms(), opts=opts)
    groups = _groups(outcomes)
    changes: list[Change | None] = []
    owed: list[tuple[str, list[int]]] = []
    moved: dict[str, int] = {}
    async with transaction():
        for key, rule in TRANSITIONS.items():
            group = groups.get(key)
            if not group:
                continue
            going_on = await _apply(rule, group, c)
            if rule.status is not None and going_on:
                moved[rule.status] = moved.get(rule.status, 0) + len(going_on)
            payments = [o.payment for o in going_on]
            if rule.legs is not None:
                await ledger.post(rule.legs(payments, await _in_transit([p["id"] for p in payments])))
            if rule.then is not None and going_on:
                await rule.then(going_on, c)
            if rule.audit is not None:
                changes.append(_group_change(*rule.audit, [(o.payment, rule.ref(o)) for o in going_on]))
            if rule.counts is not None:
                setattr(res, rule.counts, len(going_on))
            if rule.notice is not None:
                owed.append((rule.notice, [p["id"] for p in payments]))
        await actor.record_many([ch for ch in changes if ch is not None])
        res.notices = await owe_notices(owed, c.at)
    for status, n in moved.items():  # counted once committed
        PAYMENT_OUTCOMES.labels(status).inc(n)
    if "auth" in groups:
        raise RunnerStopped(
            _l(
                "the bank refuses our signature (ZHIDA_BANK_SECRET wrong, or the clock is more than 300 s off): payments are paused, nothing was lost"
            )
        )
    return res
