"""Budget control (预算控制): reservations against a policy version's budget, atomic under any concurrency.

A reservation locks the version's budget row (PostgreSQL ``SELECT … FOR UPDATE``; on SQLite the IMMEDIATE
write transaction already serialises writers), reads what is used from the ledger and posts the commit
journal in the same transaction, so two reservations can never both see the same headroom.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kit.audit import Actor
from kit.db import is_postgres, raw
from kit.time import now
from payments.errors import NotFound
from payments.service import ledger
from payments.tables import Budget

ALERT_LEVELS = (80, 95)


@dataclass(frozen=True)
class BudgetUsage:
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


async def lock(version_ids: list[int]) -> dict[int, int]:
    """Lock the budget rows (in id order, so two lockers never deadlock); returns each version's budget in fen.
    Must run inside a transaction."""
    ids = sorted(set(version_ids))
    if not ids:
        return {}
    marks = ", ".join("{}" for _ in ids)
    sql = f"SELECT version_id, budget_fen FROM pay_budget WHERE version_id IN ({marks}) ORDER BY version_id"
    if is_postgres():
        sql += " FOR UPDATE"
    rows = await raw(sql, *ids)
    found = {int(r["version_id"]): int(r["budget_fen"]) for r in rows}
    missing = [v for v in ids if v not in found]
    if missing:
        raise NotFound(f"no budget is recorded for policy version(s) {missing}")
    return found


async def fit(version_id: int, budget_fen: int, amounts: list[int]) -> int:
    """How many of ``amounts`` (in order) fit in what is left of the budget. Call with the row locked."""
    left = budget_fen - await ledger.used_fen(version_id)
    n = 0
    for a in amounts:
        if a > left:
            break
        left -= a
        n += 1
    return n


async def raise_alerts(version_ids: list[int], actor: Actor) -> list[tuple[int, int]]:
    """Audit an alert the first time a version's use crosses 80% and 95% of its budget. Call in the transaction."""
    raised: list[tuple[int, int]] = []
    for version_id in sorted(set(version_ids)):
        row = await Budget.select().where(Budget.version_id == version_id).first()
        if not row or not row["budget_fen"]:
            continue
        used = await ledger.used_fen(version_id)
        level = max([lv for lv in ALERT_LEVELS if used * 100 >= lv * row["budget_fen"]], default=0)
        if level > row["alert_level"]:
            await Budget.update({Budget.alert_level: level, Budget.updated_at: now()}).where(
                Budget.version_id == version_id
            )
            await actor.record(
                "budget.alert",
                "policy_version",
                version_id,
                {"alert_level": row["alert_level"]},
                {"alert_level": level},
                detail={
                    "policy": row["policy_code"],
                    "level": level,
                    "used_fen": used,
                    "budget_fen": row["budget_fen"],
                },
            )
            raised.append((version_id, level))
    return raised


async def usage(version_id: int | None = None) -> list[BudgetUsage]:
    """Budget, committed, in transit and paid per version, derived from the ledger."""
    q = Budget.select().order_by(Budget.version_id)
    if version_id is not None:
        q = q.where(Budget.version_id == version_id)
    out: list[BudgetUsage] = []
    for row in await q:
        b = await ledger.version_balances(row["version_id"])
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
    """Versions at or above 80% of their budget (what the finance UI shows)."""
    return [u for u in await usage() if u.budget_fen and u.used_fen * 100 >= 80 * u.budget_fen]
