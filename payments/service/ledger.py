"""The ledger (复式记账): balanced journals of integer fen, append-only; balances are always derived from it.

Accounts, per policy version (debit positive; a policy's fund is the sum over its versions, see budget.py):
  budget      minus what has been committed against the version's budget
  committed   reserved for payments not yet taken by the bank
  in_transit  taken by the bank, not yet settled
  paid        settled into the payee's account (legs carry the subject, so per-subject balances derive too)

Entry types: commit (budget → committed), payment (committed → in_transit), settlement (in_transit → paid),
return (paid → committed: 退汇, reserved again for a re-issue), reversal (committed → budget: a release).
A payment's legs carry a unique key, so the database itself refuses to post one twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from kit.db import bulk_insert, raw, sql_literals
from kit.i18n import _l
from kit.time import now
from kit.vocab import PaymentStatus
from payments.errors import PaymentsError
from payments.tables import LedgerEntry


class EntryType(str, Enum):  # noqa: UP042 - str() of a member is what older rows store
    commit = "commit"
    payment = "payment"
    settlement = "settlement"
    return_ = "return"
    reversal = "reversal"


ACCOUNTS = ("budget", "committed", "in_transit", "paid")
_SETTLED = sql_literals([PaymentStatus.SETTLED])
_MOVES = {  # entry type -> (debited account, credited account)
    EntryType.commit: ("committed", "budget"),
    EntryType.payment: ("in_transit", "committed"),
    EntryType.settlement: ("paid", "in_transit"),
    EntryType.return_: ("committed", "paid"),
    EntryType.reversal: ("budget", "committed"),
}
_COLUMNS = (
    "journal",
    "entry_type",
    "account",
    "version_id",
    "batch_id",
    "payment_id",
    "subject_kind",
    "subject_id",
    "amount_fen",
    "unique_key",
    "created_at",
)


@dataclass(frozen=True)
class Move:
    """One balanced journal: ``amount_fen`` moves along ``entry_type``'s accounts for a version."""

    entry_type: EntryType
    version_id: int
    amount_fen: int
    batch_id: int | None = None
    payment_id: int | None = None
    subject_kind: str | None = None
    subject_id: str | None = None
    credit_account: str | None = None  # a return of a payment the bank took but never settled: from in_transit

    @classmethod
    def of_payment(cls, entry_type: EntryType, p: dict[str, Any]) -> Move:
        """The journal of one payment row (its version, amount, batch and subject)."""
        return cls(
            entry_type,
            p["version_id"],
            p["amount_fen"],
            batch_id=p["batch_id"],
            payment_id=p["id"],
            subject_kind=p["subject_kind"],
            subject_id=p["subject_id"],
        )

    @property
    def journal(self) -> str:
        owner = f"p{self.payment_id}" if self.payment_id is not None else f"b{self.batch_id}:v{self.version_id}"
        return f"{self.entry_type.value}:{owner}"


async def post(moves: Iterable[Move]) -> int:
    """Append the journals (two legs each) in the caller's transaction; returns the number of journals."""
    rows: list[tuple[Any, ...]] = []
    at = now()
    for m in moves:
        if not isinstance(m.amount_fen, int) or m.amount_fen <= 0:
            raise PaymentsError(
                _l("a ledger movement is a positive whole number of fen, not {amount_fen!r}"), amount_fen=m.amount_fen
            )
        debit, credit = _MOVES[m.entry_type]
        credit = m.credit_account or credit
        for account, amount in ((debit, m.amount_fen), (credit, -m.amount_fen)):
            key = f"{m.journal}:{account}"
            rows.append(
                (
                    m.journal,
                    m.entry_type.value,
                    account,
                    m.version_id,
                    m.batch_id,
                    m.payment_id,
                    m.subject_kind,
                    m.subject_id if account == "paid" else None,
                    amount,
                    key,
                    at,
                )
            )
    await bulk_insert(LedgerEntry, _COLUMNS, rows)
    return len(rows) // 2


async def _balances(where: str, arg: Any) -> dict[str, int]:
    rows = await raw(
        f"SELECT account, SUM(amount_fen) AS total FROM pay_ledger_entry WHERE {where} GROUP BY account", arg
    )
    out = {a: 0 for a in ACCOUNTS}
    out.update({r["account"]: int(r["total"]) for r in rows})
    return out


async def _used(where: str, arg: Any) -> int:
    rows = await raw(
        f"SELECT COALESCE(SUM(amount_fen), 0) AS total FROM pay_ledger_entry WHERE {where} AND account = 'budget'", arg
    )
    return -int(rows[0]["total"])


_OF_VERSION = "version_id = {}"
_OF_POLICY = "version_id IN (SELECT version_id FROM pay_budget WHERE policy_code = {})"


async def version_balances(version_id: int) -> dict[str, int]:
    """Balance of each account of a policy version, in fen."""
    return await _balances(_OF_VERSION, version_id)


async def used_fen(version_id: int) -> int:
    """What is committed against the version's budget (reserved, in transit or paid)."""
    return await _used(_OF_VERSION, version_id)


async def policy_balances(policy_code: str) -> dict[str, int]:
    """Balance of each account over every version of a policy (its one fund), in fen."""
    return await _balances(_OF_POLICY, policy_code)


async def used_fen_of_policy(policy_code: str) -> int:
    """What every version of a policy has committed against its fund (reserved, in transit or paid)."""
    return await _used(_OF_POLICY, policy_code)


async def subject_paid(subject_kind: str, subject_id: str) -> dict[int, int]:
    """Net fen paid to one subject, per policy version (settlements less returns)."""
    rows = await raw(
        "SELECT version_id, SUM(amount_fen) AS total FROM pay_ledger_entry WHERE account = 'paid' "
        "AND subject_kind = {} AND subject_id = {} GROUP BY version_id",
        subject_kind,
        subject_id,
    )
    return {int(r["version_id"]): int(r["total"]) for r in rows}


async def payment_paid(payment_ids: list[int]) -> dict[int, int]:
    """Net fen in the paid account per payment."""
    if not payment_ids:
        return {}
    out: dict[int, int] = {}
    for i in range(0, len(payment_ids), 5000):
        part = payment_ids[i : i + 5000]
        rows = await raw(
            "SELECT payment_id, SUM(amount_fen) AS total FROM pay_ledger_entry WHERE account = 'paid' "
            f"AND payment_id IN ({', '.join('{}' for _ in part)}) GROUP BY payment_id",
            *part,
        )
        out.update({int(r["payment_id"]): int(r["total"]) for r in rows})
    return out


@dataclass
class LedgerCheck:
    ok: bool
    journals: int = 0
    problems: list[str] = field(default_factory=list)


async def check_balances() -> LedgerCheck:
    """Every journal sums to zero; per version nothing is negative where it cannot be and the budget holds;
    every payment's paid balance is 0 or its amount, matching its status."""
    problems: list[str] = []
    unbalanced = await raw(
        "SELECT journal, SUM(amount_fen) AS total FROM pay_ledger_entry GROUP BY journal "
        "HAVING SUM(amount_fen) <> 0 LIMIT 20"
    )
    problems += [f"journal {r['journal']} does not balance ({r['total']} fen)" for r in unbalanced]
    count = await raw("SELECT COUNT(DISTINCT journal) AS n FROM pay_ledger_entry")
    per_version = await raw(
        "SELECT l.version_id, l.account, SUM(l.amount_fen) AS total FROM pay_ledger_entry l GROUP BY l.version_id, l.account"
    )
    balances: dict[int, dict[str, int]] = {}
    for r in per_version:
        balances.setdefault(int(r["version_id"]), {})[r["account"]] = int(r["total"])
    code_of: dict[int, str] = {}
    funds: dict[str, tuple[int, int]] = {}  # code -> (latest version number, its budget): one fund per policy
    for r in await raw("SELECT version_id, policy_code, policy_version, budget_fen FROM pay_budget"):
        code_of[int(r["version_id"])] = r["policy_code"]
        if r["policy_code"] not in funds or int(r["policy_version"]) > funds[r["policy_code"]][0]:
            funds[r["policy_code"]] = (int(r["policy_version"]), int(r["budget_fen"]))
    used_of: dict[str, int] = {}
    for version_id, b in balances.items():
        for account in ("committed", "in_transit", "paid"):
            if b.get(account, 0) < 0:
                problems.append(f"version {version_id}: account {account} is negative ({b[account]} fen)")
        if version_id in code_of:
            used_of[code_of[version_id]] = used_of.get(code_of[version_id], 0) - b.get("budget", 0)
    for code, used in sorted(used_of.items()):
        if used > funds[code][1]:
            problems.append(f"policy {code}: {used} fen committed exceeds its fund of {funds[code][1]} fen")
    wrong = await raw(
        "SELECT p.id, p.status, p.amount_fen, COALESCE(SUM(l.amount_fen), 0) AS paid FROM pay_payment p "
        "LEFT JOIN pay_ledger_entry l ON l.payment_id = p.id AND l.account = 'paid' GROUP BY p.id, p.status, p.amount_fen "
        f"HAVING (p.status = {_SETTLED} AND COALESCE(SUM(l.amount_fen), 0) <> p.amount_fen) "
        f"OR (p.status <> {_SETTLED} AND COALESCE(SUM(l.amount_fen), 0) <> 0) LIMIT 20"
    )
    problems += [
        f"payment {r['id']} ({r['status']}) has {r['paid']} fen paid for an amount of {r['amount_fen']}" for r in wrong
    ]
    return LedgerCheck(ok=not problems, journals=int(count[0]["n"]), problems=problems)
