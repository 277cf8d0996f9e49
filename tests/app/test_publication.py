"""One publication path (issue 15 #5, #6): `zhida policies publish` reaches the subjects as the web path does (matches,
notices, entitlements, in the embedded mode before the command returns), and a version dated from a later day takes
effect by itself on that day through the scheduled job, which the in-process queue runs on every drain."""

from __future__ import annotations

import datetime as dt
import json

from app import jobs, publication
from app.audit import AuditActor
from app.tables import AuditEntry
from kit.time import CHINA, FixedClock, use_clock
from tests.conftest import zhida

PASSWORD = "Cli-pass-2025"
ENV = {"ZHIDA_ACTOR_PASSWORD": PASSWORD}
PACK = """
code: PUB-DOCTOR
title: 测试博士补贴
issuer: 南昌市人力资源和社会保障局
subject: talent
mode: auto
effective_from: {effective_from}
budget: {budget}
clauses:
  - code: doctor
    title: 博士
    when: education == "doctor"
    amount: {amount}
tests:
  - name: 博士
    as_of: {effective_from}
    profile: {{id_number: "360102198801011233", education: doctor}}
    expect: {{eligible: true, clauses: [doctor], amount: {amount}}}
  - name: 硕士
    as_of: {effective_from}
    profile: {{id_number: "360102198801011233", education: master}}
    expect: {{eligible: false}}
"""


def pack(effective_from: str = "2025-01-01", budget: str = "1000000", amount: int = 30000) -> str:
    return PACK.format(effective_from=effective_from, budget=budget, amount=amount)


async def _talents() -> dict[str, dict]:
    """Three talents with accounts stored: two doctors and a master."""
    from eligibility import service as eligibility
    from eligibility import synthetic

    rows = list(synthetic.generate("talent", 3, seed=91))
    for i, (row, education) in enumerate(zip(rows, ("doctor", "doctor", "master"))):
        row["education"] = education
        row["bank_name"], row["bank_account"] = "中国银行", f"62170000000000{i:04d}"
        await eligibility.upsert_profile("talent", row, actor=AuditActor("feed", "system"))
    return {row["id_number"]: row for row in rows}


def _users() -> None:
    for name, role in (("pub_officer", "policy_officer"), ("pub_reviewer", "policy_reviewer")):
        zhida("users", "create", name, "--role", role, "--password-stdin", input=PASSWORD + "\n", env=ENV)


async def test_cli_publication_matches_notifies_and_makes_entitlements_with_no_other_command(fresh_db, tmp_dir):
    from eligibility import service as eligibility
    from notifications import service as notifications
    from payments import service as payments
    from policies import service as policies

    talents = await _talents()
    doctors = {sid for sid, row in talents.items() if row["education"] == "doctor"}
    _users()
    path = tmp_dir / "pub.yaml"
    path.write_text(pack(), encoding="utf-8")
    zhida("policies", "load", str(path), "--actor", "pub_officer", env=ENV, check=True)
    r = zhida("policies", "publish", "PUB-DOCTOR", "--actor", "pub_reviewer", env=ENV, check=True)
    assert "published PUB-DOCTOR version 1" in r.stdout

    version_id = (await policies.latest_version("PUB-DOCTOR")).id
    assert {m.subject_id for m in await eligibility.matches_for(version_id)} == doctors
    for sid in talents:
        assert len(await notifications.inbox("talent", sid)) == (1 if sid in doctors else 0)
    subjects = {e.subject_id for sid in doctors for e in await payments.entitlements_of_subject("talent", sid)}
    assert subjects == doctors


async def test_cli_refuses_what_may_not_be_published_and_accepts_a_confirmed_shortfall(fresh_db, tmp_dir):
    await _talents()
    _users()
    uncovered = tmp_dir / "uncovered.yaml"
    uncovered.write_text(pack().split("  - name: 硕士")[0], encoding="utf-8")  # no test where it does not pay
    r = zhida("policies", "load", str(uncovered), "--actor", "pub_officer", env=ENV, check=True)
    assert "(draft)" in r.stdout and "no test where the policy does not pay" in r.stderr
    r = zhida("policies", "publish", "PUB-DOCTOR", "--actor", "pub_reviewer", env=ENV)
    assert r.returncode == 1 and "no test where the policy does not pay" in r.stderr and "Traceback" not in r.stderr

    # Two doctors at 30,000 against a budget of 50,000: refused without the confirmation, published with it.
    short = tmp_dir / "short.yaml"
    short.write_text(pack(budget="50000"), encoding="utf-8")
    zhida("policies", "load", str(short), "--actor", "pub_officer", env=ENV, check=True)
    r = zhida("policies", "publish", "PUB-DOCTOR", "--actor", "pub_reviewer", "--as-of", "2025-06-30", env=ENV)
    assert r.returncode == 1 and "缺口 10,000.00 元" in r.stderr and "--accept-shortfall" in r.stderr
    r = zhida(
        "policies",
        "publish",
        "PUB-DOCTOR",
        "--actor",
        "pub_reviewer",
        "--as-of",
        "2025-06-30",
        "--accept-shortfall",
        env=ENV,
        check=True,
    )
    assert "published PUB-DOCTOR version 1" in r.stdout
    entry = await AuditEntry.select().where(AuditEntry.action == "policy.publish").first()
    detail = json.loads(entry["detail"])
    assert detail["shortfall_accepted"] is True and detail["budget_shortfall_fen"] == 1_000_000
    assert entry["actor"] == "pub_reviewer"


async def test_a_scheduled_version_takes_effect_by_itself_on_its_day_once(fresh_db):
    """v2 dated 2027-01-01, published on 2026-12-02: v1 stays in effect (and is what matching uses) until the
    switch job runs on 2027-01-01; the in-process queue runs it on any drain; running it again changes nothing."""
    from eligibility import service as eligibility
    from policies import service as policies
    from policies.packs import read_pack_text

    await _talents()
    officer, reviewer = AuditActor("officer", "policy_officer"), AuditActor("reviewer", "policy_reviewer")
    clock = FixedClock(dt.datetime(2026, 12, 2, 10, 0, tzinfo=CHINA))
    with use_clock(clock):
        [(v1, _)] = await policies.store_contents(read_pack_text(pack()), officer)
        assert (await publication.publish(v1.id, reviewer)).status == "published"
        await jobs.drain()
        first = {m.subject_id for m in await eligibility.matches_for(v1.id)}
        assert len(first) == 2

        [(v2, _)] = await policies.store_contents(read_pack_text(pack("2027-01-01", "2000000", 40000)), officer)
        assert (await publication.publish(v2.id, reviewer)).status == "scheduled"
        await jobs.drain()  # the switch job runs, finds it not due
        assert (await policies.read_version(v1.id)).status == "published"
        assert (await policies.read_version(v2.id)).status == "scheduled"
        assert await eligibility.matches_for(v2.id) == []
        assert (await policies.published_ruleset("PUB-DOCTOR")).version_id == v1.id

        clock.at = dt.datetime(2027, 1, 1, 0, 6, tzinfo=CHINA)
        await jobs.drain()  # no command but a drain: the version dated today takes effect and is matched
        assert (await policies.read_version(v2.id)).status == "published"
        assert (await policies.read_version(v1.id)).status == "superseded"
        assert {m.subject_id for m in await eligibility.matches_for(v2.id)} == first
        assert {m.amount_fen for m in await eligibility.matches_for(v2.id)} == {4_000_000}

        from app.tasks import take_effect

        queue = await jobs.get_queue()
        assert await take_effect({"redis": queue}) == 0
        await jobs.drain()
        switches = await AuditEntry.count().where(AuditEntry.action == "policy.take_effect")
        assert switches == 1
