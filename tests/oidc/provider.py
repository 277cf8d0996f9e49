"""The real OpenID Connect provider of the tests (node-oidc-provider, tests/oidc/provider.mjs) on loopback, and a
browserless walk through its login for HTTP-level tests.

It needs node and `npm ci` in tests/oidc (scripts/install --test does that). Without them a test skips, except under
CI=true, where a missing provider fails the run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

from tests.web import free_port

HERE = Path(__file__).resolve().parent
# Client secrets of this run only: none is written in the source.
CLIENT_ID, CLIENT_SECRET = "zhida", secrets.token_urlsafe(32)
OTHER_ID, OTHER_SECRET = "another-app", secrets.token_urlsafe(32)
ASGI_BASE = "http://127.0.0.1:8000"  # the default ZHIDA_BASE_URL, which the in-process tests keep


def require_provider() -> None:
    """Skip (or, under CI, fail) when node or the provider's npm packages are missing."""
    node = shutil.which("node")
    installed = (HERE / "node_modules" / "oidc-provider" / "package.json").exists()
    if node and installed:
        return
    reason = "node is not installed" if not node else "tests/oidc has no node_modules: run `npm ci` in tests/oidc"
    if os.environ.get("CI") == "true":
        pytest.fail(f"the OIDC provider of the tests cannot start under CI: {reason} (scripts/install --test)")
    pytest.skip(reason)


def client(client_id: str, secret: str, bases: list[str]) -> dict:
    return {
        "client_id": client_id,
        "client_secret": secret,
        "redirect_uris": [b + "/login/oidc/callback" for b in bases],
        "post_logout_redirect_uris": [b + "/login" for b in bases],
        "response_types": ["code"],
        "grant_types": ["authorization_code"],
    }


@contextlib.contextmanager
def oidc_provider(accounts: dict[str, dict], bases: list[str] = [ASGI_BASE]):  # noqa: B006
    """node-oidc-provider on a free loopback port, with the Zhida client (and another) for the platform at each of
    ``bases`` and these accounts (sub → claims). Yields its issuer URL."""
    require_provider()
    port = free_port()
    config = {
        "port": port,
        "clients": [client(CLIENT_ID, CLIENT_SECRET, bases), client(OTHER_ID, OTHER_SECRET, bases)],
        "accounts": accounts,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    proc = subprocess.Popen(
        ["node", str(HERE / "provider.mjs"), f.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("ready "):
            proc.kill()
            raise RuntimeError(
                "the OIDC provider did not start: " + (proc.stderr.read() if proc.stderr else "")[-2000:]
            )
        yield line.split(" ", 1)[1].strip()
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
        os.unlink(f.name)


def oidc_env(issuer: str) -> dict[str, str]:
    """The platform's configuration for this provider (app/config.py)."""
    return {
        "ZHIDA_OIDC_ISSUER": issuer,
        "ZHIDA_OIDC_CLIENT_ID": CLIENT_ID,
        "ZHIDA_OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "ZHIDA_OIDC_SCOPES": "openid profile zhida",
    }


async def log_in_at_provider(authorization_url: str, login: str, issuer: str) -> str:
    """Follow the provider's login (its development interaction: any password) as ``login``; returns the URL the
    provider sends the browser back to (the client's redirect URI with code and state)."""
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(authorization_url)
        submitted = False
        for _ in range(20):
            if response.is_redirect:
                target = urljoin(str(response.url), response.headers["location"])
                if not target.startswith(issuer):
                    return target
                response = await http.get(target)
                continue
            match = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            if submitted or match is None:
                raise AssertionError(f"the provider did not log in: {response.status_code} {response.text[:500]}")
            response = await http.post(
                urljoin(str(response.url), match.group(1)),
                data={"prompt": "login", "login": login, "password": "any"},
            )
            submitted = True
    raise AssertionError("the provider kept redirecting")
