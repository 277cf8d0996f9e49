"""A refused pack, a refused draft and a role refusal in the reader's language (issue 17): the YAML reader's errors,
its bounds, a duplicate clause, a test without a profile, a subject that cannot change and the step a role may not
take read in Chinese through the API (Accept-Language: zh-CN) and the pages, and stay English for the CLI's API."""

from __future__ import annotations

import html
import re

from tests.policies.test_form_problems_i18n import _problems
from tests.policies.test_officer_tools import FORM
from tests.web import acsrf, alogin, asgi_client, ensure_user

ZH = {"accept-language": "zh-CN,zh;q=0.9"}
HTML = {"accept": "text/html"}
# English words of the messages fixed here: none of them is left in a Chinese answer.
ENGLISH = re.compile(
    r"\b(YAML error|mapping values|allowed|refused|problem|duplicate|clause|needs|profile|policy|subject|"
    r"cannot|change|hint|line|the|is|bytes|rejecting|role)\b"
)
POLICY = """code: I18N-PACK
title: 语言测试政策
issuer: 测试局
subject: talent
mode: auto
effective_from: 2025-01-01
budget: 100000
clauses:
  - {code: a, title: 甲, when: "true", amount: "1"}
  - {code: a, title: 乙, when: "true", amount: "2"}
tests:
  - name: 无档案
    expect: {eligible: true}
"""


def _chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


async def test_a_yaml_error_reads_in_chinese_through_the_api_and_english_without_asking(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        bad = "code: X\ntitle: a: b\n"
        r = await client.post("/api/policies/packs", content=bad, headers={**acsrf(client), **ZH})
        assert r.status_code == 422
        zh = r.json()["error"]
        assert "YAML 格式错误：此处不能出现键值对" in zh and "第 2 行" in zh, zh
        assert "请检查本行及上一行的缩进和引号" in zh, zh
        assert not ENGLISH.search(zh.replace("title: a: b", "")), zh
        r = await client.post("/api/policies/packs", content=bad, headers=acsrf(client))
        en = r.json()["error"]
        assert "YAML error: mapping values are not allowed here" in en and not _chinese(en), en

        r = await client.post("/api/policies/packs", content="x: &a 1\ny: *a\n", headers={**acsrf(client), **ZH})
        zh = r.json()["error"]
        assert "政策包中不接受 YAML 锚点和别名" in zh and "请在用到的地方直接写出该值" in zh, zh
        r = await client.post("/api/policies/packs", content="a: 1\n\x00", headers={**acsrf(client), **ZH})
        zh = r.json()["error"]
        assert "政策包含有 NUL 字符" in zh and "请删除不可见字符" in zh and not ENGLISH.search(zh), zh


async def test_a_duplicate_clause_and_a_test_without_profile_read_in_chinese(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        r = await client.post("/api/policies/packs", content=POLICY, headers={**acsrf(client), **ZH})
        assert r.status_code == 422
        zh = r.json()["error"]
        assert "条款编号“a”重复（第 1 项和第 2 项条款）" in zh, zh
        assert "一项政策的每项条款须有各自的编号" in zh, zh
        assert "测试“无档案”须有档案（档案字段的键值对）" in zh, zh
        assert "被拒绝" in zh or "未保存" in zh, zh
        assert not ENGLISH.search(re.sub(r"I18N-PACK", "", zh)), zh
        r = await client.post("/api/policies/packs", content=POLICY, headers=acsrf(client))
        en = r.json()["error"]
        assert "duplicate clause code 'a' (clause 1 and clause 2)" in en
        twice = "policies:\n" + "".join(
            (
                "  - {code: I18N-TWICE, title: t, issuer: i, subject: talent, mode: auto, effective_from: 2025-01-01,"
                " budget: 1, clauses: [{code: a, when: 'true', amount: '1'}]}\n"
            )
            for _ in range(2)
        )
        r = await client.post("/api/policies/packs", content=twice, headers={**acsrf(client), **ZH})
        assert "政策 I18N-TWICE 在此政策包中出现了两次" in r.json()["error"], r.json()["error"]
        assert "test '无档案' needs a profile" in en


async def test_a_subject_that_cannot_change_reads_in_chinese_on_the_form(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        form = {**FORM, "code": "I18N-SUBJ"}
        r = await client.post("/policies/save", data=form, headers=acsrf(client), follow_redirects=False)
        assert r.status_code in (302, 303), r.text[:500]
        changed = {
            **form,
            "subject": "enterprise",
            "when": "employees >= 1",
            "clause_when": ["employees >= 10"],
            "tests_yaml": "",
            "test_name": [""],
            "test_as_of": [""],
            "test_eligible": ["true"],
            "test_clauses": [""],
            "test_amount": [""],
            "p_test": [],
            "p_field": [],
            "p_value": [],
        }
        r = await client.post("/policies/save", data=changed, headers=acsrf(client), follow_redirects=False)
        assert r.status_code == 422, r.text[:500]
        zh = _problems(r.text)
        assert any("政策 I18N-SUBJ 的享受对象是人才，不能改为企业" in p for p in zh), zh
        assert any("其他享受对象请使用新的政策编号" in p for p in zh), zh
        assert all(not ENGLISH.search(html.unescape(p).replace("I18N-SUBJ", "")) for p in zh), zh


async def test_the_step_a_role_may_not_take_is_named_in_chinese(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        r = await client.post(
            "/policies/save", data={**FORM, "code": "I18N-ROLE"}, headers=acsrf(client), follow_redirects=False
        )
        vid = int(re.search(r"v=(\d+)", r.headers["location"]).group(1))
        r = await client.post(
            f"/policies/versions/{vid}/reject", data={"reason": "x"}, headers={**HTML, **acsrf(client)}
        )
        assert "退回政策需要政策审核员角色" in r.text, r.text[:3000]
        assert "rejecting a policy" not in r.text
        client.cookies.set("lang", "en")
        r = await client.post(
            f"/policies/versions/{vid}/reject", data={"reason": "x"}, headers={**HTML, **acsrf(client)}
        )
        assert "rejecting a policy needs the role Policy reviewer" in r.text and "退回政策" not in r.text


BAD_PROFILE_TESTS = "- name: 月数写错\n  profile: {social_insurance_months: abc, arrived_on: '2025-13-01'}\n  expect: {eligible: false}\n"


async def test_an_invalid_test_profile_names_its_fields_and_reasons_in_chinese(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        form = {**FORM, "code": "I18N-PROF", "tests_yaml": BAD_PROFILE_TESTS}
        r = await client.post("/policies/save", data=form, headers=acsrf(client), follow_redirects=False)
        assert r.status_code in (302, 303), r.text[:500]
        vid = int(re.search(r"v=(\d+)", r.headers["location"]).group(1))
        r = await client.post(f"/policies/versions/{vid}/tests", headers={**HTML, **acsrf(client)})
        row = re.search(r"<tr><td>✗</td><td>月数写错</td><td>(.*?)</td></tr>", r.text, re.S)
        assert row, r.text[-3000:]
        zh = html.unescape(row.group(1))
        assert "测试档案无效" in zh, zh
        assert "本市连续参保月数：须为用数字 0-9 书写的整数，当前为 'abc'" in zh, zh
        assert "首次在本市参保日期：须为 YYYY-MM-DD 格式的日期，当前为 '2025-13-01'" in zh, zh
        assert not ENGLISH.search(zh), zh
        assert not re.search(r"must be|social_insurance_months|arrived_on", zh), zh

        # An unquoted date that is no date (YAML reads 2025-13-01 as one) was a 500; now a problem in Chinese.
        unquoted = {**form, "tests_yaml": BAD_PROFILE_TESTS.replace("'2025-13-01'", "2025-13-01")}
        r = await client.post("/policies/save", data=unquoted, headers=acsrf(client), follow_redirects=False)
        assert r.status_code == 422 and any("不是真实的日期" in p for p in _problems(r.text)), r.text[:500]

        client.cookies.set("lang", "en")
        r = await client.post(f"/policies/versions/{vid}/tests", headers={**HTML, **acsrf(client)})
        en = html.unescape(re.search(r"<tr><td>✗</td><td>月数写错</td><td>(.*?)</td></tr>", r.text, re.S).group(1))
        assert "the test profile is invalid" in en and "months of social insurance here: must be a whole number" in en
        assert not _chinese(en), en


def test_a_refused_profile_reads_in_chinese_as_an_error():
    from app.i18n import error_text
    from eligibility.errors import ProfileInvalid
    from eligibility.profiles import normalize_profile

    try:
        normalize_profile("talent", {"social_insurance_months": "-3"}, partial=True)
    except ProfileInvalid as exc:
        assert str(exc) == "invalid profile: social_insurance_months: must be >= 0"  # the CLI's and API's English
        assert error_text("zh", exc) == "档案无效：本市连续参保月数：不能为负数"
    else:
        raise AssertionError("a negative month count was accepted")


async def test_refusals_found_in_the_sweep_read_in_one_language(fresh_db):
    # /audit's date filter was a bilingual f-string; the admin's role refusal an English f-string.
    await ensure_user("pm_auditor", "auditor")
    async with asgi_client() as client:
        await alogin(client, "pm_auditor")
        r = await client.get("/audit?since=2026-13-40", headers=HTML)
        assert r.status_code == 400 and "开始日期须为日期（年-月-日），“2026-13-40”不是日期" in r.text
        assert "is a date" not in r.text
        client.cookies.set("lang", "en")
        r = await client.get("/audit?until=x", headers=HTML)
        assert "the end date is a date YYYY-MM-DD, not “x”" in r.text and "不是日期" not in r.text

    from app.auth.accounts import _check_new
    from app.i18n import error_text
    from kit.errors import AppError

    try:
        _check_new("someone", "boss")
    except AppError as exc:
        assert str(exc).startswith("unknown role 'boss'; the roles are policy_officer or ")
        zh = error_text("zh", exc)
        assert zh.startswith("未知角色 'boss'；可选角色为政策专员或政策审核员") and "policy_officer" not in zh, zh
    else:
        raise AssertionError("an unknown role was accepted")
