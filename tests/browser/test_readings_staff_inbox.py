"""Headless Chromium at 1366 and 390 px: a subject switches on 政策解读 for near misses on /portal/contacts; an
officer and a reviewer find the deadline reminder / escalation in the staff inbox from the staff home's unread
count. Screenshots go to docs/ui/ (looked at by hand)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from app import staff_messages
from app.audit import AuditActor
from kit import workdays
from kit.time import now
from policies.applications import objections
from policies.applications.schemas import ObjectionCreate
from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser
UI = Path(__file__).resolve().parents[2] / "docs" / "ui"
SUBJECT = "91360100MA35DDDDD4"
SYSTEM = AuditActor("system", "system")


def _start_for_reminder(at: dt.datetime) -> dt.datetime:
    """A start whose 15-working-day deadline leaves 1-3 working days from ``at`` (the reminder window)."""
    start = at
    while not 1 <= workdays.workdays_left(at, workdays.deadline(start, objections.RESPONSE_DAYS)) <= 3:
        start -= dt.timedelta(days=1)
    return start


@pytest.fixture
async def ready(fresh_db):
    await ensure_user(SUBJECT, "enterprise")
    await ensure_user("ui_officer", "policy_officer")
    await ensure_user("ui_reviewer", "policy_reviewer")
    at = now()
    for i, start in enumerate([_start_for_reminder(at), at - dt.timedelta(days=40)]):
        await objections.raise_objection(
            "talent",
            f"36010219880101{i:04d}",
            ObjectionCreate(target="policy", target_id=1, text="认为自己符合条件"),
            actor=SYSTEM,
            policy=("NC-RD-SUBSIDY-2025", "企业研发投入后补助"),
            now=start,
        )
    got = await staff_messages.deadline_messages(actor=SYSTEM)
    assert got == {"reminded": 1, "escalated": 1, "messages": 2}


def test_readings_opt_in_and_staff_inbox_at_both_widths(ready):
    with live_server() as base, chromium() as browser:
        for width, height in ((1366, 900), (390, 844)):
            ctx = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
            page = ctx.new_page()
            browser_login(page, base, SUBJECT)
            page.goto(base + "/portal/contacts#readings")
            box = page.locator("[data-testid=readings-optin]")
            if not box.is_checked():
                box.check()
                page.click("[data-testid=readings-save]")
                page.wait_for_load_state("networkidle")
            assert page.locator("[data-testid=readings-optin]").is_checked()
            assert "接收政策解读（未完全符合条件的政策）" in page.inner_text("[data-testid=readings]")
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.locator("[data-testid=readings]").scroll_into_view_if_needed()
            page.screenshot(path=str(UI / f"readings-optin-{width}.png"), full_page=True)
            ctx.close()

            for user in ("ui_officer", "ui_reviewer"):
                ctx = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
                page = ctx.new_page()
                browser_login(page, base, user)
                page.goto(base + "/")
                assert page.inner_text("[data-testid=count-staff_messages]") in ("1", "0")
                page.click("[data-testid=todo-staff_messages] a")
                page.wait_for_load_state("networkidle")
                rows = page.locator("[data-testid=staff-message]")
                assert rows.count() == 1
                text = rows.first.inner_text()
                assert ("提醒" in text) if user == "ui_officer" else ("逾期" in text)
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(UI / f"staff-inbox-{user.split('_')[1]}-{width}.png"), full_page=True)
                if width == 1366:
                    rows.first.locator("a").click()
                    page.wait_for_load_state("networkidle")
                    assert "北京时间" in page.inner_text("[data-testid=staff-message-body]")
                    page.screenshot(path=str(UI / f"staff-message-{user.split('_')[1]}-{width}.png"), full_page=True)
                ctx.close()
