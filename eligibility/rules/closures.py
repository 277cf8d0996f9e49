"""Rule-engine AST -> Python closures with exactly evaluate.py's semantics, ~100x faster per profile.

Used by the incremental matcher (one changed profile against every active rule set) and for amounts
of the rows the SQL path matched. A construct not translated here is evaluated by its rule-engine
node inside the closure, so every rule compiles.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rule_engine import DataType
from rule_engine import ast as rast
from rule_engine import errors as rerrors

from eligibility.rules.evaluate import combine, to_fen_amount
from eligibility.rules.language import parse, symbols, unparse

Truth = Callable[[dict], "bool | None"]
Value = Callable[[dict], Any]
_UTC = dt.UTC
_CMP = {
    "eq": operator.eq,
    "ne": operator.ne,
    "ge": operator.ge,
    "gt": operator.gt,
    "le": operator.le,
    "lt": operator.lt,
}
_ARITH = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "tdiv": operator.truediv,
    "fdiv": operator.floordiv,
    "mod": operator.mod,
}


# Key of a per-profile memo in the values dict: leaf results keyed by the leaf's rule text.
MEMO = "\x00memo"
_MISS = object()


class _Unsupported(Exception):
    pass


def _dec(x: Any) -> Any:
    return Decimal(x) if type(x) is int else x


def compile_truth(node: Any) -> Truth:
    """A function values -> True/False/None (unknown) for a boolean expression."""
    if isinstance(node, rast.LogicExpression):
        left, right = compile_truth(node.left), compile_truth(node.right)
        decides = node.type == "or"  # the value that settles it alone: True for "or", False for "and"

        def f_logic(v: dict):
            a = left(v)
            if a is decides:
                return decides
            b = right(v)
            if b is decides:
                return decides
            return None if a is None or b is None else not decides

        return f_logic
    if isinstance(node, rast.UnaryExpression) and node.type == "not":
        inner = compile_truth(node.right)

        def f_not(v: dict):
            r = inner(v)
            return None if r is None else not r

        return f_not
    if isinstance(node, rast.TernaryExpression) and node.result_type == DataType.BOOLEAN:
        c, a, b = compile_truth(node.condition), compile_truth(node.case_true), compile_truth(node.case_false)
        return lambda v: a(v) if c(v) is True else b(v)
    return _leaf(node, boolean=True)


def compile_value(node: Any) -> Value:
    """A function values -> value, or None when a needed value is missing or it cannot be computed."""
    return _leaf(node, boolean=False)


def _leaf(node: Any, boolean: bool) -> Callable[[dict], Any]:
    names = tuple(sorted(symbols(node)))
    try:
        fn = _value(node)
    except _Unsupported:

        def fn(v: dict, _node=node):
            return _node.evaluate(v)

    if isinstance(node, rast.BooleanExpression):
        const = bool(node.value)
        return lambda v: const

    def leaf(v: dict):
        for n in names:
            if v.get(n) is None:
                return None
        try:
            r = fn(v)
        except (ArithmeticError, rerrors.EvaluationError, TypeError):
            return None
        return bool(r) if boolean else r

    if not boolean:
        return leaf
    key = unparse(node)

    def memo_leaf(v: dict):
        memo = v.get(MEMO)
        if memo is None:
            return leaf(v)
        r = memo.get(key, _MISS)
        if r is _MISS:
            r = memo[key] = leaf(v)
        return r

    return memo_leaf


def _literal(node: Any) -> Any:
    v = node.value
    if isinstance(node, rast.DatetimeExpression):
        u = v.astimezone(_UTC)
        if (u.hour, u.minute, u.second, u.microsecond) != (0, 0, 0, 0):
            raise _Unsupported  # compare as rule-engine does, with the time of day
        return u.date()
    if isinstance(node, (rast.ArrayExpression,)):
        return tuple(_literal(m) for m in v)
    return v


def _value(node: Any) -> Callable[[dict], Any]:
    if isinstance(node, rast.SymbolExpression):
        if node.scope is not None:
            raise _Unsupported
        name = node.name
        return lambda v: v[name]
    if isinstance(node, rast.ArrayExpression):
        parts = [_value(m) for m in node.value]
        return lambda v: tuple(p(v) for p in parts)
    if isinstance(node, rast.LiteralExpressionBase):
        const = _literal(node)
        return lambda v: const
    if isinstance(node, rast.FuzzyComparisonExpression):
        if not isinstance(node.right, rast.StringExpression):
            raise _Unsupported
        pat = re.compile(node.right.value, flags=node.context.regex_flags)
        search = pat.match if node.type.endswith("fzm") else pat.search
        positive = node.type.startswith("eq")
        left = _value(node.left)
        return lambda v: (search(left(v)) is not None) == positive
    if isinstance(node, rast.ComparisonExpression) and node.type in _CMP:
        op = _CMP[node.type]
        a, b = _value(node.left), _value(node.right)
        if node.left.result_type == DataType.DATETIME or node.right.result_type == DataType.DATETIME:
            return lambda v: op(_as_date(a(v)), _as_date(b(v)))
        return lambda v: op(a(v), b(v))
    if isinstance(node, rast.ContainsExpression):
        m, c = _value(node.member), _value(node.container)
        return lambda v: m(v) in c(v)
    if isinstance(node, rast.BinaryExpressionBase) and node.type in _ARITH and node.result_type == DataType.FLOAT:
        op = _ARITH[node.type]
        a, b = _value(node.left), _value(node.right)
        return lambda v: op(_dec(a(v)), _dec(b(v)))
    if isinstance(node, rast.UnaryExpression) and node.type == "uminus":
        a = _value(node.right)
        return lambda v: -_dec(a(v))
    if isinstance(node, rast.UnaryExpression) and node.type == "not":
        a = _value(node.right)
        return lambda v: not a(v)
    if isinstance(node, rast.TernaryExpression):
        c, a, b = _value(node.condition), _value(node.case_true), _value(node.case_false)
        return lambda v: a(v) if c(v) else b(v)
    if isinstance(node, rast.LogicExpression):
        a, b = _value(node.left), _value(node.right)
        if node.type == "and":
            return lambda v: bool(a(v) and b(v))
        return lambda v: bool(a(v) or b(v))
    if isinstance(node, rast.FunctionCallExpression):
        name = getattr(node.function, "name", None)
        fns = {"min": min, "max": max, "abs": abs, "sum": sum}
        if name not in fns or len(node.arguments) != 1:
            raise _Unsupported
        fn, arg = fns[name], _value(node.arguments[0])
        if name == "abs":
            return lambda v: abs(_dec(arg(v)))
        return lambda v: _dec(fn(arg(v)))
    raise _Unsupported


def _as_date(x: Any) -> Any:
    if isinstance(x, dt.datetime):
        return x.astimezone(_UTC).date() if x.tzinfo else x.date()
    return x


class CompiledRuleSet:
    """A rule set ready to evaluate many profiles quickly (same results as evaluate.evaluate)."""

    def __init__(self, ruleset) -> None:
        kind = ruleset.subject
        self.ruleset = ruleset
        self.when = compile_truth(parse(kind, ruleset.when)) if ruleset.when and str(ruleset.when).strip() else None
        self.clauses = [
            (c.code, compile_truth(parse(kind, str(c.when))), compile_value(parse(kind, str(c.amount))))
            for c in ruleset.clauses
        ]
        self.first = ruleset.combine == "first"

    def evaluate_values(self, values: dict):
        """(clauses, amount) for rule values (profile + derived), ignoring the effective dates."""
        if self.when is not None and self.when(values) is not True:
            return [], Decimal("0.00")
        met = []
        for code, cond, amount in self.clauses:
            if cond(values) is True:
                met.append((code, to_fen_amount(amount(values))))
                if self.first:
                    break
        return combine(self.ruleset, met)
