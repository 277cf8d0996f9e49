"""风险拦截 (risk controls before money leaves): eight rules over the platform's own data, each one set-based SQL
statement (the same on PostgreSQL and SQLite) over every entitlement money is about to leave for — payable, or in a
batch whose payment is not sent yet. A hit is a ``pay_risk_flag`` row with its evidence; an open or confirmed flag
holds the entitlement out of batches (batches.create_batch) and out of runs (``screen_run``) until an auditor clears
it — with a reason, audited; a high-severity flag needs a second, different auditor (四眼). docs/oversight.md
describes each rule and its thresholds (``RiskSettings``, from ZHIDA_RISK_* in app/config.py).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from kit.audit import Actor
from kit.db import in_list, is_postgres, raw, sql_literals, transaction
from kit.i18n import _l
from kit.time import now
from kit.vocab import EntitlementState, PaymentException, PaymentStatus, Role
from payments.errors import Forbidden, InvalidState, NotFound, PaymentsError
from payments.service import ledger
from payments.service.ledger import EntryType, Move

OPEN, CLEARED, CONFIRMED = "open", "cleared", "confirmed"
HOLDING = (OPEN, CONFIRMED)  # the states that keep an entitlement from the money
SEVERITIES = ("high", "medium", "low")
RISK_HOLD = "RISK_HOLD"  # a withheld payment's reason code
# What a subject is counted as receiving: payable, in a batch, or paid.
_BENEFIT = sql_literals([EntitlementState.PAYABLE, EntitlementState.BATCHED, EntitlementState.PAID])
_TARGET = (
    f"((e.state = {sql_literals([EntitlementState.PAYABLE])} AND e.batch_id IS NULL) OR "
    f"(e.state = {sql_literals([EntitlementState.BATCHED])} AND EXISTS (SELECT 1 FROM pay_payment pp "
    f"WHERE pp.entitlement_id = e.id AND pp.status = {sql_literals([PaymentStatus.CREATED])} "
    "AND pp.exception = '')))"
)


@dataclass(frozen=True)
class RiskSettings:
    """The rules' thresholds (amounts in fen). Defaults are the documented ones; app/config.py reads ZHIDA_RISK_*."""

    shared_account_subjects: int = 2  # R1: an account receiving for at least this many subjects
    account_change_days: int = 7  # R2: a corrected account confirmed this recently
    new_enterprise_months: int = 6  # R3: founded less than this many months before the policy took effect
    new_enterprise_min_fen: int = 5_000_000  # R3: … and receiving at least this (50,000.00 yuan)
    employer_max_benefits: int = 20  # R4: an employer whose talents hold at least this many benefits
    year_total_max_fen: int = 100_000_000  # R5: a subject's benefits this year above this (1,000,000.00 yuan)
    year_total_tax_multiple: int = 2  # R5: … or above k × its tax_paid (enterprises paying tax)
    no_insured_min_fen: int = 10_000_000  # R7: an award at least this large (100,000.00 yuan) with no insured staff
    below_threshold_fen: int = 5_000_000  # R8: the second-approval threshold (application four-eyes), in fen
    below_threshold_percent: int = 5  # R8: within this percentage below it
    below_threshold_min_count: int = 3  # R8: at least this many entitlements of one policy in the band


@dataclass(frozen=True)
class Rule:
    code: str
    severity: str
    title: str  # an English msgid (the catalog has its Chinese)


RULES: tuple[Rule, ...] = (
    Rule("shared_account", "high", _l("one payee account receives for several subjects")),
    Rule("account_change", "medium", _l("account corrected shortly before payment, or verified by the batch maker")),
    Rule("new_enterprise", "medium", _l("enterprise founded shortly before the policy took effect, large award")),
    Rule("employer_cluster", "medium", _l("one employer linked to an unusual number of talent benefits")),
    Rule("year_total", "high", _l("a subject's benefits this year above the limit or above k × its tax paid")),
    Rule("exclusive_multi", "high", _l("benefits in one exclusive group under several issuers")),
    Rule("no_insured", "high", _l("enterprise with no insured employees receiving a large award")),
    Rule("below_threshold", "medium", _l("amounts bunched just below the second-approval threshold")),
)
RULE_BY_CODE = {r.code: r for r in RULES}


def _json_text(column: str, key: str) -> str:
    """A text member of a JSON text column, in the dialect at hand (the one place the statements differ)."""
    return f"(CAST({column} AS json) ->> '{key}')" if is_postgres() else f"json_extract({column}, '$.{key}')"


def _month_index(ymd: str) -> str:
    """Months since year 0 of an integer YYYYMMDD expression (integer division in both dialects)."""
    return f"(({ymd}) / 10000 * 12 + (({ymd}) / 100) % 100)"


def _year_start() -> dt.datetime:
    """1 January of the current year, Beijing time."""
    china = dt.timezone(dt.timedelta(hours=8))
    return dt.datetime(now().astimezone(china).year, 1, 1, tzinfo=china)


def statements(s: RiskSettings) -> dict[str, tuple[str, list[Any]]]:
    """Each rule's statement and its arguments: rows of entitlement id plus the figures that make the evidence."""
    eff_ymd = "CAST(REPLACE(e.effective_from, '-', '') AS INTEGER)"
    subject = "(x.subject_kind || ':' || x.subject_id)"
    return {
        "shared_account": (
            "SELECT e.id, e.payee_account AS account, a.subjects FROM pay_entitlement e JOIN "
            f"(SELECT x.payee_account, COUNT(DISTINCT {subject}) AS subjects FROM pay_entitlement x "
            f"WHERE x.payee_account <> '' AND x.state IN ({_BENEFIT}) GROUP BY x.payee_account "
            f"HAVING COUNT(DISTINCT {subject}) >= {{}}) a ON a.payee_account = e.payee_account WHERE {_TARGET}",
            [s.shared_account_subjects],
        ),
        "account_change": (
            "SELECT e.id, s.account, s.confirmed_at, s.verified_by, s.verified_at, b.id AS batch, b.maker, "
            "CASE WHEN b.maker IS NOT NULL AND s.verified_by = b.maker THEN 1 ELSE 0 END AS maker_verified "
            "FROM pay_entitlement e JOIN policies_subject_account s ON s.subject_kind = e.subject_kind "
            "AND s.subject_id = e.subject_id AND s.account = e.payee_account AND s.source = 'corrected' "
            "LEFT JOIN pay_batch b ON b.id = e.batch_id "
            f"WHERE {_TARGET} AND (s.confirmed_at >= {{}} OR s.verified_at >= {{}} "
            "OR (b.maker IS NOT NULL AND s.verified_by = b.maker))",
            [now() - dt.timedelta(days=s.account_change_days)] * 2,
        ),
        "new_enterprise": (
            "SELECT e.id, p.founded_on_ymd AS founded_on, e.effective_from, e.amount_fen, "
            f"{_month_index(eff_ymd)} - {_month_index('p.founded_on_ymd')} AS months_before "
            "FROM pay_entitlement e JOIN eligibility_enterprise p ON p.subject_id = e.subject_id "
            f"WHERE e.subject_kind = 'enterprise' AND e.effective_from <> '' AND {_TARGET} AND e.amount_fen >= {{}} "
            f"AND {_month_index(eff_ymd)} - {_month_index('p.founded_on_ymd')} < {{}}",
            [s.new_enterprise_min_fen, s.new_enterprise_months],
        ),
        "employer_cluster": (
            "SELECT e.id, t.employer_uscc AS employer, g.benefits, g.talents FROM pay_entitlement e "
            "JOIN eligibility_talent t ON t.subject_id = e.subject_id JOIN "
            "(SELECT t2.employer_uscc, COUNT(*) AS benefits, COUNT(DISTINCT x.subject_id) AS talents "
            "FROM pay_entitlement x JOIN eligibility_talent t2 ON t2.subject_id = x.subject_id "
            f"WHERE x.subject_kind = 'talent' AND x.state IN ({_BENEFIT}) AND t2.employer_uscc IS NOT NULL "
            "AND t2.employer_uscc <> '' GROUP BY t2.employer_uscc HAVING COUNT(*) >= {}) g "
            f"ON g.employer_uscc = t.employer_uscc WHERE e.subject_kind = 'talent' AND {_TARGET}",
            [s.employer_max_benefits],
        ),
        "year_total": (
            f"SELECT e.id, y.total_fen, p.tax_paid_fen, {int(s.year_total_max_fen)} AS year_limit_fen, "
            f"{int(s.year_total_tax_multiple)} AS tax_multiple FROM pay_entitlement e "
            "JOIN (SELECT x.subject_kind, x.subject_id, SUM(x.amount_fen) AS total_fen FROM pay_entitlement x "
            f"WHERE x.state IN ({_BENEFIT}) AND x.created_at >= {{}} GROUP BY x.subject_kind, x.subject_id) y "
            "ON y.subject_kind = e.subject_kind AND y.subject_id = e.subject_id "
            "LEFT JOIN eligibility_enterprise p ON e.subject_kind = 'enterprise' AND p.subject_id = e.subject_id "
            f"WHERE {_TARGET} AND e.created_at >= {{}} AND (y.total_fen > {{}} "
            f"OR (p.tax_paid_fen > 0 AND y.total_fen > {int(s.year_total_tax_multiple)} * p.tax_paid_fen))",
            [_year_start(), _year_start(), s.year_total_max_fen],
        ),
        "exclusive_multi": (
            "SELECT e.id, e.exclusive_group, g.issuers, g.policies FROM pay_entitlement e JOIN "
            f"(SELECT x.subject_kind, x.subject_id, x.exclusive_group, "
            f"COUNT(DISTINCT {_json_text('b.policy_facts', 'issuer')}) AS issuers, "
            "COUNT(DISTINCT x.policy_code) AS policies FROM pay_entitlement x "
            "JOIN pay_budget b ON b.version_id = x.version_id "
            f"WHERE x.exclusive_group IS NOT NULL AND x.exclusive_group <> '' AND x.state IN ({_BENEFIT}) "
            "GROUP BY x.subject_kind, x.subject_id, x.exclusive_group "
            f"HAVING COUNT(DISTINCT {_json_text('b.policy_facts', 'issuer')}) >= 2) g "
            "ON g.subject_kind = e.subject_kind AND g.subject_id = e.subject_id "
            f"AND g.exclusive_group = e.exclusive_group WHERE {_TARGET}",
            [],
        ),
        "no_insured": (
            "SELECT e.id, e.amount_fen, p.employees, p.unemployment_insurance_paid_fen AS insurance_paid_fen "
            "FROM pay_entitlement e JOIN eligibility_enterprise p ON p.subject_id = e.subject_id "
            f"WHERE e.subject_kind = 'enterprise' AND {_TARGET} AND e.amount_fen >= {{}} "
            "AND (p.employees = 0 OR p.unemployment_insurance_paid_fen = 0)",
            [s.no_insured_min_fen],
        ),
        "below_threshold": (
            f"SELECT e.id, e.amount_fen, {int(s.below_threshold_fen)} AS threshold_fen, c.in_band FROM pay_entitlement e "
            "JOIN "
            "(SELECT x.policy_code, COUNT(*) AS in_band FROM pay_entitlement x "
            f"WHERE x.state IN ({_BENEFIT}) AND x.amount_fen < {{}} AND x.amount_fen * 100 >= {{}} "
            "GROUP BY x.policy_code HAVING COUNT(*) >= {}) c ON c.policy_code = e.policy_code "
            f"WHERE {_TARGET} AND e.amount_fen < {{}} AND e.amount_fen * 100 >= {{}}",
            [
                s.below_threshold_fen,
                s.below_threshold_fen * (100 - s.below_threshold_percent),
                s.below_threshold_min_count,
                s.below_threshold_fen,
                s.below_threshold_fen * (100 - s.below_threshold_percent),
            ],
        ),
    }


def _plain(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, bytes | bytearray):
        return v.decode()
    return v


@dataclass
class ScanResult:
    found: dict[str, int] = field(default_factory=dict)  # hits per rule
    created: int = 0
    refreshed: int = 0
    seconds: float = 0.0


async def evaluate(settings: RiskSettings | None = None) -> dict[str, list[dict[str, Any]]]:
    """Each rule's hits (rows of entitlement id and figures), without writing anything."""
    s = settings or RiskSettings()
    out: dict[str, list[dict[str, Any]]] = {}
    for code, (sql, args) in statements(s).items():
        out[code] = [{k: _plain(v) for k, v in dict(r).items()} for r in await raw(sql, *args)]
    return out


async def scan(*, actor: Actor, settings: RiskSettings | None = None) -> ScanResult:
    """Every rule over every entitlement money is about to leave for; a hit becomes (or refreshes) an open flag.
    Idempotent: one flag per rule and entitlement; a flag an auditor decided keeps its decision."""
    import time

    started = time.perf_counter()
    s = settings or RiskSettings()
    hits = await evaluate(s)
    result = ScanResult(found={k: len(v) for k, v in hits.items()})
    at = now()
    ids = sorted({int(r["id"]) for rows in hits.values() for r in rows})
    ents: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), 5000):
        marks, args = in_list(ids[i : i + 5000])
        for e in await raw(
            f"SELECT id, policy_code, subject_kind, subject_id, amount_fen FROM pay_entitlement WHERE id {marks}",
            *args,
        ):
            ents[int(e["id"])] = e
    existing: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), 5000):
        marks, args = in_list(ids[i : i + 5000])
        for f in await raw(f"SELECT id, key, state, evidence FROM pay_risk_flag WHERE entitlement_id {marks}", *args):
            existing[f["key"]] = f
    new_rows: list[tuple[Any, ...]] = []
    async with transaction():
        for code, rows in hits.items():
            rule = RULE_BY_CODE[code]
            for r in rows:
                eid = int(r["id"])
                e = ents[eid]
                figures = {k: v for k, v in r.items() if k != "id"}
                severity = "high" if code == "account_change" and r.get("maker_verified") else rule.severity
                evidence = json.dumps(
                    {"rule": code, "figures": figures, "thresholds": asdict(s)}, ensure_ascii=False, default=str
                )
                key = f"{code}|{eid}"
                old = existing.get(key)
                if old is None:
                    new_rows.append(
                        (key, code, severity, eid, e["policy_code"], e["subject_kind"], e["subject_id"],
                         int(e["amount_fen"]), evidence, OPEN, at, at)
                    )  # fmt: skip
                elif old["state"] == OPEN:
                    await raw(
                        "UPDATE pay_risk_flag SET evidence = {}, severity = {}, updated_at = {} WHERE id = {}",
                        evidence,
                        severity,
                        at,
                        old["id"],
                    )
                    result.refreshed += 1
        for row in new_rows:
            await raw(
                "INSERT INTO pay_risk_flag (key, rule, severity, entitlement_id, policy_code, subject_kind, "
                "subject_id, amount_fen, evidence, state, first_reason, reason, created_at, updated_at) "
                "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, '', '', {}, {})",
                *row,
            )
        result.created = len(new_rows)
        await actor.record(
            "risk.scan",
            "risk",
            "scan",
            None,
            None,
            detail={"found": result.found, "created": result.created, "refreshed": result.refreshed},
        )
    result.seconds = time.perf_counter() - started
    return result


async def holding(entitlement_ids: list[int]) -> dict[int, list[str]]:
    """Of these entitlements, those an open or confirmed flag holds: their rules."""
    out: dict[int, list[str]] = {}
    for i in range(0, len(entitlement_ids), 5000):
        marks, args = in_list(entitlement_ids[i : i + 5000])
        for r in await raw(
            f"SELECT entitlement_id, rule FROM pay_risk_flag WHERE entitlement_id {marks} "
            f"AND state IN ({sql_literals(HOLDING)}) ORDER BY rule",
            *args,
        ):
            out.setdefault(int(r["entitlement_id"]), []).append(r["rule"])
    return out


async def screen_run(batch_id: int, *, actor: Actor) -> list[int]:
    """At the start of a run (start_batch's transaction): a payment not sent yet whose entitlement a flag holds is
    withheld (void, never sent, reason RISK_HOLD), its reservation released and its entitlement payable again —
    out of any batch until the flag is cleared. Returns the withheld payment ids."""
    pays = await raw(
        f"SELECT id, entitlement_id, version_id, amount_fen FROM pay_payment WHERE batch_id = {{}} "
        f"AND status = {sql_literals([PaymentStatus.CREATED])} AND exception = ''",
        batch_id,
    )
    if not pays:
        return []
    held = await holding([int(p["entitlement_id"]) for p in pays])
    if not held:
        return []
    at = now()
    moves: list[Move] = []
    withheld: list[int] = []
    for p in pays:
        if int(p["entitlement_id"]) not in held:
            continue
        done = await raw(
            f"UPDATE pay_payment SET status = {sql_literals([PaymentStatus.VOID])}, "
            f"exception = {sql_literals([PaymentException.WITHHELD])}, reason = {{}}, updated_at = {{}} "
            f"WHERE id = {{}} AND status = {sql_literals([PaymentStatus.CREATED])} AND exception = '' RETURNING id",
            RISK_HOLD,
            at,
            p["id"],
        )
        if not done:
            continue
        withheld.append(int(p["id"]))
        moves.append(Move(EntryType.reversal, p["version_id"], p["amount_fen"], batch_id=batch_id, payment_id=p["id"]))
        await raw(
            f"UPDATE pay_entitlement SET state = {sql_literals([EntitlementState.PAYABLE])}, batch_id = NULL, "
            f"updated_at = {{}} WHERE id = {{}} AND state = {sql_literals([EntitlementState.BATCHED])}",
            at,
            p["entitlement_id"],
        )
    await ledger.post(moves)
    if withheld:
        await actor.record(
            "batch.risk_hold",
            "batch",
            batch_id,
            None,
            {"withheld": withheld},
            detail={
                "payments": len(withheld),
                "released_fen": sum(m.amount_fen for m in moves),
                "rules": sorted({r for rules in held.values() for r in rules}),
            },
        )
    return withheld


async def _flag_row(flag_id: int, lock: bool = True) -> dict[str, Any]:
    rows = await raw(
        "SELECT * FROM pay_risk_flag WHERE id = {}" + (" FOR UPDATE" if lock and is_postgres() else ""), flag_id
    )
    if not rows:
        raise NotFound(_l("risk flag {flag_id} does not exist"), flag_id=flag_id)
    return dict(rows[0])


def _require_auditor(actor: Actor) -> None:
    if actor.role != Role.AUDITOR:
        raise Forbidden(
            _l("only an auditor may decide on a risk flag; {name} is {actor_role}"),
            name=actor.name,
            actor_role=actor.role,
        )


def _require_reason(reason: str) -> str:
    if not reason.strip():
        raise PaymentsError(_l("say why (a reason is required to decide on a risk flag)"))
    return reason.strip()


def _summary(f: dict[str, Any]) -> dict[str, Any]:
    return {k: f[k] for k in ("state", "severity", "rule", "entitlement_id", "first_cleared_by", "decided_by")}


async def clear(flag_id: int, *, actor: Actor, reason: str) -> str:
    """An auditor clears a flag (the entitlement may be paid again). A high-severity flag needs two different
    auditors: the first clearing is recorded and the flag stays open; the second, by someone else, clears it.
    Returns the flag's state afterwards."""
    _require_auditor(actor)
    why = _require_reason(reason)
    async with transaction():
        f = await _flag_row(flag_id)
        if f["state"] not in HOLDING:
            raise InvalidState(_l("risk flag {flag_id} is {state} already"), flag_id=flag_id, state=f["state"])
        at = now()
        if f["severity"] == "high" and not f["first_cleared_by"]:
            await raw(
                "UPDATE pay_risk_flag SET first_cleared_by = {}, first_cleared_at = {}, first_reason = {}, "
                "updated_at = {} WHERE id = {}",
                actor.name,
                at,
                why,
                at,
                flag_id,
            )
            await actor.record(
                "risk.clear_first", "risk_flag", flag_id, _summary(f), {**_summary(f), "first_cleared_by": actor.name},
                detail={"reason": why[:200]},
            )  # fmt: skip
            return OPEN
        if f["severity"] == "high" and f["first_cleared_by"] == actor.name:
            raise Forbidden(
                _l(
                    "{name} cleared risk flag {flag_id} already; a second, different auditor must clear a high-severity flag"
                ),
                name=actor.name,
                flag_id=flag_id,
            )
        await raw(
            "UPDATE pay_risk_flag SET state = {}, decided_by = {}, decided_at = {}, reason = {}, updated_at = {} "
            "WHERE id = {}",
            CLEARED,
            actor.name,
            at,
            why,
            at,
            flag_id,
        )
        await actor.record(
            "risk.clear", "risk_flag", flag_id, _summary(f), {**_summary(f), "state": CLEARED, "decided_by": actor.name},
            detail={"reason": why[:200]},
        )  # fmt: skip
    return CLEARED


async def confirm(flag_id: int, *, actor: Actor, reason: str) -> str:
    """An auditor confirms a flag: the risk is real, the entitlement stays held."""
    _require_auditor(actor)
    why = _require_reason(reason)
    async with transaction():
        f = await _flag_row(flag_id)
        if f["state"] != OPEN:
            raise InvalidState(_l("risk flag {flag_id} is {state} already"), flag_id=flag_id, state=f["state"])
        at = now()
        await raw(
            "UPDATE pay_risk_flag SET state = {}, decided_by = {}, decided_at = {}, reason = {}, updated_at = {} "
            "WHERE id = {}",
            CONFIRMED,
            actor.name,
            at,
            why,
            at,
            flag_id,
        )
        await actor.record(
            "risk.confirm", "risk_flag", flag_id, _summary(f),
            {**_summary(f), "state": CONFIRMED, "decided_by": actor.name}, detail={"reason": why[:200]},
        )  # fmt: skip
    return CONFIRMED


async def get_flag(flag_id: int) -> dict[str, Any]:
    f = await _flag_row(flag_id, lock=False)
    f["evidence"] = json.loads(f["evidence"] or "{}")
    return f


async def list_flags(
    *, state: str | None = None, severity: str | None = None, rule: str | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    sql, args = "SELECT * FROM pay_risk_flag WHERE 1 = 1", []
    for col, val in (("state", state), ("severity", severity), ("rule", rule)):
        if val:
            sql += f" AND {col} = {{}}"
            args.append(val)
    rows = await raw(sql + " ORDER BY id DESC LIMIT {}", *args, limit)
    return [dict(r) for r in rows]
