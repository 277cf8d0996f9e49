"""Acceptance in headless Chromium: an enterprise opens its unread notice, reads why it qualifies and confirms its
account; a talent applies with an attachment; an officer approves; the talent sees the status change."""

from __future__ import annotations

import pytest

from tests.portal.fixtures import ACCOUNT_A, APPLY_TALENT, ENT_A, PDF, REVIEWER, TALENT_B
from tests.web import browser_login, chromium, live_server

pytestmark = pytest.mark.browser


def test_enterprise_notice_explanation_account_then_talent_application_approved(world, tmp_path):
    attachment = tmp_path / "学位证书.pdf"
    attachment.write_bytes(PDF)
    with live_server() as base, chromium() as browser:
        # -- the enterprise: unread notice → explanation → account confirmed
        page = browser.new_context(locale="zh-CN").new_page()
        browser_login(page, base, ENT_A)
        page.goto(base + "/portal")
        assert page.inner_text("[data-testid=unread-count]") == "2"
        page.click("[data-testid=notice] >> text=测试稳岗返还")
        assert "测试稳岗返还" in page.inner_text("[data-testid=notice-title]")
        assert "20,000.00" in page.inner_text("[data-testid=notice-body]")
        href = page.get_attribute("[data-testid=notice-action]", "href")  # absolute, as in the email
        page.goto(base + "/portal/" + href.split("/portal/", 1)[1])
        page.wait_for_selector("[data-testid=explanation]")
        assert "稳岗返还" in page.inner_text("[data-testid=policy-title]")
        explanation = page.inner_text("[data-testid=explanation]")
        assert "为什么您符合条件" in explanation and "✔" in explanation
        assert page.inner_text("[data-testid=account-masked]") == "6222****1234"
        page.fill("[data-testid=account-form] input[name=account]", ACCOUNT_A)
        page.click("[data-testid=account-form] button[type=submit]")
        page.wait_for_selector("[data-testid=account-saved]")
        assert page.inner_text("[data-testid=account-status]") == "已确认"
        page.goto(base + "/portal")
        assert page.inner_text("[data-testid=unread-count]") == "1"  # the opened notice is read

        # -- the talent applies with an attachment
        talent_ctx = browser.new_context(locale="zh-CN")
        talent = talent_ctx.new_page()
        browser_login(talent, base, TALENT_B)
        talent.goto(base + "/portal")
        talent.click("[data-testid=policy-row] >> text=测试青年博士科研启动经费")
        talent.fill("[data-testid=apply-form] textarea[name=statement]", "本人博士学位，申请科研启动经费")
        talent.set_input_files("[data-testid=apply-form] input[type=file]", str(attachment))
        talent.click("[data-testid=apply-form] button[type=submit]")
        talent.wait_for_selector("[data-testid=application-status]")
        assert talent.inner_text("[data-testid=application-status]") == "已受理，审核中"
        application_url = talent.url
        assert "学位证书.pdf" in talent.content()

        # -- an officer approves it
        officer = browser.new_context(locale="zh-CN").new_page()
        browser_login(officer, base, REVIEWER)
        officer.goto(base + "/applications")
        officer.click("[data-testid=application-row] a")
        assert "学位证书.pdf" in officer.inner_text("[data-testid=attachment-link]")
        officer.click("[data-testid=approve]")
        officer.wait_for_load_state("networkidle")
        assert officer.inner_text("[data-testid=application-status]") == "已通过"

        # -- the talent sees the change
        talent.goto(application_url)
        assert talent.inner_text("[data-testid=application-status]") == "已通过"
        talent.goto(base + "/portal")
        row = talent.inner_text("[data-testid=policy-row]")
        assert "待确认收款账户" in row  # approved; its talent profile brought no account, so that is the next step
        assert APPLY_TALENT in row
