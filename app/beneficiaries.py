"""Who a policy reaches (/oversight/funnel, a policy chosen): its money by clause and by district, and the aggregate
profile of its beneficiaries — 企业画像 (scale, industry, founding age) and 人才画像 (education, age). One SQL per table,
the same on PostgreSQL and SQLite; aggregates only, no subject is named. Every table is empty without a policy.

- matched: current matches (``eligibility_match``) of the code, on the match's day; entitled: entitlements that may be
  paid (waiting for an account, payable, amount changed, in a batch, paid) created in the range; paid: those paid,
  settled in the range — the funnel's stages (app/dashboard.py). Subjects are counted once per group (distinct).
- by clause: a match's clauses (``clauses``) and an entitlement's (``clause_codes``): the clause it is paid under; a
  subject paid under several clauses of a ``sum`` policy counts under their combination (e.g. ``A;B``).
- by district: the subject's current profile's ``region_code``, "" when none is stored.
- a **beneficiary** is a subject with an entitlement of the code that is entitled or paid, as above; its amounts are
  those entitlements' (entitled) and the paid ones' (paid). The profile is the current one; "" when none is stored.
- founding age / age: whole years from ``founded_on_ymd`` / ``birth_on_ymd`` to the date filter's end, else today
  (Beijing): under 3 years ⇔ as_of − founded < 30000 on YYYYMMDD integers, so no date arithmetic in SQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from app.dashboard import LIVE_STATES, REGION_SQL, Filters, _profiles_of, bj_day, in_range
from kit.db import raw

ENTERPRISE_AGE = (("lt3", 30_000), ("3to10", 100_000), ("ge10", None))
TALENT_AGE = (("lt30", 300_000), ("30to35", 350_000), ("35to45", 450_000), ("ge45", None))


def as_of(f: Filters, at: dt.datetime | None = None) -> dt.date:
    """The day ages are counted to: the date filter's end, else today in Beijing (UTC+8, no daylight saving)."""
    if f.date_to:
        return dt.date.fromisoformat(f.date_to)
    return ((at or dt.datetime.now(dt.UTC)) + dt.timedelta(hours=8)).date()


def _band(column: str, bands: tuple[tuple[str, int | None], ...], ymd: int) -> str:
    """A CASE giving the band of the whole years from ``column`` (YYYYMMDD) to ``ymd``; "" when unknown."""
    whens = [f"WHEN {ymd} - {column} < {limit} THEN '{name}'" for name, limit in bands if limit is not None]
    return f"CASE WHEN {column} IS NULL OR {column} <= 0 THEN '' {' '.join(whens)} ELSE '{bands[-1][0]}' END"


def _stage_conds(f: Filters) -> tuple[str, str]:
    """(entitled, paid) over an entitlement ``x`` with the date filter, as the funnel counts them."""
    entitled = in_range(bj_day("x.created_at"), f)
    paid = "x.state = 'paid'"
    if f.date_from or f.date_to:
        paid += (
            " AND EXISTS (SELECT 1 FROM pay_payment pp WHERE pp.entitlement_id = x.id AND pp.status = 'settled' "
            f"AND {in_range('pp.settled_on', f)})"
        )
    return entitled, paid


async def money_by(group: str, f: Filters) -> list[dict[str, Any]]:
    """By ``group`` (clause | region): subjects and amounts (fen) matched, entitled and paid under the chosen policy."""
    if not f.policy:
        return []
    region = [f"{REGION_SQL} = {{}}"] if f.region else []
    m_key, x_key = ("m.clauses", "x.clause_codes") if group == "clause" else (REGION_SQL, REGION_SQL)
    entitled, paid = _stage_conds(f)
    matched = in_range(bj_day("m.created_at"), f)
    states = ", ".join(f"'{s}'" for s in LIVE_STATES)
    m_where = " AND ".join(["m.state = 'current'", "m.code = {}", *region])
    x_where = " AND ".join([f"x.state IN ({states})", "x.policy_code = {}", *region])
    sql = (
        "SELECT u.k AS k, COUNT(DISTINCT CASE WHEN u.mn = 1 THEN u.s END) AS matched_n, SUM(u.mf) AS matched_fen, "
        "COUNT(DISTINCT CASE WHEN u.en = 1 THEN u.s END) AS entitled_n, SUM(u.ef) AS entitled_fen, "
        "COUNT(DISTINCT CASE WHEN u.pn = 1 THEN u.s END) AS paid_n, SUM(u.pf) AS paid_fen FROM ("
        f"SELECT {m_key} AS k, m.subject_kind || ':' || m.subject_id AS s, CASE WHEN {matched} THEN 1 ELSE 0 END AS mn, "
        f"CASE WHEN {matched} THEN m.amount_fen ELSE 0 END AS mf, 0 AS en, 0 AS ef, 0 AS pn, 0 AS pf "
        f"FROM eligibility_match m {_profiles_of('m')}WHERE {m_where} "
        "UNION ALL "
        f"SELECT {x_key} AS k, x.subject_kind || ':' || x.subject_id AS s, 0 AS mn, 0 AS mf, "
        f"CASE WHEN {entitled} THEN 1 ELSE 0 END AS en, CASE WHEN {entitled} THEN x.amount_fen ELSE 0 END AS ef, "
        f"CASE WHEN {paid} THEN 1 ELSE 0 END AS pn, CASE WHEN {paid} THEN x.amount_fen ELSE 0 END AS pf "
        f"FROM pay_entitlement x {_profiles_of('x')}WHERE {x_where}"
        ") u GROUP BY u.k HAVING SUM(u.mn) + SUM(u.en) + SUM(u.pn) > 0 ORDER BY u.k"
    )
    reg = [f.region] if f.region else []
    rows = await raw(sql, f.policy, *reg, f.policy, *reg)
    return [{**{k: int(v or 0) for k, v in r.items() if k != "k"}, "key": r["k"] or ""} for r in rows]


PROFILE_KEYS = {
    "enterprise_scale": ("enterprise", "COALESCE(e.scale, '')"),
    "enterprise_industry": ("enterprise", "COALESCE(substr(e.industry_code, 1, 1), '')"),
    "enterprise_age": ("enterprise", None),
    "talent_education": ("talent", "COALESCE(t.education, '')"),
    "talent_age": ("talent", None),
}
ORDER = {
    "enterprise_scale": ("large", "medium", "small", "micro"),
    "enterprise_age": tuple(b for b, _ in ENTERPRISE_AGE),
    "talent_education": ("doctor", "master", "bachelor", "college", "other"),
    "talent_age": tuple(b for b, _ in TALENT_AGE),
}


async def profile_by(dimension: str, f: Filters, at: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The chosen policy's beneficiaries of one kind by ``dimension`` (a PROFILE_KEYS key): beneficiaries, those paid,
    amounts entitled and paid (fen)."""
    if not f.policy:
        return []
    kind, key = PROFILE_KEYS[dimension]
    ymd = int(as_of(f, at).strftime("%Y%m%d"))
    if key is None:
        key = (
            _band("e.founded_on_ymd", ENTERPRISE_AGE, ymd)
            if kind == "enterprise"
            else _band("t.birth_on_ymd", TALENT_AGE, ymd)
        )
    p = "e" if kind == "enterprise" else "t"
    table = "eligibility_enterprise" if kind == "enterprise" else "eligibility_talent"
    entitled, paid = _stage_conds(f)
    states = ", ".join(f"'{s}'" for s in LIVE_STATES)
    where, args = (f"WHERE {p}.region_code = {{}}", [f.region]) if f.region else ("", [])
    rows = await raw(
        f"SELECT {key} AS k, COUNT(*) AS n, SUM(CASE WHEN b.pf > 0 THEN 1 ELSE 0 END) AS paid_n, "
        "SUM(b.ef) AS entitled_fen, SUM(b.pf) AS paid_fen FROM ("
        f"SELECT x.subject_id AS sid, SUM(CASE WHEN {entitled} THEN x.amount_fen ELSE 0 END) AS ef, "
        f"SUM(CASE WHEN {paid} THEN x.amount_fen ELSE 0 END) AS pf FROM pay_entitlement x "
        f"WHERE x.policy_code = {{}} AND x.subject_kind = '{kind}' AND x.state IN ({states}) "
        f"AND (({entitled}) OR ({paid})) GROUP BY x.subject_id"
        f") b LEFT JOIN {table} {p} ON {p}.subject_id = b.sid {where} GROUP BY {key}",
        f.policy,
        *args,
    )
    out = [{**{k: int(v or 0) for k, v in r.items() if k != "k"}, "key": r["k"] or ""} for r in rows]
    order = ORDER.get(dimension, ())
    # the bands and enum values in their natural order, anything else after them, "" (no profile) last
    return sorted(out, key=lambda r: (r["key"] == "", order.index(r["key"]) if r["key"] in order else 99, r["key"]))
