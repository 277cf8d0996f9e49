"""为什么您符合条件 in plain words: the citizen's page carries no field name, rule text, regular expression or clause
code; it shows the subject's own values, marks only the clause that pays, says 还差 … for a near miss, and the
date the decision used. Officers keep the rule text (the JSON API's ``expression``)."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from eligibility.fields import rule_fields
from tests.conftest import truncate_all
from tests.portal.fixtures import APPLY_TALENT, AUTO_ENT, ENT_A, TALENT_A, TALENT_B, build_world
from tests.web import ensure_user

DECIDED = dt.date(2025, 6, 30)
# What a rule or a profile record spells that a citizen must never read.
RULE_WORDS = re.compile(r"==|>=|<=|=~|\^|\$|\bin tags\b|\bd\"|\btrue\b|\bfalse\b")
CLAUSE_CODES = {"base", "senior", "doctor", "trade"}
ENUM_VALUES = {"doctor", "senior", "intermediate", "small", "micro", "settled", "none"}


@pytest.fixture
async def world():
    """The portal world matched as of DECIDED (overrides conftest's, which client_as builds on)."""
    await truncate_all()
    w = await build_world(as_of=DECIDED)
    await ensure_user("pt_auditor", "auditor")
    return w


def _text(page: str) -> str:
    """The visible text of a page: tags, scripts and styles dropped, entities decoded."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def _explanation(page: str) -> str:
    start = page.index('data-testid="explanation"')
    return _text(page[start : page.index("</section>", start)])


def _assert_plain(text: str, kind: str) -> None:
    words = set(re.findall(r"[A-Za-z_]+", text))
    assert not (words & set(rule_fields(kind))), words & set(rule_fields(kind))
    assert not (words & CLAUSE_CODES), words & CLAUSE_CODES
    assert not (words & ENUM_VALUES), words & ENUM_VALUES
    assert not RULE_WORDS.search(text), RULE_WORDS.search(text)


async def test_the_citizen_page_has_no_rule_text_and_shows_own_values(world, client_as):
    talent = await client_as(TALENT_A)  # a doctor with a senior title: both tiers are met, the first pays
    page = await talent.get(f"/portal/policies/{world.versions[APPLY_TALENT]}")
    assert page.status_code == 200
    text = _text(page.text)
    _assert_plain(text, "talent")
    explained = _explanation(page.text)
    assert "学历为博士研究生" in explained and "职称为正高级职称" in explained  # own values, by their labels
    assert "¥80,000.00" in explained
    # only the paying tier is marked as paying; the other met one says why it does not pay
    assert page.text.count('data-pays="yes"') == 1
    paying = page.text.split('data-pays="yes"', 1)[1].split("</div>", 1)[0]
    assert "正高级职称" in paying and "发放此项" in paying
    assert "不重复发放" in explained

    ent = await client_as(ENT_A)
    page = await ent.get(f"/portal/policies/{world.versions[AUTO_ENT]}")
    text = _text(page.text)
    _assert_plain(text, "enterprise")
    assert "参保职工人数 60 人，达到 10 人" in text
    assert "¥20,000.00" in text


async def test_a_near_miss_says_what_is_still_needed_with_the_current_value(world, client_as):
    talent = await client_as(TALENT_B)  # a doctor with an intermediate title: the senior tier is missed
    page = await talent.get(f"/portal/policies/{world.versions[APPLY_TALENT]}")
    explained = _explanation(page.text)
    assert "还差：职称需为正高级职称，当前为中级职称" in explained
    _assert_plain(_text(page.text), "talent")


async def test_the_decision_is_explained_as_of_its_own_date(world, client_as):
    ent = await client_as(ENT_A)
    page = await ent.get(f"/portal/policies/{world.versions[AUTO_ENT]}")
    explained = _explanation(page.text)
    assert f"判定日期：{DECIDED.isoformat()}" in explained
    assert "不在有效期内" not in explained
    # the JSON API keeps the rule text for whoever needs it (officers read the same explanation)
    body = (await ent.get(f"/api/portal/policies/{world.versions[AUTO_ENT]}")).json()
    assert body["explanation"]["as_of"] == DECIDED.isoformat()
    assert body["explanation"]["clauses"][0]["conditions"][0]["expression"] == "employees >= 10"


async def test_english_mode_explains_in_english(world, client_as):
    talent = await client_as(TALENT_A)
    talent.cookies.set("lang", "en")
    page = await talent.get(f"/portal/policies/{world.versions[APPLY_TALENT]}")
    explained = _explanation(page.text)
    assert "doctorate" in explained and "senior title" in explained
    assert "You qualify for" in explained and "¥80,000.00" in explained and "还差" not in explained
