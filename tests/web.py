"""Helpers for HTTP and browser tests: an in-process client with login, a live server, and Chromium."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PASSWORD = "Test-pass-2025"
# `--actor USER` authenticates USER (contracts/cli.md): the users of tests/web.ensure_user have PASSWORD.
ACTOR_ENV = {"ZHIDA_ACTOR_PASSWORD": PASSWORD}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csrf_headers(client) -> dict[str, str]:
    """The CSRF header for an unsafe request (the token cookie is set by any earlier GET)."""
    token = client.cookies.get("csrftoken")
    if token is None:
        client.get("/login")
        token = client.cookies.get("csrftoken")
    return {"x-csrftoken": token}


def _login_form(username: str, password: str, csrf: dict[str, str]) -> dict:
    """The keyword arguments of the login POST (the HTML form's fields, no redirect followed)."""
    return {
        "data": {"username": username, "password": password, "next": "/"},
        "headers": csrf,
        "follow_redirects": False,
    }


def _logged_in(r, username: str) -> None:
    assert r.status_code == 302, f"login as {username} failed: {r.status_code} {r.text[:200]}"


def login(client, username: str, password: str = PASSWORD):
    _logged_in(client.post("/login", **_login_form(username, password, csrf_headers(client))), username)
    return client


async def ensure_user(username: str, role: str, password: str = PASSWORD) -> None:
    from app.auth.service import create_user, get_user

    if await get_user(username) is None:
        await create_user(username, role, password, display_name=username)


@contextlib.contextmanager
def live_server(extra_env: dict | None = None, port: int | None = None):
    """`zhida serve` in a subprocess on a free loopback port (or ``port``), against the test database. Yields its base
    URL."""
    port = port or free_port()
    env = {**os.environ, **(extra_env or {})}
    exe = Path(sys.executable).parent / "zhida"
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("zhida serve exited: " + proc.stdout.read().decode(errors="replace")[-2000:])
            time.sleep(0.1)
        else:
            raise RuntimeError("zhida serve did not come up")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium():
    """Debian's Chromium driven by Playwright (browser downloads are impossible here)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("ZHIDA_CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def browser_login(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


@contextlib.asynccontextmanager
async def asgi_client(app=None):
    """httpx over ASGI in the test's own event loop (where the PostgreSQL pool lives). No lifespan, so no
    embedded worker runs: jobs stay queued until the test drains them."""
    if app is None:
        from app.main import create_app

        app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        await client.get("/login")
        yield client


def acsrf(client) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken")}


async def alogin(client, username: str, password: str = PASSWORD):
    """Log an async client in (httpx over ASGI, or litestar's AsyncTestClient); fetches the login page first when
    the client has no CSRF cookie yet."""
    if client.cookies.get("csrftoken") is None:
        await client.get("/login")
    _logged_in(await client.post("/login", **_login_form(username, password, acsrf(client))), username)
    return client


async def login_status(client, username: str, password: str) -> int:
    """The status of one login attempt of an async client (no redirect followed), whatever it is."""
    data = {"username": username, "password": password}
    return (await client.post("/login", data=data, headers=acsrf(client), follow_redirects=False)).status_code


@contextlib.asynccontextmanager
async def own_loop_client():
    """The app under litestar's AsyncTestClient, which runs it on the client's own event loop (a thread) with its
    own database pool. PostgreSQL connections belong to one loop, so the test's pool is closed meanwhile and
    reopened after; the test makes no database calls of its own while the client is open."""
    from litestar.testing import AsyncTestClient

    from app.db import close_database, open_database
    from app.main import create_app

    await close_database()
    try:
        async with AsyncTestClient(create_app()) as client:
            yield client
    finally:
        await open_database()
