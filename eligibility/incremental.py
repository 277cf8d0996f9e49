"""Incremental matching: one changed profile against every active rule set of its kind, via compiled closures."""

from __future__ import annotations

import datetime as dt

from eligibility import store
from eligibility.explain import explain_profile
from eligibility.matcher import store_outcomes
from eligibility.profiles import profile_digest
from eligibility.rules.closures import MEMO, CompiledRuleSet
from eligibility.rules.evaluate import in_effect
from eligibility.rules.language import rule_values
from eligibility.rulesets import compiled_rulesets, invalidate
from eligibility.schemas import MatchResult, RuleSet
from eligibility.service import get_profile
from eligibility.standing import Withdrawal, failing_conditions
from kit.audit import Actor
from kit.db import in_list, raw
from kit.vocab import SubjectKind

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


async def _rematch_where(
    kind: str, column: str, keys: list, as_of: dt.date, actor: Actor | None, audit: Actor | None
) -> tuple[int, list[Withdrawal]]:
    compiled = await compiled_rulesets(kind)
    if not compiled or not keys:
        return 0, []
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
