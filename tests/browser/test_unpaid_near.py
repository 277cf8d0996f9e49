"""应享未享 and 差一点符合 in headless Chromium at 1366 and 390 px: both pages render with no console error and no
failed request, the 应享未享 total shown equals the sum of its reasons, the near-miss table has its rows, and the
page fits a phone's width. Screenshots go to $ZHIDA_SCREENSHOTS (default: a temporary folder)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.app.test_near import _world as near_world
from tests.app.test_unpaid import _expected, _plant
from tests.browser.test_dashboard import _watch
from tests.payments import dashboard_data
from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("ZHIDA_SCREENSHOTS") or tempfile.mkdtemp(prefix="zhida-shots-"))


@pytest.fixture
async def world(fresh_db, tmp_dir):
    codes = await dashboard_data.build(tmp_dir)
    await _plant(codes)
    await near_world(start=501)
    await ensure_user("dash_auditor", "auditor")
    return await _expected()


def test_unpaid_and_near_misses_render(world):
    SHOTS.mkdir(parents=True, exist_ok=True)
    total = sum(len(v) for v in world.values())
    with live_server() as base, chromium() as browser:
        for width in (1366, 390):
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            page = context.new_page()
            problems: list[str] = []
            _watch(page, problems)
            browser_login(page, base, "dash_auditor")
            page.goto(base + "/oversight/unpaid?reason=held")
            cell = page.locator('[data-testid="t-unpaid-summary"] tr[data-key="all"] td[data-n]')
            assert int(cell.get_attribute("data-n")) == total
            assert page.locator('[data-testid="t-unpaid-list"] tbody tr').count() == len(world["held"])
            # the list scrolls inside its card, not the page; the chosen reason's row is marked and highlighted
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, width
            chosen = page.locator('[data-testid="t-unpaid-summary"] tr[data-key="held"]')
            assert chosen.get_attribute("aria-current") == "true"
            other = page.locator('[data-testid="t-unpaid-summary"] tr[data-key="all"] td').first
            bg = chosen.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
            assert bg != other.evaluate("e => getComputedStyle(e).backgroundColor"), bg
            page.screenshot(path=str(SHOTS / f"unpaid-{width}.png"), full_page=True)
            page.goto(base + "/oversight/near")
            assert page.locator('[data-testid="t-near"] tbody tr[data-key]').count() == 2
            page.screenshot(path=str(SHOTS / f"near-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1
            assert problems == [], problems
            context.close()
