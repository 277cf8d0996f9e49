"""Templates in zh-CN and English for every notice kind; personal data masked in what is rendered and stored."""

from __future__ import annotations

import json

import pytest

from kit.masking import mask_account, mask_context, mask_id_number, mask_phone
from notifications.rendering import KINDS, LOCALES, render
from notifications.service import notify
from notifications.tables import Notice
from tests.notifications.conftest import CTX

FULL = ("13812345678", "6222021234567890123", "360102199001011234")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_renders_in_both_languages_without_personal_data(kind, locale):
    text = render(kind, locale, CTX)
    assert text.title and text.body and text.sms
    assert CTX["policy_title"] in text.title
    for value in FULL:
        assert value not in text.title + text.body + text.sms
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in text.title.replace(CTX["policy_title"], ""))
    assert chinese == (locale == "zh-CN")


def test_specific_content():
    rejected = render("application_rejected", "zh-CN", CTX)
    assert "收款账户已销户" in rejected.body and CTX["link"] in rejected.body
    arrived = render("money_arrived", "en", CTX)
    assert CTX["receipt_link"] in arrived.body and "****0123" in arrived.body
    returned = render("payment_returned", "zh-CN", CTX)
    assert "退汇" in returned.title and "更正收款账户" in returned.body
    auto = render("matched_auto", "zh-CN", CTX)
    assert "200,000.00" in auto.title and "确认" in auto.body
    apply = render("matched_apply", "en", {**CTX, "materials": ["business licence", "tax certificate"]})
    assert "- What to prepare: business licence; tax certificate" in apply.body


def test_masking_helpers():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("+86 138-1234-5678") == "138****5678"
    assert mask_account("6222 0212 3456 7890 123") == "6222****0123"
    assert mask_id_number("360102199001011234") == "360***********1234"
    assert mask_id_number("91360100MA35ABCDE1") == "913***********CDE1"
    assert mask_phone(None) == mask_account("") == mask_id_number(None) == ""
    masked = mask_context(
        {
            "payee_account": "6222021234567890123",
            "contact": {"mobile": "13912345678"},
            "bank_name": "中国银行",
            "amount": "1.00",
        }
    )
    assert masked == {
        "payee_account": "6222****0123",
        "contact": {"mobile": "139****5678"},
        "bank_name": "中国银行",
        "amount": "1.00",
    }


async def test_stored_notice_and_context_are_masked(fresh_db, actor):
    n = await notify("talent", "360102199001011234", "payment_returned", "returned:1", CTX, actor=actor)
    row = await Notice.select().where(Notice.id == n.id).first()
    stored = row["title"] + row["body"] + row["context"]
    for value in FULL:
        assert value not in stored
    assert json.loads(row["context"])["account"] == "6222****0123"


def test_the_arrival_time_is_beijing_time_labelled_as_on_the_pages():
    ctx = {**CTX, "arrived_at": "2026-12-02T03:05:41.308462+00:00"}
    zh = render("money_arrived", "zh-CN", ctx).body
    en = render("money_arrived", "en", ctx).body
    assert "2026-12-02 11:05（北京时间）" in zh and "+00:00" not in zh and ".308462" not in zh
    assert "2026-12-02 11:05 (Beijing time)" in en and "+00:00" not in en
