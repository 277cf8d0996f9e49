"""服务找人 end to end through the platform's wiring: a reviewer publishes, the version is matched and every
matched subject gets one notice, however often the flow runs."""

from __future__ import annotations

from app import jobs
from app.audit import AuditActor
from eligibility.fields import china_today
from tests.web import acsrf, alogin, asgi_client, ensure_user

PACK = """
code: FLOW-DOCTOR-2025
title: 测试博士安家补贴
issuer: 南昌市人力资源和社会保障局
subject: talent
mode: auto
effective_from: 2025-01-01
budget: 1000000.00
clauses:
  - code: doctor
    title: 博士
    when: education == "doctor"
    amount: 30000
tests:
  - name: 博士
    profile: {id_number: "360102198801011233", education: doctor}
    expect: {eligible: true, clauses: [doctor], amount: 30000}
  - name: 硕士
    profile: {id_number: "360102198801011233", education: master}
    expect: {eligible: false}
"""


def _talents() -> dict[str, dict]:
    """Three valid synthetic talents: two doctors and a master."""
    from eligibility import synthetic

    rows = list(synthetic.generate("talent", 3, seed=77))
    for row, education in zip(rows, ("doctor", "doctor", "master")):
        row["education"] = education
    return {row["id_number"]: row for row in rows}


async def test_publishing_matches_and_notifies_each_subject_once(fresh_db):
    from eligibility import service as eligibility
    from notifications import service as notifications
    from policies import service as policies

    await ensure_user("flow_officer", "policy_officer")
    await ensure_user("flow_reviewer", "policy_reviewer")
    talents = _talents()
    for row in talents.values():
        await eligibility.upsert_profile("talent", row, actor=AuditActor("feed", "system"))
    stored = await policies.load_pack_text(PACK, AuditActor("flow_officer", "policy_officer"))
    version_id = stored[0][0].id

    async with asgi_client() as client:
        await alogin(client, "flow_reviewer")
        r = await client.post(f"/api/policies/versions/{version_id}/publish", json={}, headers=acsrf(client))
        assert r.status_code == 200, r.text
    await jobs.drain()

    matched = {m.subject_id for m in await eligibility.matches_for(version_id)}
    assert matched == {sid for sid, row in talents.items() if row["education"] == "doctor"}
    for sid in talents:
        inbox = await notifications.inbox("talent", sid)
        assert len(inbox) == (1 if sid in matched else 0)
    notice = (await notifications.inbox("talent", sorted(matched)[0]))[0]
    assert "测试博士安家补贴" in notice.title and "30,000.00" in notice.title

    # The scheduled safety net and a second run of the job add nothing.
    queue = await jobs.get_queue()
    await jobs.enqueue("app.notify_all_matches")
    await jobs.drain()
    from app.tasks import match_published

    await match_published({"redis": queue}, version_id, china_today().isoformat())
    for sid in matched:
        assert len(await notifications.inbox("talent", sid)) == 1


async def test_notice_pass_reads_only_waiting_matches_and_catches_a_crashed_one(fresh_db):
    """The scheduled notice pass reads only the matches not yet handed on to their notice (not every stored match),
    and still catches a match whose notice step never ran (a re-match stored it, then the process died) and a chunk
    whose notices were committed but not marked (the pass died between the two: nothing is written twice)."""
    from eligibility import incremental
    from eligibility import service as eligibility
    from kit import db
    from notifications import service as notifications
    from policies import service as policies

    await ensure_user("flow_officer", "policy_officer")
    await ensure_user("flow_reviewer", "policy_reviewer")
    talents = _talents()
    feed = AuditActor("feed", "system")
    for row in talents.values():
        await eligibility.upsert_profile("talent", row, actor=feed)
    version_id = (await policies.load_pack_text(PACK, AuditActor("flow_officer", "policy_officer")))[0][0].id
    async with asgi_client() as client:
        await alogin(client, "flow_reviewer")
        r = await client.post(f"/api/policies/versions/{version_id}/publish", json={}, headers=acsrf(client))
        assert r.status_code == 200, r.text
    await jobs.drain()
    doctors = {sid for sid, row in talents.items() if row["education"] == "doctor"}
    assert {m.subject_id for m in await eligibility.matches_for(version_id)} == doctors
    assert await eligibility.unnotified_matches(version_id) == []  # handed on: the next pass reads none of them

    # The master becomes a doctor; the feed's re-match stores the match, and the notice step never runs (a crash).
    [master] = [sid for sid in talents if sid not in doctors]
    await eligibility.upsert_profile("talent", {**talents[master], "education": "doctor"}, actor=feed)
    assert await incremental.rematch_subjects("talent", [master], china_today(), actor=feed) == 1
    assert await notifications.inbox("talent", master) == []
    waiting = await eligibility.unnotified_matches(version_id)
    assert [m.subject_id for m in waiting] == [master]  # what the pass reads: the one waiting match, not all three

    await jobs.enqueue("app.notify_all_matches")  # the scheduled safety net, later
    await jobs.drain()
    assert len(await notifications.inbox("talent", master)) == 1
    assert await eligibility.unnotified_matches(version_id) == []

    # Notices committed, marks lost (the pass died in between, or matches stored before the mark existed): the next
    # pass reads them again, writes nothing twice, and marks them.
    await db.raw("UPDATE eligibility_match SET notified_at = NULL")
    assert len(await eligibility.unnotified_matches(version_id)) == 3
    from app.flows import notify_all_published

    assert await notify_all_published(actor=AuditActor("system", "admin")) == 0
    assert await eligibility.unnotified_matches(version_id) == []
    for sid in talents:
        assert len(await notifications.inbox("talent", sid)) == 1


async def test_the_publication_notice_carries_the_plain_reading_and_the_guide_once(fresh_db):
    """政策解读 pushed: with the publication, each matched subject's one notice holds the summary in plain words and
    the 申兑指南 (who, materials, working days, where, contact, the library link), not only "you qualify"."""
    from app.flows import notify_matches
    from eligibility import service as eligibility
    from notifications import service as notifications
    from policies import service as policies

    await ensure_user("flow_officer", "policy_officer")
    await ensure_user("flow_reviewer", "policy_reviewer")
    talents = _talents()
    for row in talents.values():
        await eligibility.upsert_profile("talent", row, actor=AuditActor("feed", "system"))
    guided = PACK.replace(
        "budget: 1000000.00\n",
        "budget: 1000000.00\nsummary: 在本市工作的博士一次性发放3万元安家补贴。\n"
        "guide: {who: 在本市就业的博士, materials: [无需提交材料], processing_days: 20, contact: 12345 热线}\n",
    )
    stored = await policies.load_pack_text(guided, AuditActor("flow_officer", "policy_officer"))
    version_id = stored[0][0].id
    async with asgi_client() as client:
        await alogin(client, "flow_reviewer")
        r = await client.post(f"/api/policies/versions/{version_id}/publish", json={}, headers=acsrf(client))
        assert r.status_code == 200, r.text
    await jobs.drain()
    matched = sorted(m.subject_id for m in await eligibility.matches_for(version_id))
    assert len(matched) == 2
    for sid in matched:
        (notice,) = await notifications.inbox("talent", sid)
        assert "政策解读：在本市工作的博士一次性发放3万元安家补贴。" in notice.body
        assert "申报对象：在本市就业的博士" in notice.body and "办理时限：20 个工作日" in notice.body
        assert "/library/FLOW-DOCTOR-2025" in notice.body
        (en,) = await notifications.inbox("talent", sid, locale="en")
        assert "Application guide:" in en.body and "20 working days" in en.body
    assert await notify_matches(version_id, actor=AuditActor("flow", "system")) == 0  # keyed: it comes once


async def test_notice_pass_loads_no_profile_for_a_rewritten_match_already_told(fresh_db, monkeypatch):
    """A feed changes the profiles of subjects told long ago: the re-match writes their match rows anew (a changed
    profile digest is a new row, not yet marked handed on). The notice pass finds their notice keys used before it
    reads any profile: the rewritten matches are marked with no profile loaded and no second notice, and only the
    subject who is new gets a notice (with the profile's name in it)."""
    from eligibility import incremental, store
    from eligibility import service as eligibility
    from notifications import service as notifications
    from policies import service as policies

    await ensure_user("flow_officer", "policy_officer")
    await ensure_user("flow_reviewer", "policy_reviewer")
    talents = _talents()
    feed = AuditActor("feed", "system")
    for row in talents.values():
        await eligibility.upsert_profile("talent", row, actor=feed)
    version_id = (await policies.load_pack_text(PACK, AuditActor("flow_officer", "policy_officer")))[0][0].id
    async with asgi_client() as client:
        await alogin(client, "flow_reviewer")
        r = await client.post(f"/api/policies/versions/{version_id}/publish", json={}, headers=acsrf(client))
        assert r.status_code == 200, r.text
    await jobs.drain()
    doctors = sorted(sid for sid, row in talents.items() if row["education"] == "doctor")
    [master] = [sid for sid in talents if sid not in doctors]

    # The feed: both doctors' profiles change (still doctors), the master becomes one.
    changed = {sid: {**talents[sid], "name": talents[sid]["name"] + "改"} for sid in doctors}
    changed[master] = {**talents[master], "education": "doctor"}
    for row in changed.values():
        await eligibility.upsert_profile("talent", row, actor=feed)
    await incremental.rematch_subjects("talent", sorted(changed), china_today(), actor=feed)
    waiting = await eligibility.unnotified_matches(version_id)
    assert sorted(m.subject_id for m in waiting) == sorted(changed)  # the rewritten rows wait too

    loaded: list[str] = []
    from_row = store.from_row

    def counting(kind, row):
        loaded.append(row["subject_id"])
        return from_row(kind, row)

    monkeypatch.setattr(store, "from_row", counting)
    from app.flows import notify_all_published

    assert await notify_all_published(actor=AuditActor("system", "admin")) == 1
    monkeypatch.undo()
    assert loaded == [master]  # the one profile the new notice needs; none for the subjects told before
    assert await eligibility.unnotified_matches(version_id) == []
    for sid in talents:
        assert len(await notifications.inbox("talent", sid)) == 1
    [notice] = await notifications.inbox("talent", master)
    assert "30,000.00" in notice.title
