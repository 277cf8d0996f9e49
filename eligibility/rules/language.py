"""The rule language: typed rule-engine contexts per subject kind, parsing, AST walking and unparsing."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import rule_engine
from rule_engine import DataType
from rule_engine import ast as rast

from eligibility.fields import BOOL, DATE, ENUM, INT, LIST, MONEY, STRING, derived_values, rule_fields

_TYPES = {
    STRING: DataType.STRING,
    ENUM: DataType.STRING,
    INT: DataType.FLOAT,
    MONEY: DataType.FLOAT,
    BOOL: DataType.BOOLEAN,
    DATE: DataType.DATETIME,
    LIST: DataType.ARRAY(DataType.STRING),
}


@functools.cache
def typed_context(kind: str) -> rule_engine.Context:
    """The rule-engine context of a subject kind. Types are declared non-nullable on purpose: a missing
    value is handled by our three-valued evaluation (never satisfies a comparison), not by rule-engine."""
    types = {name: _TYPES[f.type] for name, f in rule_fields(kind).items()}
    # UTC explicitly: d"2025-01-01" and the profile's dates must land on the same instant.
    return rule_engine.Context(type_resolver=types, default_timezone="utc")


@functools.cache
def untyped_context() -> rule_engine.Context:
    return rule_engine.Context(default_timezone="utc")


@functools.lru_cache(maxsize=4096)
def parse(kind: str, text: str) -> rast.ExpressionBase:
    """The (reduced) AST of ``text`` in the typed context of ``kind``; raises rule-engine errors."""
    return rule_engine.Rule(text, context=typed_context(kind)).statement.expression


def parse_untyped(text: str) -> rast.ExpressionBase:
    return rule_engine.Rule(text, context=untyped_context()).statement.expression


def symbols(node: Any) -> frozenset[str]:
    """The profile fields a subtree refers to (built-in functions excluded)."""
    return frozenset(_symbols(node))


def _symbols(node: Any) -> Iterator[str]:
    if isinstance(node, rast.SymbolExpression):
        if node.scope is None:
            yield node.name
        return
    for child in children(node):
        yield from _symbols(child)


def children(node: Any) -> list:
    if isinstance(node, rast.BinaryExpressionBase):
        return [node.left, node.right]
    if isinstance(node, rast.UnaryExpression):
        return [node.right]
    if isinstance(node, rast.TernaryExpression):
        return [node.condition, node.case_true, node.case_false]
    if isinstance(node, rast.ContainsExpression):
        return [node.member, node.container]
    if isinstance(node, rast.FunctionCallExpression):
        return [node.function, *node.arguments]
    if isinstance(node, (rast.ArrayExpression, rast.SetExpression)):
        return list(node.value)
    if isinstance(node, rast.GetAttributeExpression):
        return [node.object]
    if isinstance(node, (rast.GetItemExpression,)):
        return [node.container, node.item]
    return []


_OPS = {
    "eq": "==",
    "ne": "!=",
    "ge": ">=",
    "gt": ">",
    "le": "<=",
    "lt": "<",
    "and": "and",
    "or": "or",
    "add": "+",
    "sub": "-",
    "mul": "*",
    "tdiv": "/",
    "fdiv": "//",
    "mod": "%",
    "pow": "**",
    "eq_fzm": "=~",
    "eq_fzs": "=~~",
    "ne_fzm": "!~",
    "ne_fzs": "!~~",
}


def literal_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    if isinstance(value, dt.datetime):
        u = value.astimezone(dt.UTC) if value.tzinfo else value
        if (u.hour, u.minute, u.second, u.microsecond) == (0, 0, 0, 0):
            return f'd"{u.date().isoformat()}"'
        return f'd"{u.isoformat()}"'
    return str(value)


def unparse(node: Any) -> str:
    """Rule text for a (sub)tree: used to show each condition of an explanation."""
    if isinstance(node, rast.SymbolExpression):
        return ("$" + node.name) if node.scope else node.name
    if isinstance(node, (rast.ArrayExpression, rast.SetExpression)):
        return "[" + ", ".join(unparse(m) for m in node.value) + "]"
    if isinstance(node, rast.LiteralExpressionBase):
        return literal_text(node.value)
    if isinstance(node, rast.UnaryExpression):
        return f"not {_wrap(node.right)}" if node.type == "not" else f"-{_wrap(node.right)}"
    if isinstance(node, rast.BinaryExpressionBase):
        return f"{_wrap(node.left)} {_OPS.get(node.type, node.type)} {_wrap(node.right)}"
    if isinstance(node, rast.ContainsExpression):
        return f"{_wrap(node.member)} in {_wrap(node.container)}"
    if isinstance(node, rast.TernaryExpression):
        return f"{_wrap(node.condition)} ? {_wrap(node.case_true)} : {_wrap(node.case_false)}"
    if isinstance(node, rast.FunctionCallExpression):
        return f"{unparse(node.function)}({', '.join(unparse(a) for a in node.arguments)})"
    return repr(node)


def _wrap(node: Any) -> str:
    text = unparse(node)
    if isinstance(node, (rast.BinaryExpressionBase, rast.TernaryExpression, rast.ContainsExpression)):
        return f"({text})"
    return text


def rule_values(kind: str, profile: dict, as_of: dt.date) -> dict:
    """The values a rule sees: the profile's fields and the derived ones as of ``as_of``."""
    return {**profile, **derived_values(kind, profile, as_of)}
