"""Issue 17, item 5: an amount formula the plain words cannot say (a $min, a ? :, a sum of terms) reads
"按政策规定的标准计算" / "calculated by the policy's standard" on a citizen's page — never the raw expression."""

from __future__ import annotations

import datetime as dt

import pytest

from eligibility.explain import explain_profile
from eligibility.schemas import RuleClause, RuleSet

FORMULAS = [
    "$min([tax_paid * 0.015, 50000])",
    "employees > 100 ? 50000 : 20000",
    "tax_paid * 0.01 + employees * 300",
]


def _ruleset(amount: str) -> RuleSet:
    return RuleSet(
        key="CX@1",
        code="CX",
        subject="enterprise",
        combine="first",
        effective_from=dt.date(2025, 1, 1),
        clauses=[RuleClause(code="base", title="稳岗补贴", when="employees >= 10", amount=amount)],
    )


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_without_plain_words_reads_as_the_policys_standard(formula):
    profile = {"uscc": "x", "employees": 60, "tax_paid": 1000000}
    for lang, wanted in (("zh", "按政策规定的标准计算"), ("en", "calculated by the policy's standard")):
        ex = explain_profile(_ruleset(formula), "x", profile, dt.date(2025, 6, 30), lang)
        text = ex.clauses[-1].amount_text
        assert text == wanted, (lang, text)
        assert "tax_paid" not in text and "$" not in text


def test_a_plain_formula_still_reads_in_plain_words():
    ex = explain_profile(_ruleset("tax_paid * 0.015"), "x", {"employees": 60, "tax_paid": 100}, dt.date(2025, 6, 30))
    assert ex.clauses[-1].amount_text.endswith("的 1.5%")
