"""Matching a rule set against every profile of its kind: SQL push-down, or rule-engine per profile."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from eligibility import match_sql, standing
from eligibility import store as profile_store
from eligibility.errors import NotInEffect
from eligibility.explain import explain_profile
from eligibility.fields import derived_values
from eligibility.rules.closures import MEMO, CompiledRuleSet
from eligibility.rules.evaluate import ZERO, evaluate_values, in_effect
from eligibility.rules.sql import NotCompilable
from eligibility.schemas import MatchResult, MatchRun, RuleSet
from eligibility.tables import Match
from kit.audit import Actor
from kit.db import bulk_insert, in_list, raw, transaction
from kit.i18n import _l
from kit.metrics import MATCH_RUNS
from kit.money import fen_to_yuan, yuan_to_fen

_CHUNK = 5000
_MATCH_COLUMNS = (
    "ruleset_key",
    "version_id",
    "code",
    "subject_kind",
    "subject_id",
    "clauses",
    "amount_fen",
    "as_of",
    "profile_digest",
    "rule_digest",
    "match_digest",
    "created_at",
)
# Given, not read off the table: kit.db knows no array type of a Date column (as_of).
_MATCH_TYPES = (
    "text",
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "date",
    "text",
    "text",
    "text",
    "timestamptz",
)


def rule_digest(ruleset: RuleSet) -> str:
    """SHA-256 of the rule set as data: the version of the rule a match came from."""
    text = json.dumps(ruleset.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def match_digest(
    key: str, subject_id: str, clauses: list[str], amount_fen: int, profile_digest: str, rdigest: str
) -> str:
    text = "\x1f".join([key, subject_id, ";".join(clauses), str(amount_fen), profile_digest, rdigest])
    return hashlib.sha256(text.encode()).hexdigest()


def not_in_effect(ruleset: RuleSet, as_of: dt.date) -> NotInEffect:
    return NotInEffect(
        _l("policy {code} ({key}) is not in effect on {as_of}: it is effective from {start} to {until}"),
        code=ruleset.code,
        key=ruleset.key,
        as_of=as_of.isoformat(),
        start=ruleset.effective_from.isoformat(),
        until=ruleset.effective_to.isoformat() if ruleset.effective_to else _l("open-ended"),
    )


async def _profile_rows(kind: str, after: str | None, columns: str = "*") -> list[dict]:
    table = profile_store.TABLES[kind]
    name = table._meta.tablename
    if after is None:
        return await table.raw(f"SELECT {columns} FROM {name} ORDER BY subject_id LIMIT {_CHUNK}")
    return await table.raw(
        f"SELECT {columns} FROM {name} WHERE subject_id > {{}} ORDER BY subject_id LIMIT {_CHUNK}", after
    )


async def _python_path(ruleset: RuleSet, as_of: dt.date) -> tuple[list[tuple[MatchResult, str]], int]:
    """rule-engine per profile: the reference path, and the fallback for what SQL cannot express."""
    kind = ruleset.subject
    results: list[tuple[MatchResult, str]] = []
    total = 0
    after = None
    while True:
        rows = await _profile_rows(kind, after)
        if not rows:
            break
        for row in rows:
            profile = profile_store.from_row(kind, row)
            values = {**profile, **derived_values(kind, profile, as_of)}
            ev = evaluate_values(ruleset, values, as_of)
            if ev.eligible:
                results.append(
                    (MatchResult(subject_id=row["subject_id"], clauses=ev.clauses, amount=ev.amount), row["digest"])
                )
        total += len(rows)
        after = rows[-1]["subject_id"]
    return results, total


async def match_ruleset(
    ruleset: RuleSet,
    as_of: dt.date,
    *,
    store: bool = False,
    actor: Actor | None = None,
    force_python: bool = False,
    collect: bool = True,
) -> MatchRun:
    """Match ``ruleset`` against every profile of its subject kind as of ``as_of``; results sorted by
    subject id. ``store=True`` stores the matches idempotently (re-running stores nothing new).
    ``collect=False``: no per-subject results in the run, only the counts and total (on the SQL path no
    match row is then read into Python at all: the publish job and the demo need nothing more)."""
    do_store = store
    if not in_effect(ruleset, as_of):
        raise not_in_effect(ruleset, as_of)
    MATCH_RUNS.labels(str(ruleset.subject)).inc()
    # A rule set matched before: once this run is stored, its earlier matches are settled against it (withdrawn
    # where the subject no longer qualifies). A first run (a publication) has nothing to settle.
    settle_after = do_store and bool(
        await raw("SELECT 1 AS x FROM eligibility_match WHERE ruleset_key = {} LIMIT 1", ruleset.key)
    )
    reason = "asked for the rule-engine path" if force_python else None
    found: list[tuple[MatchResult, str]] | None = None
    total = 0
    if not force_python:
        try:
            # Everything in SQL (amounts too, stored with INSERT … SELECT) when the amounts are exact there.
            results, total, new, matched, total_fen = await match_sql.full_sql_path(
                ruleset, as_of, do_store=do_store, actor=actor, rdigest=rule_digest(ruleset), collect=collect
            )
            withdrawn = 0
            if settle_after:
                stale = await match_sql.stale_subjects(ruleset, as_of, rule_digest(ruleset))
                withdrawn = len(await resettle_ruleset(ruleset, as_of, actor=actor, subjects=stale))
            return MatchRun(
                key=ruleset.key,
                code=ruleset.code,
                as_of=as_of,
                results=results,
                matched=matched,
                total_amount=fen_to_yuan(total_fen),
                new=new,
                profiles=total,
                path="sql",
                withdrawn=withdrawn,
            )
        except NotCompilable:
            pass
        try:
            found, total = await match_sql.sql_path(ruleset, as_of)
        except NotCompilable as exc:
            reason = str(exc)
    if found is None:
        found, total = await _python_path(ruleset, as_of)
    found.sort(key=lambda r: r[0].subject_id)
    new = await _store(ruleset, as_of, found, actor) if do_store else 0
    withdrawn = len(await resettle_ruleset(ruleset, as_of, actor=actor)) if settle_after else 0
    results = [r for r, _ in found]
    return MatchRun(
        key=ruleset.key,
        code=ruleset.code,
        as_of=as_of,
        results=results if collect else [],
        matched=len(results),
        total_amount=sum((r.amount for r in results), ZERO),
        new=new,
        profiles=total,
        path="python" if reason else "sql",
        fallback_reason=reason,
        withdrawn=withdrawn,
    )


async def resettle_ruleset(
    ruleset: RuleSet, as_of: dt.date, *, actor: Actor | None, subjects: list[str] | None = None
) -> list[standing.Withdrawal]:
    """Every subject with a current match of ``ruleset`` (or only ``subjects``, when the caller knows the others'
    current row is already what they qualify for), evaluated again on its stored profile: its row of what it
    qualifies for now is current (older rows superseded), or its match is withdrawn with the failing conditions."""
    compiled = CompiledRuleSet(ruleset)
    kind = ruleset.subject
    table = profile_store.TABLES[kind]
    if subjects is None:
        subjects = await standing.current_subjects(ruleset.key)
    items: list[tuple[RuleSet, MatchResult, str]] = []
    missed: list[tuple[RuleSet, str]] = []
    profiles: dict[str, dict] = {}
    for i in range(0, len(subjects), 500):
        cond, args = in_list(subjects[i : i + 500])
        rows = {
            r["subject_id"]: r
            for r in await raw(f"SELECT * FROM {table._meta.tablename} WHERE subject_id {cond}", *args)
        }
        for sid in subjects[i : i + 500]:
            row = rows.get(sid)
            if row is not None:
                profile = profile_store.from_row(kind, row)
                clauses, amount = compiled.evaluate_values(
                    {**profile, **derived_values(kind, profile, as_of), MEMO: {}}
                )
                if clauses:
                    items.append((ruleset, MatchResult(subject_id=sid, clauses=clauses, amount=amount), row["digest"]))
                    continue
                profiles[sid] = profile
            missed.append((ruleset, sid))

    def reason_of(rs: RuleSet, sid: str) -> str:
        profile = profiles.get(sid)
        if not profile:
            return standing.NO_PROFILE
        return standing.failing_conditions(explain_profile(rs, sid, profile, as_of))

    _, withdrawn = await store_outcomes(items, missed, as_of, None, reason_of=reason_of, audit=actor)
    return withdrawn


async def _store(ruleset: RuleSet, as_of: dt.date, found: list[tuple[MatchResult, str]], actor: Actor | None) -> int:
    """Store one rule set's matches that are not stored yet; returns how many were new."""
    new = await store_results([(ruleset, r, d) for r, d in found], as_of, actor)
    return new


async def store_results(items: list[tuple[RuleSet, MatchResult, str]], as_of: dt.date, actor: Actor | None) -> int:
    """Store (rule set, result, profile digest) matches idempotently, in one transaction: a match is
    identified by its digest (rule set, subject, clauses, amount, profile data, rule version)."""
    new, _ = await store_outcomes(items, [], as_of, actor)
    return new


async def store_outcomes(
    items: list[tuple[RuleSet, MatchResult, str]],
    missed: list[tuple[RuleSet, str]],
    as_of: dt.date,
    actor: Actor | None,
    *,
    reason_of: Callable[[RuleSet, str], str] | None = None,
    audit: Actor | None = None,
) -> tuple[int, list[standing.Withdrawal]]:
    """store_results, and the subjects evaluated that do not qualify (``missed``: rule set, subject id): each stored
    row ends current, superseded or withdrawn (standing.settle), a withdrawal with ``reason_of(rule set, subject)``
    as its reason and audited by ``audit`` (or ``actor``). Returns (new matches, withdrawals)."""
    if not items and not missed:
        return 0, []
    now = dt.datetime.now(dt.UTC)
    rdigests: dict[str, str] = {}
    candidates = []
    for ruleset, r, pdigest in items:
        rdigest = rdigests.get(ruleset.key) or rdigests.setdefault(ruleset.key, rule_digest(ruleset))
        amount_fen = yuan_to_fen(r.amount)
        md = match_digest(ruleset.key, r.subject_id, r.clauses, amount_fen, pdigest, rdigest)
        candidates.append(
            (
                ruleset.key,
                ruleset.version_id,
                ruleset.code,
                ruleset.subject,
                r.subject_id,
                ";".join(r.clauses),
                amount_fen,
                as_of,
                pdigest,
                rdigest,
                md,
                now,
            )
        )
    existing: set[str] = set()
    keys = list(rdigests)
    if len(candidates) > 2000 and len(keys) == 1:
        existing = {
            r["match_digest"]
            for r in await Match.raw("SELECT match_digest FROM eligibility_match WHERE ruleset_key = {}", keys[0])
        }
    else:  # the matches stored of these subjects (indexed by subject; the digests are indexed only after rule set)
        subjects = sorted({c[4] for c in candidates})
        for i in range(0, len(subjects), 500):
            cond, args = in_list(subjects[i : i + 500])
            existing |= {
                r["match_digest"]
                for r in await raw(f"SELECT match_digest FROM eligibility_match WHERE subject_id {cond}", *args)
            }
    # Rows stored before (any state) may have to change state; with none, every new row is simply current.
    must_settle = bool(missed) or bool(existing)
    rows = []
    for c in candidates:
        if c[10] not in existing:
            existing.add(c[10])
            rows.append(c)
    if not rows and actor is None and not must_settle:
        return 0, []
    withdrawn: list[standing.Withdrawal] = []
    async with transaction():
        await bulk_insert(
            Match,
            _MATCH_COLUMNS,
            rows,
            types=_MATCH_TYPES,
            suffix="ON CONFLICT (ruleset_key, subject_id, match_digest) DO NOTHING",
        )
        if actor is not None:
            for key in keys:
                n_new = sum(1 for r in rows if r[0] == key)
                n_found = sum(1 for c in candidates if c[0] == key)
                await actor.record(
                    "eligibility.match",
                    "ruleset",
                    key,
                    after={"new": n_new},
                    detail={"as_of": as_of.isoformat(), "new": n_new, "matched": n_found},
                )
        if must_settle:
            withdrawn = await standing.settle(
                [(rs, c[4], c[10]) for (rs, _, _), c in zip(items, candidates)],
                missed,
                reason_of=reason_of or _no_reason,
                actor=audit or actor,
            )
    return len(rows), withdrawn


def _no_reason(ruleset: RuleSet, subject_id: str) -> str:
    return "不符合"
