"""Issue 16, items 5 and 6: an atomic login throttle that a stranger cannot turn against the owner, sessions that end
on the server, equal-time refusals, the staff password policy, the security headers and the API description behind
a login."""

from __future__ import annotations

import asyncio
import statistics
import time

import httpx
import pytest

from app.auth.service import LoginRefused, TooManyAttempts, authenticate, change_password, create_user, unlock_user
from app.config import get_settings
from app.tables import AuditEntry, LoginThrottle, Session, User
from tests.conftest import ON_POSTGRES, zhida
from tests.web import PASSWORD, acsrf, alogin, asgi_client, ensure_user, login_status

COOKIE = "zhida_session"


async def _attempt(name: str, password: str, source: str) -> str:
    try:
        await authenticate(name, password, source=source)
    except TooManyAttempts:
        return "throttled"
    except LoginRefused:
        return "refused"
    return "ok"


# --- item 5: the throttle ------------------------------------------------------------------------------------------


async def test_parallel_guesses_get_no_more_checks_than_the_limit(monkeypatch):
    """39 wrong guesses at once from one place: at most login_max_failures are checked at all (on PostgreSQL through
    the connection pool, really in parallel); the right password after them is not even checked. The back-off is an
    hour here: on a loaded machine the checks can outlast the default minute, and a wait that is over rightly lets
    the next guess be checked. (The right one goes after the parallel guesses, not among them: in which order
    concurrent attempts reach the database is not the throttle's to promise.)"""
    monkeypatch.setattr(get_settings(), "login_backoff_seconds", 3600)
    await ensure_user("u_parallel", "finance_checker")
    guesses = [f"wrong-guess-{i}" for i in range(39)]
    results = await asyncio.gather(*(_attempt("u_parallel", g, "10.0.0.40") for g in guesses))
    checked = [r for r in results if r != "throttled"]
    assert len(checked) <= get_settings().login_max_failures, results
    assert await _attempt("u_parallel", PASSWORD, "10.0.0.40") == "throttled"  # too late: not even checked
    if ON_POSTGRES:
        assert results.count("throttled") >= 39 - get_settings().login_max_failures


async def test_a_stranger_cannot_lock_out_the_owner():
    await ensure_user("u_owner", "admin")
    for _ in range(20):
        await _attempt("u_owner", "a-stranger-guesses", "203.0.113.9")
    assert await _attempt("u_owner", "a-stranger-guesses", "203.0.113.9") == "throttled"
    # The owner, from their own machine, is let in as usual.
    assert await _attempt("u_owner", PASSWORD, "192.168.1.20") == "ok"


async def test_the_back_off_per_source_doubles():
    await ensure_user("u_backoff", "auditor")
    free = get_settings().login_max_failures
    waits = []
    for _ in range(3):
        while await _attempt("u_backoff", "nope-nope-nope", "198.51.100.7") != "throttled":
            pass
        row = await LoginThrottle.select().where(LoginThrottle.slot == "198.51.100.7|u_backoff").first()
        waits.append(row["blocked_until"] - row["last_at"])
        # Time passes: the wait is over (the count stays).
        await LoginThrottle.update({LoginThrottle.blocked_until: row["last_at"]}).where(LoginThrottle.id == row["id"])
    base = get_settings().login_backoff_seconds
    assert waits == [base, 2 * base, 4 * base], (free, waits)
    assert await _attempt("u_backoff", PASSWORD, "198.51.100.7") == "ok"
    assert not await LoginThrottle.exists().where(LoginThrottle.slot == "198.51.100.7|u_backoff")


async def test_a_name_is_locked_after_failures_from_many_sources_until_an_admin_unlocks_it(monkeypatch):
    settings = get_settings()
    monkeypatch.setattr(settings, "login_name_lock_sources", 3)
    monkeypatch.setattr(settings, "login_name_lock_failures", 9)
    await ensure_user("u_target", "finance_checker")
    for source in ("a", "b", "c"):
        for _ in range(3):
            assert await _attempt("u_target", "botnet-guess", f"10.9.9.{source}") == "refused"
    assert await _attempt("u_target", PASSWORD, "192.168.1.21") == "throttled"  # locked, even for the owner
    assert await AuditEntry.exists().where((AuditEntry.action == "user.lock") & (AuditEntry.entity_id == "u_target"))
    proc = zhida("users", "unlock", "u_target")
    assert proc.returncode == 0 and "unlocked" in proc.stdout, proc.stderr
    assert await _attempt("u_target", PASSWORD, "192.168.1.21") == "ok"
    assert await AuditEntry.exists().where((AuditEntry.action == "user.unlock") & (AuditEntry.entity_id == "u_target"))
    assert await unlock_user("u_target") is False  # nothing to lift any more


async def test_the_web_login_throttles_by_the_client_address():
    await ensure_user("u_web_throttle", "auditor")
    async with asgi_client() as client:
        for _ in range(get_settings().login_max_failures):
            assert await login_status(client, "u_web_throttle", "wrong-password") == 401
        assert await login_status(client, "u_web_throttle", PASSWORD) == 429
    assert await LoginThrottle.exists().where(LoginThrottle.slot == "127.0.0.1|u_web_throttle")


# --- item 6: sessions -----------------------------------------------------------------------------------------------


async def _logged_in(client, name: str, role: str = "auditor") -> str:
    await ensure_user(name, role)
    await alogin(client, name)
    assert (await client.get("/api/me")).status_code == 200
    return client.cookies.get(COOKIE)


async def test_logout_ends_the_session_on_the_server():
    async with asgi_client() as client:
        cookie = await _logged_in(client, "u_logout")
        r = await client.post("/logout", headers=acsrf(client), follow_redirects=False)
        assert r.status_code in (302, 303)
        client.cookies.set(COOKIE, cookie)  # the old cookie, kept by whoever copied it
        assert (await client.get("/api/me")).status_code == 401


async def test_a_new_password_ends_every_older_session():
    async with asgi_client() as a, asgi_client() as b:
        old_a, old_b = await _logged_in(a, "u_repass"), await _logged_in(b, "u_repass")
        # However the password is set (here straight in the table, as a reset by another path would).
        from argon2 import PasswordHasher

        await User.update({User.password_hash: PasswordHasher().hash("Another-pass-2026")}).where(
            User.username == "u_repass"
        )
        for client, cookie in ((a, old_a), (b, old_b)):
            client.cookies.set(COOKIE, cookie)
            assert (await client.get("/api/me")).status_code == 401


async def test_change_password_checks_the_policy_and_ends_the_sessions():
    await ensure_user("u_change", "auditor")
    async with asgi_client() as client:
        await _logged_in(client, "u_change")
        with pytest.raises(LoginRefused):
            await change_password("u_change", "not-the-password", "Brand-new-pass-2026")
        with pytest.raises(Exception, match="12"):
            await change_password("u_change", PASSWORD, "short")
        await change_password("u_change", PASSWORD, "Brand-new-pass-2026")
        assert (await client.get("/api/me")).status_code == 401
        assert not await Session.exists().where(Session.username == "u_change")
        await alogin(client, "u_change", "Brand-new-pass-2026")


async def test_a_role_change_ends_the_session():
    async with asgi_client() as client:
        await _logged_in(client, "u_promoted", "policy_officer")
        await User.update({User.role: "policy_reviewer"}).where(User.username == "u_promoted")
        assert (await client.get("/api/me")).status_code == 401


async def test_a_session_expires_on_the_server():
    async with asgi_client() as client:
        await _logged_in(client, "u_expiring")
        import datetime as dt

        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        await Session.update({Session.expires_at: past}).where(Session.username == "u_expiring")
        assert (await client.get("/api/me")).status_code == 401


async def test_an_unknown_name_takes_as_long_as_a_wrong_password():
    names = [f"u_timing_{i}" for i in range(7)]
    for name in names:
        await ensure_user(name, "auditor")

    async def timed(name: str, i: int) -> float:
        start = time.perf_counter()
        assert await _attempt(name, "wrong-password", f"172.16.0.{i}") == "refused"
        return time.perf_counter() - start

    await timed("no-such-user-warm", 0)  # warm up (the dummy hash is made once)
    # One attempt per name, so that no throttle is involved.
    known = [await timed(name, i) for i, name in enumerate(names)]
    unknown = [await timed(f"no-such-user-{i}", i) for i in range(7)]
    # Before: the unknown name skipped argon2 and answered about 20 times faster.
    assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)


# --- item 6: the password policy ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Short-1", "12"),
        ("password1234", "common"),
        ("Password2025!", "common"),
        ("123qweasdzxc", "common"),
        ("aaaaaaaaaaaaaaa", "common"),
        ("u_policy_staff-2025", "user name"),
    ],
)
async def test_a_weak_staff_password_is_refused(password, why):
    with pytest.raises(Exception, match=why):
        await create_user("u_policy_staff", "finance_maker", password)
    assert not await User.exists().where(User.username == "u_policy_staff")


async def test_a_good_staff_password_and_a_portal_password_are_accepted():
    await create_user("u_policy_good", "finance_maker", "Tea-kettle-on-Sunday")
    await create_user("91360100MA00000P1X", "enterprise", "Ent-pass1")  # enterprises and talents: 8 characters


async def test_the_cli_refuses_a_common_staff_password():
    """The bootstrap CLI applies the staff password policy (the web's admin sets no password at all: the owner sets it
    at activation, under the same policy, tests/app/test_separation.py)."""
    proc = zhida("users", "create", "u_weak_cli", "--role", "auditor", "--password-stdin", input="qwerty123456\n")
    assert proc.returncode == 1 and "common" in proc.stderr, proc.stderr


# --- item 6: headers, cookies, the API description ------------------------------------------------------------------

HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


async def test_every_response_carries_the_security_headers():
    async with asgi_client() as client:
        for path in ("/login", "/api/me", "/static/zhida.css", "/no-such-page", "/healthz"):
            r = await client.get(path)
            for header in HEADERS:
                assert header in r.headers, (path, header)
            assert r.headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["x-content-type-options"] == "nosniff"
            assert "strict-transport-security" not in r.headers  # http: no HSTS
        assert "script-src 'self' 'nonce-" in (await client.get("/login")).headers["content-security-policy"]


async def test_the_rule_editor_script_carries_the_pages_nonce():
    await ensure_user("u_nonce_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "u_nonce_officer")
        r = await client.get("/policies/new")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        nonce = csp.split("'nonce-", 1)[1].split("'", 1)[0]
        assert f'<script nonce="{nonce}">' in r.text


async def test_https_base_url_makes_cookies_secure_and_sends_hsts(monkeypatch):
    await ensure_user("u_https", "auditor")
    monkeypatch.setattr(get_settings(), "base_url", "https://zhida.example.gov.cn")
    from app.main import create_app

    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:  # Secure cookies
        r = await client.get("/login")
        assert r.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in r.headers["set-cookie"].lower()  # the CSRF cookie
        r = await client.post(
            "/login",
            data={"username": "u_https", "password": PASSWORD, "next": "/"},
            headers=acsrf(client),
            follow_redirects=False,
        )
        session_cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(COOKIE))
        assert "secure" in session_cookie.lower() and "httponly" in session_cookie.lower()


async def test_the_api_description_needs_a_login():
    async with asgi_client() as client:
        assert (await client.get("/schema/openapi.json")).status_code == 401
        r = await client.get("/schema/swagger", headers={"accept": "text/html"}, follow_redirects=False)
        assert r.status_code in (302, 303) and r.headers["location"].startswith("/login")
        await _logged_in(client, "u_schema_reader")
        assert (await client.get("/schema/openapi.json")).status_code == 200
