"""Headless Chromium: each role logs in and sees its home page, in Chinese."""

from __future__ import annotations

import pytest

from kit.vocab import Role
from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser
ROLES = [r.value for r in Role]  # every role, staff first
SUBJECT_IDS = {"enterprise": "91360100MA35XXXX1A", "talent": "360102199001011234"}


@pytest.fixture
async def role_users():
    for role in ROLES:
        await ensure_user(SUBJECT_IDS.get(role, f"b_{role}"), role)


def test_each_role_sees_its_home_page_in_chinese(role_users):
    from app.i18n import ROLE_LABELS

    with live_server() as base, chromium() as browser:
        for role in ROLES:
            context = browser.new_context(locale="zh-CN")
            page = context.new_page()
            browser_login(page, base, SUBJECT_IDS.get(role, f"b_{role}"))
            assert page.url.rstrip("/") == base, page.url
            assert "欢迎" in page.inner_text("[data-testid=home-title]")
            assert page.inner_text("[data-testid=role]") == ROLE_LABELS[role][0]
            assert page.evaluate("document.documentElement.lang") == "zh-CN"
            context.close()


def test_wrong_password_shows_a_chinese_friendly_error(role_users):
    with live_server() as base, chromium() as browser:
        page = browser.new_page()
        page.goto(base + "/login")
        page.fill("input[name=username]", "b_auditor")
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        page.wait_for_selector("[role=alert]")
        assert "用户名或密码错误" in page.inner_text("[role=alert]")
        assert "/login" in page.url
