"""应享未享 (/oversight/unpaid): subjects eligible but unpaid after N days, grouped by the reason, each reason one SQL
statement over the real tables (app/ is the top layer and reads them; nothing here writes).

- **Eligible**: a current match (``eligibility_match``, state current) that pays (amount > 0), made at least N days
  ago (``created_at`` ≤ now − N days).
- **Unpaid**: no entitlement of the same policy code and subject is paid (``pay_entitlement.state = paid``).
- The reasons, tried in this order; a subject's match falls in the first that holds, so the groups add up to the
  eligible-unpaid total ("x" is an entitlement of the same code and subject):
  1. ``not_applied``: the match's version is 依申请 (``policies_version.mode = apply``) and the subject has no
     application under the code other than a rejected one;
  2. ``no_account``: x waits for a verified account (``waiting_account``);
  3. ``held``: x is payable but held: by an open objection (``held_by``), in its 公示 period (``publicity_until`` after
     now) or by an open or confirmed risk flag;
  4. ``budget``: x is payable, in no batch, and its amount is more than what is left of the policy's fund (the
     latest version's budget less what the ledger took from it, as app/dashboard.budgets counts it);
  5. ``other``: none of these (in a batch not yet paid, withdrawn or excluded on re-verification, an application
     rejected, not yet entitled …).
- The policy and district filters are the dashboards' (the match's code; the current profile's ``region_code``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.dashboard import REGION_SQL, _profiles_of
from kit.db import raw
from kit.time import now

REASONS = ("not_applied", "no_account", "held", "budget", "other")
DEFAULT_DAYS = 30


def _x(cond: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM pay_entitlement x WHERE x.policy_code = m.code AND x.subject_kind = m.subject_kind "
        f"AND x.subject_id = m.subject_id AND {cond})"
    )


_LEFT = (
    "(SELECT COALESCE(MAX(b.budget_fen), 0) FROM pay_budget b WHERE b.policy_code = x.policy_code AND b.policy_version = "
    "(SELECT MAX(b2.policy_version) FROM pay_budget b2 WHERE b2.policy_code = x.policy_code)) - "
    "(SELECT -COALESCE(SUM(l.amount_fen), 0) FROM pay_ledger_entry l WHERE l.account = 'budget' AND l.version_id IN "
    "(SELECT b3.version_id FROM pay_budget b3 WHERE b3.policy_code = x.policy_code))"
)


def _predicate(reason: str, at: dt.datetime) -> tuple[str, list[Any]]:
    if reason == "not_applied":
        return (
            "COALESCE(v.mode, '') = 'apply' AND NOT EXISTS (SELECT 1 FROM policies_application a WHERE a.policy_code = m.code "
            "AND a.subject_kind = m.subject_kind AND a.subject_id = m.subject_id AND a.status <> 'rejected')",
            [],
        )
    if reason == "no_account":
        return _x("x.state = 'waiting_account'"), []
    if reason == "held":
        return (
            _x(
                "x.state = 'payable' AND (x.held_by IS NOT NULL OR x.publicity_until > {} OR EXISTS (SELECT 1 FROM "
                "pay_risk_flag f WHERE f.entitlement_id = x.id AND f.state IN ('open', 'confirmed')))"
            ),
            [at],
        )
    if reason == "budget":
        return _x(f"x.state = 'payable' AND x.batch_id IS NULL AND x.amount_fen > {_LEFT}"), []
    raise ValueError(reason)


@dataclass(frozen=True)
class UnpaidFilters:
    days: int = DEFAULT_DAYS
    policy: str = ""
    region: str = ""

    @classmethod
    def of(cls, days: str | int | None, policy: str | None, region: str | None) -> UnpaidFilters:
        try:
            n = int(str(days).strip()) if days not in (None, "") else DEFAULT_DAYS
        except ValueError:
            n = DEFAULT_DAYS
        return cls(min(max(n, 0), 3650), (policy or "").strip()[:64], (region or "").strip()[:6])


def _where(reason: str, f: UnpaidFilters, at: dt.datetime) -> tuple[str, list[Any]]:
    """The eligible-unpaid matches the filters keep, of ``reason`` (and of none of the reasons before it)."""
    parts = [
        "m.state = 'current'",
        "m.amount_fen > 0",
        "m.created_at <= {}",
        "NOT " + _x("x.state = 'paid'"),
    ]
    args: list[Any] = [at - dt.timedelta(days=f.days)]
    if f.policy:
        parts.append("m.code = {}")
        args.append(f.policy)
    if f.region:
        parts.append(f"{REGION_SQL} = {{}}")
        args.append(f.region)
    earlier = REASONS[: REASONS.index(reason)]
    for r in earlier:
        sql, a = _predicate(r, at)
        parts.append(f"NOT ({sql})")
        args += a
    if reason != "other":
        sql, a = _predicate(reason, at)
        parts.append(sql)
        args += a
    return " AND ".join(parts), args


FROM = "FROM eligibility_match m LEFT JOIN policies_version v ON v.id = m.version_id " + _profiles_of("m")


async def summary(f: UnpaidFilters, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each reason: how many eligible-unpaid matches, and their amount (fen)."""
    at = at or now()
    out = []
    for reason in REASONS:
        where, args = _where(reason, f, at)
        rows = await raw(f"SELECT COUNT(*) AS n, SUM(m.amount_fen) AS fen {FROM}WHERE {where}", *args)
        out.append({"key": reason, "n": int(rows[0]["n"] or 0), "fen": int(rows[0]["fen"] or 0)})
    return out


async def listing(
    reason: str, f: UnpaidFilters, *, limit: int | None = None, offset: int = 0, at: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The matches of ``reason``, largest amount first (then oldest): what an officer acts on."""
    where, args = _where(reason, f, now() if at is None else at)
    page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
    rows = await raw(
        "SELECT m.id AS match_id, m.code AS policy_code, m.version_id AS version_id, m.subject_kind AS subject_kind, "
        "m.subject_id AS subject_id, COALESCE(e.name, t.name, '') AS subject_name, m.amount_fen AS amount_fen, "
        f"m.created_at AS matched_at, {REGION_SQL} AS region {FROM}WHERE {where} "
        f"ORDER BY m.amount_fen DESC, m.created_at, m.id{page}",
        *args,
    )
    return [{**r, "reason": reason, "amount_fen": int(r["amount_fen"])} for r in rows]
