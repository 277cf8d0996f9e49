"""The 12345 hotline (issue 21): a caller's consent code from the portal opens an agent's time-limited access to that
caller only; the agent sees the caller's stages and answers, and files objections on the caller's behalf, audited.
Through the HTTP API, as the portal and the agent's desk use it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from app.tables import AuditEntry, HotlineConsent, HotlineGrant
from kit.money import fen_to_yuan
from payments import service as payments
from tests.portal.conftest import csrf
from tests.portal.fixtures import AUTO_ENT, ENT_A, ENT_B, TALENT_A
from tests.web import ensure_user

AGENT, AGENT2 = "pt_hotline", "pt_hotline2"


async def _code(client) -> str:
    r = await client.post("/api/portal/hotline/code", headers=csrf(client))
    assert r.status_code == 200, r.text
    code = r.json()["code"]
    assert re.fullmatch(r"\d{6}", code)
    return code


async def _agent(client_as, name: str = AGENT):
    await ensure_user(name, "hotline")
    return await client_as(name)


async def _grant(agent, identifier: str, code: str):
    return await agent.post("/api/hotline/grants", json={"identifier": identifier, "code": code}, headers=csrf(agent))


async def test_consent_code_is_hashed_single_and_audited(client_as):
    ent = await client_as(ENT_A)
    first = await _code(ent)
    second = await _code(ent)
    rows = await HotlineConsent.select().where(HotlineConsent.subject_id == ENT_A)
    assert len(rows) == 2
    assert all(first not in r["code_hash"] and second not in r["code_hash"] for r in rows)
    live = [r for r in rows if r["used_at"] is None]
    assert len(live) == 1  # a new code voids the older one
    assert live[0]["expires_at"] - live[0]["created_at"] == dt.timedelta(minutes=15)
    issued = await AuditEntry.select().where(AuditEntry.action == "hotline.consent_issue")
    assert [e["actor"] for e in issued] == [ENT_A, ENT_A]
    agent = await _agent(client_as)
    if first != second:
        assert (await _grant(agent, ENT_A, first)).status_code == 403  # the voided code no longer works
    assert (await _grant(agent, ENT_A, second)).status_code == 201


async def test_agent_sees_only_the_consenting_caller_and_only_for_a_time(client_as):
    ent_a, ent_b = await client_as(ENT_A), await client_as(ENT_B)
    agent, agent2 = await _agent(client_as), await _agent(client_as, AGENT2)
    # Staff-wide routes stay closed to the hotline: no subject is readable without consent.
    assert (await agent.get(f"/api/profiles/enterprise/{ENT_B}")).status_code == 403
    assert (await agent.get(f"/api/explain/{AUTO_ENT}/{ENT_B}")).status_code == 403
    code = await _code(ent_a)
    r = await _grant(agent, ENT_A, code)
    assert r.status_code == 201, r.text
    gid = r.json()["id"]
    assert (await _grant(agent2, ENT_A, code)).status_code == 403  # used once
    seen = (await agent.get(f"/api/hotline/grants/{gid}")).json()
    assert {p["code"] for p in seen["policies"]} == {
        p["code"] for p in (await ent_a.get("/api/portal/overview")).json()["policies"]
    }
    # Another agent with the grant's id, another subject's grant: 403.
    assert (await agent2.get(f"/api/hotline/grants/{gid}")).status_code == 403
    code_b = await _code(ent_b)
    gid_b = (await _grant(agent2, ENT_B, code_b)).json()["id"]
    assert (await agent.get(f"/api/hotline/grants/{gid_b}")).status_code == 403
    assert (await agent.get(f"/hotline/grants/{gid_b}")).status_code == 403
    # An objection through A's grant to B's entitlement is refused (not A's).
    ent_b_id = next(
        p["entitlement_id"] for p in (await ent_b.get("/api/portal/overview")).json()["policies"] if p["entitlement_id"]
    )
    r = await agent.post(
        f"/api/hotline/grants/{gid}/objections",
        json={"target": "entitlement", "target_id": ent_b_id, "text": "x"},
        headers=csrf(agent),
    )
    assert r.status_code == 404
    # After expiry: 403.
    await HotlineGrant.update({HotlineGrant.expires_at: HotlineGrant.created_at}).where(HotlineGrant.id == gid)
    assert (await agent.get(f"/api/hotline/grants/{gid}")).status_code == 403
    assert (await agent.get(f"/hotline/grants/{gid}")).status_code == 403
    # The subject's own portal cannot use the agent's routes, nor the agent the portal.
    assert (await ent_a.get(f"/api/hotline/grants/{gid}")).status_code == 403
    assert (await agent.get("/api/portal/overview")).status_code == 403
    grants = await AuditEntry.select().where(AuditEntry.action == "hotline.grant")
    assert {e["actor"] for e in grants} == {AGENT, AGENT2}


async def test_wrong_codes_are_throttled_and_void_the_code(client_as):
    ent = await client_as(ENT_A)
    agent = await _agent(client_as)
    code = await _code(ent)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    statuses = [(await _grant(agent, ENT_A, wrong)).status_code for _ in range(6)]
    assert statuses[0] == 403
    assert 429 in statuses  # the throttle's back-off answers before the code is even checked
    assert await AuditEntry.select().where(AuditEntry.action == "hotline.grant_refused")
    # The right code after the throttle: still refused while the back-off lasts, or void after five wrong tries.
    assert (await _grant(agent, ENT_A, code)).status_code in (403, 429)


async def test_agent_files_objections_for_the_caller_audited_as_the_agent(client_as):
    ent = await client_as(ENT_A)
    agent = await _agent(client_as)
    gid = (await _grant(agent, ENT_A, await _code(ent))).json()["id"]
    seen = (await agent.get(f"/api/hotline/grants/{gid}")).json()
    ent_id = next(p["entitlement_id"] for p in seen["policies"] if p["entitlement_id"])
    r = await agent.post(
        f"/api/hotline/grants/{gid}/objections",
        json={
            "target": "entitlement",
            "target_id": ent_id,
            "text": "来电称员工人数有误",
            "kind": "correction",
            "field": "employees",
            "value": "120",
        },
        headers=csrf(agent),
    )
    assert r.status_code in (200, 201), r.text
    made = r.json()
    assert "参保职工人数 → 120" in made["text"] and "employees" not in made["text"]  # the field by its label
    # The caller sees it in the portal as its own objection.
    mine = (await ent.get("/api/portal/objections")).json()
    assert [o["id"] for o in mine] == [made["id"]]
    raised = await AuditEntry.select().where(
        (AuditEntry.entity == "objection") & (AuditEntry.entity_id == str(made["id"]))
    )
    assert {e["action"] for e in raised} == {"objection.raise", "hotline.objection"}
    assert {(e["actor"], e["role"]) for e in raised} == {(AGENT, "hotline")}
    assert any(ENT_A in e["detail"] for e in raised if e["action"] == "hotline.objection")  # on behalf of


async def test_common_answers_name_only_stored_amounts(client_as):
    for sid in (ENT_A, TALENT_A):
        portal = await client_as(sid)
        agent = await _agent(client_as)
        gid = (await _grant(agent, sid, await _code(portal))).json()["id"]
        seen = (await agent.get(f"/api/hotline/grants/{gid}")).json()
        kind = "enterprise" if sid == ENT_A else "talent"
        stored = {
            fen_to_yuan(e.amount_fen) if hasattr(e, "amount_fen") else Decimal(str(e.amount))
            for e in await payments.entitlements_of_subject(kind, sid)
        }
        from eligibility import service as eligibility

        stored |= {fen_to_yuan(m.amount_fen) for m in await eligibility.matches_of_subject(sid)}
        stored_text = {f"{a:,.2f}" for a in stored}
        answers = seen["why_not_paid"] + seen["may_enjoy"]
        assert answers and all(a["text"] for a in answers)
        for a in answers:
            # Every amount in a sentence is one the rules produced and stored for this caller.
            for figure in re.findall(r"\d{1,3}(?:,\d{3})*\.\d{2}", a["text"]):
                assert figure in stored_text, (figure, stored_text, a["text"])
            if a["amount"]:
                assert a["amount"] in stored_text
        # Each policy on record is answered, with the stage the portal shows.
        by_version = {p["version_id"]: p for p in seen["policies"]}
        assert {a["version_id"] for a in seen["why_not_paid"]} == set(by_version)
        for a in seen["why_not_paid"]:
            assert a["stage"] == by_version[a["version_id"]]["stage"]
            assert by_version[a["version_id"]]["title"] in a["text"]


async def test_a_blank_objection_or_a_bad_target_from_the_desk_is_refused_in_words_not_a_500(client_as):
    """The desk's own body checks let through what the objection service refuses (blank text after trimming, a
    target id out of range): that refusal reaches the agent as a 400 in the agent's language."""
    ent = await client_as(ENT_A)
    agent = await _agent(client_as)
    gid = (await _grant(agent, ENT_A, await _code(ent))).json()["id"]
    seen = (await agent.get(f"/api/hotline/grants/{gid}")).json()
    ent_id = next(p["entitlement_id"] for p in seen["policies"] if p["entitlement_id"])
    for body in (
        {"target": "entitlement", "target_id": ent_id, "text": "   "},
        {"target": "entitlement", "target_id": 0, "text": "来电称金额有误"},
        {"target": "entitlement", "target_id": 2**63, "text": "来电称金额有误"},
    ):
        r = await agent.post(
            f"/api/hotline/grants/{gid}/objections",
            json=body,
            headers={**csrf(agent), "Accept-Language": "zh-CN"},
        )
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert re.search(r"[\u4e00-\u9fff]", r.json()["detail"] if isinstance(r.json()["detail"], str) else r.text)
    assert (await ent.get("/api/portal/objections")).json() == []
