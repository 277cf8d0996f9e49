"""服务看板 in headless Chromium at 1366 and 390 px, as a policy officer: its four ECharts charts render (a canvas
each, from our own static copy of ECharts), no console error and no failed request, the figures of every table equal
the independent counts of tests/app/test_service_dashboard.py over the same planted world, the shared nav offers only
this dashboard, and the page fits a phone's width. Screenshots go to $ZHIDA_SCREENSHOTS (default: a temporary
folder); docs/ui/service-*.png are taken from them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.app.test_service_dashboard import expected, plant
from tests.browser.test_dashboard import _watch
from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("ZHIDA_SCREENSHOTS") or tempfile.mkdtemp(prefix="zhida-shots-"))
CHARTS = ("chart-channels", "chart-deadlines", "chart-processing", "chart-trend")
STATES = ("sent", "failed", "deferred", "in_progress", "skipped", "read")


@pytest.fixture
async def world(fresh_db):
    await plant()
    await ensure_user("svc_officer", "policy_officer")
    return await expected()


def _n(page, table: str, key: str) -> list[int | None]:
    cells = page.locator(f'[data-testid="t-{table}"] tr[data-key="{key}"] td[data-n]')
    return [None if v == "na" else int(v) for v in (cells.nth(i).get_attribute("data-n") for i in range(cells.count()))]


def test_the_service_dashboard_renders_its_counts(world):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ch = world["channels"]
    with live_server() as base, chromium() as browser:
        for width in (1366, 390):
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            page = context.new_page()
            problems: list[str] = []
            _watch(page, problems)
            browser_login(page, base, "svc_officer")
            page.goto(base + "/oversight/service")
            page.wait_for_load_state("networkidle")
            assert page.get_attribute("html", "data-charts") == "4", problems
            for chart in CHARTS:
                box = page.locator(f"#{chart} canvas").first.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 150, (width, chart, box)
            assert _n(page, "channels", "inbox") == [ch["inbox"]["sent"], None, None, None, None, ch["inbox"]["read"]]
            for c in ("email", "sms", "webhook"):
                assert _n(page, "channels", c) == [ch[c].get(s, 0) for s in STATES[:5]] + [None], c
            ob = world["objections"]
            assert _n(page, "deadlines", "objection") == [
                sum(ob.values()),
                ob["overdue"],
                ob["due_soon"],
                ob["later"],
                0,
            ]
            assert _n(page, "deadlines", "application")[0] == world["applications"]
            for day, c in world["trend"].items():
                assert _n(page, "trend", day) == [c["inbox"], c["sent"], c["failed"]], day
            kpi = page.locator('[data-k="failed"]').get_attribute("data-n")
            assert int(kpi) == sum(ch[c].get("failed", 0) for c in ("email", "sms", "webhook"))
            assert page.locator(".dash-nav a").count() == 1
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, width
            page.screenshot(path=str(SHOTS / f"service-{width}.png"), full_page=True)
            assert problems == [], (width, problems)
            context.close()
