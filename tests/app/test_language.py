"""The header's 中文 | English links: they set the language and go back to the page they were clicked on."""

from __future__ import annotations

import pytest

from tests.web import asgi_client


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_switching_language_goes_back_to_the_page_with_the_cookie_set(lang):
    async with asgi_client() as client:
        r = await client.get(
            f"/lang/{lang}", headers={"referer": "http://testserver/login?next=/finance"}, follow_redirects=False
        )
        assert r.status_code in (302, 303), r.text[:300]
        assert r.headers["location"] == "/login?next=/finance"
        assert client.cookies.get("lang") == lang
        page = await client.get("/login")
        assert f'lang="{"en" if lang == "en" else "zh-CN"}"' in page.text


async def test_a_foreign_referer_goes_home():
    async with asgi_client() as client:
        r = await client.get("/lang/en", headers={"referer": "https://evil.example/x"}, follow_redirects=False)
        assert r.status_code in (302, 303) and r.headers["location"] == "/"
