"""Headless Chromium at 1366 and 390 px: an officer opens the correction requests from the objections page, sees
the request in words and refuses it with the feed's reason; nothing is wider than the phone's screen. Screenshots go
to docs/ui/corrections-* (looked at by hand)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.app.test_objection_feed_correction import _objection_with_request
from tests.web import browser_login, chromium, live_server

pytestmark = pytest.mark.browser
UI = Path(__file__).resolve().parents[2] / "docs" / "ui"


@pytest.fixture
async def ready(fresh_db):
    await _objection_with_request()


def test_correction_requests_page_at_both_widths(ready):
    with live_server() as base, chromium() as browser:
        for width, height in ((1366, 900), (390, 844)):
            ctx = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            page = ctx.new_page()
            browser_login(page, base, "corr_officer")
            page.goto(base + "/applications/objections?status=")
            page.click("[data-testid=corrections-link]")
            page.wait_for_load_state("networkidle")
            row = page.locator("[data-testid=correction-row]")
            assert row.count() == 1
            assert "博士研究生" in row.inner_text() and "学历" in row.inner_text()
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{wide} px wide at {width}"
            page.screenshot(path=str(UI / f"corrections-{width}.png"), full_page=True)
            if width == 390:
                page.fill("[data-testid=refuse-form] textarea", "学信网核验：该学位证书编号不存在")
                page.click("[data-testid=refuse-form] button")
                page.wait_for_load_state("networkidle")
                assert page.locator("[data-testid=msg]").count() == 1
                page.goto(base + "/applications/objections?status=answered")
                assert "数据源不予更正" in page.inner_text("[data-testid=objections-table]")
                page.screenshot(path=str(UI / "corrections-objection-outcome-390.png"), full_page=True)
            ctx.close()


@pytest.fixture
async def unmatched(fresh_db):
    from policies import service as policies
    from tests.app.test_objection_correction import _published_master
    from tests.web import ensure_user

    version_id, sid = await _published_master()
    await ensure_user(sid, "talent")
    return (await policies.get_version(version_id)).code, sid


def test_a_subject_objects_to_a_non_match_from_the_library_on_a_phone(unmatched):
    code, sid = unmatched
    with live_server() as base, chromium() as browser:
        ctx = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
        page = ctx.new_page()
        browser_login(page, base, sid)
        page.goto(base + f"/library/{code}")
        page.click("[data-testid=object-nonmatch]")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith("#nonmatch-objection")
        page.click("[data-testid=nonmatch-objection] summary")
        page.fill("[data-testid=nonmatch-objection] textarea", "我是博士，档案中的学历有误")
        page.screenshot(path=str(UI / "nonmatch-objection-from-library-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.click("[data-testid=nonmatch-objection] button")
        page.wait_for_load_state("networkidle")
        page.goto(base + "/portal")
        assert "我是博士，档案中的学历有误" in page.inner_text("#objections")
        assert "待答复" in page.inner_text("#objections")
        ctx.close()
