"""The policy lifecycle through policies.service: roles, own tests, immutability, round trip, impact preview."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest

from app.audit import AuditActor
from app.tables import AuditEntry
from kit.time import CHINA, FixedClock, use_clock
from policies import packs, service
from policies.errors import LifecycleError, NotAllowed, PackRefused, PolicyNotFound, TestsFailed, VersionLocked

SAMPLE = Path(__file__).parent / "sample_pack.yaml"  # a copy of the public conformance sample
ALICE = AuditActor("alice", "policy_officer")
BOB = AuditActor("bob", "policy_reviewer")
CAROL = AuditActor("carol", "policy_reviewer")

POLICY = {
    "code": "T-HOUSING",
    "title": "测试安家补贴",
    "issuer": "测试局",
    "subject": "talent",
    "mode": "auto",
    "effective_from": "2025-01-01",
    "effective_to": "2029-12-31",  # publishing needs a period not ended (today, China)
    "budget": "1000000",
    "combine": "first",
    "exclusive_group": "T-GROUP",
    "when": "social_insurance_months >= 6",
    "clauses": [
        {"code": "doctor", "title": "博士", "when": 'education == "doctor"', "amount": "100000"},
        {"code": "master", "title": "硕士", "when": 'education == "master"', "amount": "30000"},
    ],
    "tests": [
        {
            "name": "博士",
            "profile": {"id_number": "360102198801011233", "education": "doctor", "social_insurance_months": 12},
            "as_of": "2025-06-30",
            "expect": {"eligible": True, "clauses": ["doctor"], "amount": 100000},
        },
        {
            "name": "硕士",
            "profile": {"id_number": "360102198801011233", "education": "master", "social_insurance_months": 12},
            "as_of": "2025-06-30",
            "expect": {"eligible": True, "clauses": ["master"], "amount": 30000},
        },
        {
            "name": "本科不享受",
            "profile": {"id_number": "360102198801011233", "education": "bachelor", "social_insurance_months": 12},
            "as_of": "2025-06-30",
            "expect": {"eligible": False},
        },
    ],
}


def v2_of(policy: dict) -> dict:
    return {
        **policy,
        "budget": "2000000",
        "when": "social_insurance_months >= 3",
        "clauses": [
            {"code": "doctor", "title": "博士", "when": 'education == "doctor"', "amount": "120000"},
            {"code": "master", "title": "硕士", "when": 'education == "master" and age <= 40', "amount": "30000"},
            {"code": "bachelor", "title": "本科", "when": 'education == "bachelor"', "amount": "10000"},
        ],
        "tests": [
            {**policy["tests"][0], "expect": {"eligible": True, "clauses": ["doctor"], "amount": 120000}},
            policy["tests"][1],  # a master of 37
            {
                **policy["tests"][0],
                "name": "本科",
                "profile": {**policy["tests"][0]["profile"], "education": "bachelor"},
                "expect": {"eligible": True, "clauses": ["bachelor"], "amount": 10000},
            },
            {
                **policy["tests"][0],
                "name": "参保不满3个月",
                "profile": {**policy["tests"][0]["profile"], "social_insurance_months": 2},
                "expect": {"eligible": False},
            },
        ],
    }


async def submitted(data: dict, actor=ALICE):
    """A draft saved and submitted for review by its author (only such a version is published)."""
    v = await service.save_draft(data, actor)
    return await service.submit(v.id, actor)


async def audit_actions(entity_id: str) -> list[str]:
    rows = await AuditEntry.select(AuditEntry.action).where(AuditEntry.entity_id == entity_id).order_by(AuditEntry.seq)
    return [r["action"] for r in rows]


async def test_load_submit_publish_suspend_resume_retire_each_step_audited(fresh_db):
    stored = await service.load_pack(SAMPLE, ALICE)
    assert [(v.code, v.number, v.status, o) for v, o in stored] == [
        # A pack whose tests cover every clause is its author's submission: loaded, it is in review.
        ("SAMPLE-ABOVE-SCALE", 1, "in_review", "created"),
        ("SAMPLE-EXPORT-INSURANCE", 1, "in_review", "created"),
        ("SAMPLE-POSTDOC", 1, "in_review", "created"),
    ]
    with pytest.raises(NotAllowed, match="needs the role policy_reviewer"):
        await service.publish("SAMPLE-POSTDOC", ALICE)
    with pytest.raises(NotAllowed, match="author cannot publish own draft"):
        await service.publish("SAMPLE-POSTDOC", AuditActor("alice", "policy_reviewer"))
    v = await service.latest_version("SAMPLE-POSTDOC")
    with pytest.raises(NotAllowed):
        await service.reject(v.id, ALICE, "no")
    back = await service.reject(v.id, BOB, "请补充测试用例")
    assert back.status == "draft" and back.status_reason == "请补充测试用例"
    await service.submit(v.id, ALICE)
    published = await service.publish("SAMPLE-POSTDOC", BOB)
    assert published.status == "published" and published.reviewer == "bob"
    assert (await service.stored_impact(v.id)) is not None
    with pytest.raises(LifecycleError, match="no draft to publish"):
        await service.publish("SAMPLE-POSTDOC", CAROL)
    assert (await service.suspend("SAMPLE-POSTDOC", BOB, "资金未到位")).status == "suspended"
    with pytest.raises(PolicyNotFound, match="has no published version"):
        await service.published_ruleset("SAMPLE-POSTDOC")
    assert (await service.resume("SAMPLE-POSTDOC", BOB)).status == "published"
    assert (await service.retire("SAMPLE-POSTDOC", BOB, "政策到期")).status == "retired"
    assert await audit_actions("SAMPLE-POSTDOC@1") == [
        "policy.draft.create",
        "policy.submit",
        "policy.reject",
        "policy.submit",
        "policy.publish",
        "policy.impact",
        "policy.suspend",
        "policy.resume",
        "policy.retire",
    ]
    from app.audit import verify

    assert (await verify()).ok


async def test_role_checks_on_every_step(fresh_db):
    with pytest.raises(NotAllowed):
        await service.save_draft(POLICY, BOB)
    with pytest.raises(NotAllowed):
        await service.load_pack(SAMPLE, AuditActor("fin", "finance_maker"))
    v = await service.save_draft(POLICY, ALICE)
    with pytest.raises(NotAllowed):
        await service.publish_version(v.id, AuditActor("fin", "finance_checker"))
    with pytest.raises(NotAllowed):
        await service.submit(v.id, BOB)


async def test_a_draft_whose_own_tests_fail_cannot_be_submitted_or_published(fresh_db):
    bad = {**POLICY, "tests": [{**POLICY["tests"][0], "expect": {"eligible": True, "amount": 99}}]}
    v = await service.save_draft(bad, ALICE)  # a form draft may be saved while its tests still fail
    outcome = (await service.run_version_tests(v.id))[0]
    assert not outcome.passed and "amount is 100000.00, expected 99.00" in outcome.message
    with pytest.raises(TestsFailed, match="own tests fail"):
        await service.submit(v.id, ALICE)
    with pytest.raises(LifecycleError, match="has not submitted it for review|not submitted for review"):
        await service.publish("T-HOUSING", BOB)
    assert (await service.latest_version("T-HOUSING")).status == "draft"
    with pytest.raises(PackRefused):  # a YAML pack with a failing test is refused outright
        await service.load_pack_text(packs.export_yaml(v.content), ALICE)


async def test_no_path_changes_a_published_version(fresh_db):
    v1 = await submitted(POLICY)
    await service.publish_version(v1.id, BOB)
    before = await service.read_version(v1.id)
    with pytest.raises(VersionLocked, match="is published and cannot be changed"):
        await service.update_draft(v1.id, v2_of(POLICY), ALICE)
    # Saving changed content of the same code makes version 2; version 1 stays exactly as published.
    v2 = await service.save_draft(v2_of(POLICY), ALICE)
    assert (v2.number, v2.status) == (2, "draft")
    # A pack with the same code: version 2 (the draft) changes, version 1 does not.
    text = packs.export_yaml(packs.check_policy(v2_of(POLICY))[0]).replace("测试安家补贴", "测试安家补贴(修订)")
    [(v2b, outcome)] = await service.load_pack_text(text, ALICE)
    assert (v2b.id, v2b.number, outcome, v2b.status) == (v2.id, 2, "updated", "in_review")  # loading submits it
    after = await service.read_version(v1.id)
    assert after == before and after.content.title == "测试安家补贴"
    assert packs.content_hash(after.content) == before.content_hash
    with pytest.raises(VersionLocked, match="is in review"):
        await service.update_draft(v2.id, POLICY, ALICE)
    await service.publish_version(v2.id, CAROL)
    assert (await service.read_version(v1.id)).status == "superseded"
    assert (await service.read_version(v1.id)).content == before.content
    with pytest.raises(VersionLocked):
        await service.update_draft(v1.id, POLICY, ALICE)


async def test_round_trip_load_export_load_gives_an_identical_version(fresh_db):
    originals = {}
    for path in packs.bundled_pack_paths():
        for v, _ in await service.load_pack(path, ALICE):
            originals[v.code] = v
    for v in originals.values():
        text = await service.export_version(v.id)
        [(again, outcome)] = await service.load_pack_text(text, ALICE)
        assert outcome == "unchanged" and again.id == v.id
    # And into an empty database: the same content, hash and clauses.
    texts = {code: await service.export_version(v.id) for code, v in originals.items()}
    from tests.conftest import truncate_all

    await truncate_all()
    for code, text in texts.items():
        [(again, _)] = await service.load_pack_text(text, ALICE)
        assert again.content == originals[code].content
        assert again.content_hash == originals[code].content_hash


async def test_payments_facing_reads(fresh_db):
    for path in packs.bundled_pack_paths():
        await service.load_pack(path, ALICE)
    for row in await service.list_policies():
        # The bundled packs are policies of 2025 (some ended on 2025-12-31): published as on a day of theirs.
        await service.publish(row["code"], BOB, today=dt.date(2025, 6, 30))
    pub = await service.list_published()
    assert len(pub) == len(packs.bundled_pack_paths())
    talent = await service.list_published("talent")
    assert talent and all(p.subject == "talent" for p in talent)
    housing = await service.get_version(next(p.id for p in pub if p.code == "NC-TALENT-HOUSING-2025"))
    assert housing.budget_fen == 12_000_000_000 and housing.cap_per_subject_fen == 10_000_000
    assert (
        housing.mode == "auto" and housing.exclusive_group == "NC-HOUSING" and housing.key == "NC-TALENT-HOUSING-2025@1"
    )
    assert housing.clause_titles == {"doctor": "博士", "master": "硕士", "bachelor": "本科"}
    assert housing.effective_from == dt.date(2025, 1, 1) and housing.status == "published"
    group = await service.list_exclusive_group("NC-HOUSING")
    assert [g.code for g in group] == ["NC-NEWCOMER-RENT-2025", "NC-TALENT-HOUSING-2025"]
    rs = await service.published_ruleset("NC-TALENT-HOUSING-2025")
    assert rs.key == "NC-TALENT-HOUSING-2025@1" and rs.version_id == housing.id and len(rs.clauses) == 3
    with pytest.raises(PolicyNotFound, match="does not exist"):
        await service.published_ruleset("NO-SUCH")
    assert {p.mode for p in pub} == {"auto", "apply"}


# --------------------------------------------------------------------------- impact preview


def _talents(n: int, seed: int = 7) -> list[dict]:
    from eligibility.profiles import id_check_char

    rnd = random.Random(seed)
    out = []
    for i in range(n):
        born = dt.date(1975, 1, 1) + dt.timedelta(days=rnd.randrange(0, 27 * 365))
        first17 = f"360102{born:%Y%m%d}{i:03d}"
        out.append(
            {
                "id_number": first17 + id_check_char(first17),
                "name": f"人才{i}",
                "region_code": "360102",
                "education": rnd.choice(["doctor", "master", "bachelor", "college", "other"]),
                "arrived_on": "2024-01-15",
                "social_insurance_months": str(rnd.randrange(0, 12)),
            }
        )
    return out


def _age(idn: str, on: dt.date) -> int:
    b = dt.date(int(idn[6:10]), int(idn[10:12]), int(idn[12:14]))
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


def _plain_v1(p: dict, on) -> Decimal | None:
    if int(p["social_insurance_months"]) < 6:
        return None
    return {"doctor": Decimal(100000), "master": Decimal(30000)}.get(p["education"])


def _plain_v2(p: dict, on) -> Decimal | None:
    if int(p["social_insurance_months"]) < 3:
        return None
    if p["education"] == "doctor":
        return Decimal(120000)
    if p["education"] == "master" and _age(p["id_number"], on) <= 40:
        return Decimal(30000)
    if p["education"] == "bachelor":
        return Decimal(10000)
    return None


async def test_impact_preview_equals_an_independent_count(fresh_db):
    from eligibility.service import upsert_profile

    people = _talents(120)
    for p in people:
        await upsert_profile("talent", p, actor=ALICE)
    on = dt.date(2025, 6, 30)
    # v2 reads age, so its preview counts as of today whatever as_of says: today is `on` here.
    with use_clock(FixedClock(dt.datetime(2025, 6, 30, 12, tzinfo=CHINA))):
        await _impact_preview_equals_an_independent_count(people, on)


async def _impact_preview_equals_an_independent_count(people, on):
    v1 = await submitted(POLICY)
    first = await service.impact_preview(v1.id, on)
    plain1 = {p["id_number"]: a for p in people if (a := _plain_v1(p, on)) is not None}
    assert first.matched == len(plain1) and first.total_amount == sum(plain1.values())
    assert first.budget == Decimal("1000000.00") and first.budget_left == Decimal(1000000) - sum(plain1.values())
    assert first.published_version_id is None
    assert first.budget_left < 0  # 120 talents cost more than v1's budget: publishing needs the shortfall accepted
    await service.publish_version(v1.id, BOB, as_of=on, accept_shortfall=True)
    stored = await service.stored_impact(v1.id)
    assert stored.matched == first.matched and stored.total_amount == first.total_amount

    v2 = await submitted(v2_of(POLICY))
    preview = await service.impact_preview(v2.id, on)
    plain2 = {p["id_number"]: a for p in people if (a := _plain_v2(p, on)) is not None}
    assert preview.matched == len(plain2) and preview.total_amount == sum(plain2.values())
    assert preview.published_number == 1 and preview.published_matched == len(plain1)
    shown = lambda s: s[:3] + "*" * 11 + s[-4:]  # noqa: E731 - a talent's ID number is masked in the preview
    assert preview.added == [shown(s) for s in sorted(set(plain2) - set(plain1))]
    assert preview.removed == [shown(s) for s in sorted(set(plain1) - set(plain2))]
    changed = sorted((shown(s), plain1[s], plain2[s]) for s in set(plain1) & set(plain2) if plain1[s] != plain2[s])
    assert sorted((c.subject_id, c.before, c.after) for c in preview.amount_changed) == changed
    assert preview.budget_delta == Decimal("1000000.00")
    assert preview.total_delta == sum(plain2.values()) - sum(plain1.values())
    assert preview.added and preview.removed and preview.amount_changed  # the data exercise every kind of change
    await service.publish_version(v2.id, CAROL, as_of=on, accept_shortfall=True)
    assert (await service.stored_impact(v2.id)).model_dump() == preview.model_dump()


async def test_two_reviewers_publishing_at_once_publish_once(fresh_db):
    import asyncio

    v = await submitted(POLICY)
    results = await asyncio.gather(
        service.publish_version(v.id, BOB), service.publish_version(v.id, CAROL), return_exceptions=True
    )
    ok = [r for r in results if not isinstance(r, Exception)]
    failed = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 1 and len(failed) == 1 and isinstance(failed[0], LifecycleError), results
    assert (await audit_actions("T-HOUSING@1")).count("policy.publish") == 1


@pytest.mark.skipif(
    not __import__("tests.conftest", fromlist=["ON_POSTGRES"]).ON_POSTGRES,
    reason="PostgreSQL only: SQLite's one writer cannot interleave these (scripts/test runs it)",
)
async def test_an_edit_committed_while_the_version_is_being_published_stops_the_publication(fresh_db):
    """The reviewer's checks pass on the content they saw; an officer's edit commits before the status changes (a
    real second connection holds it). The publication must fail rather than publish content nobody reviewed."""
    import asyncio

    import asyncpg

    from app.db import engine

    v = await submitted(POLICY)
    seen = (await service.read_version(v.id)).content_hash
    other = await asyncpg.connect(engine().config["dsn"])
    try:
        tx = other.transaction()
        await tx.start()
        # What update_draft's write does first: the content (here just its hash and a clause's amount) changes.
        await other.execute("UPDATE policies_version SET content_hash = 'edited-after-review' WHERE id = $1", v.id)
        publishing = asyncio.create_task(
            service.publish_version(v.id, BOB, as_of=dt.date(2025, 6, 30), content_hash=seen)
        )
        await asyncio.sleep(1.0)
        assert not publishing.done()  # waiting on the edit's row lock: the interleaving under test did happen
        await tx.commit()
        with pytest.raises(LifecycleError):
            await asyncio.wait_for(publishing, 30)
    finally:
        await other.close()
    after = await service.read_version(v.id)
    assert after.status == "in_review" and after.content_hash == "edited-after-review"
