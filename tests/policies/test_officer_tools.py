"""The officer's tools through HTTP: tests edited as a form with field pickers, a failing test naming the condition it
fails with the profile's value, the impact preview by clause and region with the masked subject list, and the
reviewer's diff in words."""

from __future__ import annotations

import re

from app import publication
from app.audit import AuditActor
from eligibility.profiles import id_check_char
from eligibility.service import upsert_profile
from policies import service as policies
from tests.policies.test_service import POLICY
from tests.web import acsrf, alogin, asgi_client, ensure_user

OFFICER, REVIEWER = AuditActor("t_officer", "policy_officer"), AuditActor("t_reviewer", "policy_reviewer")

FORM = {
    "code": "FORM-T",
    "title": "表单测试政策",
    "issuer": "测试局",
    "subject": "talent",
    "mode": "auto",
    "effective_from": "2025-01-01",
    "budget": "5000000",
    "combine": "first",
    "when": "social_insurance_months >= 6",
    "clause_code": ["doctor"],
    "clause_title": ["博士"],
    "clause_when": ['education == "doctor"'],
    "clause_amount": ["100000"],
    # two test blocks and a blank third one, as the page posts them; fields picked by name
    "test_name": ["博士", "硕士不享受", ""],
    "test_as_of": ["2025-06-30", "2025-06-30", ""],
    "test_eligible": ["true", "false", "true"],
    "test_clauses": ["doctor", "", ""],
    "test_amount": ["100000", "", ""],
    "p_test": ["0", "0", "0", "0", "1", "1", "1", "2"],
    "p_field": [
        "id_number",
        "education",
        "social_insurance_months",
        "",
        "id_number",
        "education",
        "social_insurance_months",
        "",
    ],
    "p_value": ["360102198801011233", "doctor", "12", "", "360102198801011233", "master", "12", ""],
}


async def _users() -> None:
    await ensure_user("t_officer", "policy_officer")
    await ensure_user("t_reviewer", "policy_reviewer")


async def test_tests_are_a_form_with_field_pickers_and_a_failure_names_the_condition_and_value(fresh_db):
    await _users()
    async with asgi_client() as client:
        await alogin(client, "t_officer")
        page = (await client.get("/policies/new")).text
        assert 'data-testid="tests-yaml"' in page  # still there, folded away
        # the picker offers the profile fields of eligibility/fields, by label and name
        assert '<option value="social_insurance_months" data-kind="talent"' in page and "本市连续参保月数" in page
        assert '<option value="revenue" data-kind="enterprise"' in page
        r = await client.post("/policies/save", data=FORM, headers=acsrf(client), follow_redirects=False)
        assert r.status_code in (302, 303), r.text[:800]
        vid = (await client.get("/api/policies/FORM-T")).json()["latest"]["id"]
        tests = (await policies.read_version(vid)).content.tests
        assert [t.name for t in tests] == ["博士", "硕士不享受"]
        assert tests[0].profile == {
            "id_number": "360102198801011233",
            "education": "doctor",
            "social_insurance_months": 12,
        }
        assert tests[0].expect.clauses == ["doctor"] and not tests[1].expect.eligible
        edit = (await client.get(f"/policies/versions/{vid}/edit")).text
        assert edit.count('data-testid="test"') == 3  # two tests and a blank one
        assert re.search(r'<option value="education" data-kind="talent" selected>', edit)
        assert 'value="master"' in edit

        # A test that fails: the master is expected to be paid; the page says which condition fails, with the value.
        failing = {**FORM, "version_id": str(vid), "test_eligible": ["true", "true", "true"]}
        r = await client.post("/policies/save", data=failing, headers=acsrf(client), follow_redirects=False)
        assert r.status_code in (302, 303), r.text[:800]
        r = await client.post(f"/policies/versions/{vid}/tests", headers=acsrf(client))
        why = re.search(r'<ul class="why" data-testid="test-why">(.*?)</ul>', r.text, re.S).group(1)
        assert "博士" in why and "学历" in why and ("硕士" in why or "master" in why), why
        assert "当前" in why  # the profile's own value is named
        client.cookies.set("lang", "en")
        r = await client.post(f"/policies/versions/{vid}/tests", headers=acsrf(client))
        why = re.search(r'<ul class="why" data-testid="test-why">(.*?)</ul>', r.text, re.S).group(1)
        assert "学历" not in why


def _talent(i: int, education: str, region: str) -> dict:
    first17 = f"{region}1990011{i % 10}{i:03d}"
    return {
        "id_number": first17 + id_check_char(first17),
        "name": f"张{i}",
        "region_code": region,
        "education": education,
        "arrived_on": "2024-01-15",
        "social_insurance_months": "12",
    }


async def test_the_impact_preview_breaks_down_by_clause_and_region_and_lists_masked_subjects(fresh_db):
    await _users()
    people = [_talent(i, "doctor", "360102") for i in range(7)] + [_talent(i, "master", "360111") for i in range(7, 12)]
    for p in people:
        await upsert_profile("talent", p, actor=AuditActor("feed", "system"))
    policy = {**POLICY, "code": "T-IMPACT", "exclusive_group": None}
    v = await policies.save_draft(policy, OFFICER)
    async with asgi_client() as client:
        await alogin(client, "t_officer")
        r = await client.post(f"/policies/versions/{v.id}/impact", data={"as_of": "2025-06-30"}, headers=acsrf(client))
        by_clause = re.search(r'data-testid="impact-by-clause">(.*?)</table>', r.text, re.S).group(1)
        rows = re.findall(
            r"<tr><td>([^<]+)</td><td class=\"num\">(\d+)</td><td class=\"num\">([\d,.]+)</td>", by_clause
        )
        assert rows == [("博士", "7", "700,000.00"), ("硕士", "5", "150,000.00")]
        by_region = re.search(r'data-testid="impact-by-region">(.*?)</table>', r.text, re.S).group(1)
        assert re.findall(r"<tr><td>(\d+)</td><td class=\"num\">(\d+)</td>", by_region) == [
            ("360102", "7"),
            ("360111", "5"),
        ]
        listed = re.search(r'data-testid="impact-subjects">(.*?)</details>', r.text, re.S).group(1)
        assert "12 / 12" in listed
        for p in people:
            assert p["id_number"] not in r.text and p["name"] not in listed  # masked
        assert people[0]["id_number"][:6] in listed and "张*" in listed


async def test_the_reviewer_reads_the_diff_in_words(fresh_db):
    await _users()
    policy = {**POLICY, "code": "T-DIFF", "exclusive_group": None}
    v1 = await policies.save_draft(policy, OFFICER)
    await policies.submit(v1.id, OFFICER)
    await publication.publish(v1.id, REVIEWER, accept_shortfall=True)
    v2 = await policies.new_draft_from(v1.id, OFFICER)
    changed = {
        **policy,
        "budget": "2000000",
        "clauses": [{**policy["clauses"][0], "amount": "120000"}, policy["clauses"][1]],
        "tests": [
            {**policy["tests"][0], "expect": {"eligible": True, "clauses": ["doctor"], "amount": 120000}},
            *policy["tests"][1:],
        ],
    }
    await policies.update_draft(v2.id, changed, OFFICER)
    await policies.submit(v2.id, OFFICER)
    async with asgi_client() as client:
        await alogin(client, "t_reviewer")
        page = (await client.get(f"/policies/T-DIFF?v={v2.id}")).text
        words = re.search(r'data-testid="diff-words">(.*?)</ul>', page, re.S).group(1)
        assert "预算由 1000000.00 元 改为 2000000.00 元" in words, words
        assert "条款「博士」的金额由 100000 元 改为 120000 元" in words, words
        diff = (await client.get(f"/api/policies/versions/{v2.id}/diff")).json()
        assert any(d["en"] == "budget changed from 1000000.00 yuan to 2000000.00 yuan" for d in diff), diff


async def test_a_form_saved_without_a_clause_says_so_in_the_readers_language(fresh_db):
    """新建政策 saved with its clause left empty came back with "policy X, clauses: 'clauses' must be a non-empty list…"
    in a Chinese page and a breadcrumb "save" (found by the browser crawl's presses)."""
    await _users()
    empty = {k: v for k, v in FORM.items() if not k.startswith(("clause_", "test_", "p_"))} | {"code": "FORM-EMPTY"}
    async with asgi_client() as client:
        await alogin(client, "t_officer")
        r = await client.post("/policies/save", data=empty, headers=acsrf(client), follow_redirects=False)
        assert r.status_code == 422  # the form again, with what is missing and what was typed
        problems = re.search(r'data-testid="problems">(.*?)</div>', r.text, re.S).group(1)
        assert "政策 FORM-EMPTY，条款：请至少填写一个条款（编号、名称、条件、金额）" in problems, problems
        assert "clauses" not in problems and 'value="FORM-EMPTY"' in r.text
        trail = re.search(r'data-testid="breadcrumbs">(.*?)</nav>', r.text, re.S).group(1)
        assert "政策草稿" in trail and "save" not in trail
        client.cookies.set("lang", "en")
        r = await client.post("/policies/save", data=empty, headers=acsrf(client), follow_redirects=False)
        assert "policy FORM-EMPTY, clauses: &#39;clauses&#39; must be a non-empty list" in r.text
