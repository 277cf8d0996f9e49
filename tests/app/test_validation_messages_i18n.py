"""A refused request body in the reader's language (issue 17): the validators of policies/applications and
notifications raise catalog messages, and "the request is not valid: …" shows each of them in Chinese for a Chinese
reader (Accept-Language, the lang cookie, a page's flash) — the API's default English stays Litestar's sentence with
the validators' messages in ``detail``, as the CLI and scripts read it."""

from __future__ import annotations

import re

from tests.web import acsrf, alogin, asgi_client, ensure_user

A = "91360100MA35CCCCC3"
ZH = {"accept-language": "zh-CN,zh;q=0.9"}
EN = {"accept-language": "en"}


def _chinese(text: str) -> bool:
    return bool(re.search(r"[\u4e00-\u9fff]", text))


async def test_validator_messages_read_in_chinese_and_the_default_api_stays_english(fresh_db):
    await ensure_user(A, "enterprise")
    async with asgi_client() as c:
        await alogin(c, A)
        cases = [
            (
                "put",
                "/api/portal/preferences",
                {"email": 0, "sms": True, "webhook": True},
                "须为“是”或“否”",
                "true or false",
            ),
            (
                "put",
                "/api/portal/readings",
                {"enabled": 0},
                "须为“是”或“否”",
                "true or false",
            ),  # schemathesis: 0 was read
            (
                "post",
                "/api/portal/objections",
                {"target": "policy", "target_id": 1, "text": "  "},
                "请写明异议理由",
                "say what you object to",
            ),
            (
                "put",
                "/api/portal/account",
                {"bank_name": "工行", "account": "12ab5678"},
                "账号应为 8-32 位数字",
                "an account number is 8-32 digits",
            ),
            ("put", "/api/portal/account", {"bank_name": " ", "account": "12345678"}, "请填写开户行", "name the bank"),
        ]
        for method, path, body, zh_text, en_text in cases:
            r = await getattr(c, method)(path, json=body, headers={**acsrf(c), **ZH})
            assert r.status_code == 400, r.text
            zh = r.json()["error"]
            assert zh == f"请求无效：{zh_text}" or zh.startswith(f"请求无效：{zh_text}"), zh
            assert not re.search(r"[A-Za-z]{4,}", zh.replace("true", "").replace("false", "")), zh
            # No Accept-Language: the API's English exactly as before; the validator's message (one language) in detail.
            r = await getattr(c, method)(path, json=body, headers=acsrf(c))
            assert r.json()["error"] == f"the request is not valid: Validation failed for {method.upper()} {path}"
            assert r.json()["detail"][0]["message"] == f"Value error, {en_text}", r.json()
            r = await getattr(c, method)(path, json=body, headers={**acsrf(c), **EN})
            assert not _chinese(r.text), r.text

        # A library's own message (pydantic's) is in the catalog too, or names the field refused.
        r = await c.post(
            "/api/portal/objections", json={"target": "policy", "target_id": "x"}, headers={**acsrf(c), **ZH}
        )
        zh = r.json()["error"]
        assert "须为整数" in zh and "此项必填" in zh and "Input should" not in zh, zh
        # A literal's choices: the API's codes, joined with 、 and 或 for a Chinese reader, not an English "or".
        r = await c.post(
            "/api/portal/objections", json={"target": "zzz", "target_id": 1, "text": "异议"}, headers={**acsrf(c), **ZH}
        )
        zh = r.json()["error"]
        assert r.status_code == 400 and "须为以下之一" in zh and " 或 " in zh and " or " not in zh, zh
        assert re.search(r"'\w+'、'\w+'", zh) or zh.count("'") == 4, zh


async def test_a_refused_form_shows_the_validator_message_in_the_page_language(fresh_db):
    await ensure_user(A, "enterprise")
    async with asgi_client() as c:
        await alogin(c, A)
        form = {"target": "policy", "target_id": "1", "text": "   "}
        headers = {**acsrf(c), "accept": "text/html", "referer": "http://testserver/portal"}
        r = await c.post("/portal/objections", data=form, headers=headers)
        assert r.status_code == 303, r.text
        page = (await c.get(r.headers["location"], headers={"accept": "text/html"})).text
        assert "请写明异议理由" in page and "Validation failed" not in page and "say what" not in page

        c.cookies.set("lang", "en")
        r = await c.post("/portal/objections", data=form, headers=headers)
        page = (await c.get(r.headers["location"], headers={"accept": "text/html"})).text
        assert "say what you object to" in page and "请写明异议理由" not in page
