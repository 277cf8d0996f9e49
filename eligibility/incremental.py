"""Incremental matching: one changed profile against every active rule set of its kind, via compiled closures."""

from __future__ import annotations

import datetime as dt

from eligibility import store
from eligibility.matcher import store_results
from eligibility.profiles import profile_digest
from eligibility.rules.closures import MEMO, CompiledRuleSet
from eligibility.rules.evaluate import in_effect
from eligibility.rules.language import rule_values
from eligibility.rulesets import compiled_rulesets, invalidate
from eligibility.schemas import MatchResult, RuleSet
from eligibility.service import get_profile
from kit.audit import Actor
from kit.db import in_list, raw
from kit.vocab import SubjectKind

__all__ = [
    "compiled_rulesets",
    "evaluate_all",
    "invalidate",
    "profile_ids_of",
    "rematch_profiles",
    "rematch_subject",
    "rematch_subjects",
]


def evaluate_all(
    compiled: list[CompiledRuleSet], kind: str, profile: dict, as_of: dt.date
) -> list[tuple[RuleSet, MatchResult]]:
    """Every rule set in effect on ``as_of`` that the profile satisfies."""
    values = rule_values(kind, profile, as_of)
    # Conditions shared by many policies (region, blacklist, enums) are evaluated once per profile.
    values[MEMO] = {}
    sid = profile["uscc" if kind == SubjectKind.ENTERPRISE else "id_number"]
    out = []
    for c in compiled:
        if not in_effect(c.ruleset, as_of):
            continue
        clauses, amount = c.evaluate_values(values)
        if clauses:
            out.append((c.ruleset, MatchResult(subject_id=sid, clauses=clauses, amount=amount)))
    return out


async def rematch_subject(
    kind: str, subject_id: str, as_of: dt.date, *, actor: Actor | None = None
) -> list[MatchResult]:
    """Re-evaluate one profile against every active rule set of its kind and store new matches."""
    profile = await get_profile(kind, subject_id)
    if profile is None:
        return []
    digest = profile_digest(kind, profile)  # equals the stored row digest (same stored form)
    found = evaluate_all(await compiled_rulesets(kind), kind, profile, as_of)
    await store_results([(ruleset, result, digest) for ruleset, result in found], as_of, actor)
    return [r for _, r in found]


async def rematch_subjects(kind: str, subject_ids: list[str], as_of: dt.date, *, actor: Actor | None = None) -> int:
    """The same for a batch of changed profiles (after a bulk import); returns how many matches it found."""
    return await _rematch_where(kind, "subject_id", subject_ids, as_of, actor)


async def rematch_profiles(kind: str, profile_ids: list[int], as_of: dt.date, *, actor: Actor | None = None) -> int:
    """The same by profile row id: what the jobs carry, since a talent's subject id is its ID number and job
    arguments are logged (arq prints them) and kept in Redis."""
    return await _rematch_where(kind, "id", [int(i) for i in profile_ids], as_of, actor)


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


async def _rematch_where(kind: str, column: str, keys: list, as_of: dt.date, actor: Actor | None) -> int:
    compiled = await compiled_rulesets(kind)
    if not compiled or not keys:
        return 0
    table = store.TABLES[kind]
    items = []
    for i in range(0, len(keys), 500):
        chunk = keys[i : i + 500]
        cond, args = in_list(chunk)
        for row in await raw(f"SELECT * FROM {table._meta.tablename} WHERE {column} {cond}", *args):
            profile = store.from_row(kind, row)
            digest = row["digest"]
            items += [(rs, r, digest) for rs, r in evaluate_all(compiled, kind, profile, as_of)]
    await store_results(items, as_of, actor)
    return len(items)
