"""A small portal world built through the public services only: a pack of three policies loaded and published,
two enterprises and two talents imported from the data exchange, matching stored, entitlements recorded,
match notices sent, and the users who log in to see them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from app.audit import AuditActor
from eligibility.fields import china_today
from tests.eligibility.helpers import enterprise_profile
from tests.web import ensure_user

OFFICER = "pt_officer"  # loads the pack
REVIEWER = "pt_reviewer"  # publishes it, reviews applications
REVIEWER2 = "pt_reviewer2"  # the second pair of eyes
FINANCE = "pt_finance"  # verifies corrected accounts

ENT_A, ENT_B = "91360100000000001Q", "91360100000000002U"
TALENT_A, TALENT_B = "360102199207081233", "360102197911031230"
ACCOUNT_A = "6222020200001234"  # enterprise A's account as the data exchange delivered it
ACCOUNT_B = "6222020200005678"

AUTO_ENT, APPLY_TALENT, APPLY_ENT = "PT-STABLE-JOBS", "PT-YOUNG-DOCTOR", "PT-EXPORT-HELP"

PACK = """
policies:
  - code: PT-STABLE-JOBS
    title: 测试稳岗返还
    issuer: 南昌市人力资源和社会保障局
    source: 《测试稳岗返还办法》第三条
    summary: 参保职工十人以上的企业按规模获得稳岗返还，免申即享。
    subject: enterprise
    mode: auto
    effective_from: 2025-01-01
    budget: 1000000.00
    when: blacklisted == false
    clauses:
      - code: base
        title: 稳岗返还
        when: employees >= 10
        amount: 20000
    tests:
      - name: 二十人
        profile: {uscc: "91360100000000000M", employees: 20, blacklisted: false}
        expect: {eligible: true, clauses: [base], amount: 20000}
      - name: 五人
        profile: {uscc: "91360100000000000M", employees: 5, blacklisted: false}
        expect: {eligible: false}
  - code: PT-YOUNG-DOCTOR
    title: 测试青年博士科研启动经费
    issuer: 南昌市人力资源和社会保障局
    source: 《测试博士后资助办法》
    summary: 博士按职称申请科研启动经费，需提交学位证书扫描件。
    subject: talent
    mode: apply
    effective_from: 2025-01-01
    budget: 5000000.00
    clauses:
      - code: senior
        title: 正高级职称
        when: education == "doctor" and title == "senior"
        amount: 80000
      - code: doctor
        title: 博士
        when: education == "doctor"
        amount: 30000
    tests:
      - name: 正高博士
        profile: {id_number: "360102197911031230", education: doctor, title: senior}
        expect: {eligible: true, clauses: [senior], amount: 80000}
      - name: 博士
        profile: {id_number: "360102199207081233", education: doctor, title: none}
        expect: {eligible: true, clauses: [doctor], amount: 30000}
      - name: 硕士
        profile: {id_number: "360102199207081233", education: master, title: none}
        expect: {eligible: false}
  - code: PT-EXPORT-HELP
    title: 测试外贸企业补助
    issuer: 南昌市商务局
    summary: 外贸企业可申请补助。
    subject: enterprise
    mode: apply
    effective_from: 2025-01-01
    budget: 1000000.00
    clauses:
      - code: trade
        title: 外贸补助
        when: '"外贸" in tags'
        amount: 10000
    tests:
      - name: 外贸
        profile: {uscc: "91360100000000000M", tags: [外贸]}
        expect: {eligible: true, clauses: [trade], amount: 10000}
      - name: 非外贸
        profile: {uscc: "91360100000000000M", tags: []}
        expect: {eligible: false}
"""


def _enterprise(uscc: str, name: str, account: str, tags: str) -> dict:
    return enterprise_profile(uscc, name, account, tags=tags)


def _talent(id_number: str, name: str, title: str) -> dict:
    return {
        "id_number": id_number,
        "name": name,
        "region_code": "360102",
        "education": "doctor",
        "arrived_on": "2024-09-01",
        "social_insurance_months": "10",
        "title": title,
    }


@dataclass
class PortalWorld:
    versions: dict[str, int] = field(default_factory=dict)  # code -> published version id
    notices: dict[str, int] = field(default_factory=dict)  # subject id -> its match notice id


async def build_world(as_of: dt.date | None = None) -> PortalWorld:
    """Load, publish, import, match, record entitlements, notify; create the users. Idempotent enough for one run."""
    from eligibility import service as eligibility
    from eligibility.matcher import match_ruleset
    from notifications import service as notifications
    from payments import service as payments
    from policies import service as policies

    as_of = as_of or china_today()
    for name, role in (
        (OFFICER, "policy_officer"),
        (REVIEWER, "policy_reviewer"),
        (REVIEWER2, "policy_reviewer"),
        (FINANCE, "finance_checker"),
        (ENT_A, "enterprise"),
        (ENT_B, "enterprise"),
        (TALENT_A, "talent"),
        (TALENT_B, "talent"),
    ):
        await ensure_user(name, role)
    officer, reviewer = AuditActor(OFFICER, "policy_officer"), AuditActor(REVIEWER, "policy_reviewer")
    system = AuditActor("system", "system")

    await eligibility.upsert_profile(
        "enterprise", _enterprise(ENT_A, "甲科技有限公司", ACCOUNT_A, "外贸"), actor=system
    )
    await eligibility.upsert_profile(
        "enterprise", _enterprise(ENT_B, "乙科技有限公司", ACCOUNT_B, "外贸"), actor=system
    )
    await eligibility.upsert_profile("talent", _talent(TALENT_A, "张博士", "senior"), actor=system)
    await eligibility.upsert_profile("talent", _talent(TALENT_B, "李博士", "intermediate"), actor=system)

    world = PortalWorld()
    await policies.load_pack_text(PACK, officer, source="tests/portal")
    for code in (AUTO_ENT, APPLY_TALENT, APPLY_ENT):
        published = await policies.publish(code, reviewer, as_of=as_of)
        world.versions[code] = published.id
        await match_ruleset(await policies.ruleset_of(published.id), as_of, store=True, actor=system)
    await payments.refresh_entitlements(AUTO_ENT, actor=system)

    base = "http://127.0.0.1"
    for m in await eligibility.matches_for(world.versions[AUTO_ENT]):
        n = await notifications.notify(
            "enterprise",
            m.subject_id,
            "matched_auto",
            f"matched:{m.version_id}:{m.subject_id}",
            {
                "policy_title": "测试稳岗返还",
                "amount": f"{m.amount_fen / 100:,.2f}",
                "account": m.bank_account or "",
                "link": f"{base}/portal/policies/{m.version_id}",
            },
            actor=system,
        )
        world.notices[m.subject_id] = n.id
    for code, kind in ((APPLY_TALENT, "talent"), (APPLY_ENT, "enterprise")):
        for m in await eligibility.matches_for(world.versions[code]):
            await notifications.notify(
                kind,
                m.subject_id,
                "matched_apply",
                f"matched:{m.version_id}:{m.subject_id}",
                {"policy_title": code, "link": f"{base}/portal/policies/{m.version_id}"},
                actor=system,
            )
    return world


# The smallest files each accepted type can be recognised by (magic bytes), for upload tests.
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
EXE = b"MZ\x90\x00" + b"\x00" * 60
