"""Unified-identity login (统一身份认证) over HTTP against a real OpenID Connect provider on loopback
(node-oidc-provider, tests/oidc): the code flow with PKCE opens the subject's session; a wrong state, a wrong nonce,
a code or an ID token of another client are refused; staff get a role only through an admin's link."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from app.audit import AuditActor
from app.auth import oidc
from app.config import SecretRefused, Settings, get_settings
from app.tables import AuditEntry, User
from tests.oidc.provider import (
    ASGI_BASE,
    OTHER_ID,
    OTHER_SECRET,
    log_in_at_provider,
    oidc_env,
    oidc_provider,
)
from tests.portal.fixtures import _enterprise, _talent
from tests.web import acsrf, alogin, asgi_client, ensure_user

ENTERPRISE = "91360100000000003Y"  # has a profile and a password account
NEW_TALENT = "360102199505051235"  # has a profile, no account yet
NO_PROFILE = "91360100000000000M"  # a valid USCC the data exchange never sent
ACCOUNTS = {
    "ent-sub": {"name": "丙科技有限公司", "uscc": ENTERPRISE},
    "talent-sub": {"name": "王新", "id_number": NEW_TALENT},
    "stranger-sub": {"name": "无档案企业", "uscc": NO_PROFILE},
    "staff-sub": {"name": "赵复核"},
    "staff2-sub": {"name": "钱审计"},
}


@pytest.fixture(scope="module")
def issuer():
    with oidc_provider(ACCOUNTS) as url:
        yield url


@pytest.fixture
async def oidc_on(issuer, monkeypatch):
    from eligibility import service as eligibility

    for name, value in oidc_env(issuer).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    oidc._cache.clear()
    system = AuditActor("system", "system")
    await eligibility.upsert_profile(
        "enterprise", _enterprise(ENTERPRISE, "丙科技有限公司", "6222020200009999", "外贸"), actor=system
    )
    await eligibility.upsert_profile("talent", _talent(NEW_TALENT, "王新", "none"), actor=system)
    await ensure_user(ENTERPRISE, "enterprise")
    yield issuer
    get_settings.cache_clear()
    oidc._cache.clear()


async def start(client: httpx.AsyncClient, next_path: str = "/") -> str:
    r = await client.get("/login/oidc", params={"next": next_path}, follow_redirects=False)
    assert r.status_code == 302, r.text[:300]
    return r.headers["location"]


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


async def back_to_zhida(client: httpx.AsyncClient, callback: str) -> httpx.Response:
    assert callback.startswith(ASGI_BASE + "/login/oidc/callback?"), callback
    return await client.get(callback.removeprefix(ASGI_BASE), follow_redirects=False)


async def oidc_login(client: httpx.AsyncClient, login: str, issuer: str, next_path: str = "/") -> httpx.Response:
    return await back_to_zhida(client, await log_in_at_provider(await start(client, next_path), login, issuer))


async def me(client: httpx.AsyncClient) -> dict | None:
    r = await client.get("/api/me")
    return r.json() if r.status_code == 200 else None


async def test_the_login_page_offers_it_and_the_request_carries_pkce_state_and_nonce(oidc_on):
    async with asgi_client() as client:
        page = await client.get("/login")
        assert "使用统一身份认证登录" in page.text
        query = parse_qs(urlsplit(await start(client)).query)
        assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
        assert query["response_type"] == ["code"] and "openid" in query["scope"][0].split()
        assert len(query["state"][0]) >= 32 and len(query["nonce"][0]) >= 32
        assert query["redirect_uri"] == [ASGI_BASE + "/login/oidc/callback"]


async def test_without_configuration_the_login_page_has_no_oidc_button():
    get_settings.cache_clear()
    async with asgi_client() as client:
        assert "使用统一身份认证登录" not in (await client.get("/login")).text
        assert (await client.get("/login/oidc", follow_redirects=False)).status_code == 404


async def test_an_enterprise_logs_in_to_its_own_account_with_a_server_side_session(oidc_on):
    async with asgi_client() as client:
        r = await oidc_login(client, "ent-sub", oidc_on, "/portal")
        assert r.status_code == 302 and r.headers["location"] == "/portal"
        user = await me(client)
        assert user["username"] == ENTERPRISE and user["role"] == "enterprise"
        login = (
            await AuditEntry.select()
            .where(AuditEntry.action == "user.login")
            .order_by(AuditEntry.seq, ascending=False)
            .first()
        )
        assert login["entity_id"] == ENTERPRISE and "oidc" in login["detail"]

        # Logout ends the session here and sends the browser to end it at the provider (RP-initiated logout).
        r = await client.post("/logout", headers=acsrf(client), follow_redirects=False)
        assert r.status_code == 200 and 'http-equiv="refresh"' in r.text
        link = re.search(r'data-testid="logout-provider-link" href="([^"]+)"', r.text) or re.search(
            r'href="([^"]+)" data-testid="logout-provider-link"', r.text
        )
        target = urlsplit(html.unescape(link.group(1)))
        assert f"{target.scheme}://{target.netloc}{target.path}" == oidc_on + "/session/end"
        query = parse_qs(target.query)
        assert query["post_logout_redirect_uri"] == [ASGI_BASE + "/login"] and query["id_token_hint"]
        assert await me(client) is None


async def test_a_talent_with_a_profile_gets_an_account_on_first_login_audited(oidc_on):
    await User.delete().where(User.username == NEW_TALENT)
    async with asgi_client() as client:
        r = await oidc_login(client, "talent-sub", oidc_on)
        assert r.status_code == 302, r.text[:300]
        user = await me(client)
        assert user["username"] == NEW_TALENT and user["role"] == "talent" and user["subject_id"] == NEW_TALENT
    made = (
        await AuditEntry.select()
        .where((AuditEntry.action == "user.create") & (AuditEntry.entity_id == NEW_TALENT))
        .first()
    )
    assert made is not None and "oidc" in made["detail"]
    # No password was set: the account cannot be logged in to with one.
    row = await User.select(User.password_hash).where(User.username == NEW_TALENT).first()
    assert row["password_hash"] == ""


async def test_a_valid_uscc_without_a_profile_opens_nothing(oidc_on):
    async with asgi_client() as client:
        r = await oidc_login(client, "stranger-sub", oidc_on)
        assert r.status_code == 403 and "未关联" in r.text
        assert await me(client) is None
    assert not await User.exists().where(User.username == NO_PROFILE)


async def test_a_wrong_state_is_refused(oidc_on):
    async with asgi_client() as client:
        callback = await log_in_at_provider(await start(client), "ent-sub", oidc_on)
        r = await back_to_zhida(client, with_query(callback, state=secrets.token_urlsafe(32)))
        assert r.status_code == 400 and "state" in r.text
        assert await me(client) is None
        # The pending login was used up by the refused attempt: the right state no longer works either.
        r = await back_to_zhida(client, callback)
        assert r.status_code == 400 and await me(client) is None


async def test_a_callback_this_browser_did_not_start_is_refused(oidc_on):
    async with asgi_client() as victim, asgi_client() as attacker:
        # Login CSRF: the attacker's own code and state, delivered to another browser.
        callback = await log_in_at_provider(await start(attacker), "ent-sub", oidc_on)
        r = await back_to_zhida(victim, callback)
        assert r.status_code == 400 and await me(victim) is None


async def test_a_wrong_nonce_is_refused(oidc_on):
    async with asgi_client() as client:
        # The provider is asked for another nonce than the one this login remembers: its ID token carries that one.
        url = with_query(await start(client), nonce=secrets.token_urlsafe(32))
        r = await back_to_zhida(client, await log_in_at_provider(url, "ent-sub", oidc_on))
        assert r.status_code == 400 and "nonce" in r.text
        assert await me(client) is None


async def test_a_code_issued_to_another_client_is_refused(oidc_on):
    async with asgi_client() as client:
        url = with_query(await start(client), client_id=OTHER_ID)
        r = await back_to_zhida(client, await log_in_at_provider(url, "ent-sub", oidc_on))
        assert r.status_code == 400 and await me(client) is None


async def test_an_id_token_for_another_audience_is_refused(oidc_on):
    # A genuine ID token, signed by the provider with its keys, for another application.
    meta = await oidc.metadata()
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "client_id": OTHER_ID,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": ASGI_BASE + "/login/oidc/callback",
        "state": "s" * 32,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    callback = await log_in_at_provider(meta["authorization_endpoint"] + "?" + urlencode(query), "ent-sub", oidc_on)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    async with httpx.AsyncClient() as http:
        token = (
            await http.post(
                meta["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": query["redirect_uri"],
                    "code_verifier": verifier,
                },
                auth=(OTHER_ID, OTHER_SECRET),
            )
        ).json()
    with pytest.raises(oidc.OidcRefused, match="aud"):
        await oidc.verify_id_token(token["id_token"], nonce=nonce)
    # The same token's signature, issuer and nonce hold: only the audience is wrong.
    other = get_settings().model_copy(update={"oidc_client_id": OTHER_ID})
    assert (await oidc.verify_id_token(token["id_token"], nonce=nonce, settings=other))["sub"] == "ent-sub"
    # And a token whose signature does not verify is refused as such.
    head, body, sig = token["id_token"].split(".")
    forged = ".".join([head, body, ("A" if sig[0] != "A" else "B") + sig[1:]])
    with pytest.raises(oidc.OidcRefused, match="signature"):
        await oidc.verify_id_token(forged, nonce=nonce, settings=other)


async def test_a_staff_login_without_a_link_gets_no_role(oidc_on):
    before = await User.count()
    async with asgi_client() as client:
        r = await oidc_login(client, "staff-sub", oidc_on)
        assert r.status_code == 403
        assert await me(client) is None
        assert (await client.get("/audit", follow_redirects=False)).status_code in (302, 401)
    assert await User.count() == before  # no account was made for it


async def test_a_linked_staff_account_gets_its_role_and_a_finance_link_needs_a_second_admin(oidc_on):
    await ensure_user("oi_admin1", "admin")
    await ensure_user("oi_admin2", "admin")
    await ensure_user("oi_auditor", "auditor")
    await ensure_user("oi_checker", "finance_checker")
    async with asgi_client() as admin1, asgi_client() as admin2, asgi_client() as staff:
        await alogin(admin1, "oi_admin1")
        await alogin(admin2, "oi_admin2")
        for name in ("oi_auditor", "oi_checker"):
            await admin1.delete(f"/api/admin/users/{name}/identity", headers=acsrf(admin1))  # a clean start

        # An auditor's link counts at once.
        r = await admin1.post(
            "/api/admin/users/oi_auditor/identity", json={"subject": "staff2-sub"}, headers=acsrf(admin1)
        )
        assert r.status_code == 201 and r.json()["status"] == "linked", r.text
        assert (await oidc_login(staff, "staff2-sub", oidc_on)).status_code == 302
        assert (await me(staff))["username"] == "oi_auditor" and (await me(staff))["role"] == "auditor"
        await staff.post("/logout", headers=acsrf(staff))

        # A finance checker's link waits for a second admin; until then the login gets no role.
        r = await admin1.post(
            "/api/admin/users/oi_checker/identity", json={"subject": "staff-sub"}, headers=acsrf(admin1)
        )
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        link = r.json()["id"]
        assert (await oidc_login(staff, "staff-sub", oidc_on)).status_code == 403 and await me(staff) is None
        r = await admin1.post(f"/api/admin/identity-links/{link}/confirm", headers=acsrf(admin1))
        assert r.status_code == 403  # not by the admin who asked
        r = await admin2.post(f"/api/admin/identity-links/{link}/confirm", headers=acsrf(admin2))
        assert r.status_code == 201 and r.json()["status"] == "linked", r.text
        assert (await oidc_login(staff, "staff-sub", oidc_on)).status_code == 302
        assert (await me(staff))["role"] == "finance_checker"

        # The same person cannot be linked twice; a non-admin cannot link; unlinking ends the session.
        r = await admin2.post(
            "/api/admin/users/oi_auditor/identity", json={"subject": "staff-sub"}, headers=acsrf(admin2)
        )
        assert r.status_code == 409
        r = await admin1.delete("/api/admin/users/oi_checker/identity", headers=acsrf(admin1))
        assert r.status_code == 204
        assert await me(staff) is None
    actions = {
        r["action"] for r in await AuditEntry.select(AuditEntry.action).where(AuditEntry.entity_id == "oi_checker")
    }
    assert {"user.identity_requested", "user.identity_linked", "user.identity_unlinked"} <= actions


def test_a_half_configured_provider_refuses_to_start():
    with pytest.raises(SecretRefused, match="ZHIDA_OIDC_CLIENT_SECRET"):
        Settings(oidc_issuer="https://id.example.gov.cn", oidc_client_id="zhida").check_oidc()
    with pytest.raises(SecretRefused, match="https"):
        Settings(
            oidc_issuer="http://id.example.gov.cn", oidc_client_id="zhida", oidc_client_secret="x" * 40
        ).check_oidc()
