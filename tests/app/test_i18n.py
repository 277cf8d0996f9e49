"""zh-CN and English through HTTP: the language switch, pages and error pages in both, domain errors translated on
pages and in the API, and the catalog's completeness (every message extracted from the code has its zh_CN text)."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from app.i18n_catalog import ROOT, entries, extract, problems, read_catalog
from tests.web import acsrf, alogin, asgi_client, ensure_user


@pytest.fixture
async def client():
    await ensure_user("i18n_officer", "policy_officer")
    async with asgi_client() as c:
        yield c


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_language_switch_sets_the_cookie_and_goes_back(client, lang):
    r = await client.get(f"/lang/{lang}", headers={"referer": "http://testserver/login?next=/"}, follow_redirects=False)
    assert r.status_code in (302, 303), r.text[:300]
    assert r.headers["location"] == "/login?next=/"
    assert client.cookies.get("lang") == lang


async def test_language_switch_never_leaves_the_site(client):
    r = await client.get("/lang/en", headers={"referer": "http://evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    r = await client.get("/lang/en", follow_redirects=False)
    assert r.headers["location"] == "/"


# The catalog: what Babel extracts from the code and templates, each with its zh_CN text, and nothing stale.


def test_every_message_has_its_chinese_and_the_catalog_is_current():
    found = extract()
    assert problems(found, read_catalog()) == []


def test_a_message_without_chinese_fails_the_check(tmp_path):
    templates = tmp_path / "app" / "templates"
    templates.mkdir(parents=True)
    (templates / "new.html").write_text('<p>{{ _("A sentence nobody translated") }}</p>\n', encoding="utf-8")
    (tmp_path / "app" / "refusal.py").write_text(
        'from kit.i18n import _l\n\nMESSAGE = _l("a refusal nobody translated: {name}")\n', encoding="utf-8"
    )
    found = {**extract(), **extract(tmp_path, ["app"])}
    out = problems(found, read_catalog())
    assert "app/templates/new.html:1: 'A sentence nobody translated' has no zh_CN translation" in out
    assert "app/refusal.py:3: 'a refusal nobody translated: {name}' has no zh_CN translation" in out


def test_a_stale_or_wrong_entry_fails_the_check():
    catalog = read_catalog()
    catalog.add("a message the code no longer asks for", "代码不再使用的消息")
    catalog.add("hello {name}", "你好，{who}")
    found = {**extract(), (None, "hello {name}"): "app/x.py:1"}
    out = problems(found, catalog)
    assert any("no longer used" in p and "a message the code no longer asks for" in p for p in out)
    assert any("different placeholders" in p and "hello {name}" in p for p in out)


def _converter():
    import importlib.util

    spec = importlib.util.spec_from_file_location("i18n_convert", ROOT / "scripts" / "i18n_convert.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_converter_moves_literal_pairs_into_the_catalog_once(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<th>{{ tr("状态", "Status") }}</th><th>{{ tr("状态", "Status") }}</th><td>{{ tr("进度",\n  "Status") }}</td>\n'
        '<p>{{ tr("完成 50%", "50% done") }} {{ tr(\'说 "好"\', "say \\"yes\\"") }} {{ tr(*labels[s]) }}</p>\n',
        encoding="utf-8",
    )
    convert = _converter().convert_templates
    catalog = Catalog(locale="zh_CN")
    assert convert([page], catalog) == 5
    once = page.read_text(encoding="utf-8")
    assert once == (
        '<th>{{ _("Status") }}</th><th>{{ _("Status") }}</th><td>{{ pgettext("进度", "Status") }}</td>\n'
        '<p>{{ _("50%% done") }} {{ _("say \\"yes\\"") }} {{ tr(*labels[s]) }}</p>\n'
    )
    assert {key: text for key, text, _ in entries(catalog)} == {
        (None, "Status"): "状态",
        ("进度", "Status"): "进度",
        (None, "50%% done"): "完成 50%%",
        (None, 'say "yes"'): '说 "好"',
    }
    assert convert([page], catalog) == 0 and page.read_text(encoding="utf-8") == once
    # A later branch's pair for a word already in the catalog keeps the plain msgid's meaning.
    later = tmp_path / "later.html"
    later.write_text('{{ tr("状态", "Status") }}{{ tr("阶段", "Status") }}', encoding="utf-8")
    assert convert([later], catalog) == 2
    assert later.read_text(encoding="utf-8") == '{{ _("Status") }}{{ pgettext("阶段", "Status") }}'


async def test_converted_calls_render_in_both_languages(tmp_path):
    from jinja2 import Environment

    from app import i18n

    env = Environment(autoescape=True)
    i18n.register(env)
    template = env.from_string('{{ _("Log out") }} {{ _("%(n)s left", n=3) }} {{ tr("旧", "old") }}')

    class Visitor:
        def __init__(self, lang):
            self.cookies = {"lang": lang} if lang else {}

    assert template.render(request=Visitor("en")) == "Log out 3 left old"
    assert template.render(request=Visitor(None)).startswith("退出 ")


# Pages, error pages and domain errors in both languages, through HTTP.

HTML = {"accept": "text/html"}


async def test_a_page_in_chinese_by_default_and_in_english_after_the_switch(client):
    await alogin(client, "i18n_officer")
    zh = (await client.get("/", headers=HTML)).text
    assert "惠企政策直达 · 免申即享" in zh and "政策管理" in zh and "Policies delivered" not in zh
    await client.get("/lang/en")
    en = (await client.get("/", headers=HTML)).text
    assert "Policies delivered, no application needed" in en and "Policies" in en and "政策管理" not in en


async def test_an_error_page_in_both_languages(client):
    await alogin(client, "i18n_officer")
    r = await client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404
    assert "未找到" in r.text and "该页面不存在或已被移除。" in r.text and "Not Found" not in r.text
    await client.get("/lang/en")
    r = await client.get("/no/such/page", headers=HTML)
    assert "Not found" in r.text and "There is no such page" in r.text and "未找到" not in r.text


async def test_a_guard_refusal_names_the_roles_in_the_readers_words(client):
    await alogin(client, "i18n_officer")
    r = await client.get("/audit", headers=HTML)
    assert r.status_code == 403
    assert "此操作需要审计员或系统管理员角色；您的角色是政策专员" in r.text or "此操作需要审计员角色" in r.text
    api = await client.get("/api/audit")
    assert api.status_code == 403 and api.json()["error"].startswith("this needs the role auditor")


@pytest.fixture
async def maker():
    await ensure_user("i18n_maker", "finance_maker")
    async with asgi_client() as c:
        await alogin(c, "i18n_maker")
        yield c


async def test_a_domain_error_from_the_service_in_chinese_on_the_page_and_in_the_api(maker):
    # payments.service.approve_batch refuses a maker: a kit.errors.Forbidden with a message template.
    english = "only a finance_checker may approve a disbursement batch; i18n_maker is finance_maker"
    page = await maker.post("/finance/batches/999999/approve", headers={**HTML, **acsrf(maker)}, follow_redirects=False)
    assert page.status_code == 403
    assert "只有财政复核员可以审核代发批次；i18n_maker的角色是财政制单员" in page.text
    assert english not in page.text
    api = "/api/finance/batches/999999/approve"
    r = await maker.post(api, headers=acsrf(maker))
    assert r.status_code == 403 and r.json()["error"] == english  # the API speaks English unless asked
    r = await maker.post(api, headers={**acsrf(maker), "accept-language": "zh-CN,zh;q=0.9"})
    assert r.json()["error"] == "只有财政复核员可以审核代发批次；i18n_maker的角色是财政制单员"
    await maker.get("/lang/en")
    page = await maker.post("/finance/batches/999999/approve", headers={**HTML, **acsrf(maker)})
    assert "only a Finance checker may approve a disbursement batch; i18n_maker is Finance maker" in page.text


async def test_the_english_message_stays_the_clis():
    from kit.errors import Forbidden
    from kit.i18n import _l
    from kit.vocab import Role

    exc = Forbidden(
        _l("only a {role} may {what}; {name} is {actor_role}"),
        role=Role.FINANCE_CHECKER,
        what=_l("approve a disbursement batch"),
        name="li",
        actor_role="finance_maker",
    )
    assert str(exc) == exc.message == "only a finance_checker may approve a disbursement batch; li is finance_maker"
    from app.i18n import error_text

    assert error_text("zh", exc) == "只有财政复核员可以审核代发批次；li的角色是财政制单员"


async def test_the_login_error_is_in_one_language(client):
    form = {"username": "i18n_officer", "password": "wrong-password-1", "next": "/"}
    r = await client.post("/login", data=form, headers=acsrf(client))
    assert r.status_code == 401 and "用户名或密码错误" in r.text and "wrong user name" not in r.text
    await client.get("/lang/en")
    r = await client.post("/login", data=form, headers=acsrf(client))
    assert "wrong user name or password" in r.text and "用户名或密码错误" not in r.text


async def test_a_flash_message_is_a_sentence(maker):
    r = await maker.get("/finance/exceptions?msg=abandoned", headers=HTML)
    assert "该笔支付已终止，不再发放。" in r.text and ">abandoned<" not in r.text
    r = await maker.get("/finance/exceptions?msg=<b>anything</b>", headers=HTML)
    assert "anything" not in r.text


def _templates():
    from jinja2 import Environment, FileSystemLoader

    from app import i18n

    env = Environment(autoescape=True, loader=FileSystemLoader(ROOT / "app" / "templates"))
    i18n.register(env)
    return env


class _Visitor:
    def __init__(self, lang=None):
        self.cookies = {"lang": lang} if lang else {}


def test_a_failing_policy_test_says_what_differs_in_chinese():
    from decimal import Decimal

    from policies.schemas import TestExpect, TestOutcome

    outcome = TestOutcome(
        name="t1",
        passed=False,
        expected=TestExpect(eligible=True, clauses=["base"], amount=Decimal("300000.00")),
        eligible=True,
        clauses=["base"],
        amount=Decimal("200000.00"),
        message="amount is 200000.00, expected 300000.00",
    )
    page = _templates().from_string(
        '{% from "policies/_outcome.html" import outcome_text with context %}{{ outcome_text(o) }}'
    )
    assert page.render(request=_Visitor(), o=outcome) == "金额：实际为 200000.00，预期为 300000.00"
    assert page.render(request=_Visitor("en"), o=outcome) == "amount is 200000.00, expected 300000.00"


def test_bank_reasons_delivery_reasons_and_receipt_problems_in_chinese():
    page = _templates().from_string("{{ shown(a) }}|{{ shown(b) }}|{{ shown(c) }}|{{ shown(d) }}")
    values = {"a": "ACCOUNT_CLOSED", "b": "quiet hours", "c": "the PDF carries no signature", "d": "free text 100%"}
    assert page.render(request=_Visitor(), **values) == "账户已销户|免打扰时段，稍后发送|该 PDF 没有签名|free text 100%"
    assert page.render(request=_Visitor("en"), **values).startswith("the account is closed|quiet hours|")
