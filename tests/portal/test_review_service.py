"""The review service called as the web app calls it: concurrent final approvals pay once; the four-eyes rules."""

from __future__ import annotations

import asyncio

import pytest

from app.audit import AuditActor
from app.controllers.applications import entitle_through_payments
from eligibility.fields import china_today
from policies.applications import service
from policies.applications.errors import InvalidState, NotAllowed
from tests.portal.fixtures import APPLY_TALENT, PDF, REVIEWER, REVIEWER2, TALENT_A, TALENT_B

R1, R2 = AuditActor(REVIEWER, "policy_reviewer"), AuditActor(REVIEWER2, "policy_reviewer")


async def _submit(world, tmp_path, subject_id, threshold_fen=5_000_000):
    return await service.submit_application(
        world.versions[APPLY_TALENT],
        "talent",
        subject_id,
        applicant=subject_id,
        statement="",
        files_in=[("d.pdf", PDF)],
        attachments_dir=tmp_path,
        actor=AuditActor(subject_id, "talent"),
        as_of=china_today(),
        four_eyes_threshold_fen=threshold_fen,
        base_url="http://zhida.test",
    )


async def _approve(app_id, actor):
    return await service.approve_application(
        app_id, actor=actor, entitle=entitle_through_payments(actor), base_url="http://zhida.test"
    )


async def test_two_officers_approving_at_once_create_one_entitlement(world, tmp_path):
    from payments import service as payments

    app = await _submit(world, tmp_path, TALENT_B)
    assert not app.needs_two
    results = await asyncio.gather(_approve(app.id, R1), _approve(app.id, R2), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["ApplicationRead", "InvalidState"]
    ents = [e for e in await payments.entitlements_of_subject("talent", TALENT_B) if e.policy_code == "PT-YOUNG-DOCTOR"]
    assert len(ents) == 1 and ents[0].amount == app.amount


async def test_four_eyes_needs_a_different_second_officer_and_the_threshold_is_strict(world, tmp_path):
    app = await _submit(world, tmp_path, TALENT_A, threshold_fen=8_000_000)  # 80,000.00 is not above 80,000.00
    assert not app.needs_two
    await service.reject_application(app.id, actor=R1, reason="测试", base_url="http://zhida.test")
    app = await _submit(world, tmp_path, TALENT_A, threshold_fen=7_999_999)
    assert app.needs_two
    assert (await _approve(app.id, R1)).status == "first_approved"
    with pytest.raises(NotAllowed):
        await _approve(app.id, R1)
    with pytest.raises(NotAllowed):
        await _approve(app.id, AuditActor("pt_finance", "finance_checker"))
    assert (await _approve(app.id, R2)).status == "approved"
    with pytest.raises(InvalidState):
        await service.reject_application(app.id, actor=R1, reason="too late", base_url="http://zhida.test")
