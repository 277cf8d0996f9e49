"""Evaluating a rule set for one profile through rule-engine (the reference, in-process path).

Semantics shared with the SQL and closure compilers (the property tests pin them together):
- the tree is split at `and`/`or`/`not` and boolean `c ? a : b`; each other subtree is a condition;
- a condition that refers to a missing value is *unknown* (never met), as is one whose evaluation
  fails (division by zero); `and`/`or`/`not` follow three-valued (SQL) logic, a ternary whose
  condition is unknown takes its false branch, and an unknown result is "not met";
- an amount is evaluated only for a met clause; if it refers to a missing value it is 0; it is
  rounded half-up to the fen and floored at 0; `first` takes the first met clause, `sum` adds all,
  then `cap_per_subject` applies.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rule_engine import DataType
from rule_engine import ast as rast
from rule_engine import errors as rerrors

from eligibility.rules.language import parse, rule_values, symbols
from eligibility.schemas import Evaluation, RuleSet

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def _bool_type(node: Any) -> bool:
    return node.result_type == DataType.BOOLEAN


def truth(node: Any, values: dict) -> bool | None:
    """Three-valued truth of a boolean (sub)expression for ``values`` (None = unknown)."""
    if isinstance(node, rast.LogicExpression):
        decides = node.type == "or"  # the value that settles it alone (Kleene): True for "or", False for "and"
        left = truth(node.left, values)
        if left is decides:
            return decides
        right = truth(node.right, values)
        if right is decides:
            return decides
        return None if left is None or right is None else not decides
    if isinstance(node, rast.UnaryExpression) and node.type == "not":
        inner = truth(node.right, values)
        return None if inner is None else not inner
    if isinstance(node, rast.TernaryExpression) and _bool_type(node):
        cond = truth(node.condition, values)
        return truth(node.case_true if cond is True else node.case_false, values)
    return condition(node, values)


def condition(node: Any, values: dict) -> bool | None:
    """One condition through rule-engine: unknown when a value it needs is missing or it cannot be computed."""
    for name in symbols(node):
        if values.get(name) is None:
            return None
    try:
        return bool(node.evaluate(values))
    except (rerrors.EvaluationError, ArithmeticError):
        return None


def value(node: Any, values: dict) -> Any:
    """A non-boolean expression's value, or None when it needs a missing value or cannot be computed."""
    for name in symbols(node):
        if values.get(name) is None:
            return None
    try:
        return node.evaluate(values)
    except (rerrors.EvaluationError, ArithmeticError):
        return None


def to_fen_amount(raw: Any) -> Decimal:
    """A clause amount in yuan: half-up to the fen, floored at 0 (a missing or non-numeric value is 0)."""
    if raw is None or isinstance(raw, bool) or not isinstance(raw, (Decimal, int)):
        return ZERO
    amount = Decimal(raw).quantize(CENT, rounding=ROUND_HALF_UP)
    return amount if amount > 0 else ZERO


def combine(ruleset: RuleSet, met: list[tuple[str, Decimal]]) -> tuple[list[str], Decimal]:
    """Clauses and total from the met clauses (code, rounded amount), per combine and cap."""
    if not met:
        return [], ZERO
    if ruleset.combine == "first":
        met = met[:1]
    total = sum((a for _, a in met), ZERO)
    if ruleset.cap_per_subject is not None and total > ruleset.cap_per_subject:
        total = Decimal(ruleset.cap_per_subject).quantize(CENT, rounding=ROUND_HALF_UP)
    return [c for c, _ in met], total


def in_effect(ruleset: RuleSet, as_of: dt.date) -> bool:
    return ruleset.effective_from <= as_of and (ruleset.effective_to is None or as_of <= ruleset.effective_to)


def evaluate_values(ruleset: RuleSet, values: dict, as_of: dt.date) -> Evaluation:
    """Evaluate with the rule values (profile + derived) already built."""
    effective = in_effect(ruleset, as_of)
    if not effective:
        return Evaluation(eligible=False, in_effect=False)
    kind = ruleset.subject
    if ruleset.when and truth(parse(kind, ruleset.when), values) is not True:
        return Evaluation(eligible=False)
    met: list[tuple[str, Decimal]] = []
    for clause in ruleset.clauses:
        if truth(parse(kind, clause.when), values) is True:
            met.append((clause.code, to_fen_amount(value(parse(kind, clause.amount), values))))
            if ruleset.combine == "first":
                break
    codes, total = combine(ruleset, met)
    return Evaluation(eligible=bool(codes), clauses=codes, amount=total)


def evaluate(ruleset: RuleSet, profile: dict, as_of: dt.date) -> Evaluation:
    """The rule set for one normalized profile on ``as_of`` (rule-engine path)."""
    return evaluate_values(ruleset, rule_values(ruleset.subject, profile, as_of), as_of)
