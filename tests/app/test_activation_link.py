"""Issue 17, item 6: a talent's user name is its ID number, and its activation link is read aloud, mailed, pasted
into an SMS. The link names the account by its row id: no activation URL, page or message holds the whole ID number,
and the owner still activates with it."""

from __future__ import annotations

from urllib.parse import urlsplit

from app.tables import User
from eligibility.profiles import id_check_char
from tests.web import acsrf, alogin, asgi_client, ensure_user, login_status

VALID_ID = "36010219900307123" + id_check_char("36010219900307123")
NEW_PASSWORD = "Owner-chosen-2026"


async def test_a_talents_activation_link_and_page_do_not_hold_its_id_number(fresh_db):
    await ensure_user("u_admin", "admin")
    async with asgi_client() as admin:
        await alogin(admin, "u_admin")
        r = await admin.post("/api/users", json={"username": VALID_ID, "role": "talent"}, headers=acsrf(admin))
        assert r.status_code in (200, 201), r.text
        link = r.json()["activation_link"]
        code = r.json()["activation_code"]
        assert VALID_ID not in link and code in link
        # the users page that shows the link after opening an account (HTML form) holds no whole ID number either
        html = (await admin.get("/admin/users")).text
        assert VALID_ID not in html
    row = await User.select(User.id).where(User.username == VALID_ID).first()
    parts = urlsplit(link)
    assert parts.path == "/activate" and f"account={row['id']}" in parts.query
    async with asgi_client() as owner:
        page = await owner.get(f"{parts.path}?{parts.query}")
        assert page.status_code == 200 and VALID_ID not in page.text
        assert f"{VALID_ID[:3]}***********{VALID_ID[-4:]}" in page.text  # the owner sees which account, masked
        done = await owner.post(
            "/activate",
            data={"account": str(row["id"]), "code": code, "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
            headers=acsrf(owner),
        )
        assert done.status_code == 200 and 'data-testid="activated"' in done.text, done.text
        assert VALID_ID not in done.text
        assert await login_status(owner, VALID_ID, NEW_PASSWORD) in (302, 303)


async def test_the_html_form_shows_a_new_talents_link_without_its_id_number(fresh_db):
    await ensure_user("u_admin", "admin")
    async with asgi_client() as admin:
        await alogin(admin, "u_admin")
        r = await admin.post(
            "/admin/users", data={"username": VALID_ID, "role": "talent"}, headers=acsrf(admin), follow_redirects=True
        )
        assert r.status_code == 200 and 'data-testid="activation-link"' in r.text, r.text[:2000]
        assert VALID_ID not in r.text
