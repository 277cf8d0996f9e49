"""Replaying a stored match (a decision) on the profile version and the rule version it used: its profile digest,
rule digest, clauses, amount and match digest computed again and compared with what was stored.

eligibility/ knows no policy versions: the caller hands in how to get the rule set of a version id (policies'
``ruleset_of``); a match without a version id is replayed on the active rule set of its key, if there is one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from eligibility import history
from eligibility.errors import ProfileNotFound
from eligibility.fields import derived_values
from eligibility.matcher import match_digest, rule_digest
from eligibility.profiles import row_digest
from eligibility.rules.evaluate import evaluate_values
from eligibility.rulesets import active_rulesets
from eligibility.schemas import DecisionReplay, RuleSet
from eligibility.tables import Match
from kit.db import codes
from kit.i18n import _l
from kit.money import yuan_to_fen

RulesetOf = Callable[[int], Awaitable[RuleSet]]


def _day(v) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v)[:10])


async def _ruleset(row: dict, ruleset_of: RulesetOf | None, cache: dict) -> RuleSet | None:
    key = (row["version_id"], row["ruleset_key"])
    if key in cache:
        return cache[key]
    found = None
    if row["version_id"] is not None and ruleset_of is not None:
        found = await ruleset_of(row["version_id"])
    else:
        found = next((r for r in await active_rulesets(row["subject_kind"]) if r.key == row["ruleset_key"]), None)
    cache[key] = found
    return found


async def _replay(row: dict, ruleset_of: RulesetOf | None, cache: dict) -> DecisionReplay:
    kind, sid = row["subject_kind"], row["subject_id"]
    out = DecisionReplay(
        match_id=row["id"],
        code=row["code"],
        ruleset_key=row["ruleset_key"],
        version_id=row["version_id"],
        subject_kind=kind,
        subject_id=sid,
        as_of=_day(row["as_of"]),
        stored_clauses=codes(row["clauses"] or ""),
        stored_amount_fen=int(row["amount_fen"]),
        stored_profile_digest=row["profile_digest"],
        stored_rule_digest=row["rule_digest"],
        stored_match_digest=row["match_digest"],
        profile_version=None,
        agrees=False,
    )
    problems = out.problems
    version = await history.version_with_digest(kind, sid, row["profile_digest"])
    ruleset = await _ruleset(row, ruleset_of, cache)
    if version is None:
        problems.append(f"the profile version {row['profile_digest'][:12]}… it used is not kept (版本未保存)")
    else:
        out.profile_version = version
        out.profile_digest = row_digest(version.values)
        if out.profile_digest != row["profile_digest"]:
            problems.append("the kept profile version does not reproduce its digest")
    if ruleset is None:
        problems.append(f"the rule set {row['ruleset_key']} (version id {row['version_id']}) is not available")
    else:
        out.rule_digest = rule_digest(ruleset)
        if out.rule_digest != row["rule_digest"]:
            problems.append("the rule version's rule set does not reproduce the stored rule digest")
    if version is not None and ruleset is not None:
        values = {**version.profile, **derived_values(kind, version.profile, out.as_of)}
        ev = evaluate_values(ruleset, values, out.as_of)
        out.clauses = list(ev.clauses) if ev.eligible else []
        out.amount_fen = yuan_to_fen(ev.amount) if ev.eligible else 0
        out.match_digest = match_digest(
            ruleset.key, sid, out.clauses, out.amount_fen, out.profile_digest or "", out.rule_digest or ""
        )
        if out.clauses != out.stored_clauses:
            problems.append(
                f"clauses replay as {';'.join(out.clauses) or '(none)'}, stored {';'.join(out.stored_clauses)}"
            )
        if out.amount_fen != out.stored_amount_fen:
            problems.append(f"the amount replays as {out.amount_fen} fen, stored {out.stored_amount_fen} fen")
        if out.match_digest != row["match_digest"]:
            problems.append("the match digest does not reproduce")
    out.agrees = not problems
    return out


async def replay_decision(match_id: int, ruleset_of: RulesetOf | None = None) -> DecisionReplay:
    """Replay stored match ``match_id``; ``ruleset_of(version_id)`` gives the rule set of a policy version."""
    rows = await Match.select().where(Match.id == match_id)
    if not rows:
        raise ProfileNotFound(_l("no stored decision {match_id} (决定不存在)"), match_id=match_id)
    return await _replay(rows[0], ruleset_of, {})


async def replay_decisions(ruleset_of: RulesetOf | None = None, *, after_id: int = 0) -> list[DecisionReplay]:
    """Replay every stored match (after ``after_id``), in id order: "every stored decision replays to its digest"
    holds when each has ``agrees``."""
    cache: dict = {}
    out = []
    last = after_id
    while True:
        rows = await Match.select().where(Match.id > last).order_by(Match.id).limit(1000)
        if not rows:
            return out
        for r in rows:
            out.append(await _replay(r, ruleset_of, cache))
        last = rows[-1]["id"]


__all__ = ["RulesetOf", "replay_decision", "replay_decisions"]
