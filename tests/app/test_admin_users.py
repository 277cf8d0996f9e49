"""The admin's user management through HTTP: search and filters, edit, disable/enable, unlock; portal accounts only
for a valid USCC (GB 32100-2015) or ID number (GB 11643)."""

from __future__ import annotations

import re

from app.auth.throttle import LOCKED_FOREVER
from app.tables import AuditEntry, LoginThrottle, RoleGrant, User
from eligibility.profiles import id_check_char, uscc_check_char
from tests.web import PASSWORD, acsrf, alogin, asgi_client, ensure_user, login_status

VALID_USCC = "91360100MA35XXXX0" + uscc_check_char("91360100MA35XXXX0")
VALID_ID = "36010219900307123" + id_check_char("36010219900307123")


def _wrong_check(value: str, alphabet: str) -> str:
    return value[:17] + next(c for c in alphabet if c != value[17])


async def test_portal_accounts_only_for_a_valid_uscc_or_id_number(fresh_db):
    await ensure_user("u_admin", "admin")
    async with asgi_client() as client:
        await alogin(client, "u_admin")
        for name, role in (
            (_wrong_check(VALID_USCC, "0123456789ABCDEFGHJKLMNPQRTUWXY"), "enterprise"),
            ("91360100MA35", "enterprise"),
            (_wrong_check(VALID_ID, "0123456789X"), "talent"),
            ("36010219901332123" + id_check_char("36010219901332123"), "talent"),  # no 32nd of the 13th month
        ):
            r = await client.post("/api/users", json={"username": name, "role": role}, headers=acsrf(client))
            assert r.status_code == 400, (name, r.text)
            assert ("统一社会信用代码" if role == "enterprise" else "居民身份证号") in r.json()["error"]
            assert not await User.exists().where(User.username == name)
        for name, role in ((VALID_USCC, "enterprise"), (VALID_ID, "talent")):
            r = await client.post("/api/users", json={"username": name, "role": role}, headers=acsrf(client))
            assert r.status_code in (200, 201) and r.json()["status"] == "created", r.text
        # the list masks a portal account's name (its ID number / USCC) and its forms name it by row id
        listing = (await client.get("/admin/users")).text
        assert VALID_ID not in listing and VALID_USCC not in listing
        assert f"{VALID_ID[:3]}***********{VALID_ID[-4:]}" in listing
        # the page's form says it too
        r = await client.post(
            "/admin/users", data={"username": "91360100MA35", "role": "enterprise"}, headers=acsrf(client)
        )
        assert r.status_code == 400 and "统一社会信用代码" in r.text


async def test_search_edit_disable_enable_and_unlock(fresh_db):
    await ensure_user("u_admin", "admin")
    await ensure_user("alice_auditor", "auditor")
    await ensure_user("bob_auditor", "auditor")
    await LoginThrottle.insert(
        LoginThrottle(slot="*|bob_auditor", username="bob_auditor", source="*", blocked_until=LOCKED_FOREVER)
    )
    async with asgi_client() as admin, asgi_client() as alice:
        await alogin(alice, "alice_auditor")
        assert (await alice.get("/api/audit")).status_code == 200
        await alogin(admin, "u_admin")

        def names(html: str) -> list[str]:
            body = re.search(r'data-testid="users">(.*?)</table>', html, re.S).group(1)
            return re.findall(r"<tr><td>([^<]+)</td>", body)

        ids = {r["username"]: r["id"] for r in await User.select(User.id, User.username)}

        def url(name: str, action: str) -> str:  # the page's forms name an account by its row id
            return f"/admin/users/{ids[name]}/{action}"

        everyone = (await admin.get("/admin/users")).text
        assert 'data-testid="who"' in everyone and 'action="/logout"' in everyone  # who is logged in, and log out
        assert url("u_admin", "disable") not in everyone and url("alice_auditor", "disable") in everyone
        assert names((await admin.get("/admin/users?q=alice")).text) == ["alice_auditor"]
        locked_page = (await admin.get("/admin/users?filter=locked")).text
        assert names(locked_page) == ["bob_auditor"] and 'data-testid="unlock"' in locked_page

        r = await admin.post(url("alice_auditor", "edit"), data={"display_name": "爱丽丝"}, headers=acsrf(admin))
        assert r.status_code == 200 and "已修改" in r.text
        assert (await User.select(User.display_name).where(User.username == "alice_auditor").first())[
            "display_name"
        ] == "爱丽丝"

        r = await admin.post(url("alice_auditor", "disable"), headers=acsrf(admin))
        assert r.status_code == 200 and "已停用" in r.text
        assert (await alice.get("/api/audit")).status_code == 401  # her session ended at once
        assert names((await admin.get("/admin/users?filter=inactive")).text) == ["alice_auditor"]
        r = await admin.post(url("u_admin", "disable"), headers=acsrf(admin))
        assert r.status_code == 403  # never one's own account
        # enabling again is four-eyes (test_enabling_needs_a_second_admin); a second admin confirms it here
        await _enable_with_a_second_admin(admin, "alice_auditor")
        await alogin(alice, "alice_auditor")

        r = await admin.post(url("bob_auditor", "unlock"), headers=acsrf(admin))
        assert r.status_code == 200 and "已解锁" in r.text
        assert names((await admin.get("/admin/users?filter=locked")).text) == []
        await alogin(alice, "bob_auditor")  # the lock is lifted


async def _enable_with_a_second_admin(admin, name: str) -> str:
    """``admin`` requests re-enabling ``name``; a second admin (made here) confirms. Returns the confirmation page."""
    await ensure_user("u_admin2", "admin")
    user_id = (await User.select(User.id).where(User.username == name).first())["id"]
    r = await admin.post(f"/admin/users/{user_id}/enable", headers=acsrf(admin))
    assert r.status_code == 200 and 'data-testid="grant-pending"' in r.text, r.text
    grant = await RoleGrant.select().where((RoleGrant.username == name) & (RoleGrant.status == "pending")).first()
    async with asgi_client() as second:
        await alogin(second, "u_admin2")
        r = await second.post(f"/admin/grants/{grant['id']}/confirm", headers=acsrf(second))
        assert r.status_code == 200 and "已启用" in r.text, r.text
        return r.text


async def test_enabling_a_disabled_account_needs_a_second_admin(fresh_db):
    """DESIGN: no single account on both sides of a four-eyes step. One admin disables and requests enabling again;
    the account stays disabled, the page shows the request pending and why; the requester cannot confirm it; a
    different admin does, and the audit trail names both."""
    await ensure_user("u_admin", "admin")
    await ensure_user("carol_auditor", "auditor")
    carol_id = (await User.select(User.id).where(User.username == "carol_auditor").first())["id"]
    async with asgi_client() as admin, asgi_client() as carol:
        await alogin(admin, "u_admin")
        assert (await admin.post(f"/admin/users/{carol_id}/disable", headers=acsrf(admin))).status_code == 200
        r = await admin.post(f"/admin/users/{carol_id}/enable", headers=acsrf(admin))
        assert r.status_code == 200 and 'data-testid="grant-pending"' in r.text
        assert "已启用" not in r.text
        row = await User.select(User.active).where(User.username == "carol_auditor").first()
        assert row["active"] is False  # not restored by one admin
        assert await login_status(carol, "carol_auditor", PASSWORD) != 302
        page = (await admin.get("/admin/users")).text
        assert 'data-testid="enable-pending"' in page and 'data-testid="enable-reason"' in page
        assert "另一名管理员" in re.search(r'data-testid="enable-reason">([^<]+)<', page).group(1)
        grant = (
            await RoleGrant.select()
            .where((RoleGrant.username == "carol_auditor") & (RoleGrant.status == "pending"))
            .first()
        )
        assert grant["kind"] == "enable" and grant["requested_by"] == "u_admin"
        # a second request while one waits is refused; the requester cannot confirm their own
        assert (await admin.post(f"/admin/users/{carol_id}/enable", headers=acsrf(admin))).status_code == 409
        r = await admin.post(f"/admin/grants/{grant['id']}/confirm", headers=acsrf(admin))
        assert r.status_code == 403
        assert (await User.select(User.active).where(User.username == "carol_auditor").first())["active"] is False
        r = await admin.post("/api/grants/{}/confirm".format(grant["id"]), headers=acsrf(admin))
        assert r.status_code == 403
        await _enable_with_a_second_admin_confirming(grant["id"])
        assert (await User.select(User.active).where(User.username == "carol_auditor").first())["active"] is True
        await alogin(carol, "carol_auditor")
    entries = await AuditEntry.select().where(AuditEntry.entity_id == "carol_auditor").order_by(AuditEntry.seq)
    trail = [(e["action"], e["actor"]) for e in entries]
    assert ("user.grant_requested", "u_admin") in trail and ("user.enable", "u_admin2") in trail, trail
    assert trail.index(("user.grant_requested", "u_admin")) < trail.index(("user.enable", "u_admin2"))


async def _enable_with_a_second_admin_confirming(grant_id: int) -> None:
    await ensure_user("u_admin2", "admin")
    async with asgi_client() as second:
        await alogin(second, "u_admin2")
        r = await second.post(f"/admin/grants/{grant_id}/confirm", headers=acsrf(second))
        assert r.status_code == 200 and "已启用" in r.text, r.text


async def test_a_refusal_shown_to_a_person_masks_a_portal_accounts_name(fresh_db):
    """A talent's user name is its ID number: a refusal on the page names the account masked (kit.masking), in
    Chinese and in English."""
    await ensure_user("u_admin", "admin")
    await ensure_user(VALID_ID, "talent")
    masked = f"{VALID_ID[:3]}***********{VALID_ID[-4:]}"
    async with asgi_client() as client:
        await alogin(client, "u_admin")
        for lang in ("zh", "en"):
            client.cookies.set("lang", lang)
            r = await client.post("/admin/users", data={"username": VALID_ID, "role": "talent"}, headers=acsrf(client))
            assert r.status_code == 409
            error = re.search(r'<p class="error" role="alert">([^<]+)</p>', r.text).group(1)
            assert VALID_ID not in r.text and masked in error, error


async def test_a_refused_form_comes_back_to_the_users_page_with_the_reason(fresh_db):
    """A second 停用 from a tab left open, or 修改角色 to the role it has, was a bare 409 at the form's address (found by
    the browser crawl): it comes back to the page it was sent from, with the reason, in the reader's language."""
    await ensure_user("u_admin", "admin")
    await ensure_user("carol_auditor", "auditor")
    carol_id = (await User.select(User.id).where(User.username == "carol_auditor").first())["id"]
    browser = {"accept": "text/html", "referer": "http://testserver/admin/users?filter=inactive"}
    async with asgi_client() as admin:
        await alogin(admin, "u_admin")
        r = await admin.post(f"/admin/users/{carol_id}/disable", headers={**acsrf(admin), **browser})
        assert r.status_code == 200 and "已停用" in r.text
        r = await admin.post(
            f"/admin/users/{carol_id}/disable", headers={**acsrf(admin), **browser}, follow_redirects=False
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/users?filter=inactive"
        page = (await admin.get(r.headers["location"])).text
        assert 'data-testid="flash"' in page and "未能完成：当前状态不允许此操作" in page
        admin.cookies.set("lang", "en")
        r = await admin.post(
            f"/admin/users/{carol_id}/role",
            data={"role": "auditor"},
            headers={**acsrf(admin), **browser},
            follow_redirects=True,
        )
        assert r.status_code == 200 and r.url.path == "/admin/users", r.text[:500]
        flash = re.search(r'data-testid="flash">([^<]+)<', r.text).group(1)
        assert flash.startswith("Not done: ") and not re.search(r"[\u4e00-\u9fff]", flash), flash
