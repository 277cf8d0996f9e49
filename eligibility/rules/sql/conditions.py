"""Rule conditions -> SQL booleans (SQLite and PostgreSQL), with the three-valued semantics of evaluate.py.

Numbers are compiled with a scale (the SQL value is the rule value times the scale: money columns
hold fen, scale 100) so comparisons and + - stay exact integer arithmetic in both databases.
Anything that would not be exact or identical in SQL raises NotCompilable with the construct, and
the matcher falls back to rule-engine per profile.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from rule_engine import DataType
from rule_engine import ast as rast

from eligibility.fields import BOOL, DATE, ENUM, INT, LIST, MONEY, STRING, Field, rule_fields
from eligibility.rules.language import children, parse, symbols, unparse
from eligibility.store import column_of
from kit.vocab import SubjectKind


class NotCompilable(Exception):
    """The rule uses a construct the SQL compiler does not cover; the message names it."""


_CMP = {"eq": "=", "ne": "<>", "ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
# A regular expression that means the same to Python's re and PostgreSQL's ARE.
_SAFE_REGEX = re.compile(r"^[\w\u4e00-\u9fff^$.*+?|()\[\]\-]*$")


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _num_text(d: Decimal) -> str:
    text = format(d, "f")
    return text


def min_max_members(node: Any) -> list | None:
    """The members of ``$min([…])`` / ``$max([…])`` (a list written out), else None."""
    if (
        getattr(node.function, "name", "") in ("min", "max")
        and len(node.arguments) == 1
        and isinstance(node.arguments[0], rast.ArrayExpression)
    ):
        return list(node.arguments[0].value)
    return None


def least_greatest(name: str, sqls: list[str], pg: bool) -> str:
    """$min/$max of these SQL numbers: the one itself, or PostgreSQL's LEAST/GREATEST (SQLite's many-argument
    MIN/MAX)."""
    if len(sqls) == 1:
        return sqls[0]
    fn = ({"min": "LEAST", "max": "GREATEST"} if pg else {"min": "MIN", "max": "MAX"})[name]
    return f"{fn}({', '.join(sqls)})"


class Compiler:
    def __init__(self, kind: str, as_of: dt.date, pg: bool) -> None:
        self.kind = kind
        self.fields = rule_fields(kind)
        self.as_of = as_of
        self.pg = pg
        self.nullable = {n for n, f in self.fields.items() if not f.required} | (
            {"years_since_graduation"} if kind == SubjectKind.TALENT else set()
        )

    # -- booleans (three-valued) -------------------------------------------------------------
    def boolean(self, node: Any) -> str:
        if isinstance(node, rast.LogicExpression):
            op = "AND" if node.type == "and" else "OR"
            return f"({self.boolean(node.left)} {op} {self.boolean(node.right)})"
        if isinstance(node, rast.UnaryExpression) and node.type == "not":
            return f"(NOT {self.boolean(node.right)})"
        if isinstance(node, rast.TernaryExpression) and node.result_type == DataType.BOOLEAN:
            # unknown condition -> false branch, exactly like evaluate.truth
            return (
                f"(CASE WHEN {self.boolean(node.condition)} THEN {self.boolean(node.case_true)} "
                f"ELSE {self.boolean(node.case_false)} END)"
            )
        return self.condition(node)

    def condition(self, node: Any) -> str:
        sql = self._condition(node)
        # A condition that needs a missing value is unknown (NULL). Plain comparisons propagate NULL by
        # themselves; CASE and functions do not, so guard those explicitly.
        if _has(node, (rast.TernaryExpression, rast.FunctionCallExpression)):
            names = sorted(n for n in symbols(node) if n in self.nullable)
            if names:
                test = " OR ".join(f"{self.symbol_sql(n)} IS NULL" for n in names)
                sql = f"(CASE WHEN {test} THEN NULL ELSE {sql} END)"
        return sql

    def _condition(self, node: Any) -> str:
        if isinstance(node, rast.BooleanExpression):
            return self.bool_literal(node.value)
        if isinstance(node, rast.SymbolExpression):
            f = self.field_of(node)
            if f.type != BOOL:
                raise NotCompilable(f"'{node.name}' used as a condition")
            col = self.symbol_sql(node.name)
            return col if self.pg else f"({col} = 1)"
        if isinstance(node, rast.FuzzyComparisonExpression):
            return self.regex(node)
        if isinstance(node, rast.ComparisonExpression):
            return self.comparison(node)
        if isinstance(node, rast.ContainsExpression):
            return self.contains(node)
        raise NotCompilable(f"the condition {unparse(node)}")

    def bool_literal(self, v: bool) -> str:
        if self.pg:
            return "TRUE" if v else "FALSE"
        return "1" if v else "0"

    def field_of(self, node: Any) -> Field:
        f = self.fields.get(node.name)
        if f is None or node.scope is not None:
            raise NotCompilable(f"the name {node.name}")
        return f

    # -- values ---------------------------------------------------------------------------
    def kind_of(self, node: Any) -> str:
        t = node.result_type
        if t == DataType.FLOAT:
            return "number"
        if t == DataType.STRING:
            return "string"
        if t == DataType.BOOLEAN:
            return "bool"
        if t == DataType.DATETIME:
            return "date"
        return "other"

    def symbol_sql(self, name: str) -> str:
        y, m, d = self.as_of.year, self.as_of.month, self.as_of.day
        md = m * 100 + d
        if name in ("age", "years_since_founded", "years_since_graduation"):
            col = {
                "age": "birth_on_ymd",
                "years_since_founded": "founded_on_ymd",
                "years_since_graduation": "graduated_on_ymd",
            }[name]
            return f"(({y} - {col} / 10000) - (CASE WHEN {col} % 10000 > {md} THEN 1 ELSE 0 END))"
        if name == "months_since_arrival":
            col = "arrived_on_ymd"
            return (
                f"((12 * ({y} - {col} / 10000) + ({m} - {col} / 100 % 100)) - "
                f"(CASE WHEN {col} % 100 > {d} THEN 1 ELSE 0 END))"
            )
        return column_of(self.kind, name)

    def number(self, node: Any) -> tuple[str, int, Decimal | None]:
        """(sql, scale, literal value or None)."""
        if isinstance(node, rast.FloatExpression):
            return _num_text(node.value), 1, node.value
        if isinstance(node, rast.SymbolExpression):
            f = self.field_of(node)
            if f.type not in (INT, MONEY):
                raise NotCompilable(f"'{node.name}' as a number")
            return self.symbol_sql(node.name), (100 if f.type == MONEY else 1), None
        if isinstance(node, rast.UnaryExpression) and node.type == "uminus":
            sql, scale, lit = self.number(node.right)
            return f"(-{sql})", scale, (-lit if lit is not None else None)
        if isinstance(node, (rast.AddExpression, rast.SubtractExpression)):
            (a, b), scale = self.common(self.number(node.left), self.number(node.right))
            op = "+" if node.type == "add" else "-"
            return f"({a} {op} {b})", scale, None
        if isinstance(node, rast.ArithmeticExpression) and node.type == "mul":
            # A fractional literal becomes an integer with a scale (0.015 -> 15 / 1000): exact in both databases.
            a, sa, la = self._integral(*self.number(node.left))
            b, sb, lb = self._integral(*self.number(node.right))
            return f"({a} * {b})", sa * sb, None
        if isinstance(node, rast.ArithmeticExpression):
            raise NotCompilable(f"the arithmetic {unparse(node)} (only + - * are exact in SQL)")
        if isinstance(node, rast.FunctionCallExpression):
            name = getattr(node.function, "name", "")
            members = min_max_members(node)
            if members is not None:
                parts = [self.number(m) for m in members]
                if not parts:
                    raise NotCompilable("an empty list")
                sqls, scale = self.common(*parts)
                return least_greatest(name, sqls, self.pg), scale, None
            if name == "abs" and len(node.arguments) == 1:
                sql, scale, _ = self.number(node.arguments[0])
                return f"ABS({sql})", scale, None
            raise NotCompilable(f"the function ${name}")
        if isinstance(node, rast.TernaryExpression):
            cond = self.boolean(node.condition)
            (a, b), scale = self.common(self.number(node.case_true), self.number(node.case_false))
            return f"(CASE WHEN {cond} THEN {a} ELSE {b} END)", scale, None
        raise NotCompilable(f"the value {unparse(node)}")

    @staticmethod
    def _integral(sql: str, scale: int, lit: Decimal | None) -> tuple[str, int, Decimal | None]:
        if lit is None or lit == lit.to_integral_value():
            return sql, scale, lit
        exp = -lit.as_tuple().exponent
        if exp > 6:
            raise NotCompilable(f"the literal {lit} (too many decimals for exact SQL)")
        return str(int(lit * 10**exp)), scale * 10**exp, None

    def common(self, *parts: tuple[str, int, Decimal | None]) -> tuple[list[str], int]:
        scale = max(p[1] for p in parts)
        out = []
        for sql, s, lit in parts:
            if s == scale:
                out.append(sql)
            elif lit is not None:
                out.append(_num_text(lit * scale))
            else:
                out.append(f"({sql} * {scale // s})")
        return out, scale

    def scalar(self, node: Any, kind: str) -> str:
        if kind == "number":
            raise AssertionError
        if isinstance(node, rast.StringExpression):
            return sql_str(node.value)
        if isinstance(node, rast.BooleanExpression):
            return self.bool_literal(node.value)
        if isinstance(node, rast.DatetimeExpression):
            v = node.value.astimezone(dt.UTC)
            if (v.hour, v.minute, v.second, v.microsecond) != (0, 0, 0, 0):
                raise NotCompilable(f"the date-time {v.isoformat()} (dates are whole days)")
            return str(v.year * 10000 + v.month * 100 + v.day)
        if isinstance(node, rast.SymbolExpression):
            f = self.field_of(node)
            if (
                (kind == "string" and f.type in (STRING, ENUM))
                or (kind == "bool" and f.type == BOOL)
                or (kind == "date" and f.type == DATE)
            ):
                return self.symbol_sql(node.name)
        raise NotCompilable(f"the {kind} value {unparse(node)}")

    def comparison(self, node: Any) -> str:
        kl, kr = self.kind_of(node.left), self.kind_of(node.right)
        op = _CMP.get(node.type)
        if op is None or kl != kr:
            raise NotCompilable(f"the comparison {unparse(node)}")
        if kl == "number":
            (a, b), _ = self.common(self.number(node.left), self.number(node.right))
            return f"({a} {op} {b})"
        if kl in ("string", "date") or (kl == "bool" and op in ("=", "<>")):
            a, b = self.scalar(node.left, kl), self.scalar(node.right, kl)
            if kl == "string" and self.pg and op not in ("=", "<>"):
                return f'({a} COLLATE "C" {op} {b} COLLATE "C")'
            return f"({a} {op} {b})"
        raise NotCompilable(f"the comparison {unparse(node)}")

    def regex(self, node: Any) -> str:
        if not isinstance(node.right, rast.StringExpression):
            raise NotCompilable("a pattern that is not a literal")
        left = self.scalar(node.left, "string")
        pattern = node.right.value
        anchored = node.type.endswith("fzm")
        positive = node.type.startswith("eq")
        body = literal_prefix(node)
        if body is not None:
            # A literal prefix (the usual region or industry test): plain string comparison, no regex call.
            test = f"(substr({left}, 1, {len(body)}) = {sql_str(body)})"
            return test if positive else f"(NOT {test})"
        if self.pg:
            if not _SAFE_REGEX.match(pattern.replace("\\d", "")):
                raise NotCompilable(f"the regular expression {pattern!r} (only a portable subset is pushed down)")
            pat = f"^(?:{pattern})" if anchored else pattern
            return f"({left} {'~' if positive else '!~'} {sql_str(pat)})"
        fn = "zhida_re_match" if anchored else "zhida_re_search"
        test = f"{fn}({sql_str(pattern)}, {left})"
        return f"({test} = {'1' if positive else '0'})"

    def contains(self, node: Any) -> str:
        container, member = node.container, node.member
        if isinstance(container, rast.ArrayExpression):
            values = list(container.value)
            if not values:
                return self.bool_literal(False)
            km = self.kind_of(member)
            if km == "number":
                parts = [self.number(member)] + [self.number(v) for v in values]
                sqls, _ = self.common(*parts)
                return f"({sqls[0]} IN ({', '.join(sqls[1:])}))"
            if km in ("string", "date"):
                if any(self.kind_of(v) != km for v in values):
                    raise NotCompilable(f"the list {unparse(container)}")
                return f"({self.scalar(member, km)} IN ({', '.join(self.scalar(v, km) for v in values)}))"
            raise NotCompilable(f"membership {unparse(node)}")
        if isinstance(container, rast.SymbolExpression) and self.field_of(container).type == LIST:
            m = self.scalar(member, "string")
            needle = (
                sql_str(";" + member.value + ";")
                if isinstance(member, rast.StringExpression)
                else f"(';' || {m} || ';')"
            )
            col = self.symbol_sql(container.name)
            return f"({'strpos' if self.pg else 'instr'}({col}, {needle}) > 0)"
        if self.kind_of(container) == "string":
            c, m = self.scalar(container, "string"), self.scalar(member, "string")
            return f"({'strpos' if self.pg else 'instr'}({c}, {m}) > 0)"
        raise NotCompilable(f"membership {unparse(node)}")


def literal_prefix(node: Any) -> str | None:
    """The prefix a regex comparison tests, when its pattern is an anchored literal ("^3601"), else None."""
    pattern = node.right.value
    body = pattern[1:] if pattern.startswith("^") else pattern
    if (node.type.endswith("fzm") or pattern.startswith("^")) and body and not re.search(r"[.^$*+?{}\[\]\\|()]", body):
        return body
    return None


def _has(node: Any, types: tuple) -> bool:
    if isinstance(node, types):
        return True
    return any(_has(c, types) for c in children(node))


def compile_where(kind: str, text: str, as_of: dt.date, pg: bool) -> str:
    """The SQL boolean (NULL = unknown) of a rule's `when` for the profiles table of ``kind``."""
    return Compiler(kind, as_of, pg).boolean(parse(kind, text))
