"""Each role's home through HTTP: its to-do counts equal independent SQL counts, and staff pages carry breadcrumbs."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from app.audit import AuditActor
from app.tables import LoginThrottle, RoleGrant, User
from kit import workdays
from kit.db import raw
from kit.time import now
from payments.tables import Batch, Entitlement, Payment
from policies import service as policies
from policies.applications.tables import Application, Objection, SubjectAccount
from tests.policies.test_service import POLICY
from tests.web import alogin, asgi_client, ensure_user

STAFF = {
    "h_officer": "policy_officer",
    "h_officer2": "policy_officer",
    "h_reviewer": "policy_reviewer",
    "h_maker": "finance_maker",
    "h_checker": "finance_checker",
    "h_auditor": "auditor",
    "h_admin": "admin",
}


def _policy(code: str, **extra) -> dict:
    return {**POLICY, "code": code, "exclusive_group": None, **extra}


async def _seed() -> None:
    for name, role in STAFF.items():
        await ensure_user(name, role)
    officer, officer2 = AuditActor("h_officer", "policy_officer"), AuditActor("h_officer2", "policy_officer")
    await policies.save_draft(_policy("H-OK"), officer)
    failing = _policy("H-FAIL")
    failing["tests"] = [{**POLICY["tests"][0], "expect": {"eligible": True, "clauses": ["doctor"], "amount": 1}}]
    await policies.save_draft(failing, officer)
    await policies.save_draft(_policy("H-OTHER"), officer2)  # not h_officer's draft
    in_review = await policies.save_draft(_policy("H-REVIEW"), officer2)
    await policies.submit(in_review.id, officer2)
    mine = await policies.save_draft(_policy("H-MINE"), AuditActor("h_officer", "policy_officer"))
    await policies.submit(mine.id, officer)

    at = now()
    for i, (status, first) in enumerate(
        [
            ("submitted", None),
            ("submitted", None),
            ("first_approved", "h_reviewer"),
            ("first_approved", "h_officer2"),
            ("approved", None),
            ("rejected", None),
        ]
    ):
        await Application.insert(
            Application(
                application_no=f"H{i}",
                version_id=1,
                policy_code="H",
                policy_title="t",
                subject_kind="talent",
                subject_id=f"S{i}",
                applicant="x",
                amount_fen=1,
                status=status,
                first_approver=first,
                created_at=at,
                updated_at=at,
            )
        )
    for i, (status, days) in enumerate([("open", 1), ("open", -2), ("open", 10), ("answered", 1)]):
        await Objection.insert(
            Objection(
                subject_kind="talent",
                subject_id=f"S{i}",
                target="application",
                target_id=1,
                policy_code="H",
                policy_title="t",
                text="x",
                status=status,
                due_at=at + dt.timedelta(days=days),
                created_at=at,
            )
        )
    for i, (state, batch) in enumerate(
        [("payable", None), ("payable", None), ("payable", 7), ("amount_changed", None), ("paid", 7)]
    ):
        await Entitlement.insert(
            Entitlement(
                key=f"k{i}",
                right_key=f"k{i}",
                version_id=1,
                policy_code="H",
                policy_version=1,
                subject_kind="talent",
                subject_id=f"S{i}",
                source="auto",
                amount_fen=100,
                state=state,
                batch_id=batch,
                created_at=at,
                updated_at=at,
            )
        )
    for i, exc in enumerate(["open", "open", "", "abandoned"]):
        await Payment.insert(
            Payment(
                batch_id=7,
                entitlement_id=i,
                version_id=1,
                policy_code="H",
                subject_kind="talent",
                subject_id=f"S{i}",
                payee_name="p",
                payee_account="6222",
                amount_fen=100,
                request_id=f"r{i}",
                status="rejected",
                exception=exc,
                created_at=at,
                updated_at=at,
            )
        )
    for maker, status, checker in [
        ("h_maker", "created", None),
        ("h_checker", "created", None),
        ("h_maker", "checked", "h_checker"),
        ("h_maker", "checked", "other"),
        ("h_maker", "approved", "other"),
    ]:
        await Batch.insert(Batch(maker=maker, status=status, checker=checker, created_at=at))
    for i, status in enumerate(["unverified", "unverified", "verified"]):
        await SubjectAccount.insert(
            SubjectAccount(
                subject_key=f"talent:S{i}",
                subject_kind="talent",
                subject_id=f"S{i}",
                payee_name="p",
                bank_name="b",
                account="6222",
                status=status,
                source="corrected",
                confirmed_by="x",
                confirmed_at=at,
            )
        )
    await User.update({User.activation_hash: "x" * 64}).where(User.username == "h_officer2")
    for requested_by, status in [("h_admin", "pending"), ("other_admin", "pending"), ("other_admin", "confirmed")]:
        await RoleGrant.insert(
            RoleGrant(
                username="z", role="auditor", kind="create", status=status, requested_by=requested_by, requested_at=at
            )
        )
    t = int(time.time())
    for slot, until in [("*|a", 2**62), ("*|b", t - 10), ("1.2.3.4|a", t + 100)]:
        await LoginThrottle.insert(LoginThrottle(slot=slot, username=slot[-1], source=slot[:-2], blocked_until=until))


async def _count(sql: str, *args) -> int:
    return int((await raw(sql, *args))[0]["n"])


async def _expected(username: str) -> dict[str, int]:
    """The same counts, by independent hand-written SQL."""
    at = now()
    soon = workdays.deadline(at, 3)  # the end (Beijing time) of the third working day from today
    t = int(time.time())
    n = _count
    common = {
        "applications": await n(
            "SELECT COUNT(*) AS n FROM policies_application WHERE status = 'submitted' "
            "OR (status = 'first_approved' AND first_approver <> {})",
            username,
        ),
        "objections_due": await n(
            "SELECT COUNT(*) AS n FROM policies_objection WHERE status = 'open' AND due_at <= {}", soon
        ),
        "corrections_pending": await n(
            "SELECT COUNT(*) AS n FROM eligibility_correction_request WHERE status = 'pending'"
        ),
    }
    accounts = {"accounts": await n("SELECT COUNT(*) AS n FROM policies_subject_account WHERE status = 'unverified'")}
    role = STAFF[username]
    if role == "policy_officer":
        return {
            "drafts": await n(
                "SELECT COUNT(*) AS n FROM policies_version WHERE status = 'draft' AND author = {}", username
            ),
            "tests_failing": 1 if username == "h_officer" else 0,
            **common,
        }
    if role == "policy_reviewer":
        return {
            "to_review": await n(
                "SELECT COUNT(*) AS n FROM policies_version WHERE status = 'in_review' AND author <> {}", username
            ),
            **common,
        }
    if role == "finance_maker":
        return {
            "payable": await n(
                "SELECT COUNT(*) AS n FROM pay_entitlement WHERE state = 'payable' AND batch_id IS NULL"
            ),
            "exceptions": await n("SELECT COUNT(*) AS n FROM pay_payment WHERE exception = 'open'"),
            "amount_changed": await n("SELECT COUNT(*) AS n FROM pay_entitlement WHERE state = 'amount_changed'"),
            **accounts,
        }
    if role == "finance_checker":
        return {
            "to_approve": await n(
                "SELECT COUNT(*) AS n FROM pay_batch WHERE maker <> {} AND (status = 'created' "
                "OR (status = 'checked' AND checker <> {}))",
                username,
                username,
            ),
            **accounts,
        }
    if role == "auditor":
        return {
            "recent_audit": await n(
                "SELECT COUNT(*) AS n FROM app_audit_entry WHERE at >= {}", at - dt.timedelta(days=1)
            ),
            "verify": await n("SELECT COUNT(*) AS n FROM app_audit_entry"),
        }
    return {
        "pending_activation": await n(
            "SELECT COUNT(*) AS n FROM app_user WHERE activation_hash IS NOT NULL OR password_hash = ''"
        ),
        "grants": await n(
            "SELECT COUNT(*) AS n FROM app_role_grant WHERE status = 'pending' AND requested_by <> {}", username
        ),
        "locked": await n(
            "SELECT COUNT(*) AS n FROM app_login_throttle WHERE slot LIKE '*|%' AND blocked_until > {}", t
        ),
    }


def _shown(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-testid="count-([a-z_]+)">(\d+)<', html)}


@pytest.mark.parametrize("username", list(STAFF))
async def test_each_homes_counts_equal_independent_queries(fresh_db, username):
    await _seed()
    async with asgi_client() as client:
        await alogin(client, username)
        html = (await client.get("/")).text
    expected = {
        "staff_messages": await _count(
            "SELECT COUNT(*) AS n FROM app_staff_message WHERE username = {} AND read_at IS NULL", username
        ),
        **await _expected(username),
    }
    assert _shown(html) == expected
    assert any(expected.values())  # the seed gives every role something to do
    assert 'data-testid="menu"' in html


async def test_the_counts_are_what_the_seed_says(fresh_db):
    """The independent queries themselves, pinned to the seed (so a wrong query on both sides cannot agree)."""
    await _seed()
    got = {u: _shown_expected for u in STAFF for _shown_expected in [await _expected(u)]}
    assert got["h_officer"] == {
        "drafts": 2,
        "tests_failing": 1,
        "applications": 4,
        "objections_due": 2,
        "corrections_pending": 0,
    }
    assert got["h_reviewer"]["to_review"] == 2 and got["h_reviewer"]["applications"] == 3
    assert got["h_maker"] == {"payable": 2, "exceptions": 2, "amount_changed": 1, "accounts": 2}
    assert got["h_checker"]["to_approve"] == 2  # not its own batch, not one it checked first
    assert got["h_admin"] == {"pending_activation": 1, "grants": 1, "locked": 1}


async def test_staff_pages_have_breadcrumbs_and_the_portal_none(fresh_db):
    await _seed()
    async with asgi_client() as client:
        await alogin(client, "h_maker")
        html = (await client.get("/finance/exceptions")).text
        assert 'data-testid="breadcrumbs"' in html
        trail = re.search(r'data-testid="breadcrumbs">(.*?)</nav>', html, re.S).group(1)
        assert [t.strip() for t in re.findall(r">([^<>]+)<", trail) if t.strip()] == ["首页", "资金拨付", "异常处理"]
        assert 'href="/finance"' in trail
        assert 'data-testid="breadcrumbs"' not in (await client.get("/")).text  # home is the root
        # account verification is finance's page: its trail goes through 资金拨付, not the review queue a finance
        # role may not open (the browser crawl found 申请审核 → 403 there)
        trail = re.search(
            r'data-testid="breadcrumbs">(.*?)</nav>', (await client.get("/applications/accounts")).text, re.S
        )
        assert re.findall(r'href="([^"]+)"', trail.group(1)) == ["/", "/finance"], trail.group(1)
        assert (await client.get("/finance")).status_code == 200
        await alogin(client, "h_officer")
        html = (await client.get("/policies/H-OK")).text
        assert "政策管理" in re.search(r'data-testid="breadcrumbs">(.*?)</nav>', html, re.S).group(1)
