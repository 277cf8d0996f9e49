"""Incremental matching: changed profiles against every active rule set of their kind.

Two ways to the same outcomes (tests/eligibility/test_delta.py holds them equal on random policies and profiles):
- per profile, in Python, through the compiled closures (rulesets.py): no fixed cost, so best for a handful of
  profiles (one edited in the portal, one API upsert);
- set-based (``delta``): one SQL statement per live rule set over the whole changed set (the push-down compiler of
  the full matcher, restricted to the changed rows by their ids), Python only for rule sets SQL cannot compute.
A set of at least SET_MIN profiles takes the set-based way (bench/province.py measures where they cross).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from eligibility import match_sql, store
from eligibility.explain import explain_profile
from eligibility.matcher import store_outcomes
from eligibility.profiles import profile_digest
from eligibility.rules.closures import MEMO, CompiledRuleSet
from eligibility.rules.evaluate import in_effect
from eligibility.rules.language import rule_values
from eligibility.rules.sql import NotCompilable
from eligibility.rulesets import compiled_rulesets, invalidate
from eligibility.schemas import MatchResult, RuleSet
from eligibility.service import get_profile
from eligibility.standing import Withdrawal, failing_conditions
from kit.audit import Actor
from kit.db import in_list, raw
from kit.vocab import MatchState, SubjectKind

# The changed-set size from which the set-based way is taken (see the module's docstring).
SET_MIN = 500
# Row ids per statement of the set-based way.
SET_CHUNK = 2000

__all__ = [
    "compiled_rulesets",
    "evaluate_all",
    "evaluate_outcomes",
    "invalidate",
    "profile_ids_of",
    "rematch_profiles",
    "rematch_profiles_outcomes",
    "rematch_subject",
    "rematch_subject_outcomes",
    "rematch_subjects",
    "rematch_subjects_outcomes",
]


def evaluate_all(
    compiled: list[CompiledRuleSet], kind: str, profile: dict, as_of: dt.date
) -> list[tuple[RuleSet, MatchResult]]:
    """Every rule set in effect on ``as_of`` that the profile satisfies."""
    return evaluate_outcomes(compiled, kind, profile, as_of)[0]


def evaluate_outcomes(
    compiled: list[CompiledRuleSet], kind: str, profile: dict, as_of: dt.date
) -> tuple[list[tuple[RuleSet, MatchResult]], list[RuleSet]]:
    """evaluate_all, and the rule sets in effect on ``as_of`` that the profile does not satisfy."""
    values = rule_values(kind, profile, as_of)
    # Conditions shared by many policies (region, blacklist, enums) are evaluated once per profile.
    values[MEMO] = {}
    sid = profile["uscc" if kind == SubjectKind.ENTERPRISE else "id_number"]
    found, missed = [], []
    for c in compiled:
        if not in_effect(c.ruleset, as_of):
            continue
        clauses, amount = c.evaluate_values(values)
        if clauses:
            found.append((c.ruleset, MatchResult(subject_id=sid, clauses=clauses, amount=amount)))
        else:
            missed.append(c.ruleset)
    return found, missed


def _reasons(profiles: dict[str, dict], as_of: dt.date):
    """reason_of for store_outcomes: the failing conditions of a subject whose profile is at hand."""

    def reason_of(ruleset: RuleSet, subject_id: str) -> str:
        return failing_conditions(explain_profile(ruleset, subject_id, profiles[subject_id], as_of))

    return reason_of


async def rematch_subject(
    kind: str, subject_id: str, as_of: dt.date, *, actor: Actor | None = None, audit: Actor | None = None
) -> list[MatchResult]:
    """Re-evaluate one profile against every active rule set of its kind and store new matches; a rule set it
    matched before and no longer satisfies has that match withdrawn (standing.py)."""
    return (await rematch_subject_outcomes(kind, subject_id, as_of, actor=actor, audit=audit))[0]


async def rematch_subject_outcomes(
    kind: str, subject_id: str, as_of: dt.date, *, actor: Actor | None = None, audit: Actor | None = None
) -> tuple[list[MatchResult], list[Withdrawal]]:
    """rematch_subject, with the withdrawals it made."""
    profile = await get_profile(kind, subject_id)
    if profile is None:
        return [], []
    digest = profile_digest(kind, profile)  # equals the stored row digest (same stored form)
    found, missed = evaluate_outcomes(await compiled_rulesets(kind), kind, profile, as_of)
    _, withdrawn = await store_outcomes(
        [(ruleset, result, digest) for ruleset, result in found],
        [(rs, subject_id) for rs in missed],
        as_of,
        actor,
        reason_of=_reasons({subject_id: profile}, as_of),
        audit=audit,
    )
    return [r for _, r in found], withdrawn


async def rematch_subjects(
    kind: str, subject_ids: list[str], as_of: dt.date, *, actor: Actor | None = None, audit: Actor | None = None
) -> int:
    """The same for a batch of changed profiles (after a bulk import); returns how many matches it found."""
    return (await rematch_subjects_outcomes(kind, subject_ids, as_of, actor=actor, audit=audit))[0]


async def rematch_subjects_outcomes(
    kind: str, subject_ids: list[str], as_of: dt.date, *, actor: Actor | None = None, audit: Actor | None = None
) -> tuple[int, list[Withdrawal]]:
    """rematch_subjects, with the withdrawals it made."""
    return await _rematch_where(kind, "subject_id", subject_ids, as_of, actor, audit)


async def rematch_profiles(kind: str, profile_ids: list[int], as_of: dt.date, *, actor: Actor | None = None) -> int:
    """The same by profile row id: what the jobs carry, since a talent's subject id is its ID number and job
    arguments are logged (arq prints them) and kept in Redis."""
    return (await rematch_profiles_outcomes(kind, profile_ids, as_of, actor=actor))[0]


async def rematch_profiles_outcomes(
    kind: str, profile_ids: list[int], as_of: dt.date, *, actor: Actor | None = None, audit: Actor | None = None
) -> tuple[int, list[Withdrawal]]:
    """rematch_profiles, with the withdrawals it made."""
    return await _rematch_where(kind, "id", [int(i) for i in profile_ids], as_of, actor, audit)


async def profile_ids_of(kind: str, subject_ids: list[str]) -> list[int]:
    """The profile row ids of these subjects (unknown ones left out), in no particular order."""
    table = store.TABLES[kind]
    out: list[int] = []
    for i in range(0, len(subject_ids), 500):
        cond, args = in_list(subject_ids[i : i + 500])
        out += [
            int(r["id"]) for r in await raw(f"SELECT id FROM {table._meta.tablename} WHERE subject_id {cond}", *args)
        ]
    return out


_SQLITE_LOCKS: dict[int, asyncio.Lock] = {}


def _one_writer() -> asyncio.Lock:
    """This event loop's lock around re-matching on SQLite: the jobs of one process then re-match one after another
    instead of queueing on SQLite's single write lock (twenty at once, each holding memory and, past the busy
    timeout, failing); PostgreSQL takes them concurrently."""
    loop = id(asyncio.get_running_loop())
    lock = _SQLITE_LOCKS.get(loop)
    if lock is None:
        lock = _SQLITE_LOCKS[loop] = asyncio.Lock()
    return lock


async def _rematch_where(
    kind: str, column: str, keys: list, as_of: dt.date, actor: Actor | None, audit: Actor | None, way: str = "auto"
) -> tuple[int, list[Withdrawal]]:
    """``way``: "auto" (by SET_MIN), "set" or "profile" (the tests hold the two equal)."""
    if store.TABLES[kind]._meta.db.engine_type == "sqlite":
        async with _one_writer():
            return await _rematch_any(kind, column, keys, as_of, actor, audit, way)
    return await _rematch_any(kind, column, keys, as_of, actor, audit, way)


async def _rematch_any(
    kind: str, column: str, keys: list, as_of: dt.date, actor: Actor | None, audit: Actor | None, way: str
) -> tuple[int, list[Withdrawal]]:
    compiled = await compiled_rulesets(kind)
    if not compiled or not keys:
        return 0, []
    if way == "set" or (way == "auto" and len(keys) >= SET_MIN):
        return await _rematch_set(kind, column, keys, as_of, compiled, actor, audit)
    table = store.TABLES[kind]
    items = []
    missed = []
    profiles: dict[str, dict] = {}
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        cond, args = in_list(chunk)
        for row in await raw(f"SELECT * FROM {table._meta.tablename} WHERE {column} {cond}", *args):
            profile = store.from_row(kind, row)
            digest = row["digest"]
            found, miss = evaluate_outcomes(compiled, kind, profile, as_of)
            items += [(rs, r, digest) for rs, r in found]
            if miss:
                profiles[row["subject_id"]] = profile
                missed += [(rs, row["subject_id"]) for rs in miss]
    _, withdrawn = await store_outcomes(items, missed, as_of, actor, reason_of=_reasons(profiles, as_of), audit=audit)
    return len(items), withdrawn


async def _profiles_where(kind: str, column: str, keys: list) -> dict[str, dict]:
    table = store.TABLES[kind]
    out: dict[str, dict] = {}
    for i in range(0, len(keys), 500):
        cond, args = in_list(keys[i : i + 500])
        for row in await raw(f"SELECT * FROM {table._meta.tablename} WHERE {column} {cond}", *args):
            out[row["subject_id"]] = {**store.from_row(kind, row), "__digest": row["digest"]}
    return out


async def _rematch_set(
    kind: str,
    column: str,
    keys: list,
    as_of: dt.date,
    compiled: list[CompiledRuleSet],
    actor: Actor | None,
    audit: Actor | None,
) -> tuple[int, list[Withdrawal]]:
    """The set-based way: each live rule set's SQL over the changed rows; the stored current matches of the changed
    subjects that a rule set no longer yields are the withdrawals (the only subjects whose profile is then read, for
    the reason in words)."""
    table = store.TABLES[kind]
    name = table._meta.tablename
    ids: list[int] = []
    subjects: list[str] = []
    for i in range(0, len(keys), 500):
        cond, args = in_list(keys[i : i + 500])
        for r in await raw(f"SELECT id, subject_id FROM {name} WHERE {column} {cond}", *args):
            ids.append(int(r["id"]))
            subjects.append(r["subject_id"])
    live = [c for c in compiled if in_effect(c.ruleset, as_of)]
    if not ids or not live:
        return 0, []
    live_keys = {c.ruleset.key for c in live}
    current: dict[str, set[str]] = {}
    for i in range(0, len(subjects), 500):
        cond, args = in_list(subjects[i : i + 500])
        for r in await raw(
            f"SELECT ruleset_key, subject_id FROM eligibility_match WHERE state = {{}} AND subject_id {cond}",
            MatchState.CURRENT.value,
            *args,
        ):
            if r["ruleset_key"] in live_keys:
                current.setdefault(r["ruleset_key"], set()).add(r["subject_id"])
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    items: list = []
    missed: list = []
    in_python: list[CompiledRuleSet] = []
    id_lists = [match_sql.id_list(ids[i : i + SET_CHUNK]) for i in range(0, len(ids), SET_CHUNK)]
    async with match_sql.read_connection(engine) as conn:
        for c in live:
            try:
                found = []
                for chunk in id_lists:
                    found += await match_sql.delta_matches(conn, c.ruleset, as_of, chunk, pg)
            except NotCompilable:
                in_python.append(c)
                continue
            items += [(c.ruleset, r, digest) for r, digest in found]
            hit = {r.subject_id for r, _ in found}
            missed += [(c.ruleset, sid) for sid in sorted(current.get(c.ruleset.key, ())) if sid not in hit]
    profiles: dict[str, dict] = {}
    if in_python:  # rule sets SQL cannot compute: every changed profile through their closures
        profiles = await _profiles_where(kind, "id", ids)
        for sid, p in profiles.items():
            digest = p.pop("__digest")
            found_py, miss = evaluate_outcomes(in_python, kind, p, as_of)
            items += [(rs, r, digest) for rs, r in found_py]
            missed += [(rs, sid) for rs in miss if sid in current.get(rs.key, ())]
    need = sorted({sid for _, sid in missed} - set(profiles))
    if need:
        for sid, p in (await _profiles_where(kind, "subject_id", need)).items():
            p.pop("__digest")
            profiles[sid] = p
    _, withdrawn = await store_outcomes(items, missed, as_of, actor, reason_of=_reasons(profiles, as_of), audit=audit)
    return len(items), withdrawn
