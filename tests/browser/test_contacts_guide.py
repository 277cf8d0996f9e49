"""Headless Chromium at 1366 and 390 px: the library page of a policy shows its 申兑指南; a subject sets an e-mail
address on /portal/contacts with the code the mail brought. Screenshots go to docs/ui/ (looked at by hand)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from notifications.sinks import SmtpSink
from tests.library.test_library import publish_bundled
from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser
UI = Path(__file__).resolve().parents[2] / "docs" / "ui"
USERS = {1366: "91360100MA35DDDDD4", 390: "91360100MA35EEEEE5"}  # one a width: a code a minute each


@pytest.fixture
async def ready(fresh_db):
    await publish_bundled()
    for user in USERS.values():
        await ensure_user(user, "enterprise")


def test_library_guide_and_contact_verification_at_both_widths(ready):
    sink = SmtpSink().start()
    try:
        env = {"ZHIDA_SMTP_HOST": sink.host, "ZHIDA_SMTP_PORT": str(sink.port)}
        with live_server(env) as base, chromium() as browser:
            for width, height in ((1366, 900), (390, 844)):
                ctx = browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
                page = ctx.new_page()
                page.goto(base + "/library/NC-RD-SUBSIDY-2025")
                guide = page.locator("[data-testid=library-guide]")
                assert "上年度研发费用专项审计报告" in guide.inner_text() and "30 个工作日" in guide.inner_text()
                assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
                page.screenshot(path=str(UI / f"library-guide-{width}.png"), full_page=True)

                browser_login(page, base, USERS[width])
                page.goto(base + "/portal/contacts")
                page.fill("[data-testid=contact-email-address]", f"caiwu{width}@example.cn")
                page.click("[data-testid=contact-email] button[type=submit]")
                page.locator("[data-testid=contact-email-verify]").wait_for(timeout=10000)
                code = re.findall(r"\b(\d{6})\b", sink.messages[-1]["body"])[-1]
                page.screenshot(path=str(UI / f"contacts-code-{width}.png"), full_page=True)
                page.fill("[data-testid=contact-email-code]", code)
                page.click("[data-testid=contact-email-verify] button[type=submit]")
                current = page.locator("[data-testid=contact-email-current]")
                current.wait_for(timeout=10000)
                assert current.inner_text() == f"caiwu{width}@example.cn"
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                page.screenshot(path=str(UI / f"contacts-{width}.png"), full_page=True)
                ctx.close()
    finally:
        sink.stop()
