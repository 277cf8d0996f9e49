"""The finance and audit dashboard (资金监管看板, /oversight/dashboard): money paid, pending and returned by policy, by
month and by region (district); each policy's fund used against its cap; risk flags by rule and state. Every figure
is one SQL aggregate over the real tables (app/ is the top layer and reads them; nothing here writes).

- A payment's money is **paid** when it settled (``settled``), **pending** while it is on its way (created,
  submitted, accepted, unknown) and **returned** (退汇) when the bank sent it back. Rejected and void payments move
  no money and are not counted.
- A payment's **day** is its settlement day (the bank's, Beijing time) once it settled, else the Beijing day it was
  made; the month is that day's ``YYYY-MM``. The date filter is on that day, inclusive.
- A payment's **region** is its subject's registered (enterprise) or work (talent) district, ``region_code`` of the
  current profile; "" when no profile is stored.
- The fund of a policy is its latest version's budget; used is what the ledger has taken from it (reserved, in
  transit or paid: ``-SUM(budget account)``), as payments/service/budget.py counts it. Only the policy filter
  applies to it (a fund has no month or region).
- Flags are counted by rule and state over ``pay_risk_flag``, with the policy and region filters.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kit.db import is_postgres, raw
from kit.vocab import ACTIVE_PAYMENT_STATUSES

PENDING = tuple(str(s) for s in ACTIVE_PAYMENT_STATUSES)
COUNTED = ("settled", "returned", *PENDING)
GROUPS = {"policy": "p.policy_code", "month": "substr({day}, 1, 7)", "region": "{region}"}


@dataclass(frozen=True)
class Filters:
    policy: str = ""
    date_from: str = ""  # YYYY-MM-DD, inclusive
    date_to: str = ""
    region: str = ""

    @classmethod
    def of(cls, policy: str | None, date_from: str | None, date_to: str | None, region: str | None) -> Filters:
        return cls((policy or "").strip()[:64], _day(date_from), _day(date_to), (region or "").strip()[:6])

    def params(self) -> dict[str, str]:
        return {"policy": self.policy, "from": self.date_from, "to": self.date_to, "region": self.region}


def _day(value: str | None) -> str:
    """A YYYY-MM-DD filter value, or "" when it is not one (a wrong date filters nothing rather than failing)."""
    try:
        return dt.date.fromisoformat((value or "").strip()).isoformat()
    except ValueError:
        return ""


def day_sql() -> str:
    """The payment's day (Beijing): its settlement day once settled, else the day it was made."""
    made = (
        "to_char(p.created_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
        if is_postgres()
        else "date(p.created_at, '+8 hours')"
    )
    return f"COALESCE(NULLIF(p.settled_on, ''), {made})"


REGION_SQL = "COALESCE(e.region_code, t.region_code, '')"


def _profiles_of(alias: str) -> str:
    """The current profile of the subject of each row of ``alias`` (for its region), as e or t."""
    return (
        f"LEFT JOIN eligibility_enterprise e ON {alias}.subject_kind = 'enterprise' AND e.subject_id = {alias}.subject_id "
        f"LEFT JOIN eligibility_talent t ON {alias}.subject_kind = 'talent' AND t.subject_id = {alias}.subject_id "
    )


PAYMENTS_FROM = "FROM pay_payment p " + _profiles_of("p")


def _policy_region(f: Filters, alias: str) -> tuple[list[str], list[Any]]:
    """The policy and region filters over a table ``alias`` with a policy_code, joined to the profiles as e and t."""
    parts, args = [], []
    if f.policy:
        parts.append(f"{alias}.policy_code = {{}}")
        args.append(f.policy)
    if f.region:
        parts.append(f"{REGION_SQL} = {{}}")
        args.append(f.region)
    return parts, args


def _payment_where(f: Filters) -> tuple[str, list[Any]]:
    day = day_sql()
    parts, args = _policy_region(f, "p")
    parts.insert(0, f"p.status IN ({', '.join(repr(s) for s in COUNTED)})")
    if f.date_from:
        parts.append(f"{day} >= {{}}")
        args.append(f.date_from)
    if f.date_to:
        parts.append(f"{day} <= {{}}")
        args.append(f.date_to)
    return " AND ".join(parts), args


async def money_by(group: str, f: Filters) -> list[dict[str, Any]]:
    """Paid, pending and returned (fen, and how many payments) by ``group`` (policy | month | region)."""
    key = GROUPS[group].format(day=day_sql(), region=REGION_SQL)
    where, args = _payment_where(f)
    pending = ", ".join(f"'{s}'" for s in PENDING)
    rows = await raw(
        f"SELECT {key} AS k, "
        "SUM(CASE WHEN p.status = 'settled' THEN p.amount_fen ELSE 0 END) AS paid_fen, "
        "SUM(CASE WHEN p.status = 'settled' THEN 1 ELSE 0 END) AS paid_n, "
        f"SUM(CASE WHEN p.status IN ({pending}) THEN p.amount_fen ELSE 0 END) AS pending_fen, "
        f"SUM(CASE WHEN p.status IN ({pending}) THEN 1 ELSE 0 END) AS pending_n, "
        "SUM(CASE WHEN p.status = 'returned' THEN p.amount_fen ELSE 0 END) AS returned_fen, "
        "SUM(CASE WHEN p.status = 'returned' THEN 1 ELSE 0 END) AS returned_n "
        f"{PAYMENTS_FROM} WHERE {where} GROUP BY {key} ORDER BY {key}",
        *args,
    )
    return [{**{k: int(v or 0) for k, v in r.items() if k != "k"}, "key": r["k"] or ""} for r in rows]


async def budgets(f: Filters) -> list[dict[str, Any]]:
    """Each policy's fund (its latest version's budget) and what the ledger has used of it, in fen."""
    where, args = ("WHERE b.policy_code = {}", [f.policy]) if f.policy else ("", [])
    rows = await raw(
        "SELECT b.policy_code AS policy_code, b.budget_fen AS budget_fen, "
        "(SELECT -COALESCE(SUM(l.amount_fen), 0) FROM pay_ledger_entry l WHERE l.account = 'budget' AND l.version_id "
        "IN (SELECT version_id FROM pay_budget WHERE policy_code = b.policy_code)) AS used_fen "
        "FROM pay_budget b WHERE b.policy_version = (SELECT MAX(policy_version) FROM pay_budget b2 "
        f"WHERE b2.policy_code = b.policy_code) {where.replace('WHERE', 'AND')} ORDER BY b.policy_code",
        *args,
    )
    out = []
    for r in rows:
        cap, used = int(r["budget_fen"]), int(r["used_fen"])
        pct = round(100 * used / cap, 1) if cap else 0.0
        out.append({"key": r["policy_code"], "budget_fen": cap, "used_fen": used, "left_fen": cap - used, "pct": pct})
    return out


async def flags(f: Filters) -> list[dict[str, Any]]:
    """Risk flags by rule and state: how many, and the money they concern (fen)."""
    parts, args = _policy_region(f, "r")
    where = ("WHERE " + " AND ".join(parts)) if parts else ""
    rows = await raw(
        "SELECT r.rule AS rule, r.state AS state, COUNT(*) AS n, SUM(r.amount_fen) AS fen FROM pay_risk_flag r "
        f"{_profiles_of('r')}{where} GROUP BY r.rule, r.state ORDER BY r.rule, r.state",
        *args,
    )
    return [{"rule": r["rule"], "state": r["state"], "n": int(r["n"]), "fen": int(r["fen"] or 0)} for r in rows]


async def choices() -> dict[str, list[str]]:
    """The filter's choices: the policies that have a fund or a payment, the regions of the stored profiles."""
    pol = await raw("SELECT policy_code AS c FROM pay_budget UNION SELECT policy_code AS c FROM pay_payment ORDER BY c")
    reg = await raw(
        "SELECT region_code AS c FROM eligibility_enterprise UNION SELECT region_code AS c FROM eligibility_talent "
        "ORDER BY c"
    )
    return {"policies": [r["c"] for r in pol if r["c"]], "regions": [r["c"] for r in reg if r["c"]]}
