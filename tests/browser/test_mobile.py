"""Mobile first: every portal page and the receipt verify page (opened from a phone by its QR code) fit a phone's
width, 360 to 414 px, without horizontal scrolling; staff tables scroll inside their own box on a tablet.
Screenshots at 390 px and 1366 px go to $ZHIDA_SCREENSHOTS (default: a temporary folder) for people to look at."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

from tests.conftest import ON_POSTGRES
from tests.demo_walk import DEMO_PASSWORD, demo_site, login, walk
from tests.web import browser_login, chromium

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        ON_POSTGRES,
        reason="runs its own embedded zhida demo on SQLite whatever the pass: the SQLite pass runs it, the PostgreSQL pass would repeat it",
    ),
]
PHONES = (360, 390, 414)
SHOTS = Path(os.environ.get("ZHIDA_SCREENSHOTS") or tempfile.mkdtemp(prefix="zhida-shots-"))


@pytest.fixture(scope="module")
def site():
    with demo_site() as s:
        yield s


def _portal_pages(site, role: str) -> tuple[str, list[str]]:
    name = next(u for u, r in site.accounts.items() if r == role)
    pages = walk(login(site.base, name), "/portal", limit=30, per_prefix=3)
    urls = [u for u in pages if u.startswith(("/portal", "/verify"))]
    return name, urls


def test_portal_and_verify_pages_fit_a_phone(site):
    SHOTS.mkdir(parents=True, exist_ok=True)
    too_wide, verify_seen = [], False
    with chromium() as browser:
        for role in ("enterprise", "talent"):
            name, urls = _portal_pages(site, role)
            assert any(u.startswith("/portal/policies/") for u in urls), urls
            verify_seen = verify_seen or any(u.startswith("/verify/") for u in urls)
            for width in (*PHONES, 1366):
                context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
                page = context.new_page()
                browser_login(page, site.base, name, DEMO_PASSWORD)
                for url in urls:
                    page.goto(site.base + url)
                    wide = page.evaluate("document.documentElement.scrollWidth")
                    if wide > width:
                        too_wide.append((role, width, url, wide))
                    if width in (390, 1366):
                        shot = re.sub(r"[^a-z0-9]+", "_", url.lower()).strip("_")
                        page.screenshot(path=str(SHOTS / f"{role}_{width}_{shot}.png"), full_page=True)
                context.close()
    assert verify_seen, "no receipt verify page was reached from the portal"
    assert not too_wide, too_wide


def test_staff_tables_scroll_inside_their_box_on_a_tablet(site):
    name = next(u for u, r in site.accounts.items() if r == "finance_maker")
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 768, "height": 1024}, locale="zh-CN")
        page = context.new_page()
        browser_login(page, site.base, name, DEMO_PASSWORD)
        urls = [u for u in walk(login(site.base, name), "/", limit=15, per_prefix=2) if not u.startswith("/verify")]
        too_wide = []
        for url in urls:
            page.goto(site.base + url)
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > 768:
                too_wide.append((url, wide))
        context.close()
    assert not too_wide, too_wide
