"""An objection upheld with a data correction: the officer corrects the field the objection names, the profile goes
through the data exchange's path, the subject is re-evaluated, and the new match brings one entitlement and one
notice; a second answer is refused. Also a non-match objection raised from the portal's policy page."""

from __future__ import annotations

import json

import pytest

from app import jobs
from app.audit import AuditActor
from app.flows import correct_by_objection
from app.tables import AuditEntry
from eligibility import service as eligibility
from kit.errors import InvalidState
from notifications import service as notifications
from payments import service as payments
from policies import service as policies
from policies.applications import objections
from policies.applications.schemas import ObjectionCreate
from tests.app.test_flows import PACK
from tests.web import acsrf, alogin, asgi_client, ensure_user

OFFICER = AuditActor("corr_officer", "policy_officer")
FEED = AuditActor("feed", "system")


async def _published_master():
    """The doctor-only policy published and matched; one talent stored as a master (wrongly: the feed erred)."""
    from eligibility import synthetic

    row = next(iter(synthetic.generate("talent", 1, seed=91)))
    row["education"] = "master"
    await eligibility.upsert_profile("talent", row, actor=FEED)
    await ensure_user("corr_officer", "policy_officer")
    await ensure_user("corr_reviewer", "policy_reviewer")
    version_id = (await policies.load_pack_text(PACK, OFFICER))[0][0].id
    async with asgi_client() as client:
        await alogin(client, "corr_reviewer")
        r = await client.post(f"/api/policies/versions/{version_id}/publish", json={}, headers=acsrf(client))
        assert r.status_code == 200, r.text
    await jobs.drain()
    sid = row["id_number"]
    assert await eligibility.matches_of_subject(sid) == []
    return version_id, sid


async def test_a_corrected_degree_brings_one_match_one_entitlement_one_notice(fresh_db):
    version_id, sid = await _published_master()
    version = await policies.get_version(version_id)
    made = await objections.raise_objection(
        "talent",
        sid,
        ObjectionCreate(target="policy", target_id=version_id, text="我是博士，档案中的学历有误"),
        actor=AuditActor(sid, "talent"),
        policy=(version.code, version.title),
    )
    assert made.target == "policy" and made.status == "open"
    # refused, nothing written: an identifying field, a value that changes nothing, an invalid value
    for bad in ({"id_number": "360102198801011233"}, {"education": "master"}, {"education": "wizard"}, {}):
        with pytest.raises(InvalidState):
            await correct_by_objection(made.id, corrections=bad, answer="更正", actor=OFFICER)
    assert (await objections.get_objection(made.id)).status == "open"
    assert (await eligibility.get_profile("talent", sid))["education"] == "master"

    decided = await correct_by_objection(
        made.id, corrections={"education": "doctor"}, answer="经核实学历为博士，已更正", actor=OFFICER
    )
    await jobs.drain()
    assert decided.status == "answered" and decided.outcome == "corrected"
    assert (await eligibility.get_profile("talent", sid))["education"] == "doctor"
    versions = await eligibility.profile_versions("talent", sid)
    assert [v.feed for v in versions if v.current] == [f"objection:{made.id}"]
    current = [m for m in await eligibility.matches_of_subject(sid) if m.state == "current"]
    assert [(m.version_id, m.amount_fen) for m in current] == [(version_id, 3_000_000)]
    ents = await payments.entitlements_of_subject("talent", sid)
    assert [(e.policy_code, int(e.amount)) for e in ents] == [(version.code, 30_000)]
    inbox = await notifications.inbox("talent", sid)
    assert sorted(n.kind for n in inbox) == ["matched_auto", "objection_answered"]

    with pytest.raises(InvalidState):  # a second answer is refused
        await correct_by_objection(made.id, corrections={"education": "doctor"}, answer="再次", actor=OFFICER)
    # the safety nets run again: still one entitlement and one match notice
    await jobs.enqueue("app.notify_all_matches")
    await jobs.drain()
    await payments.refresh_entitlements(version.code, actor=OFFICER)
    assert len(await payments.entitlements_of_subject("talent", sid)) == 1
    assert sorted(n.kind for n in await notifications.inbox("talent", sid)) == ["matched_auto", "objection_answered"]

    audit = await AuditEntry.select().where(AuditEntry.entity_id == str(made.id)).order_by(AuditEntry.seq)
    corrected = [a for a in audit if a["action"] == "objection.correct"]
    assert len(corrected) == 1 and corrected[0]["actor"] == "corr_officer"
    assert json.loads(corrected[0]["detail"])["feed"] == f"objection:{made.id}"
    profile_rows = await AuditEntry.select().where(AuditEntry.action == "eligibility.profile_updated")
    assert [(a["actor"], json.loads(a["detail"])["feed"]) for a in profile_rows] == [
        ("corr_officer", f"objection:{made.id}")
    ]


async def test_a_non_match_objection_from_the_portal_policy_page_answered_by_the_officers_form(fresh_db):
    version_id, sid = await _published_master()
    await ensure_user(sid, "talent")
    async with asgi_client() as client:
        await alogin(client, sid)
        page = await client.get(f"/portal/policies/{version_id}")
        assert page.status_code == 200 and 'data-testid="nonmatch-objection"' in page.text
        r = await client.post(
            "/portal/objections",
            data={
                "target": "policy",
                "target_id": str(version_id),
                "text": "我是博士，学历登记错了",
                "next": f"/portal/policies/{version_id}",
            },
            headers=acsrf(client),
        )
        assert r.status_code in (302, 303), r.text
    [made] = await objections.objections_of_subject("talent", sid)
    assert made.target == "policy" and made.target_id == version_id
    async with asgi_client() as client:
        await alogin(client, "corr_officer")
        page = await client.get("/applications/objections")
        assert 'data-testid="corrections"' in page.text
        r = await client.post(
            f"/applications/objections/{made.id}/answer",
            data={"answer": "已更正学历", "outcome": "corrected", "corrections": "education=doctor"},
            headers=acsrf(client),
        )
        assert r.status_code in (302, 303), r.text
        again = await client.post(
            f"/api/applications/objections/{made.id}/answer",
            json={"answer": "再次", "outcome": "corrected", "corrections": {"education": "doctor"}},
            headers=acsrf(client),
        )
        assert again.status_code == 409, again.text
    await jobs.drain()
    assert len(await payments.entitlements_of_subject("talent", sid)) == 1
    assert sorted(n.kind for n in await notifications.inbox("talent", sid)) == ["matched_auto", "objection_answered"]
    async with asgi_client() as client:  # now matched: no non-match objection any more (object to the decision)
        await alogin(client, sid)
        page = await client.get(f"/portal/policies/{version_id}")
        assert 'data-testid="nonmatch-objection"' not in page.text
        r = await client.post(
            "/api/portal/objections",
            json={"target": "policy", "target_id": version_id, "text": "再次"},
            headers=acsrf(client),
        )
        assert r.status_code == 409, r.text
