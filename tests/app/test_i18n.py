"""zh-CN and English through HTTP: the language switch, pages and error pages in both, domain errors translated on
pages and in the API, and the catalog's completeness (every message extracted from the code has its zh_CN text)."""

from __future__ import annotations

import pytest

from tests.web import asgi_client, ensure_user


@pytest.fixture
async def client():
    await ensure_user("i18n_officer", "policy_officer")
    async with asgi_client() as c:
        yield c


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_language_switch_sets_the_cookie_and_goes_back(client, lang):
    r = await client.get(f"/lang/{lang}", headers={"referer": "http://testserver/login?next=/"}, follow_redirects=False)
    assert r.status_code in (302, 303), r.text[:300]
    assert r.headers["location"] == "/login?next=/"
    assert client.cookies.get("lang") == lang


async def test_language_switch_never_leaves_the_site(client):
    r = await client.get("/lang/en", headers={"referer": "http://evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    r = await client.get("/lang/en", follow_redirects=False)
    assert r.headers["location"] == "/"
