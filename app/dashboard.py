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
import math
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


# ---- 驾驶舱 (the leaders' overview, /oversight/cockpit) -------------------------------------------------------------
# - 秒到账 time of a payment: from its batch's final approval (the second checker's, else the checker's) to the
#   bank's settlement (``settled_at``), in seconds, over the settled (and later returned) payments the filters keep.
#   p50 / p95 are nearest-rank percentiles computed in Python from the fetched durations (the same on both
#   databases): the p-th percentile of n sorted values is the value at rank ceil(p / 100 × n).
# - Reach by industry / district: settled money and payees (distinct subjects paid); an enterprise's industry is the
#   GB/T 4754 section (the first letter of ``industry_code``), a talent's is "talent", "" when no profile is stored.
# - The daily trend is money_by("day"); today / this month / this year sum its paid days (Beijing time).

INDUSTRY_SQL = "CASE WHEN e.subject_id IS NOT NULL THEN substr(e.industry_code, 1, 1) WHEN t.subject_id IS NOT NULL THEN 'talent' ELSE '' END"
GROUPS["day"] = "{day}"


def percentile(values: list[float], p: int) -> float | None:
    """Nearest-rank percentile: the value at rank ceil(p/100 × n) of the sorted values (None when there are none)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered) / 100))
    return ordered[min(rank, len(ordered)) - 1]


def _ts(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def settle_seconds(f: Filters) -> list[float]:
    """The 秒到账 time (approval → settlement, seconds) of each settled payment the filters keep."""
    where, args = _payment_where(f)
    rows = await raw(
        "SELECT p.settled_at AS s, COALESCE(b.second_checked_at, b.checked_at) AS a "
        f"{PAYMENTS_FROM}JOIN pay_batch b ON b.id = p.batch_id WHERE {where} AND p.settled_at IS NOT NULL "
        "AND b.checked_at IS NOT NULL",
        *args,
    )
    return [(_ts(r["s"]) - _ts(r["a"])).total_seconds() for r in rows]


async def reach_by(group: str, f: Filters) -> list[dict[str, Any]]:
    """Settled money (fen), payments and payees (distinct subjects) by ``group`` (industry | region)."""
    key = INDUSTRY_SQL if group == "industry" else REGION_SQL
    where, args = _payment_where(f)
    rows = await raw(
        f"SELECT {key} AS k, SUM(p.amount_fen) AS paid_fen, COUNT(*) AS paid_n, "
        "COUNT(DISTINCT p.subject_kind || ':' || p.subject_id) AS payees "
        f"{PAYMENTS_FROM} WHERE {where} AND p.status = 'settled' GROUP BY {key} ORDER BY {key}",
        *args,
    )
    return [
        {
            "key": r["k"] or "",
            "paid_fen": int(r["paid_fen"] or 0),
            "paid_n": int(r["paid_n"]),
            "payees": int(r["payees"]),
        }
        for r in rows
    ]


async def reached(f: Filters) -> int:
    """Subjects reached: distinct subjects with a settled payment the filters keep."""
    where, args = _payment_where(f)
    rows = await raw(
        f"SELECT COUNT(DISTINCT p.subject_kind || ':' || p.subject_id) AS n {PAYMENTS_FROM} WHERE {where} "
        "AND p.status = 'settled'",
        *args,
    )
    return int(rows[0]["n"] or 0)


async def policies_live(f: Filters) -> int:
    """Policies in effect: codes with a published version (the policy filter applies)."""
    where, args = ("AND code = {}", [f.policy]) if f.policy else ("", [])
    rows = await raw(
        f"SELECT COUNT(DISTINCT code) AS n FROM policies_version WHERE status = 'published' {where}", *args
    )
    return int(rows[0]["n"] or 0)


# ---- per-policy funnel and budget projection (/oversight/funnel) -----------------------------------------------------
# Each stage counts subjects (and their amounts, fen) under a policy code, with the policy and district filters:
# - matched: current matches (``eligibility_match``, state current) of the code's rule sets; amount = the match's;
# - notified: those of them with the match notice (key ``matched:<version>:<subject>``) in the inbox;
# - read: those whose match notice was read (``read_at`` set);
# - applied / approved (依申请 only): applications (``policies_application``, any status: submitted, first
#   approved, approved, rejected) and the approved ones; amount = the application's. A code is 依申请 when its latest
#   policy version's mode is ``apply`` or it has applications; for a 免申即享 code both are None (shown "—");
# - entitled: entitlements that may be paid (waiting for an account, payable, amount changed, in a batch, paid);
# - in batch: entitlements in a batch or paid; paid: entitlements paid. Amounts are the entitlements'.
# The date filter (Beijing days, inclusive) applies to every stage, each on its own event's time: matched on the
# match's ``created_at``, notified on the notice's ``created_at``, read on its ``read_at``, applied on the
# application's ``created_at``, approved on its ``decided_at``, entitled on the entitlement's ``created_at``, in a
# batch on the day one of its payments was made (``pay_payment.created_at``), paid on the settlement day of a
# settled payment (``settled_on``). So a stage counts what happened in the range, not a cohort.
LIVE_STATES = ("waiting_account", "payable", "amount_changed", "batched", "paid")
STAGES = ("matched", "notified", "read", "applied", "approved", "entitled", "batched", "paid")
APPLY_STAGES = ("applied", "approved")


def bj_day(column: str) -> str:
    """The Beijing day (YYYY-MM-DD) of a timestamp column."""
    if is_postgres():
        return f"to_char({column} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')"
    return f"date({column}, '+8 hours')"


def in_range(day: str, f: Filters) -> str:
    """``day`` (a YYYY-MM-DD expression) within the date filter; "1 = 1" without one. The bounds are inlined: Filters
    holds only dates that ``date.fromisoformat`` accepted, written back by ``isoformat`` (digits and dashes)."""
    parts = [f"{day} >= '{f.date_from}'" if f.date_from else "", f"{day} <= '{f.date_to}'" if f.date_to else ""]
    return " AND ".join(p for p in parts if p) or "1 = 1"


def _count(cond: str, fen: str, i: int) -> str:
    return f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS n{i}, SUM(CASE WHEN {cond} THEN {fen} ELSE 0 END) AS f{i}"


async def funnel(f: Filters) -> list[dict[str, Any]]:
    """One row per policy code: n and fen at each stage of the funnel (None for applied / approved of 免申即享)."""
    m_parts, m_args = _policy_region(Filters(region=f.region), "m")
    if f.policy:
        m_parts.append("m.code = {}")
        m_args.append(f.policy)
    m_where = " AND ".join(["m.state = 'current'", *m_parts])
    notice = (
        "EXISTS (SELECT 1 FROM notifications_notice nn WHERE nn.key = "
        "'matched:' || CAST(m.version_id AS VARCHAR(20)) || ':' || m.subject_id AND {})"
    )
    notified = notice.format(in_range(bj_day("nn.created_at"), f))
    read = notice.format(f"nn.read_at IS NOT NULL AND {in_range(bj_day('nn.read_at'), f)}")
    cols = [_count(c, "m.amount_fen", i) for i, c in enumerate((in_range(bj_day("m.created_at"), f), notified, read))]
    matched = await raw(
        f"SELECT m.code AS k, {', '.join(cols)} FROM eligibility_match m {_profiles_of('m')}WHERE {m_where} "
        "GROUP BY m.code",
        *m_args,
    )
    a_parts, a_args = _policy_region(f, "a")
    approved = f"a.status = 'approved' AND {in_range(bj_day('a.decided_at'), f)}"
    a_cols = [_count(c, "a.amount_fen", i) for i, c in enumerate((in_range(bj_day("a.created_at"), f), approved))]
    applied = await raw(
        f"SELECT a.policy_code AS k, {', '.join(a_cols)} FROM policies_application a {_profiles_of('a')}"
        f"{('WHERE ' + ' AND '.join(a_parts)) if a_parts else ''} GROUP BY a.policy_code",
        *a_args,
    )
    modes = await raw(
        "SELECT v.code AS k, v.mode AS mode FROM policies_version v WHERE v.number = "
        "(SELECT MAX(v2.number) FROM policies_version v2 WHERE v2.code = v.code)"
    )
    apply_codes = {r["k"] for r in modes if r["mode"] == "apply"} | {r["k"] for r in applied}
    e_parts, e_args = _policy_region(f, "x")
    states = ", ".join(f"'{s}'" for s in LIVE_STATES)
    e_where = " AND ".join([f"x.state IN ({states})", *e_parts])
    pay = "EXISTS (SELECT 1 FROM pay_payment pp WHERE pp.entitlement_id = x.id AND {})"
    batched = "x.state IN ('batched', 'paid')" + (
        f" AND {pay.format(in_range(bj_day('pp.created_at'), f))}" if f.date_from or f.date_to else ""
    )
    settled = "pp.status = 'settled' AND " + in_range("pp.settled_on", f)
    paid = "x.state = 'paid'" + (f" AND {pay.format(settled)}" if f.date_from or f.date_to else "")
    e_conds = (in_range(bj_day("x.created_at"), f), batched, paid)
    e_cols = [_count(c, "x.amount_fen", i) for i, c in enumerate(e_conds)]
    entitled = await raw(
        f"SELECT x.policy_code AS k, {', '.join(e_cols)} FROM pay_entitlement x {_profiles_of('x')}WHERE {e_where} "
        "GROUP BY x.policy_code",
        *e_args,
    )
    out: dict[str, dict[str, Any]] = {}

    def row(k: str) -> dict[str, Any]:
        return out.setdefault(k, {"key": k, **{f"{s}_{u}": 0 for s in STAGES for u in ("n", "fen")}})

    def put(k: str, stages: tuple[str, ...], r: dict[str, Any]) -> None:
        x = row(k)
        for i, s in enumerate(stages):
            x[f"{s}_n"], x[f"{s}_fen"] = int(r[f"n{i}"] or 0), int(r[f"f{i}"] or 0)

    for r in matched:
        put(r["k"], ("matched", "notified", "read"), r)
    for r in applied:
        put(r["k"], APPLY_STAGES, r)
    for r in entitled:
        put(r["k"], ("entitled", "batched", "paid"), r)
    for k, x in out.items():
        if k not in apply_codes:
            x.update({f"{s}_{u}": None for s in APPLY_STAGES for u in ("n", "fen")})
        x["applies"] = k in apply_codes
        x["conversion"] = round(100 * x["paid_n"] / x["matched_n"], 1) if x["matched_n"] else None
    return [out[k] for k in sorted(out)]


RATE_DAYS = 30
HORIZON_DAYS = 36_500  # beyond a hundred years the rate is as good as 0: "will not run out"


def run_out(remaining_fen: int, recent_fen: int, today: dt.date) -> tuple[str, dt.date | None]:
    """When the fund runs out at the last RATE_DAYS days' linear rate (recent_fen / RATE_DAYS fen a day): ("exhausted",
    None) when nothing remains, ("never", None) when the rate is 0 (or negative: money came back), else ("on", today +
    ceil(remaining ÷ daily rate) days) — today being day 0, the fund is used up in the course of that day; "never"
    too beyond HORIZON_DAYS."""
    if remaining_fen <= 0:
        return "exhausted", None
    days = -(-remaining_fen * RATE_DAYS // recent_fen) if recent_fen > 0 else None  # ceil, in integers
    if days is None or days > HORIZON_DAYS:
        return "never", None
    return "on", today + dt.timedelta(days=days)


async def projection(f: Filters, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each fund (policy filter only): cap, paid, in transit, committed (reserved), used = their sum, remaining; the
    pipeline (entitled, not yet in a batch: waiting for an account, payable, amount changed) and what would remain
    once it is paid too (negative: the fund does not cover it). The run-out date: what the fund's used (paid + in
    transit + committed) grew by over the last RATE_DAYS days before ``at`` (now) — the net taken from the fund,
    ``-SUM(budget account)`` of the ledger entries made since, commitments less reversals — as a linear daily rate;
    see run_out. Dates in Beijing time."""
    where, args = ("AND b.policy_code = {}", [f.policy]) if f.policy else ("", [])
    funds = await raw(
        "SELECT b.policy_code AS k, b.budget_fen AS cap FROM pay_budget b WHERE b.policy_version = "
        f"(SELECT MAX(policy_version) FROM pay_budget b2 WHERE b2.policy_code = b.policy_code) {where} "
        "ORDER BY b.policy_code",
        *args,
    )
    bal = await raw(
        "SELECT b.policy_code AS k, l.account AS account, SUM(l.amount_fen) AS fen FROM pay_ledger_entry l "
        "JOIN pay_budget b ON b.version_id = l.version_id WHERE l.account IN ('committed', 'in_transit', 'paid') "
        "GROUP BY b.policy_code, l.account"
    )
    pipe = await raw(
        "SELECT policy_code AS k, SUM(COALESCE(pending_amount_fen, amount_fen)) AS fen FROM pay_entitlement "
        "WHERE state IN ('waiting_account', 'payable', 'amount_changed') GROUP BY policy_code"
    )
    at = at or dt.datetime.now(dt.UTC)
    recent = await raw(
        "SELECT b.policy_code AS k, -SUM(l.amount_fen) AS fen FROM pay_ledger_entry l JOIN pay_budget b "
        "ON b.version_id = l.version_id WHERE l.account = 'budget' AND l.created_at >= {} GROUP BY b.policy_code",
        at - dt.timedelta(days=RATE_DAYS),
    )
    rate = {r["k"]: int(r["fen"] or 0) for r in recent}
    today = (at + dt.timedelta(hours=8)).date()  # Beijing (UTC+8, no daylight saving)
    balances = {(r["k"], r["account"]): int(r["fen"] or 0) for r in bal}
    pipeline = {r["k"]: int(r["fen"] or 0) for r in pipe}
    out = []
    for r in funds:
        k, cap = r["k"], int(r["cap"])
        paid, transit, committed = (balances.get((k, a), 0) for a in ("paid", "in_transit", "committed"))
        used = paid + transit + committed
        p = pipeline.get(k, 0)
        state, on = run_out(cap - used, rate.get(k, 0), today)
        out.append(
            {
                "key": k, "cap_fen": cap, "paid_fen": paid, "in_transit_fen": transit, "committed_fen": committed,
                "used_fen": used, "remaining_fen": cap - used, "pipeline_fen": p, "after_fen": cap - used - p,
                "pct": round(100 * used / cap, 1) if cap else 0.0, "recent_fen": rate.get(k, 0),
                "daily_fen": round(rate.get(k, 0) / RATE_DAYS), "run_out": state,
                "run_out_on": on.isoformat() if on else "",
            }
        )  # fmt: skip
    return out
