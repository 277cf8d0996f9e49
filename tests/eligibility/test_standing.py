"""A stored match's standing (资格复核): a re-match keeps one current match per rule set and subject, withdraws the
match of a subject that no longer qualifies with the failing conditions, and brings it back when it qualifies again;
on the incremental path and when a rule set is matched again (SQL and rule-engine paths)."""

from __future__ import annotations

import datetime as dt

import pytest

from eligibility import match_sql
from eligibility.importer import import_file
from eligibility.incremental import rematch_subject_outcomes
from eligibility.matcher import match_ruleset, rule_digest
from eligibility.service import (
    activate_ruleset,
    deactivate_ruleset,
    get_profile,
    matches_for,
    matches_of_subject,
    upsert_profile,
    withdrawn_matches,
)
from tests.eligibility.helpers import ACTOR, CONFORMANCE, sample_rulesets

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture
async def enterprises(fresh_db):
    await import_file(str(CONFORMANCE / "enterprises.csv"), "enterprise", actor=ACTOR)


async def _set(sid: str, **changes) -> None:
    profile = await get_profile("enterprise", sid)
    raw = {k: (";".join(v) if isinstance(v, tuple) else v) for k, v in profile.items()}
    raw.update(changes)
    await upsert_profile("enterprise", raw, actor=ACTOR)


async def test_incremental_rematch_withdraws_and_reinstates(enterprises):
    rs = sample_rulesets()["SAMPLE-ABOVE-SCALE"].model_copy(update={"version_id": 77})
    await activate_ruleset(rs)
    run = await match_ruleset(rs, AS_OF, store=True)
    sid = run.results[0].subject_id
    original = (await get_profile("enterprise", sid))["revenue"]
    await _set(sid, blacklisted=True)
    found, withdrawn = await rematch_subject_outcomes("enterprise", sid, AS_OF, audit=ACTOR)
    assert found == [] and [w.subject_id for w in withdrawn] == [sid]
    assert "不符合" in withdrawn[0].reason and "blacklisted" in withdrawn[0].reason, withdrawn[0].reason
    assert sid not in {m.subject_id for m in await matches_for(rs.key)}
    (gone,) = await withdrawn_matches(77, [sid])
    assert gone.state == "withdrawn" and gone.withdrawn_reason == withdrawn[0].reason
    # A second re-match on the same data withdraws nothing more.
    assert (await rematch_subject_outcomes("enterprise", sid, AS_OF))[1] == []
    # Another amount (big), then back to the very first data: the first row is current again (same digest).
    await _set(sid, blacklisted=False, revenue="250000000.00")
    await rematch_subject_outcomes("enterprise", sid, AS_OF)
    assert [m.clauses for m in await matches_for(rs.key) if m.subject_id == sid] == [["big"]]
    await _set(sid, revenue=str(original))
    await rematch_subject_outcomes("enterprise", sid, AS_OF)
    current = [m for m in await matches_of_subject(sid) if m.state == "current"]
    assert len(current) == 1 and current[0].clauses == run.results[0].clauses
    assert [m.subject_id for m in await matches_for(rs.key)] == [r.subject_id for r in run.results]
    assert await withdrawn_matches(77, [sid]) == []
    await deactivate_ruleset(rs.key)


@pytest.mark.parametrize("force_python", [False, True])
async def test_matching_a_rule_set_again_withdraws_who_no_longer_qualifies(enterprises, force_python):
    rs = sample_rulesets()["SAMPLE-ABOVE-SCALE"]
    first = await match_ruleset(rs, AS_OF, store=True, force_python=force_python)
    gone, changed = first.results[0].subject_id, first.results[-1].subject_id
    await _set(gone, blacklisted=True)
    await _set(changed, revenue="250000000.00")
    again = await match_ruleset(rs, AS_OF, store=True, force_python=force_python, collect=False)
    assert again.withdrawn == 1
    current = {m.subject_id: m.clauses for m in await matches_for(rs.key)}
    assert gone not in current and current[changed] == ["big"]
    assert len(current) == first.matched - 1
    superseded = [m for m in await matches_of_subject(changed) if m.state == "superseded"]
    assert len(superseded) == 1  # its data changed: the earlier evaluation is kept, no longer current


async def test_a_re_run_settles_only_the_subjects_whose_match_changed(enterprises):
    """Issue 19: matching a rule set again looks again (in Python) only at the subjects whose current stored match
    is not the one they get now: none when nothing changed, exactly the changed ones otherwise."""
    rs = sample_rulesets()["SAMPLE-ABOVE-SCALE"]
    first = await match_ruleset(rs, AS_OF, store=True)
    assert first.matched >= 3
    assert await match_sql.stale_subjects(rs, AS_OF, rule_digest(rs)) == []
    same = await match_ruleset(rs, AS_OF, store=True, collect=False)
    assert (same.new, same.withdrawn, same.matched) == (0, 0, first.matched)
    gone, changed = first.results[0].subject_id, first.results[-1].subject_id
    await _set(gone, blacklisted=True)
    await _set(changed, revenue="250000000.00")
    assert await match_sql.stale_subjects(rs, AS_OF, rule_digest(rs)) == sorted([gone, changed])
    again = await match_ruleset(rs, AS_OF, store=True, collect=False)
    assert again.withdrawn == 1
    assert await match_sql.stale_subjects(rs, AS_OF, rule_digest(rs)) == []
