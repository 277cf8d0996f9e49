"""Headless Chromium: an officer writes a policy with two clauses, fixes a rule the editor flags, runs the tests
and submits; a reviewer publishes it."""

from __future__ import annotations

import pytest

from tests.web import browser_login, chromium, ensure_user, live_server

pytestmark = pytest.mark.browser

TESTS = [
    ("博士", "doctor", "8", "true", "doctor", "100000"),
    ("硕士", "master", "8", "true", "master", "30000"),
    ("参保不满6个月", "doctor", "3", "false", "", ""),
]


@pytest.fixture
async def people(fresh_db):
    from app.audit import AuditActor
    from eligibility.service import upsert_profile
    from tests.policies.test_service import _talents

    await ensure_user("web_officer", "policy_officer")
    await ensure_user("web_reviewer", "policy_reviewer")
    # Twelve masters: no count below 10 is shown (tests/policies/test_counts.py), so the editor and the preview need them.
    for p in _talents(12):
        await upsert_profile(
            "talent", {**p, "education": "master", "social_insurance_months": "12"}, actor=AuditActor("feed", "system")
        )


def test_officer_writes_checks_tests_submits_and_reviewer_publishes(people):
    with live_server() as base, chromium() as browser:
        officer = browser.new_context(locale="zh-CN").new_page()
        browser_login(officer, base, "web_officer")
        officer.goto(base + "/policies/new")
        officer.fill("input[name=code]", "WEB-HOUSING-2025")
        officer.fill("input[name=title]", "网页安家补贴")
        officer.fill("input[name=issuer]", "测试人社局")
        officer.select_option("select[name=subject]", "talent")
        officer.fill("input[name=effective_from]", "2025-01-01")
        officer.fill("input[name=budget]", "2000000")
        officer.fill("textarea[name=when]", "social_insurance_months >= 6")
        clause = officer.locator("[data-testid=clause]")
        clause.nth(0).locator("input[name=clause_code]").fill("doctor")
        clause.nth(0).locator("input[name=clause_title]").fill("博士")
        clause.nth(0).locator("textarea[name=clause_when]").fill('education == "doctor"')
        clause.nth(0).locator("input[name=clause_amount]").fill("100000")
        officer.click("#add-clause")
        second = clause.nth(1)
        second.locator("input[name=clause_code]").fill("master")
        second.locator("input[name=clause_title]").fill("硕士")
        second.locator("textarea[name=clause_when]").fill('educaton == "master"')
        bad = second.locator("textarea[name=clause_when] + .check.bad")
        bad.wait_for(timeout=10000)
        assert "education" in bad.inner_text()  # the did-you-mean hint, as the officer types
        second.locator("textarea[name=clause_when]").fill('education == "master"')
        good = second.locator("textarea[name=clause_when] + .check.good")
        good.wait_for(timeout=10000)
        assert "规则有效" in good.inner_text() and "当前符合条件的对象" in good.inner_text()
        second.locator("input[name=clause_amount]").fill("30000")
        # The tests as a form: a block per test, its fields picked from the profile fields; "+" adds a test.
        for i, (name, education, months, eligible, clauses, amount) in enumerate(TESTS):
            if i:
                officer.click("#add-test")
            block = officer.locator("[data-testid=test]").nth(i)
            block.locator("input[name=test_name]").fill(name)
            block.locator("input[name=test_as_of]").fill("2025-06-30")
            for row, (field, value) in enumerate(
                [("id_number", "360102198801011233"), ("education", education), ("social_insurance_months", months)]
            ):
                block.locator("select[name=p_field]").nth(row).select_option(field)
                block.locator("input[name=p_value]").nth(row).fill(value)
            block.locator("select[name=test_eligible]").select_option(eligible)
            block.locator("input[name=test_clauses]").fill(clauses)
            block.locator("input[name=test_amount]").fill(amount)
        officer.click("[data-testid=save]")
        officer.wait_for_selector("[data-testid=msg]")
        assert "草稿已保存" in officer.inner_text("[data-testid=msg]")
        officer.click("[data-testid=run-tests]")
        officer.wait_for_selector("[data-testid=tests-summary]")
        assert "通过 3 / 3" in officer.inner_text("[data-testid=tests-summary]")
        officer.click("[data-testid=submit]")
        officer.wait_for_selector("[data-testid=msg]")
        assert officer.inner_text("[data-testid=status]") == "待审核"

        reviewer = browser.new_context(locale="zh-CN").new_page()
        browser_login(reviewer, base, "web_reviewer")
        reviewer.goto(base + "/policies?status=in_review")
        reviewer.click("text=WEB-HOUSING-2025")
        reviewer.click("[data-testid=preview]")
        reviewer.wait_for_selector("[data-testid=impact-matched]")
        reviewer.click("[data-testid=publish]")
        reviewer.wait_for_selector("[data-testid=msg]")
        assert reviewer.inner_text("[data-testid=status]") == "已发布"
        assert "发布时的影响测算" in reviewer.content()
