"""Whether a stored match still stands, and a subject's verdict on its current data (re-verification, 资格复核).

Each re-evaluation of a subject against a rule set settles its stored rows: the row of the outcome found now is
current, older ones are superseded, and when the subject no longer qualifies its current row is withdrawn with the
failing conditions in words. ``verdicts`` evaluates subjects against one rule set with the compiled closures (what
payments asks before a batch is made and before a run starts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from eligibility import store
from eligibility.explain import explain_profile
from eligibility.rules.closures import MEMO, CompiledRuleSet
from eligibility.rules.language import rule_values
from eligibility.schemas import ConditionExplanation, Explanation, RuleSet
from kit.audit import Actor, Change
from kit.db import in_list, raw
from kit.money import yuan_to_fen
from kit.time import now
from kit.vocab import MatchState, SubjectKind

NO_PROFILE = "不符合：档案不存在 (no profile of this subject on the platform)"


@dataclass(frozen=True)
class Verdict:
    """One subject against one rule set on its current data (effective dates aside: the version decides those)."""

    subject_id: str
    eligible: bool
    clauses: tuple[str, ...]
    amount_fen: int
    reason: str  # the failing conditions in words; "" when eligible


@dataclass(frozen=True)
class Withdrawal:
    """A match withdrawn: the subject no longer qualifies for the rule set (policy version) it matched."""

    match_id: int
    ruleset_key: str
    version_id: int | None
    code: str
    subject_kind: str
    subject_id: str
    amount_fen: int
    reason: str


def _unmet(c: ConditionExplanation) -> str:
    if c.distance:
        return c.distance
    now_ = "、".join(f"{v}" for v in c.values.values())
    return f"{c.text}，当前 {now_}" if now_ else c.text


def failing_conditions(ex: Explanation) -> str:
    """Why an explanation says 不符合, in words: the unmet policy-wide conditions, else each clause's unmet ones."""
    parts: list[str] = []
    if ex.policy is not None and not ex.policy.met:
        parts = [_unmet(c) for c in ex.policy.conditions if c.met is not True]
    else:
        for cl in ex.clauses:
            if cl.met:
                continue
            failed = [_unmet(c) for c in cl.conditions if c.met is not True]
            parts.append(f"{cl.title or cl.code}：{'，'.join(failed)}" if failed else (cl.title or cl.code or ""))
    return "不符合：" + "；".join(p for p in parts if p) if parts else "不符合"


def verdict_of(
    ruleset: RuleSet, compiled: CompiledRuleSet, subject_id: str, profile: dict | None, as_of: dt.date
) -> Verdict:
    if profile is None:
        return Verdict(subject_id, False, (), 0, NO_PROFILE)
    values = rule_values(ruleset.subject, profile, as_of)
    values[MEMO] = {}
    clauses, amount = compiled.evaluate_values(values)
    if clauses:
        return Verdict(subject_id, True, tuple(clauses), yuan_to_fen(amount), "")
    # Only a subject that fails is explained (rule-engine, slower): the reason it is shown.
    return Verdict(subject_id, False, (), 0, failing_conditions(explain_profile(ruleset, subject_id, profile, as_of)))


async def profiles_of(kind: str, subject_ids: list[str]) -> dict[str, dict]:
    """The stored profiles of these subjects (normalized), by subject id; a missing one is absent."""
    table = store.TABLES[SubjectKind(kind)]
    out: dict[str, dict] = {}
    ids = sorted(set(subject_ids))
    for i in range(0, len(ids), 500):
        cond, args = in_list(ids[i : i + 500])
        for r in await raw(f"SELECT * FROM {table._meta.tablename} WHERE subject_id {cond}", *args):
            out[r["subject_id"]] = store.from_row(kind, r)
    return out


async def verdicts(ruleset: RuleSet, subject_ids: list[str], as_of: dt.date) -> dict[str, Verdict]:
    """Each subject against ``ruleset`` on its current stored profile (compiled closures: milliseconds a thousand)."""
    compiled = CompiledRuleSet(ruleset)
    profiles = await profiles_of(ruleset.subject, subject_ids)
    return {sid: verdict_of(ruleset, compiled, sid, profiles.get(sid), as_of) for sid in subject_ids}


async def settle(
    found: list[tuple[RuleSet, str, str]],
    missed: list[tuple[RuleSet, str]],
    *,
    reason_of: Callable[[RuleSet, str], str],
    actor: Actor | None = None,
) -> list[Withdrawal]:
    """Make the stored rows agree with an evaluation (call after the matches found are stored, in the same
    transaction). ``found``: (rule set, subject id, match digest) of each match found, whose row becomes current and
    the rule set's other rows of the subject superseded; ``missed``: (rule set, subject id) evaluated and not
    qualifying, whose current row is withdrawn with ``reason_of(rule set, subject id)`` (asked only for those).
    Returns the withdrawals (audited when ``actor`` is given)."""
    if not found and not missed:
        return []
    keys = {rs.key for rs, *_ in found} | {rs.key for rs, _ in missed}
    subjects = sorted({sid for _, sid, *_ in found} | {sid for _, sid in missed})
    by: dict[tuple[str, str], list[dict]] = {}
    for i in range(0, len(subjects), 500):
        cond, args = in_list(subjects[i : i + 500])
        for r in await raw(
            "SELECT id, ruleset_key, version_id, code, subject_kind, subject_id, amount_fen, match_digest, state "
            f"FROM eligibility_match WHERE subject_id {cond}",
            *args,
        ):
            if r["ruleset_key"] in keys:
                by.setdefault((r["ruleset_key"], r["subject_id"]), []).append(r)
    to_current: list[int] = []
    to_superseded: list[int] = []
    withdrawn: list[Withdrawal] = []
    for rs, sid, digest in found:
        for r in by.get((rs.key, sid), []):
            if r["match_digest"] == digest:
                if r["state"] != MatchState.CURRENT:
                    to_current.append(int(r["id"]))
            elif r["state"] == MatchState.CURRENT:
                to_superseded.append(int(r["id"]))
    for rs, sid in missed:
        current = [r for r in by.get((rs.key, sid), []) if r["state"] == MatchState.CURRENT]
        if not current:
            continue
        reason = reason_of(rs, sid)
        for r in current:
            withdrawn.append(
                Withdrawal(
                    int(r["id"]),
                    rs.key,
                    r["version_id"],
                    r["code"],
                    r["subject_kind"],
                    sid,
                    int(r["amount_fen"]),
                    reason,
                )
            )
    at = now()
    for ids, state in ((to_current, MatchState.CURRENT), (to_superseded, MatchState.SUPERSEDED)):
        for i in range(0, len(ids), 5000):
            cond, args = in_list(ids[i : i + 5000])
            await raw(
                "UPDATE eligibility_match SET state = {}, withdrawn_reason = '', withdrawn_at = NULL "
                f"WHERE id {cond}",
                state.value,
                *args,
            )
    for w in withdrawn:
        await raw(
            "UPDATE eligibility_match SET state = {}, withdrawn_reason = {}, withdrawn_at = {} WHERE id = {}",
            MatchState.WITHDRAWN.value,
            w.reason,
            at,
            w.match_id,
        )
    if actor is not None and withdrawn:
        # The match id, not the subject id, names the row: a talent's id is personal data.
        await actor.record_many(
            Change(
                "eligibility.match_withdrawn",
                "match",
                str(w.match_id),
                {"state": MatchState.CURRENT},
                {"state": MatchState.WITHDRAWN, "reason": w.reason},
                {"ruleset": w.ruleset_key},
            )
            for w in withdrawn
        )
    return withdrawn


async def current_subjects(ruleset_key: str) -> list[str]:
    """The subjects with a current match of a rule set."""
    rows = await raw(
        "SELECT DISTINCT subject_id FROM eligibility_match WHERE ruleset_key = {} AND state = {}",
        ruleset_key,
        MatchState.CURRENT.value,
    )
    return [r["subject_id"] for r in rows]
