"""The policy form's problems in the reader's language (issue 17): what the form refuses — field validation, the
the tests' keys — reads in Chinese in zh mode and in English in en mode, from the catalog."""

from __future__ import annotations

import html
import re

from tests.policies.test_officer_tools import FORM
from tests.web import acsrf, alogin, asgi_client, ensure_user

BAD = {
    **FORM,
    "code": "FORM-BAD",
    "budget": "lots",
    "effective_from": "2025-13-40",
}
YAML_TESTS = "- name: x\n  profile: {education: doctor}\n  expect: {eligible: false}\n  bogus: 1\n"
ENGLISH = re.compile(r"\b(must|required|amount in yuan|a date|not valid|no test|hint|policy|clause)\b")


def _problems(page: str) -> list[str]:
    block = re.search(r'data-testid="problems">(.*?)</div>', page, re.S)
    assert block, page[:1500]
    return [html.unescape(li) for li in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)]


async def test_the_policy_forms_problems_are_chinese_in_zh_and_english_in_en(fresh_db):
    await ensure_user("f_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "f_officer")
        r = await client.post("/policies/save", data=BAD, headers=acsrf(client), follow_redirects=False)
        assert r.status_code == 422
        zh = _problems(r.text)
        assert any("须为以元计的金额" in p and "预算" in p for p in zh), zh  # the form's label, not the key
        assert any("YYYY-MM-DD" in p and "日期" in p for p in zh), zh
        assert all(not ENGLISH.search(p) for p in zh), zh

        ok_fields = {**BAD, "budget": "5000000", "effective_from": "2025-01-01", "tests_yaml": YAML_TESTS}
        r = await client.post("/policies/save", data=ok_fields, headers=acsrf(client), follow_redirects=False)
        assert r.status_code == 422
        zh = _problems(r.text)
        assert any("测试中有未知的键“bogus”" in p and "可用的键" in p for p in zh), zh
        assert all(not ENGLISH.search(p) for p in zh), zh

        client.cookies.set("lang", "en")
        r = await client.post("/policies/save", data=BAD, headers=acsrf(client), follow_redirects=False)
        en = _problems(r.text)
        assert any("must be an amount in yuan (a number), not 'lots'" in p for p in en), en
        assert all(not re.search(r"[\u4e00-\u9fff]", p.replace("表单测试政策", "")) for p in en), en
        r = await client.post("/policies/save", data=ok_fields, headers=acsrf(client), follow_redirects=False)
        assert any("unknown key 'bogus' in a test" in p and "allowed keys" in p for p in _problems(r.text))
