"""Budget control (预算控制): reservations against a policy's fund, atomic under any concurrency.

One fund per policy code: ``budget`` is what may ever be committed to the policy over all its versions; the latest
version's budget states it, and what earlier versions committed counts against it. A reservation locks the code's
budget rows (PostgreSQL ``SELECT … FOR UPDATE``; on SQLite the IMMEDIATE
write transaction already serialises writers), reads what is used from the ledger and posts the commit
journal in the same transaction, so two reservations can never both see the same headroom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kit.audit import Actor
from kit.db import is_postgres, raw
from kit.i18n import _l
from kit.time import now
from payments.errors import NotFound
from payments.service import ledger
from payments.tables import Budget

ALERT_LEVELS = (80, 95)


@dataclass(frozen=True)
class BudgetUsage:
    """A policy's fund: stated by its latest version (version_id, policy_version), used by all its versions."""

    version_id: int
    policy_code: str
    policy_version: int
    budget_fen: int
    committed_fen: int
    in_transit_fen: int
    paid_fen: int
    alert_level: int

    @property
    def used_fen(self) -> int:
        return self.committed_fen + self.in_transit_fen + self.paid_fen

    @property
    def available_fen(self) -> int:
        return self.budget_fen - self.used_fen

    @property
    def used_percent(self) -> float:  # display only; money stays in fen
        return round(100 * self.used_fen / self.budget_fen, 1) if self.budget_fen else 0.0


async def ensure_budget(
    version_id: int, policy_code: str, policy_version: int, budget_fen: int, policy_facts: dict[str, Any]
) -> None:
    """Record a version's budget once (a published version is immutable, so is its budget)."""
    if await Budget.exists().where(Budget.version_id == version_id):
        return
    await Budget.insert(
        Budget(
            version_id=version_id,
            policy_code=policy_code,
            policy_version=policy_version,
            budget_fen=budget_fen,
            alert_level=0,
            updated_at=now(),
            policy_facts=json.dumps(policy_facts, ensure_ascii=False, default=str),
        )
    )


async def policy_facts(version_id: int) -> dict[str, Any]:
    row = await Budget.select(Budget.policy_facts).where(Budget.version_id == version_id).first()
    return json.loads(row["policy_facts"]) if row else {}


async def lock(policy_codes: list[str]) -> dict[str, int]:
    """Lock the budget rows of every version of the policies (in id order, so two lockers never deadlock); returns
    each policy's fund in fen: the budget of its latest version (a new version restates the fund). Every
    reservation against a code locks its first version's row, so reservations of v1 and v2 entitlements serialise.
    Must run inside a transaction."""
    codes = sorted(set(policy_codes))
    if not codes:
        return {}
    marks = ", ".join("{}" for _ in codes)
    sql = (
        "SELECT version_id, policy_code, policy_version, budget_fen FROM pay_budget "
        f"WHERE policy_code IN ({marks}) ORDER BY version_id"
    )
    if is_postgres():
        sql += " FOR UPDATE"
    rows = await raw(sql, *codes)
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["policy_code"] not in latest or r["policy_version"] > latest[r["policy_code"]]["policy_version"]:
            latest[r["policy_code"]] = r
    missing = [c for c in codes if c not in latest]
    if missing:
        raise NotFound(_l("no budget is recorded for policy {codes}"), codes=", ".join(missing))
    return {c: int(r["budget_fen"]) for c, r in latest.items()}


async def fit(policy_code: str, budget_fen: int, amounts: list[int]) -> int:
    """How many of ``amounts`` (in order) fit in what is left of the policy's fund (what every version of it has
    committed counts). Call with the rows locked."""
    left = budget_fen - await ledger.used_fen_of_policy(policy_code)
    n = 0
    for a in amounts:
        if a > left:
            break
        left -= a
        n += 1
    return n


async def _fund_row(policy_code: str) -> dict[str, Any] | None:
    """The budget row of the policy's latest version: it states the fund and carries its alert level."""
    return (
        await Budget.select()
        .where(Budget.policy_code == policy_code)
        .order_by(Budget.policy_version, ascending=False)
        .first()
    )


async def raise_alerts(policy_codes: list[str], actor: Actor) -> list[tuple[str, int]]:
    """Audit an alert the first time a policy's use crosses 80% and 95% of its fund. Call in the transaction."""
    raised: list[tuple[str, int]] = []
    for code in sorted(set(policy_codes)):
        row = await _fund_row(code)
        if not row or not row["budget_fen"]:
            continue
        used = await ledger.used_fen_of_policy(code)
        level = max([lv for lv in ALERT_LEVELS if used * 100 >= lv * row["budget_fen"]], default=0)
        if level > row["alert_level"]:
            await Budget.update({Budget.alert_level: level, Budget.updated_at: now()}).where(
                Budget.version_id == row["version_id"]
            )
            await actor.record(
                "budget.alert",
                "policy_version",
                row["version_id"],
                {"alert_level": row["alert_level"]},
                {"alert_level": level},
                detail={
                    "policy": code,
                    "level": level,
                    "used_fen": used,
                    "budget_fen": row["budget_fen"],
                },
            )
            raised.append((code, level))
    return raised


async def usage(version_id: int | None = None, *, policy_code: str | None = None) -> list[BudgetUsage]:
    """The fund of each policy (code): its latest version's budget, and what all its versions committed, have in
    transit and paid, derived from the ledger. ``version_id`` picks the policy that version belongs to."""
    if version_id is not None:
        row = await Budget.select(Budget.policy_code).where(Budget.version_id == version_id).first()
        if row is None:
            return []
        policy_code = row["policy_code"]
    q = Budget.select(Budget.policy_code).distinct().order_by(Budget.policy_code)
    if policy_code is not None:
        q = q.where(Budget.policy_code == policy_code)
    out: list[BudgetUsage] = []
    for c in await q:
        row = await _fund_row(c["policy_code"])
        if row is None:
            continue
        b = await ledger.policy_balances(row["policy_code"])
        out.append(
            BudgetUsage(
                row["version_id"],
                row["policy_code"],
                row["policy_version"],
                row["budget_fen"],
                b["committed"],
                b["in_transit"],
                b["paid"],
                row["alert_level"],
            )
        )
    return out


async def alerts() -> list[BudgetUsage]:
    """Policies at or above 80% of their fund (what the finance UI shows)."""
    return [u for u in await usage() if u.budget_fen and u.used_fen * 100 >= 80 * u.budget_fen]
