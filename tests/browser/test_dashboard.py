"""资金监管看板 and the auditor's workbench in headless Chromium at 1366 and 390 px: the dashboard's five ECharts
charts render (a canvas each, drawn from our own static copy of ECharts), the headline figures equal independent
sums, no console error and no failed request on the dashboard, the flag list and a flag's page; the page fits a
phone's width. Screenshots go to $ZHIDA_SCREENSHOTS (default: a temporary folder)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from kit.db import raw
from payments.tables import Payment
from tests.payments import dashboard_data
from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser
SHOTS = Path(os.environ.get("ZHIDA_SCREENSHOTS") or tempfile.mkdtemp(prefix="zhida-shots-"))
CHARTS = ("chart-month", "chart-policy", "chart-region", "chart-budget", "chart-flags")


@pytest.fixture
async def world(fresh_db, tmp_dir):
    await dashboard_data.build(tmp_dir)
    await ensure_user("dash_auditor", "auditor")
    rows = await Payment.select(Payment.status, Payment.amount_fen)
    paid = sum(r["amount_fen"] for r in rows if r["status"] == "settled")
    flag = await raw("SELECT MIN(id) AS id FROM pay_risk_flag")
    return {"paid_fen": paid, "flag_id": int(flag[0]["id"])}


def _watch(page, problems: list[str]) -> None:
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text} {m.location.get('url', '')} on {page.url}")
            if m.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)


def test_the_dashboard_charts_render_without_console_errors(world):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with live_server() as base, chromium() as browser:
        for width in (1366, 390):
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            page = context.new_page()
            problems: list[str] = []
            _watch(page, problems)
            browser_login(page, base, "dash_auditor")
            page.goto(base + "/oversight/dashboard")
            page.wait_for_selector("html[data-charts='5']", timeout=15000)
            for chart in CHARTS:
                box = page.locator(f"#{chart} canvas").first.bounding_box()
                assert box and box["width"] > 200 and box["height"] > 150, (width, chart, box)
            shown = page.get_attribute("[data-testid=kpis] strong >> nth=0", "data-fen")
            assert int(shown) == world["paid_fen"]
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.screenshot(path=str(SHOTS / f"dashboard-{width}.png"), full_page=True)
            for url in ("/oversight", f"/oversight/flags/{world['flag_id']}"):
                page.goto(base + url)
                page.wait_for_load_state("networkidle")
            assert problems == [], (width, problems)
            context.close()
