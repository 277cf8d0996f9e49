"""Entitlements from the real upstream: published policy, stored matches, profile accounts — and the account a subject
corrected in the portal wins over the data exchange's, paying only once verified (a re-match never restores it)."""

from __future__ import annotations

from app.audit import AuditActor
from payments.service import entitlements_of_subject, refresh_entitlements
from tests.portal.fixtures import AUTO_ENT, ENT_A, ENT_B, build_world


async def test_refresh_takes_matches_and_prefers_the_portal_account(fresh_db):
    from policies.applications.schemas import AccountConfirm
    from policies.applications.service import confirm_account

    await build_world()
    system = AuditActor("system", "system")
    (a,) = await entitlements_of_subject("enterprise", ENT_A)
    assert (a.policy_code, a.state, str(a.amount)) == (AUTO_ENT, "payable", "20000.00")

    async def no_sync(*_args):
        return None

    await confirm_account(
        "enterprise",
        ENT_A,
        AccountConfirm(bank_name="工商银行", account="6222999988887777"),
        actor=AuditActor(ENT_A, "enterprise"),
        sync=no_sync,
    )
    counts = await refresh_entitlements(AUTO_ENT, actor=system)
    assert counts["updated"] == 1
    (a,) = await entitlements_of_subject("enterprise", ENT_A)
    assert a.state == "waiting_account"  # corrected, not yet verified: held
    (b,) = await entitlements_of_subject("enterprise", ENT_B)
    assert b.state == "payable"
