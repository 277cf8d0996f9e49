"""zh-CN and English through HTTP: the language switch, pages and error pages in both, domain errors translated on
pages and in the API, and the catalog's completeness (every message extracted from the code has its zh_CN text)."""

from __future__ import annotations

import pytest
from babel.messages.catalog import Catalog

from app.i18n_catalog import ROOT, entries, extract, problems, read_catalog
from tests.web import asgi_client, ensure_user


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
    catalog.add("hello {name}", "你好")
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
