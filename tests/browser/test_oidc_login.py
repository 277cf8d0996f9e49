"""Acceptance in headless Chromium: an enterprise logs in through the unified identity provider (统一身份认证, a real
node-oidc-provider on loopback), the portal shows its own notices, and logging out ends its session at the provider."""

from __future__ import annotations

import pytest

from tests.conftest import truncate_all
from tests.oidc.provider import oidc_env, oidc_provider
from tests.portal.fixtures import ENT_A, ENT_B, build_world
from tests.web import chromium, free_port, live_server

pytestmark = pytest.mark.browser


@pytest.fixture
async def world():
    await truncate_all()
    return await build_world()


def test_an_enterprise_logs_in_at_the_provider_sees_its_own_notices_and_logs_out_there(world, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    accounts = {"ent-a": {"name": "甲科技有限公司", "uscc": ENT_A}}
    with oidc_provider(accounts, bases=[base]) as issuer:
        env = {**oidc_env(issuer), "ZHIDA_BASE_URL": base}
        with live_server(env, port=port), chromium() as browser:
            page = browser.new_context(locale="zh-CN").new_page()
            page.goto(base + "/portal")  # not logged in: to the login page, which offers the provider
            page.screenshot(path=str(tmp_path / "login.png"))
            page.click("[data-testid=oidc-login] >> text=使用统一身份认证登录")
            assert page.url.startswith(issuer), page.url
            page.fill("input[name=login]", "ent-a")
            page.fill("input[name=password]", "at-the-provider")
            page.screenshot(path=str(tmp_path / "provider-login.png"))
            page.click("button[type=submit]")
            page.wait_for_url(base + "/portal")

            page.goto(base + "/portal/inbox")
            notices = page.locator("[data-testid=notice-row]")
            ids = {notices.nth(i).get_attribute("data-notice") for i in range(notices.count())}
            assert str(world.notices[ENT_A]) in ids and str(world.notices[ENT_B]) not in ids
            assert "测试稳岗返还" in page.inner_text("[data-testid=inbox-table]")
            assert page.inner_text("[data-testid=unread-count]") == "2"
            page.screenshot(path=str(tmp_path / "portal-inbox.png"))

            # Logout: the platform's session ends, then the provider's (its confirmation page), then back to /login.
            page.click("form[action='/logout'] button")
            page.wait_for_url(issuer + "/**")
            page.click("button[value=yes]")
            page.wait_for_url(base + "/login")
            page.goto(base + "/portal")
            assert page.url.startswith(base + "/login")
            # The provider has forgotten the browser too: a new login asks for the account again.
            page.click("[data-testid=oidc-login]")
            page.wait_for_selector("input[name=login]")
            assert page.url.startswith(issuer)
