"""Rule checking (problems an officer can act on) and evaluation semantics (missing values, combine, rounding)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eligibility.profiles import normalize_profile
from eligibility.rules import check_ruleset, evaluate
from eligibility.schemas import RuleClause, RuleSet
from tests.eligibility.test_profiles import ENTERPRISE

AS_OF = dt.date(2025, 6, 30)


def rs(when: str, amount: str = "1", subject: str = "enterprise", policy_when: str | None = None, **kw) -> RuleSet:
    return RuleSet(
        key="T@1",
        code="T",
        subject=subject,
        when=policy_when,
        effective_from=dt.date(2025, 1, 1),
        clauses=[RuleClause(code="c1", when=when, amount=amount)],
        **kw,
    )


@pytest.mark.parametrize(
    "subject,when,amount,needle",
    [
        ("talent", "agee <= 45", "1", "did you mean 'age'?"),
        ("talent", 'educaton == "doctor"', "1", "education"),
        ("talent", 'education == "phd"', "1", "allowed values: doctor, master"),
        ("enterprise", 'scale in ["small", "tiny"]', "1", "'tiny' is not a value of 'scale'"),
        ("enterprise", 'revenue >= "100"', "1", "number"),
        ("enterprise", "name > 3", "1", "text"),
        ("enterprise", "revenue >= 1", '"many"', "not a number"),
        ("enterprise", "revenue >=", "1", "does not parse"),
        ("enterprise", "revenue", "1", "true/false"),
        ("enterprise", "rd_expense == null", "1", "never holds"),
        ("enterprise", "rd_expense > nan", "1", "'nan' is not a number a rule can use"),
        ("enterprise", "revenue >= 1", "revenue * inf", "'inf' is not a number a rule can use"),
    ],
)
def test_problems_say_what_to_fix(subject, when, amount, needle):
    problems = check_ruleset(rs(when, amount, subject=subject))
    assert problems, "expected a problem"
    text = " ".join(f"{p.message} {p.hint or ''}" for p in problems)
    assert needle in text
    assert problems[0].clause_code == "c1"


def test_unknown_field_position_and_policy_level_when():
    problems = check_ruleset(rs("revenue > 1", policy_when='region_code =~ "^3601" and agee > 1', subject="talent"))
    policy = [p for p in problems if p.clause_code is None]
    assert policy and policy[0].position == policy[0].expression.index("agee")


def test_valid_rules_have_no_problems():
    assert (
        check_ruleset(
            rs(
                '"外贸" in tags and credit_rating in ["A", "B"] and founded_on < d"2020-01-01"',
                "$min([tax_paid * 0.015, 200000])",
            )
        )
        == []
    )


def _profile(**over):
    return normalize_profile("enterprise", {**ENTERPRISE, **over})


def test_missing_value_never_satisfies_a_comparison():
    p = _profile(rd_expense="")
    assert not evaluate(rs("rd_expense >= 0"), p, AS_OF).eligible
    assert not evaluate(rs("rd_expense != 5"), p, AS_OF).eligible
    assert not evaluate(rs("not (rd_expense > 5)"), p, AS_OF).eligible
    assert evaluate(rs("rd_expense > 5 or employees > 1"), p, AS_OF).eligible


def test_first_sum_cap_rounding_and_floor():
    p = _profile(tax_paid="1000.30")
    two = [RuleClause(code="a", when="true", amount="tax_paid * 0.005"), RuleClause(code="b", when="true", amount="-5")]
    first = RuleSet(key="k", code="k", subject="enterprise", effective_from=dt.date(2025, 1, 1), clauses=two)
    assert evaluate(first, p, AS_OF).model_dump(include={"clauses", "amount"}) == {
        "clauses": ["a"],
        "amount": Decimal("5.00"),
    }
    summed = first.model_copy(update={"combine": "sum", "cap_per_subject": Decimal("3")})
    ev = evaluate(summed, p, AS_OF)
    assert ev.clauses == ["a", "b"] and ev.amount == Decimal("3.00")  # 5.0015 -> 5.00, -5 -> 0, cap 3


def test_not_in_effect():
    ev = evaluate(rs("true", effective_to=dt.date(2025, 3, 1)), _profile(), AS_OF)
    assert not ev.in_effect and not ev.eligible


@given(st.decimals(min_value=0, max_value=10**9, places=2))
def test_amount_is_half_up_to_the_fen(tax):
    p = _profile(tax_paid=str(tax))
    amount = evaluate(rs("true", "tax_paid * 0.015"), p, AS_OF).amount
    exact = tax * Decimal("0.015")
    assert amount == exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert amount.as_tuple().exponent == -2


def test_yaml_scalars_mean_the_expression_of_their_text():
    r = RuleSet(
        key="k",
        code="k",
        subject="enterprise",
        when=True,
        effective_from=dt.date(2025, 1, 1),
        clauses=[RuleClause(code="a", when=True, amount=12000)],
    )
    assert (r.when, r.clauses[0].when, r.clauses[0].amount) == ("true", "true", "12000")
    assert check_ruleset(r) == [] and evaluate(r, _profile(), AS_OF).amount == Decimal("12000.00")
