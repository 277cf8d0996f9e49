"""大写 amounts: the PBOC bill-writing rule's own examples, refusals, and a property test against an oracle."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payments.receipts.amount_words import MAX_AMOUNT, amount_in_words

# From 《正确书写票据和结算凭证的基本规定》 (its examples first), then the issue's, then edge cases.
CASES = [
    ("1409.50", "人民币壹仟肆佰零玖元伍角整"),  # a zero inside → 零; 整 after 角 (the rule permits it)
    ("6007.14", "人民币陆仟零柒元壹角肆分"),  # a run of zeros → one 零
    ("1680.32", "人民币壹仟陆佰捌拾元零叁角贰分"),  # 元 digit 0, 角 not: the rule's first form, 零 written
    ("107000.53", "人民币壹拾万柒仟元零伍角叁分"),  # the rule's first form: no 零 after 万 here
    ("16409.02", "人民币壹万陆仟肆佰零玖元零贰分"),  # 角 0, 分 not → 零 after 元
    ("325.04", "人民币叁佰贰拾伍元零肆分"),
    ("12000", "人民币壹万贰仟元整"),
    ("10005.50", "人民币壹万零伍元伍角整"),
    ("10", "人民币壹拾元整"),
    ("1008.05", "人民币壹仟零捌元零伍分"),
    ("0.01", "人民币壹分"),
    ("0.10", "人民币壹角整"),
    ("0.35", "人民币叁角伍分"),
    ("1", "人民币壹元整"),
    ("15", "人民币壹拾伍元整"),
    ("110000", "人民币壹拾壹万元整"),
    ("10500", "人民币壹万零伍佰元整"),
    ("100000100", "人民币壹亿零壹佰元整"),  # one 零 across the 万 boundary
    ("100001000", "人民币壹亿零壹仟元整"),
    ("100010000", "人民币壹亿零壹万元整"),
    ("1000000005", "人民币壹拾亿零伍元整"),
    ("10100000", "人民币壹仟零壹拾万元整"),
    ("100000000.50", "人民币壹亿元零伍角整"),
    ("1000000.01", "人民币壹佰万元零壹分"),
    ("999999999999.99", "人民币玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
]


@pytest.mark.parametrize("figures, words", CASES)
def test_rule_examples(figures, words):
    assert amount_in_words(Decimal(figures)) == words


@pytest.mark.parametrize("bad", ["0", "0.00", "-1", "-0.01", "1000000000000.00", "0.001", "12.345", "NaN", "Infinity"])
def test_refuses_out_of_range_or_sub_fen(bad):
    with pytest.raises(ValueError):
        amount_in_words(Decimal(bad))


def test_refuses_float():
    with pytest.raises(TypeError):
        amount_in_words(12.5)  # type: ignore[arg-type]


# --- an independent implementation: write every digit with its unit, then collapse the zeros by rewriting ---
_D = "零壹贰叁肆伍陆柒捌玖"
_UNITS = ["", "拾", "佰", "仟", "万", "拾", "佰", "仟", "亿", "拾", "佰", "仟"]


def oracle(amount: Decimal) -> str:
    fen_total = int(amount * 100)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    head = ""
    if yuan:
        s = str(yuan)
        text = "".join(_D[int(ch)] + _UNITS[len(s) - 1 - i] for i, ch in enumerate(s))
        text = re.sub("零[拾佰仟]", "零", text)
        text = re.sub("零+", "零", text)
        text = re.sub("零([万亿])", r"\1", text)
        text = text.replace("亿万", "亿零")  # an empty 万 group is a run of zeros: one 零
        text = re.sub("零+", "零", text).rstrip("零")
        head = text + "元"
    needs_zero = yuan > 0 and ((jiao == 0 and fen > 0) or (jiao > 0 and yuan % 10 == 0))
    tail = "零" if needs_zero else ""
    tail += (_D[jiao] + "角") if jiao else ""
    tail += (_D[fen] + "分") if fen else "整"
    return "人民币" + head + tail


def test_oracle_agrees_with_the_table():
    for figures, words in CASES:
        assert oracle(Decimal(figures)) == words, figures


fen_amounts = st.integers(min_value=1, max_value=int(MAX_AMOUNT * 100)).map(lambda n: Decimal(n) / 100)
# amounts with many zeros are where the rules bite: build them from sparse digits too
sparse_amounts = (
    st.lists(st.sampled_from("0000000123456789"), min_size=14, max_size=14)
    .map(lambda ds: Decimal(int("".join(ds))) / 100)
    .filter(lambda d: d > 0)
)


@settings(max_examples=3000, deadline=None)
@given(st.one_of(fen_amounts, sparse_amounts))
def test_matches_independent_implementation(amount):
    words = amount_in_words(amount)
    assert words == oracle(amount)
    assert words.startswith("人民币")
    assert words.endswith("整") != words.endswith("分")
    assert "零零" not in words
