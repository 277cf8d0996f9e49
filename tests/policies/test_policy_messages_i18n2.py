"""More of a policy's messages in the reader's language (issue 17): an enum's choices in a refused profile by their
labels (eligibility.fields), and a test the rule engine could not evaluate."""

from __future__ import annotations

import html
import re

from tests.policies.test_officer_tools import FORM
from tests.web import acsrf, alogin, asgi_client, ensure_user

HTML = {"accept": "text/html"}
ENUM_TESTS = "- name: 学历写错\n  profile: {education: phd}\n  expect: {eligible: false}\n"


def _row(text: str, name: str) -> str:
    row = re.search(rf"<tr><td>✗</td><td>{name}</td><td>(.*?)</td></tr>", text, re.S)
    assert row, text[-3000:]
    return html.unescape(row.group(1))


async def test_an_enum_profile_value_lists_its_choices_by_label(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        form = {**FORM, "code": "I18N-ENUM", "tests_yaml": ENUM_TESTS}
        r = await client.post("/policies/save", data=form, headers=acsrf(client), follow_redirects=False)
        assert r.status_code in (302, 303), r.text[:500]
        vid = int(re.search(r"v=(\d+)", r.headers["location"]).group(1))
        r = await client.post(f"/policies/versions/{vid}/tests", headers={**HTML, **acsrf(client)})
        zh = _row(r.text, "学历写错")
        assert "学历：须为 博士研究生、硕士研究生、大学本科、大学专科、其他学历 之一，当前为 'phd'" in zh, zh
        assert not re.search(r"\b(doctor|master|bachelor|college)\b", zh), zh

        client.cookies.set("lang", "en")
        r = await client.post(f"/policies/versions/{vid}/tests", headers={**HTML, **acsrf(client)})
        en = _row(r.text, "学历写错")
        assert "must be one of doctorate, master's degree, bachelor's degree, college diploma, other, got 'phd'" in en
        # The API's and CLI's English keeps the codes a pack is written with.
        client.cookies.delete("lang")
        r = await client.post(f"/api/policies/versions/{vid}/tests", headers=acsrf(client))
        assert "must be one of doctor, master, bachelor, college, other, got 'phd'" in r.text, r.text[:800]


async def test_a_pack_that_is_not_utf8_is_refused_in_the_readers_language(fresh_db):
    await ensure_user("pm_officer", "policy_officer")
    gbk = "code: X\ntitle: 人才政策\n".encode("gbk")
    async with asgi_client() as client:
        await alogin(client, "pm_officer")
        zh_headers = {**acsrf(client), "accept-language": "zh-CN"}
        r = await client.post("/api/policies/packs", content=gbk, headers=zh_headers)
        assert r.status_code == 422, r.text
        zh = r.json()["error"]
        assert "第 2 行" in zh and "提交的内容不是 UTF-8 编码的文本" in zh and "请另存为 UTF-8 编码后重试" in zh, zh
        assert not re.search(r"\b(is not|line|save it|the request body|bytes)\b", zh), zh
        r = await client.post("/api/policies/packs", content=gbk, headers=acsrf(client))
        en = r.json()["error"]
        assert "the request body is not UTF-8 text: line 2 has the bytes" in en, en
        assert "(a GBK or GB18030 export?); save it as UTF-8 and try again" in en and not re.search(
            r"[\u4e00-\u9fff]", en
        )


def test_a_failed_evaluation_and_an_invalid_policy_read_as_a_chinese_sentence_with_the_raw_text_as_detail():
    # Neither is reachable from a pack today (the evaluator catches the rule engine's errors, the reader checks every
    # field before PolicyContent): what a page shows for them when they are is rendered by app/i18n as here.
    from app.i18n import problem_text, shown
    from policies.schemas import PackProblem

    raw = "data type mismatch (integer vs string)"
    message = f"evaluation failed: {raw}"  # policies.packs.checking's English, the API's and CLI's text
    assert shown("en", message) == message
    zh = shown("zh", message)
    assert zh == f"用该测试档案测算时出错，请检查档案的取值和政策条件（详情：{raw}）", zh
    # Our own message inside reads in Chinese too.
    assert shown("zh", "evaluation failed: say what you object to").endswith("（详情：请写明异议理由）")

    problem = PackProblem.of("invalid policy: {error}", params={"error": "1 validation error for PolicyContent"})
    assert problem.message == "invalid policy: 1 validation error for PolicyContent"
    zh = problem_text("zh", problem)
    assert "政策内容有不符合政策包格式的值" in zh and "（详情：1 validation error for PolicyContent）" in zh, zh
    assert problem_text("en", problem).endswith("invalid policy: 1 validation error for PolicyContent")
