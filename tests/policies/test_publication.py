"""What may be published (issue 15 #6, #7; issue 16 #3): only a version its author submitted and nobody sent back since,
whose own tests show every clause paying and someone not paid, whose period has not ended; a budget shortfall only
with an explicit confirmation, kept in the audit trail; a version dated from a later day is scheduled, the version in
effect staying in effect."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from app.audit import AuditActor
from app.tables import AuditEntry
from policies import packs, service
from policies.errors import LifecycleError, PublicationRefused, TestsMissing
from tests.policies.test_service import ALICE, BOB, POLICY, submitted

TODAY = dt.date(2026, 12, 2)


def policy(**changes) -> dict:
    p = copy.deepcopy(POLICY)
    p.update(changes)
    return p


def dated(effective_from: str, budget: str) -> dict:
    """A later version of POLICY in effect from ``effective_from``, its tests evaluated on that day."""
    tests = [{**t, "as_of": effective_from} for t in copy.deepcopy(POLICY["tests"])]
    return policy(effective_from=effective_from, effective_to=None, budget=budget, tests=tests)


async def test_a_rejected_draft_is_not_published_until_its_author_submits_it_again(fresh_db):
    v = await submitted(policy())
    await service.reject(v.id, BOB, "金额依据不足")
    with pytest.raises(LifecycleError, match=r"sent back to its author by bob \(金额依据不足\)"):
        await service.publish_version(v.id, AuditActor("carol", "policy_reviewer"), today=TODAY)
    with pytest.raises(LifecycleError, match="sent back to its author"):
        await service.publish(v.code, BOB, today=TODAY)
    assert (await service.read_version(v.id)).status == "draft"
    await service.submit(v.id, ALICE)
    assert (await service.publish_version(v.id, BOB, today=TODAY)).status == "published"


async def test_a_draft_never_submitted_is_not_published(fresh_db):
    v = await service.save_draft(policy(), ALICE)
    with pytest.raises(LifecycleError, match="has not submitted for review"):
        await service.publish_version(v.id, BOB, today=TODAY)
    assert (await service.read_version(v.id)).status == "draft"


async def test_each_clause_needs_a_test_where_it_pays(fresh_db):
    """POLICY's master clause without its test: the load keeps it a draft, and neither submission nor publication
    goes through; both name what is missing."""
    no_master = policy(tests=[t for t in POLICY["tests"] if t["name"] != "硕士"])
    text = packs.export_yaml(packs.check_policy(no_master)[0])
    [(v, outcome)] = await service.load_pack_text(text, ALICE)
    assert (outcome, v.status) == ("created", "draft")  # stored, but not handed to review
    assert [p.message for p in await service.missing_tests(v.id)] == ["no test where clause master (硕士) pays"]
    with pytest.raises(TestsMissing, match=r"no test where clause master \(硕士\) pays") as exc:
        await service.submit(v.id, ALICE)
    assert [p["clause_code"] for p in exc.value.detail] == ["master"]
    with pytest.raises(LifecycleError, match=r"nor can it be submitted yet: no test where clause master \(硕士\) pays"):
        await service.publish(v.code, BOB, today=TODAY)
    assert (await service.read_version(v.id)).status == "draft"


async def test_a_policy_needs_a_test_where_it_does_not_pay(fresh_db):
    paying_only = policy(tests=[t for t in POLICY["tests"] if t["expect"]["eligible"]])
    v = await service.save_draft(paying_only, ALICE)
    with pytest.raises(TestsMissing, match="no test where the policy does not pay"):
        await service.submit(v.id, ALICE)
    [(again, _)] = await service.load_pack_text(packs.export_yaml((await service.read_version(v.id)).content), ALICE)
    assert again.status == "draft"


async def test_a_failing_test_does_not_count_as_covering_its_clause(fresh_db):
    """Coverage counts what a passing test shows: a test that expects the master clause but fails covers nothing."""
    wrong = copy.deepcopy(POLICY["tests"])
    wrong[1]["expect"]["amount"] = 99
    v = await service.save_draft(policy(tests=wrong), ALICE)
    outcomes = packs.run_tests((await service.read_version(v.id)).content)
    problems = packs.coverage_problems((await service.read_version(v.id)).content, outcomes)
    assert [p.clause_code for p in problems] == ["master"]


async def test_every_bundled_pack_covers_its_clauses():
    for path in packs.bundled_pack_paths():
        for content in packs.read_pack(path):
            assert packs.coverage_problems(content) == [], (path.name, content.code)


async def test_a_version_whose_period_has_ended_is_refused(fresh_db):
    v = await submitted(policy(effective_to="2026-06-30"))
    with pytest.raises(PublicationRefused, match="in effect until 2026-06-30, which has passed"):
        await service.publish_version(v.id, BOB, today=TODAY)
    assert (await service.read_version(v.id)).status == "in_review"
    # Ending today is still in effect today.
    assert (await service.publish_version(v.id, BOB, today=dt.date(2026, 6, 30))).status == "published"


async def test_a_budget_shortfall_needs_an_explicit_confirmation_kept_in_the_audit(fresh_db):
    from eligibility.service import upsert_profile
    from tests.policies.test_service import _talents

    doctors = [{**p, "education": "doctor", "social_insurance_months": "12"} for p in _talents(3)]
    for p in doctors:
        await upsert_profile("talent", p, actor=AuditActor("feed", "system"))
    # Three doctors at 100,000 against a budget of 120,000: a shortfall of 180,000.
    v = await submitted(policy(budget="120000"))
    on = dt.date(2025, 6, 30)
    with pytest.raises(PublicationRefused, match="缺口 180,000.00 元") as exc:
        await service.publish_version(v.id, BOB, as_of=on, today=TODAY)
    assert exc.value.detail["shortfall_fen"] == 18_000_000 and "--accept-shortfall" in exc.value.message
    assert (await service.read_version(v.id)).status == "in_review"
    published = await service.publish_version(v.id, BOB, as_of=on, today=TODAY, accept_shortfall=True)
    assert published.status == "published"
    entry = (
        await AuditEntry.select()
        .where((AuditEntry.action == "policy.publish") & (AuditEntry.entity_id == "T-HOUSING@1"))
        .first()
    )
    detail = json.loads(entry["detail"])
    assert entry["actor"] == "bob"
    assert detail["shortfall_accepted"] is True and detail["budget_shortfall_fen"] == 18_000_000, detail


async def test_no_confirmation_is_asked_when_the_budget_covers_the_preview(fresh_db):
    v = await submitted(policy())
    assert (await service.publish_version(v.id, BOB, today=TODAY)).status == "published"
    entry = await AuditEntry.select().where(AuditEntry.action == "policy.publish").first()
    assert "shortfall_accepted" not in json.loads(entry["detail"])


async def test_a_version_dated_later_is_scheduled_and_the_current_one_stays_in_effect(fresh_db):
    v1 = await submitted(policy(effective_to=None))
    await service.publish_version(v1.id, BOB, today=TODAY)
    v2 = await submitted(dated("2027-01-01", "2000000"))
    assert (await service.publish_version(v2.id, BOB, today=TODAY)).status == "scheduled"
    # Every reader of "the published version" still sees version 1.
    assert (await service.read_version(v1.id)).status == "published"
    assert [p.id for p in await service.list_published()] == [v1.id]
    assert [p.id for p in await service.list_exclusive_group("T-GROUP")] == [v1.id]
    assert (await service.published_ruleset("T-HOUSING")).version_id == v1.id
    row = next(r for r in await service.list_policies() if r["code"] == "T-HOUSING")
    assert row["published_number"] == 1 and row["status"] == "scheduled"
    # Not yet its day: nothing switches, however often it runs.
    assert await service.activate_due(BOB, today=dt.date(2026, 12, 31)) == []
    # Its day: it takes effect once.
    [switched] = await service.activate_due(AuditActor("system", "system"), today=dt.date(2027, 1, 1))
    assert (switched.id, switched.status) == (v2.id, "published")
    assert await service.activate_due(AuditActor("system", "system"), today=dt.date(2027, 1, 1)) == []
    assert (await service.read_version(v1.id)).status == "superseded"
    assert (await service.published_ruleset("T-HOUSING")).version_id == v2.id
    actions = [
        r["action"]
        for r in await AuditEntry.select(AuditEntry.action)
        .where(AuditEntry.entity_id == "T-HOUSING@2")
        .order_by(AuditEntry.seq)
    ]
    assert actions[-3:] == ["policy.publish", "policy.impact", "policy.take_effect"]


async def test_a_later_publication_replaces_a_version_still_waiting_for_its_day(fresh_db):
    v1 = await submitted(policy(effective_to=None))
    await service.publish_version(v1.id, BOB, today=TODAY)
    v2 = await submitted(dated("2027-01-01", "2000000"))
    await service.publish_version(v2.id, BOB, today=TODAY)
    v3 = await submitted(dated("2027-03-01", "3000000"))
    assert (await service.publish_version(v3.id, BOB, today=TODAY)).status == "scheduled"
    assert (await service.read_version(v2.id)).status == "superseded"
    assert (await service.read_version(v1.id)).status == "published"
    assert await service.activate_due(BOB, today=dt.date(2027, 2, 1)) == []
    assert [v.id for v in await service.activate_due(BOB, today=dt.date(2027, 3, 1))] == [v3.id]


async def test_its_author_loading_a_corrected_pack_resubmits_the_version_in_review(fresh_db):
    """A loaded pack is in review at once, so its author's corrected file withdraws it, changes it and submits it
    again (audited); another officer's file is refused while it is in review."""
    from policies.errors import VersionLocked

    [(v, _)] = await service.load_pack_text(packs.export_yaml(packs.check_policy(policy())[0]), ALICE)
    assert v.status == "in_review"
    corrected = packs.export_yaml(packs.check_policy(policy(title="测试安家补贴（更正）"))[0])
    with pytest.raises(VersionLocked, match="is in review"):
        await service.load_pack_text(corrected, AuditActor("dave", "policy_officer"))
    [(again, outcome)] = await service.load_pack_text(corrected, ALICE)
    assert (again.id, outcome, again.status, again.content.title) == (
        v.id,
        "updated",
        "in_review",
        "测试安家补贴（更正）",
    )
    actions = [
        r["action"]
        for r in await AuditEntry.select(AuditEntry.action)
        .where(AuditEntry.entity_id == "T-HOUSING@1")
        .order_by(AuditEntry.seq)
    ]
    assert actions == [
        "policy.draft.create",
        "policy.submit",
        "policy.withdraw",
        "policy.draft.update",
        "policy.submit",
    ]


async def test_two_workers_switching_at_once_switch_once(fresh_db):
    import asyncio

    v1 = await submitted(policy(effective_to=None))
    await service.publish_version(v1.id, BOB, today=TODAY)
    v2 = await submitted(dated("2027-01-01", "2000000"))
    await service.publish_version(v2.id, BOB, today=TODAY)
    system = AuditActor("system", "system")
    day = dt.date(2027, 1, 1)
    results = await asyncio.gather(
        service.activate_due(system, today=day), service.activate_due(system, today=day), return_exceptions=True
    )
    assert sorted(len(r) for r in results) == [0, 1], results
    assert await AuditEntry.count().where(AuditEntry.action == "policy.take_effect") == 1
    assert [p.id for p in await service.list_published()] == [v2.id]
