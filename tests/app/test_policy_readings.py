"""政策解读 to near misses who opted in (issue 21): at publication, a subject that misses the new policy by at most
NEAR_MISS_MAX conditions and switched the opt-in on at /portal/contacts gets one ``policy_reading`` notice saying it
does not qualify yet and what is still needed; nobody else gets one, and a re-run sends nothing more."""

from __future__ import annotations

from app import jobs
from app.audit import AuditActor
from eligibility.fields import china_today
from tests.web import acsrf, alogin, asgi_client, ensure_user

PACK = """
code: READ-DOCTOR-2025
title: 测试高层次人才补贴
issuer: 南昌市人力资源和社会保障局
subject: talent
mode: auto
effective_from: 2025-01-01
budget: 1000000.00
summary: 在南昌工作的博士、正高级职称人才，社保满一年的，给予一次性补贴。
clauses:
  - code: doctor
    title: 博士正高
    when: education == "doctor" and social_insurance_months >= 12 and title == "senior"
    amount: 50000
tests:
  - name: 博士正高
    profile: {id_number: "360102198801011233", education: doctor, social_insurance_months: 24, title: senior}
    expect: {eligible: true, clauses: [doctor], amount: 50000}
  - name: 硕士
    profile: {id_number: "360102198801011233", education: master, social_insurance_months: 24, title: senior}
    expect: {eligible: false}
"""


def _talents() -> list[dict]:
    """Four synthetic talents: one who qualifies, two near misses (2 conditions short), one far miss (3 short)."""
    from eligibility import synthetic

    rows = list(synthetic.generate("talent", 4, seed=91))
    shapes = [("doctor", 24, "senior"), ("doctor", 6, "none"), ("doctor", 6, "none"), ("bachelor", 6, "none")]
    for row, (education, months, title) in zip(rows, shapes):
        row.update(education=education, social_insurance_months=months, title=title)
    return rows


async def test_opted_in_near_miss_gets_one_reading_and_nobody_else(fresh_db):
    from app.tables import AuditEntry
    from eligibility import service as eligibility
    from notifications import service as notifications
    from notifications.schemas import RecipientUpsert
    from notifications.tables import Delivery
    from policies import service as policies

    await ensure_user("read_officer", "policy_officer")
    await ensure_user("read_reviewer", "policy_reviewer")
    matched, near_in, near_out, far_in = [r["id_number"] for r in _talents()]
    feed = AuditActor("feed", "system")
    for row in _talents():
        await eligibility.upsert_profile("talent", row, actor=feed)
    await ensure_user(near_in, "talent")  # a talent user is named by its subject id
    # the opted-in near miss has a verified e-mail (a feed-set point is verified); the far miss opts in too
    await notifications.upsert_recipient(
        RecipientUpsert(kind="talent", subject_id=near_in, email="near@example.cn"), actor=feed
    )
    async with asgi_client() as client:
        await alogin(client, near_in)
        page = await client.get("/portal/contacts")
        assert page.status_code == 200 and 'data-testid="readings-optin"' in page.text
        assert 'data-testid="readings-optin" checked' not in page.text.replace("  ", " ")  # default off
        r = await client.post("/portal/contacts/readings", data={"readings": "on"}, headers=acsrf(client))
        assert r.status_code in (302, 303), r.text
        assert (await client.get("/api/portal/preferences")).json()["readings"] is True
    await notifications.set_readings("talent", far_in, True, actor=feed)
    assert (await notifications.preferences_of("talent", near_out)).readings is False

    stored = await policies.load_pack_text(PACK, AuditActor("read_officer", "policy_officer"))
    version_id = stored[0][0].id
    async with asgi_client() as client:
        await alogin(client, "read_reviewer")
        r = await client.post(f"/api/policies/versions/{version_id}/publish", json={}, headers=acsrf(client))
        assert r.status_code == 200, r.text
    await jobs.drain()

    async def readings(sid: str) -> list:
        return [n for n in await notifications.inbox("talent", sid) if n.kind == "policy_reading"]

    got = await readings(near_in)
    assert len(got) == 1
    notice = got[0]
    assert "暂不符合" in notice.title and "测试高层次人才补贴" in notice.title
    assert "尚不符合" in notice.body and "还差" in notice.body
    assert "社保" in notice.body or "社会保险" in notice.body  # the missing months, in the explainer's words
    assert "职称" in notice.body
    assert "申兑指南" in notice.body or "政策解读" in notice.body
    assert await readings(near_out) == []  # a near miss that did not opt in
    assert await readings(far_in) == []  # opted in, but three conditions short
    assert await readings(matched) == []  # qualifies: gets its matched_auto notice instead
    assert [n.kind for n in await notifications.inbox("talent", matched)] == ["matched_auto"]
    # through the verified e-mail like every notice
    channels = await Delivery.select(Delivery.channel).where(Delivery.notice == notice.id)
    assert [c["channel"] for c in channels] == ["email"]

    # re-running publication's job (and the safety net) sends no second one
    from app.tasks import match_published

    await match_published({"redis": await jobs.get_queue()}, version_id, china_today().isoformat())
    await jobs.enqueue("app.notify_all_matches")
    await jobs.drain()
    assert len(await readings(near_in)) == 1

    # the opt-in is audited, with the subject as actor
    audited = await AuditEntry.select(AuditEntry.actor, AuditEntry.detail).where(
        (AuditEntry.action == "recipient.upsert") & (AuditEntry.entity_id == f"talent:{near_in}")
    )
    assert any(a["actor"] == near_in and "readings_enabled" in a["detail"] for a in audited)
