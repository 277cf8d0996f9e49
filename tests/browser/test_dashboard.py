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
from kit.time import in_china, now
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
    rows = await Payment.select(Payment.status, Payment.amount_fen, Payment.settled_on)
    paid = sum(r["amount_fen"] for r in rows if r["status"] == "settled")
    year = in_china(now()).date().isoformat()[:4]
    paid_year = sum(r["amount_fen"] for r in rows if r["status"] == "settled" and r["settled_on"][:4] == year)
    flag = await raw("SELECT MIN(id) AS id FROM pay_risk_flag")
    return {"paid_fen": paid, "paid_year_fen": paid_year, "flag_id": int(flag[0]["id"])}


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


def test_the_cockpit_and_the_funnel_render_without_console_errors(world):
    """驾驶舱 (three charts) and the policy funnel (two) at 1366 and 390 px: a canvas per chart, the paid-this-year
    figure equal to the settled payments of this year, no console error, nothing wider than the screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with live_server() as base, chromium() as browser:
        for width in (1366, 390):
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
            page = context.new_page()
            problems: list[str] = []
            _watch(page, problems)
            browser_login(page, base, "dash_auditor")
            for url, charts, shot in (
                ("/oversight/cockpit", ("chart-day", "chart-industry", "chart-district"), "cockpit"),
                ("/oversight/funnel", ("chart-funnel", "chart-projection"), "funnel"),
            ):
                page.goto(base + url)
                page.wait_for_selector(f"html[data-charts='{len(charts)}']", timeout=15000)
                for chart in charts:
                    box = page.locator(f"#{chart} canvas").first.bounding_box()
                    assert box and box["width"] > 200 and box["height"] > 150, (width, chart, box)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (url, width)
                page.screenshot(path=str(SHOTS / f"{shot}-{width}.png"), full_page=True)
            page.goto(base + "/oversight/cockpit")
            year = page.get_attribute("[data-k=year]", "data-fen")
            assert int(year) == world["paid_year_fen"]
            # The zh-CN page's placeholder for a date written YYYY-MM-DD.
            assert page.get_attribute("input[name=date_from]", "placeholder") == "年-月-日"
            assert problems == [], (width, problems)
            context.close()
