"""An objection upheld with a correction of a field a data-exchange feed owns: no direct write, a correction request to
that feed (field, old and proposed value, objection, officer; pending), listed for officers and exported as CSV;
the feed's next import delivering the value accepts it and re-evaluates (one match, one entitlement, one notice);
the feed's refusal answers the objection again with the feed's reason."""

from __future__ import annotations

import csv
import io

from app import jobs
from app.flows import correct_by_objection
from eligibility import service as eligibility
from eligibility.feeds import create_feed_key
from notifications import service as notifications
from payments import service as payments
from policies import service as policies
from policies.applications import objections
from policies.applications.schemas import ObjectionCreate
from tests.app.test_objection_correction import FEED, OFFICER, _published_master
from tests.web import acsrf, alogin, asgi_client

FEED_NAME = "edu_feed"


async def _objection_with_request():
    version_id, sid = await _published_master()
    key = await create_feed_key(FEED_NAME, "talent", actor=FEED, owns=["education", "graduated_on"])
    version = await policies.get_version(version_id)
    made = await objections.raise_objection(
        "talent",
        sid,
        ObjectionCreate(target="policy", target_id=version_id, text="我是博士，档案中的学历有误"),
        actor=eligibility_actor(sid),
        policy=(version.code, version.title),
    )
    decided = await correct_by_objection(
        made.id, corrections={"education": "doctor"}, answer="异议成立，已请学历数据提供方更正", actor=OFFICER
    )
    await jobs.drain()
    return version, sid, key, made, decided


def eligibility_actor(sid):
    from app.audit import AuditActor

    return AuditActor(sid, "talent")


async def _requests(client, status=""):
    r = await client.get(f"/api/applications/corrections?status={status}")
    assert r.status_code == 200, r.text
    return r.json()


async def test_an_owned_field_becomes_a_request_and_the_feeds_delivery_brings_the_entitlement(fresh_db):
    version, sid, key, made, decided = await _objection_with_request()
    assert decided.status == "answered" and decided.outcome == "correcting"
    assert (await eligibility.get_profile("talent", sid))["education"] == "master"  # not applied
    assert [m for m in await eligibility.matches_of_subject(sid) if m.state == "current"] == []
    assert await payments.entitlements_of_subject("talent", sid) == []
    assert [n.kind for n in await notifications.inbox("talent", sid)] == ["objection_answered"]
    async with asgi_client() as client:
        await alogin(client, "corr_officer")
        [req] = await _requests(client, "pending")
        assert (req["feed"], req["field"], req["old_value"], req["proposed_value"]) == (
            FEED_NAME,
            "education",
            "master",
            "doctor",
        )
        assert req["objection_id"] == made.id and req["officer"] == "corr_officer" and req["status"] == "pending"
        exported = await client.get("/api/applications/corrections.csv")
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
        assert [(r["subject_id"], r["field"], r["proposed_value"], r["status"]) for r in rows] == [
            (sid, "education", "doctor", "pending")
        ]

    # an import of the feed that does not carry the value yet leaves the request pending
    async with asgi_client() as client:
        r = await client.post(
            "/api/exchange/talent/profiles",
            json={"id_number": sid, "graduated_on": "2020-07-01"},
            headers={"X-API-Key": key},
        )
        assert r.status_code == 200 and r.json()["updated"] == 1, r.text
        await jobs.drain()
        assert await payments.entitlements_of_subject("talent", sid) == []
        # the feed's next import delivers the corrected value
        r = await client.post(
            "/api/exchange/talent/profiles", json={"id_number": sid, "education": "doctor"}, headers={"X-API-Key": key}
        )
        assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    await jobs.drain()
    assert (await eligibility.get_profile("talent", sid))["education"] == "doctor"
    current = [m for m in await eligibility.matches_of_subject(sid) if m.state == "current"]
    assert [(m.version_id, m.amount_fen) for m in current] == [(version.id, 3_000_000)]
    ents = await payments.entitlements_of_subject("talent", sid)
    assert [(e.policy_code, int(e.amount)) for e in ents] == [(version.code, 30_000)]
    assert sorted(n.kind for n in await notifications.inbox("talent", sid)) == ["matched_auto", "objection_answered"]
    assert (await objections.get_objection(made.id)).outcome == "corrected"
    async with asgi_client() as client:
        await alogin(client, "corr_officer")
        [req] = await _requests(client)
        assert req["status"] == "accepted"
    # the version history says the feed wrote it, not the objection
    versions = await eligibility.profile_versions("talent", sid)
    assert [v.feed for v in versions if v.current] == [FEED_NAME]
    # a later import of the same value changes nothing more
    await jobs.enqueue("app.notify_all_matches")
    await jobs.drain()
    assert len(await payments.entitlements_of_subject("talent", sid)) == 1


async def test_the_feeds_refusal_answers_the_objection_with_its_reason(fresh_db):
    version, sid, key, made, decided = await _objection_with_request()
    async with asgi_client() as client:
        await alogin(client, "corr_officer")
        [req] = await _requests(client, "pending")
        empty = await client.post(
            f"/api/applications/corrections/{req['id']}/refuse", json={"reason": " "}, headers=acsrf(client)
        )
        assert empty.status_code == 409, empty.text
        r = await client.post(
            f"/api/applications/corrections/{req['id']}/refuse",
            json={"reason": "学信网核验：该学位证书编号不存在"},
            headers=acsrf(client),
        )
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "rejected" and r.json()["reason"] == "学信网核验：该学位证书编号不存在"
        again = await client.post(
            f"/api/applications/corrections/{req['id']}/refuse", json={"reason": "再次"}, headers=acsrf(client)
        )
        assert again.status_code == 409
    await jobs.drain()
    answered = await objections.get_objection(made.id)
    assert answered.outcome == "feed_refused" and "学信网核验：该学位证书编号不存在" in answered.answer
    inbox = await notifications.inbox("talent", sid)
    assert [n.kind for n in inbox] == ["objection_answered", "objection_answered"]
    assert any("该学位证书编号不存在" in n.body for n in inbox)
    assert (await eligibility.get_profile("talent", sid))["education"] == "master"
    assert await payments.entitlements_of_subject("talent", sid) == []


async def test_the_cli_import_of_the_feed_settles_the_request_and_lists_it(fresh_db, tmp_dir):
    from tests.conftest import zhida

    version, sid, key, made, decided = await _objection_with_request()
    pending = zhida("profiles", "corrections", "list", "--status", "pending", check=True).stdout
    assert [(r["field"], r["proposed_value"]) for r in csv.DictReader(io.StringIO(pending))] == [
        ("education", "doctor")
    ]
    delivery = tmp_dir / "edu.ndjson"
    delivery.write_text(f'{{"id_number": "{sid}", "education": "doctor"}}\n', encoding="utf-8")
    run = zhida("profiles", "import", str(delivery), "--kind", "talent", "--feed", FEED_NAME, check=True)
    assert "correction requests accepted (delivered by feed edu_feed): 1" in run.stdout
    ents = await payments.entitlements_of_subject("talent", sid)
    assert [(e.policy_code, int(e.amount)) for e in ents] == [(version.code, 30_000)]
    assert (await objections.get_objection(made.id)).outcome == "corrected"
    out = tmp_dir / "requests.csv"
    zhida("profiles", "corrections", "list", "--out", str(out), check=True)
    [row] = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert row["status"] == "accepted" and row["objection_id"] == str(made.id)
    late = zhida("profiles", "corrections", "refuse", row["id"], "--reason", "太晚了")
    assert late.returncode != 0 and "already accepted" in (late.stderr + late.stdout)
