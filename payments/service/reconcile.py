"""Reconciliation (对账): the bank's statement of a date against our ledger; every difference is stored and shown,
none is ever "fixed" here (a person decides, e.g. records a return)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kit.audit import Actor
from kit.db import in_list, raw, transaction
from kit.money import fen_to_yuan, yuan_to_fen
from kit.paging import Page, PageRequest, Sorts, chunks, fetch_page
from kit.time import now
from kit.vocab import PaymentStatus
from payments.adapters.base import BankAdapter, StatementLine
from payments.schemas import mask_account
from payments.tables import ReconciliationDifference, ReconciliationRun

KINDS = (
    "missing_at_bank",
    "unknown_to_us",
    "amount_differs",
    "status_differs",
    "duplicate_at_bank",
    "transfer_differs",
    "account_differs",
)
_PAYMENT_SELECT = "SELECT id, request_id, status, amount_fen, bank_transfer_id, payee_account FROM pay_payment"


@dataclass
class Difference:
    kind: str
    request_id: str = ""
    transfer_id: str = ""
    payment_id: int | None = None
    bank_amount_fen: int | None = None
    ledger_amount_fen: int | None = None
    detail: str = ""


@dataclass
class ReconciliationResult:
    run_id: int
    date: dt.date
    matched: int
    bank_lines: int
    ledger_lines: int
    differences: list[Difference] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences


async def _payments_by_request(request_ids: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(request_ids), 5000):
        part = request_ids[i : i + 5000]
        marks, args = in_list(part)
        for r in await raw(f"{_PAYMENT_SELECT} WHERE request_id {marks}", *args):
            out[r["request_id"]] = r
    return out


async def _paid_in_ledger(payment_ids: list[int]) -> dict[int, int]:
    """Gross settled fen per payment from the ledger (settlement legs into paid), what we say we paid."""
    out: dict[int, int] = {}
    for i in range(0, len(payment_ids), 5000):
        part = payment_ids[i : i + 5000]
        marks, args = in_list(part)
        for r in await raw(
            f"SELECT payment_id, SUM(amount_fen) AS total FROM pay_ledger_entry WHERE account = 'paid' "
            f"AND entry_type = 'settlement' AND payment_id {marks} GROUP BY payment_id",
            *args,
        ):
            out[int(r["payment_id"])] = int(r["total"])
    return out


def _line_difference(
    line: StatementLine, p: dict[str, Any], bank_fen: int, ours_fen: int | None, booked: set[tuple[str, str]]
) -> tuple[str, int | None, str] | None:
    """What is wrong with one statement line of a payment of ours, as (kind, our amount, detail); None if it matches.
    ``ours_fen`` is what the ledger says we paid; ``booked`` the (request, status) pairs seen so far on the statement."""
    if line.status not in ("settled", "reversed"):
        return "status_differs", ours_fen, f"the bank's statement says {line.status!r}, neither settled nor reversed"
    if (line.request_id, line.status) in booked:  # one request is one transfer: a second line moved money twice
        return (
            "duplicate_at_bank",
            ours_fen,
            f"the bank's statement shows this request {line.status} more than once "
            f"(transfer {line.transfer_id}): the payee may have been paid twice",
        )
    booked.add((line.request_id, line.status))
    if p["bank_transfer_id"] and line.transfer_id != p["bank_transfer_id"]:
        return (
            "transfer_differs",
            ours_fen,
            f"the bank booked transfer {line.transfer_id}; we recorded {p['bank_transfer_id']}",
        )
    if line.payee_account != p["payee_account"]:
        return (
            "account_differs",
            ours_fen,
            f"the bank's statement names account {mask_account(line.payee_account)}; "
            f"we paid {mask_account(p['payee_account'])}",
        )
    if line.status == "reversed":
        if p["status"] != PaymentStatus.RETURNED:
            return (
                "status_differs",
                ours_fen,
                f"the bank reversed it (退汇); we have it {p['status']}: record the return",
            )
        if bank_fen != int(p["amount_fen"]):
            return (
                "amount_differs",
                int(p["amount_fen"]),
                f"the bank reversed ¥{fen_to_yuan(bank_fen)} of a payment of ¥{fen_to_yuan(int(p['amount_fen']))}",
            )
        return None
    if p["status"] not in (PaymentStatus.SETTLED, PaymentStatus.RETURNED) or ours_fen is None:
        return "status_differs", ours_fen, f"the bank settled it; we have it {p['status']}"
    if ours_fen != bank_fen:
        return "amount_differs", ours_fen, f"bank ¥{fen_to_yuan(bank_fen)} vs ledger ¥{fen_to_yuan(ours_fen)}"
    return None


async def reconcile(adapter: BankAdapter, date: dt.date, *, actor: Actor) -> ReconciliationResult:
    """Compare the statement of ``date`` (bank time) with the ledger; store the run and its differences."""
    lines = await adapter.statement(date)
    day = date.isoformat()
    ours = await raw(_PAYMENT_SELECT + " WHERE settled_on = {}", day)
    ours_by_request = {r["request_id"]: r for r in ours}
    seen_requests = {line.request_id for line in lines}
    known = await _payments_by_request(sorted(seen_requests - set(ours_by_request)))
    known.update(ours_by_request)
    ledger_paid = await _paid_in_ledger([int(r["id"]) for r in known.values()])
    diffs: list[Difference] = []
    matched = 0
    booked: set[tuple[str, str]] = set()  # (request_id, status) already on this statement
    for line in lines:
        bank_fen = yuan_to_fen(line.amount)
        p = known.get(line.request_id)
        if p is None:
            diffs.append(
                Difference(
                    "unknown_to_us",
                    line.request_id,
                    line.transfer_id,
                    None,
                    bank_fen,
                    None,
                    f"the bank {line.status} a transfer we have no payment for",
                )
            )
            continue
        found = _line_difference(line, p, bank_fen, ledger_paid.get(int(p["id"])), booked)
        if found is None:
            matched += 1
        else:
            kind, ledger_fen, detail = found
            diffs.append(Difference(kind, line.request_id, line.transfer_id, p["id"], bank_fen, ledger_fen, detail))
    missing = [r for r in ours if r["request_id"] not in seen_requests]
    if missing:
        # Settled near midnight, the bank may book it on the neighbouring day: look there before calling it missing.
        neighbours = set()
        for other in (date - dt.timedelta(days=1), date + dt.timedelta(days=1)):
            neighbours |= {line.request_id for line in await adapter.statement(other)}
        for r in missing:
            if r["request_id"] in neighbours:
                continue
            diffs.append(
                Difference(
                    "missing_at_bank",
                    r["request_id"],
                    r["bank_transfer_id"],
                    r["id"],
                    None,
                    int(r["amount_fen"]),
                    "we recorded it settled; the bank's statement does not show it",
                )
            )
    async with transaction():
        run = ReconciliationRun(
            statement_date=day,
            matched=matched,
            differences=len(diffs),
            bank_lines=len(lines),
            ledger_lines=len(ours),
            actor=actor.name,
            created_at=now(),
        )
        await run.save()
        if diffs:
            await ReconciliationDifference.insert(
                *[ReconciliationDifference(run_id=run.id, **dataclasses.asdict(d)) for d in diffs]
            )
        await actor.record(
            "reconciliation.run",
            "reconciliation",
            run.id,
            None,
            {"date": day, "matched": matched, "differences": len(diffs)},
            detail={"date": day, "matched": matched, "differences": len(diffs)},
        )
    return ReconciliationResult(run.id, date, matched, len(lines), len(ours), diffs)


async def list_runs(limit: int = 50) -> list[dict[str, Any]]:
    return await ReconciliationRun.select().order_by(ReconciliationRun.id, ascending=False).limit(limit)


async def differences_of(run_id: int) -> list[dict[str, Any]]:
    return (
        await ReconciliationDifference.select()
        .where(ReconciliationDifference.run_id == run_id)
        .order_by(ReconciliationDifference.id)
    )


DIFFERENCE_SORTS = Sorts({"id": ReconciliationDifference.id, "kind": ReconciliationDifference.kind}, default="id")


async def differences_page(run_id: int, request: PageRequest) -> Page[dict[str, Any]]:
    """One page of a reconciliation run's differences, counted and limited by the database."""
    return await fetch_page(
        ReconciliationDifference, [ReconciliationDifference.run_id == run_id], request, DIFFERENCE_SORTS
    )


async def difference_chunks(run_id: int) -> AsyncIterator[list[dict[str, Any]]]:
    """Every difference of a run in id order, a chunk at a time (the export)."""
    async for rows in chunks(ReconciliationDifference, [ReconciliationDifference.run_id == run_id]):
        yield rows
