"""Invariant 4, separation of duties (issue 16, item 2): no single account, an admin included, can arrange both sides
of a four-eyes step. An admin never chooses or learns a password (one-time activation codes, set by the owner), a
policy, finance or admin role needs a second admin's confirmation, and an admin holds no policy or finance role."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from app.audit import AuditActor
from app.auth import accounts
from app.tables import AuditEntry, RoleGrant, User
from kit.errors import Forbidden
from tests.web import PASSWORD, acsrf, alogin, asgi_client, ensure_user

NEW_PASSWORD = "Owner-chosen-2026"


@pytest.fixture
async def admins(fresh_db):
    # The bootstrap path (the operator CLI / create_user, as trusted as the database) makes the first admins.
    await ensure_user("root_a", "admin")
    await ensure_user("root_b", "admin")


async def _login_status(username: str, password: str) -> int:
    async with asgi_client() as client:
        r = await client.post(
            "/login",
            data={"username": username, "password": password, "next": "/"},
            headers=acsrf(client),
            follow_redirects=False,
        )
        return r.status_code


async def _activate(username: str, code: str, password: str = NEW_PASSWORD):
    async with asgi_client() as client:
        page = await client.get("/activate", params={"user": username, "code": code})
        assert page.status_code == 200 and "激活" in page.text
        return await client.post(
            "/activate",
            data={"username": username, "code": code, "password": password, "password2": password},
            headers=acsrf(client),
        )


async def test_an_admin_alone_cannot_set_passwords_nor_grant_a_finance_role_nor_act_in_one(admins):
    """The ¥47,275.22 scenario: one admin made an officer, a maker and a checker with passwords it chose and paid.
    Now every step of it is refused to one admin."""
    async with asgi_client() as client:
        await alogin(client, "root_a")
        # 1. No password chosen by an admin.
        r = await client.post(
            "/api/users",
            json={"username": "sock_maker", "role": "finance_maker", "password": "Admin-chosen-1"},
            headers=acsrf(client),
        )
        assert r.status_code == 400 and "password" in r.json()["error"], r.text
        # 2. A finance (or policy, or admin) role waits for a second admin: no account exists, nobody can log in.
        for name, role in (
            ("sock_maker", "finance_maker"),
            ("sock_checker", "finance_checker"),
            ("sock_officer", "policy_officer"),
            ("sock_reviewer", "policy_reviewer"),
            ("sock_admin", "admin"),
        ):
            r = await client.post("/api/users", json={"username": name, "role": role}, headers=acsrf(client))
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["status"] == "pending" and body["activation_code"] is None and body["user"] is None
            assert not await User.exists().where(User.username == name)
            # ... and the admin who asked cannot confirm it.
            r = await client.post(f"/api/grants/{body['grant']['id']}/confirm", headers=acsrf(client))
            assert r.status_code == 403 and "second admin" in r.json()["error"]
            assert not await User.exists().where(User.username == name)
        # 3. An admin acts in no policy or finance role, on any path.
        refused = {
            "/api/finance/batches": {"entitlement_ids": [1]},
            "/api/finance/batches/1/approve": None,
            "/api/policies": {"code": "X-1"},
            "/api/policies/versions/1/publish": None,
            "/api/applications/1/approve": None,
            "/api/applications/accounts/talent/360102199001011234/verify": None,
        }
        for path, body in refused.items():
            r = await client.post(path, json=body, headers=acsrf(client))
            assert r.status_code == 403, (path, r.status_code, r.text[:200])
        assert (await client.get("/finance", follow_redirects=False)).status_code == 403
    # 4. Nor can an admin account be turned into a finance or policy one, by any pair of admins.
    for role in ("finance_maker", "finance_checker", "policy_officer", "policy_reviewer"):
        with pytest.raises(Forbidden, match="admin account"):
            await accounts.change_role("root_b", role, AuditActor("root_a", "admin"))


async def test_services_refuse_an_admin_in_every_policy_and_finance_role(admins):
    from kit.errors import AppError
    from payments.service import approve_batch, create_batch
    from policies import service as policies
    from policies.applications import accounts as subject_accounts

    admin = AuditActor("root_a", "admin")
    with pytest.raises(AppError, match="admin"):
        await policies.load_pack_text("code: X\n", admin)
    for step in (policies.suspend, policies.retire):
        with pytest.raises(AppError, match="admin"):
            await step("X", admin, "why")
    with pytest.raises(AppError, match="admin"):
        await subject_accounts.verify_account("talent", "360102199001011234", actor=admin, sync=None)
    with pytest.raises(AppError, match="admin"):
        await create_batch(actor=admin, entitlement_ids=[1], second_checker_threshold_fen=10**9)
    with pytest.raises(AppError, match="admin"):
        await approve_batch(1, actor=admin)


async def test_a_second_admin_confirms_and_only_the_owner_sets_the_password(admins):
    async with asgi_client() as a:
        await alogin(a, "root_a")
        r = await a.post(
            "/api/users",
            json={"username": "new_maker", "role": "finance_maker", "display_name": "张制单"},
            headers=acsrf(a),
        )
        grant = r.json()["grant"]
        assert grant["requested_by"] == "root_a" and grant["kind"] == "create"
    async with asgi_client() as b:
        await alogin(b, "root_b")
        assert [g["username"] for g in (await b.get("/api/grants")).json()] == ["new_maker"]
        r = await b.post(f"/api/grants/{grant['id']}/confirm", headers=acsrf(b))
        assert r.status_code == 201, r.text
        done = r.json()
    code = done["activation_code"]
    assert done["status"] == "created" and code and f"code={code}" in done["activation_link"]
    assert done["grant"]["decided_by"] == "root_b"
    row = await User.select().where(User.username == "new_maker").first()
    assert row["role"] == "finance_maker" and row["password_hash"] == ""
    assert code not in json.dumps(row, default=str)  # stored hashed only
    # Both steps are audited, by who did them.
    entries = await AuditEntry.select().where(AuditEntry.entity_id == "new_maker").order_by(AuditEntry.seq)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("user.grant_requested", "root_a"),
        ("user.create", "root_b"),
        ("user.grant_confirmed", "root_b"),
    ]
    assert json.loads(entries[-1]["detail"])["requested_by"] == "root_a"
    # No password works before activation; a wrong code is refused; the right one once.
    assert await _login_status("new_maker", "") == 401
    assert (await _activate("new_maker", "not-the-code")).status_code == 400
    # The staff password policy holds at activation too: a common password is refused and the code stays usable.
    weak = await _activate("new_maker", code, "Password2025!")
    assert weak.status_code == 422 and "常见密码" in weak.text
    r = await _activate("new_maker", code)
    assert r.status_code == 200 and "activated" in r.text
    assert await _login_status("new_maker", NEW_PASSWORD) == 302
    again = await _activate("new_maker", code, "Another-choice-2026")
    assert again.status_code == 400 and "激活码无效" in again.text
    assert await _login_status("new_maker", "Another-choice-2026") == 401

    # A reset revokes the password; a second admin confirms and receives the new code.
    async with asgi_client() as a:
        await alogin(a, "root_a")
        r = await a.post("/api/users/new_maker/reset", headers=acsrf(a))
        assert r.json()["status"] == "pending"
        assert (await a.post(f"/api/grants/{r.json()['grant']['id']}/confirm", headers=acsrf(a))).status_code == 403
        assert await _login_status("new_maker", NEW_PASSWORD) == 302  # nothing changed yet
        reset_grant = r.json()["grant"]["id"]
    async with asgi_client() as b:
        await alogin(b, "root_b")
        r = await b.post(f"/api/grants/{reset_grant}/confirm", headers=acsrf(b))
        new_code = r.json()["activation_code"]
    assert new_code and new_code != code
    assert await _login_status("new_maker", NEW_PASSWORD) == 401
    # An expired code is refused.
    await User.update({User.activation_expires_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}).where(
        User.username == "new_maker"
    )
    assert (await _activate("new_maker", new_code)).status_code == 400


async def test_an_account_without_a_policy_or_finance_role_opens_at_once_with_an_activation_code(admins):
    async with asgi_client() as a:
        await alogin(a, "root_a")
        r = await a.post("/api/users", json={"username": "new_auditor", "role": "auditor"}, headers=acsrf(a))
        assert r.status_code == 201 and r.json()["status"] == "created"
        code = r.json()["activation_code"]
        # The admin page shows the code once, and never a password field.
        page = await a.get("/admin/users")
        assert 'name="password"' not in page.text and "待激活" in page.text
        r = await a.post(
            "/admin/users", data={"username": "new_auditor2", "role": "auditor", "display_name": ""}, headers=acsrf(a)
        )
        assert r.status_code == 200 and 'data-testid="activation-code"' in r.text
        # An auditor made a checker: a second admin confirms.
        r = await a.post("/api/users/new_auditor/role", json={"role": "finance_checker"}, headers=acsrf(a))
        assert r.json()["status"] == "pending"
    assert (await _activate("new_auditor", code)).status_code == 200
    assert await _login_status("new_auditor", NEW_PASSWORD) == 302
    assert (await User.select(User.role).where(User.username == "new_auditor").first())["role"] == "auditor"
    grant = await RoleGrant.select().where(RoleGrant.username == "new_auditor").first()
    await accounts.confirm(grant["id"], AuditActor("root_b", "admin"))
    assert (await User.select(User.role).where(User.username == "new_auditor").first())["role"] == "finance_checker"
    # ... and a finance account never becomes an admin.
    with pytest.raises(Forbidden, match="cannot become an admin"):
        await accounts.change_role("new_auditor", "admin", AuditActor("root_a", "admin"))


async def test_only_an_admin_manages_accounts(admins):
    await ensure_user("plain_auditor", "auditor")
    async with asgi_client() as client:
        await alogin(client, "plain_auditor")
        r = await client.post("/api/users", json={"username": "x_y", "role": "auditor"}, headers=acsrf(client))
        assert r.status_code == 403
    with pytest.raises(Forbidden):
        await accounts.open_account("x_y", "auditor", AuditActor("plain_auditor", "auditor"))
    assert PASSWORD  # the bootstrap users keep the password the operator gave them
