"""服务看板 (/oversight/service): how the platform serves people — notices by channel and state, open applications and
objections against their deadlines, processing times, the daily trend of notices. Every figure is one SQL statement
over the real tables (notifications_notice, notifications_delivery, policies_application, policies_objection); app/
is the top layer and reads them; nothing here writes.

- **Channels.** The inbox is every notice (``notifications_notice``): *sent* = written to the inbox, *read* = its
  ``read_at`` is set. Email, SMS and webhook are the notice's ``notifications_delivery`` rows by their current
  status: *sent*, *failed* (every attempt used, or refused for good), *deferred* (waiting for the end of SMS quiet
  hours or the next day's limit), *in progress* (queued, sending, retrying) and *skipped* (opted out, or the channel
  not configured). "Read" exists for the inbox only; failed / deferred do not exist for it.
- **Dates.** A notice (and each of its deliveries) counts on the Beijing day it was written (``created_at``); the
  trend is per that day, so its sums equal the channel table. Open applications and objections count when they were
  submitted / raised in the range; processing times when they were decided / answered in the range.
- **District**: the subject's (recipient's) current profile's ``region_code``, as in app/dashboard.py.
- **Policy**: a notice's policy is read off its key — ``matched:`` / ``reading:<version id>:…`` (policies_version),
  ``payment:<payment id>:…`` (pay_payment), ``withdrawn:<entitlement id>:…`` (pay_entitlement),
  ``application:<id>:…`` and ``objection:<id>:…``; a notice of none (a contact code) has no policy and drops out
  when a policy or issuer is chosen. Applications and objections carry their ``policy_code``.
- **Issuer** (发文单位): a policy code's issuer is its latest version's ``issuer``.
- **Deadlines.** An objection is due at ``due_at`` (15 working days, kit.workdays): *overdue* when due before now,
  *due soon* when due by the end of the third working day from today (kit.workdays.deadline(now, 3), as the officers'
  home card counts), *later* after that. Applications have no response deadline in the platform: every open one
  (submitted, or first approved and waiting for the second officer) is in the band *no deadline*.
- **Processing time**, in calendar days (elapsed hours ÷ 24): application submitted (``created_at``) → decided
  (``decided_at``: approved or rejected); objection raised (``created_at``) → answered (``answered_at``). p50 / p95
  are nearest-rank percentiles in Python (app.dashboard.percentile), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from app.dashboard import REGION_SQL, _day, _ts, bj_day, in_range, percentile
from kit import workdays
from kit.db import is_postgres, raw
from kit.time import now as clock_now

CHANNELS = ("inbox", "email", "sms", "webhook")
DELIVERY_STATES = ("sent", "failed", "deferred", "in_progress", "skipped")
IN_PROGRESS = ("queued", "sending", "retrying")
OPEN_APPLICATION = ("submitted", "first_approved")
NEAR_DAYS = 3  # working days: "due soon" is due by the end of the third working day from today
BANDS = ("overdue", "due_soon", "later", "no_deadline")


@dataclass(frozen=True)
class ServiceFilters:
    policy: str = ""
    date_from: str = ""  # YYYY-MM-DD, inclusive, Beijing days
    date_to: str = ""
    region: str = ""
    issuer: str = ""

    @classmethod
    def of(
        cls,
        policy: str | None,
        date_from: str | None,
        date_to: str | None,
        region: str | None,
        issuer: str | None,
    ) -> ServiceFilters:
        return cls(
            (policy or "").strip()[:64],
            _day(date_from),
            _day(date_to),
            (region or "").strip()[:6],
            (issuer or "").strip()[:200],
        )

    def query(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "date_from": self.date_from,
            "date_to": self.date_to,
            "region": self.region,
            "issuer": self.issuer,
        }


def _profiles(kind: str, subject: str) -> str:
    return (
        f"LEFT JOIN eligibility_enterprise e ON {kind} = 'enterprise' AND e.subject_id = {subject} "
        f"LEFT JOIN eligibility_talent t ON {kind} = 'talent' AND t.subject_id = {subject} "
    )


def _key_id(column: str) -> str:
    """The integer between the first and the second ':' of a notice key ("payment:12:money_arrived" → 12)."""
    if is_postgres():
        return f"CAST(split_part({column}, ':', 2) AS INTEGER)"
    rest = f"substr({column}, instr({column}, ':') + 1)"
    return f"CAST(substr({rest}, 1, instr({rest}, ':') - 1) AS INTEGER)"


def notice_policy_sql(n: str = "n") -> str:
    """The policy code of notice ``n``, read off its key (NULL for a notice of no policy)."""
    k, i = f"{n}.key", _key_id(f"{n}.key")
    return (
        "CASE "
        f"WHEN {k} LIKE 'matched:%' OR {k} LIKE 'reading:%' THEN (SELECT v.code FROM policies_version v WHERE v.id = {i}) "
        f"WHEN {k} LIKE 'payment:%' THEN (SELECT p.policy_code FROM pay_payment p WHERE p.id = {i}) "
        f"WHEN {k} LIKE 'withdrawn:%' THEN (SELECT x.policy_code FROM pay_entitlement x WHERE x.id = {i}) "
        f"WHEN {k} LIKE 'application:%' THEN (SELECT a.policy_code FROM policies_application a WHERE a.id = {i}) "
        f"WHEN {k} LIKE 'objection:%' THEN (SELECT o.policy_code FROM policies_objection o WHERE o.id = {i}) "
        "END"
    )


ISSUER_CODES = (
    "(SELECT v.code FROM policies_version v WHERE v.issuer = {} AND v.number = "
    "(SELECT MAX(v2.number) FROM policies_version v2 WHERE v2.code = v.code))"
)


def _where(f: ServiceFilters, policy: str, day: str | None) -> tuple[list[str], list[Any]]:
    """The filters over rows whose policy code is the expression ``policy`` and whose Beijing day is ``day``."""
    parts: list[str] = [in_range(day, f)] if day else []
    args: list[Any] = []
    if f.policy:
        parts.append(f"{policy} = {{}}")
        args.append(f.policy)
    if f.issuer:
        parts.append(f"{policy} IN {ISSUER_CODES}")
        args.append(f.issuer)
    if f.region:
        parts.append(f"{REGION_SQL} = {{}}")
        args.append(f.region)
    return parts, args


def _and(parts: list[str]) -> str:
    return " AND ".join(parts) or "1 = 1"


NOTICES_FROM = "FROM notifications_notice n " + _profiles("n.recipient_kind", "n.subject_id")


async def channels(f: ServiceFilters) -> list[dict[str, Any]]:
    """One row per channel: sent, failed, deferred, in progress, skipped, read (None where a state does not apply)."""
    parts, args = _where(f, notice_policy_sql(), bj_day("n.created_at"))
    inbox = await raw(
        "SELECT COUNT(*) AS sent, SUM(CASE WHEN n.read_at IS NOT NULL THEN 1 ELSE 0 END) AS read_n "
        f"{NOTICES_FROM}WHERE {_and(parts)}",
        *args,
    )
    progress = ", ".join(f"'{s}'" for s in IN_PROGRESS)
    rows = await raw(
        "SELECT d.channel AS channel, "
        "SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END) AS sent, "
        "SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) AS failed, "
        "SUM(CASE WHEN d.status = 'deferred' THEN 1 ELSE 0 END) AS deferred, "
        f"SUM(CASE WHEN d.status IN ({progress}) THEN 1 ELSE 0 END) AS in_progress, "
        "SUM(CASE WHEN d.status = 'skipped' THEN 1 ELSE 0 END) AS skipped "
        f"FROM notifications_delivery d JOIN notifications_notice n ON n.id = d.notice "
        f"{_profiles('n.recipient_kind', 'n.subject_id')}WHERE {_and(parts)} GROUP BY d.channel",
        *args,
    )
    by = {r["channel"]: r for r in rows}
    none = dict.fromkeys(("failed", "deferred", "in_progress", "skipped"))
    out = [{"key": "inbox", "sent": int(inbox[0]["sent"] or 0), **none, "read": int(inbox[0]["read_n"] or 0)}]
    for ch in [c for c in CHANNELS[1:]] + sorted(set(by) - set(CHANNELS)):
        r = by.get(ch, {})
        out.append({"key": ch, **{s: int(r.get(s) or 0) for s in DELIVERY_STATES}, "read": None})
    return out


async def trend(f: ServiceFilters) -> list[dict[str, Any]]:
    """Per Beijing day of the notices: written to the inbox, sent on an outside channel, failed on one."""
    day = bj_day("n.created_at")
    parts, args = _where(f, notice_policy_sql(), day)
    rows = await raw(
        f"SELECT {day} AS k, COUNT(DISTINCT n.id) AS inbox, "
        "SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END) AS sent, "
        "SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END) AS failed "
        "FROM notifications_notice n LEFT JOIN notifications_delivery d ON d.notice = n.id "
        f"{_profiles('n.recipient_kind', 'n.subject_id')}WHERE {_and(parts)} GROUP BY {day} ORDER BY {day}",
        *args,
    )
    return [{"key": r["k"], **{k: int(r[k] or 0) for k in ("inbox", "sent", "failed")}} for r in rows]


def _band_sums(due: str) -> str:
    return (
        f"SUM(CASE WHEN {due} < {{}} THEN 1 ELSE 0 END) AS overdue, "
        f"SUM(CASE WHEN {due} >= {{}} AND {due} <= {{}} THEN 1 ELSE 0 END) AS due_soon, "
        f"SUM(CASE WHEN {due} > {{}} THEN 1 ELSE 0 END) AS later"
    )


async def objection_bands(f: ServiceFilters, at: dt.datetime | None = None) -> dict[str, int | None]:
    """Open objections raised in the range: overdue, due soon (within NEAR_DAYS working days), later."""
    at = at or clock_now()
    soon = workdays.deadline(at, NEAR_DAYS)
    parts, args = _where(f, "o.policy_code", bj_day("o.created_at"))
    rows = await raw(
        f"SELECT COUNT(*) AS n, {_band_sums('o.due_at')} FROM policies_objection o "
        f"{_profiles('o.subject_kind', 'o.subject_id')}WHERE o.status = 'open' AND {_and(parts)}",
        at,
        at,
        soon,
        soon,
        *args,
    )
    r = rows[0]
    return {"overdue": int(r["overdue"] or 0), "due_soon": int(r["due_soon"] or 0), "later": int(r["later"] or 0),
            "no_deadline": 0, "open": int(r["n"] or 0)}  # fmt: skip


async def application_bands(f: ServiceFilters) -> dict[str, int | None]:
    """Open applications submitted in the range: all of them have no deadline (the platform sets none)."""
    parts, args = _where(f, "a.policy_code", bj_day("a.created_at"))
    states = ", ".join(f"'{s}'" for s in OPEN_APPLICATION)
    rows = await raw(
        f"SELECT COUNT(*) AS n FROM policies_application a {_profiles('a.subject_kind', 'a.subject_id')}"
        f"WHERE a.status IN ({states}) AND {_and(parts)}",
        *args,
    )
    n = int(rows[0]["n"] or 0)
    return {"overdue": None, "due_soon": None, "later": None, "no_deadline": n, "open": n}


def _days(start: Any, end: Any) -> float:
    return (_ts(end) - _ts(start)).total_seconds() / 86400


async def application_days(f: ServiceFilters) -> list[float]:
    """Submitted → decided, in calendar days, of each application decided in the range."""
    parts, args = _where(f, "a.policy_code", bj_day("a.decided_at"))
    rows = await raw(
        "SELECT a.created_at AS s, a.decided_at AS e FROM policies_application a "
        f"{_profiles('a.subject_kind', 'a.subject_id')}WHERE a.status IN ('approved', 'rejected') "
        f"AND a.decided_at IS NOT NULL AND {_and(parts)}",
        *args,
    )
    return [_days(r["s"], r["e"]) for r in rows]


async def objection_days(f: ServiceFilters) -> list[float]:
    """Raised → answered, in calendar days, of each objection answered in the range."""
    parts, args = _where(f, "o.policy_code", bj_day("o.answered_at"))
    rows = await raw(
        "SELECT o.created_at AS s, o.answered_at AS e FROM policies_objection o "
        f"{_profiles('o.subject_kind', 'o.subject_id')}WHERE o.status = 'answered' AND o.answered_at IS NOT NULL "
        f"AND {_and(parts)}",
        *args,
    )
    return [_days(r["s"], r["e"]) for r in rows]


def timing(days: list[float]) -> dict[str, Any]:
    return {"n": len(days), "p50": percentile(days, 50), "p95": percentile(days, 95)}


async def choices() -> dict[str, list[str]]:
    """The filter's choices: every policy code, the issuers of the latest versions, the regions of the profiles."""
    pol = await raw("SELECT DISTINCT code AS c FROM policies_version ORDER BY c")
    iss = await raw(
        "SELECT DISTINCT v.issuer AS c FROM policies_version v WHERE v.number = "
        "(SELECT MAX(v2.number) FROM policies_version v2 WHERE v2.code = v.code) ORDER BY c"
    )
    reg = await raw(
        "SELECT region_code AS c FROM eligibility_enterprise UNION SELECT region_code AS c FROM eligibility_talent "
        "ORDER BY c"
    )
    return {
        "policies": [r["c"] for r in pol if r["c"]],
        "issuers": [r["c"] for r in iss if r["c"]],
        "regions": [r["c"] for r in reg if r["c"]],
    }
