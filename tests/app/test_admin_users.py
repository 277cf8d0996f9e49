"""The admin's user management through HTTP: search and filters, edit, disable/enable, unlock; portal accounts only
for a valid USCC (GB 32100-2015) or ID number (GB 11643)."""

from __future__ import annotations

import re

from app.auth.throttle import LOCKED_FOREVER
from app.tables import LoginThrottle, User
from eligibility.profiles import id_check_char, uscc_check_char
from tests.web import acsrf, alogin, asgi_client, ensure_user

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

        everyone = (await admin.get("/admin/users")).text
        assert 'data-testid="who"' in everyone and 'action="/logout"' in everyone  # who is logged in, and log out
        assert "/admin/users/u_admin/disable" not in everyone and "/admin/users/alice_auditor/disable" in everyone
        assert names((await admin.get("/admin/users?q=alice")).text) == ["alice_auditor"]
        locked_page = (await admin.get("/admin/users?filter=locked")).text
        assert names(locked_page) == ["bob_auditor"] and 'data-testid="unlock"' in locked_page

        r = await admin.post("/admin/users/alice_auditor/edit", data={"display_name": "爱丽丝"}, headers=acsrf(admin))
        assert r.status_code == 200 and "已修改" in r.text
        assert (await User.select(User.display_name).where(User.username == "alice_auditor").first())[
            "display_name"
        ] == "爱丽丝"

        r = await admin.post("/admin/users/alice_auditor/disable", headers=acsrf(admin))
        assert r.status_code == 200 and "已停用" in r.text
        assert (await alice.get("/api/audit")).status_code == 401  # her session ended at once
        assert names((await admin.get("/admin/users?filter=inactive")).text) == ["alice_auditor"]
        r = await admin.post("/admin/users/u_admin/disable", headers=acsrf(admin))
        assert r.status_code == 403  # never one's own account
        r = await admin.post("/admin/users/alice_auditor/enable", headers=acsrf(admin))
        assert r.status_code == 200 and "已启用" in r.text
        await alogin(alice, "alice_auditor")

        r = await admin.post("/admin/users/bob_auditor/unlock", headers=acsrf(admin))
        assert r.status_code == 200 and "已解锁" in r.text
        assert names((await admin.get("/admin/users?filter=locked")).text) == []
        await alogin(alice, "bob_auditor")  # the lock is lifted


async def test_a_refused_form_comes_back_to_the_users_page_with_the_reason(fresh_db):
    """A second 停用 from a tab left open, or 修改角色 to the role it has, was a bare 409 at the form's address (found by
    the browser crawl): it comes back to the page it was sent from, with the reason, in the reader's language."""
    await ensure_user("u_admin", "admin")
    await ensure_user("carol_auditor", "auditor")
    browser = {"accept": "text/html", "referer": "http://testserver/admin/users?filter=inactive"}
    async with asgi_client() as admin:
        await alogin(admin, "u_admin")
        r = await admin.post("/admin/users/carol_auditor/disable", headers={**acsrf(admin), **browser})
        assert r.status_code == 200 and "已停用" in r.text
        r = await admin.post(
            "/admin/users/carol_auditor/disable", headers={**acsrf(admin), **browser}, follow_redirects=False
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/users?filter=inactive"
        page = (await admin.get(r.headers["location"])).text
        assert 'data-testid="flash"' in page and "未能完成：当前状态不允许此操作" in page
        admin.cookies.set("lang", "en")
        r = await admin.post(
            "/admin/users/carol_auditor/role",
            data={"role": "auditor"},
            headers={**acsrf(admin), **browser},
            follow_redirects=True,
        )
        assert r.status_code == 200 and r.url.path == "/admin/users", r.text[:500]
        flash = re.search(r'data-testid="flash">([^<]+)<', r.text).group(1)
        assert flash.startswith("Not done: ") and not re.search(r"[\u4e00-\u9fff]", flash), flash
