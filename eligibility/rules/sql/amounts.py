"""Clause amounts -> SQL in fen: exact integer arithmetic (no division, no float), half-up to the fen, capped."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rule_engine import ast as rast

from eligibility.fields import INT, MONEY
from eligibility.rules.language import parse, symbols, unparse
from eligibility.rules.sql.conditions import Compiler, NotCompilable, least_greatest, min_max_members, sql_str
from eligibility.schemas import RuleSet
from kit.money import round_yuan_to_fen


def _exact(c: Compiler, node: Any) -> tuple[str, int]:
    """(sql, scale) with sql == amount * scale exactly, in integers (no division, no float)."""
    if isinstance(node, rast.FloatExpression):
        d = node.value
        exp = -d.as_tuple().exponent if d.as_tuple().exponent < 0 else 0
        if exp > 6:
            raise NotCompilable(f"the amount literal {d} (too many decimals for exact SQL)")
        scale = 10**exp
        return str(int(d * scale)), scale
    if isinstance(node, rast.SymbolExpression):
        f = c.field_of(node)
        if f.type not in (INT, MONEY):
            raise NotCompilable(f"'{node.name}' in an amount")
        return c.symbol_sql(node.name), (100 if f.type == MONEY else 1)
    if isinstance(node, rast.UnaryExpression) and node.type == "uminus":
        sql, s = _exact(c, node.right)
        return f"(-{sql})", s
    if isinstance(node, (rast.AddExpression, rast.SubtractExpression)):
        (a, b), s = _common_exact([_exact(c, node.left), _exact(c, node.right)])
        return f"({a} {'+' if node.type == 'add' else '-'} {b})", s
    if isinstance(node, rast.ArithmeticExpression) and node.type == "mul":
        (a, sa), (b, sb) = _exact(c, node.left), _exact(c, node.right)
        return f"({a} * {b})", sa * sb
    if isinstance(node, rast.FunctionCallExpression):
        name = getattr(node.function, "name", "")
        members = min_max_members(node)
        if members:
            sqls, s = _common_exact([_exact(c, m) for m in members])
            return least_greatest(name, sqls, c.pg), s
        raise NotCompilable(f"the function ${name} in an amount")
    if isinstance(node, rast.TernaryExpression):
        cond = c.boolean(node.condition)
        (a, b), s = _common_exact([_exact(c, node.case_true), _exact(c, node.case_false)])
        return f"(CASE WHEN {cond} THEN {a} ELSE {b} END)", s
    raise NotCompilable(f"the amount {unparse(node)}")


def _common_exact(parts: list[tuple[str, int]]) -> tuple[list[str], int]:
    scale = max(s for _, s in parts)
    return [sql if s == scale else f"({sql} * {scale // s})" for sql, s in parts], scale


def compile_amount_fen(c: Compiler, kind: str, text: str) -> str:
    """SQL of a clause amount in fen: half-up to the fen, floored at 0, 0 when it needs a missing value."""
    node = parse(kind, text)
    sql, scale = _exact(c, node)
    # scale is a power of ten. Above 100 the fen are sql / (scale / 100) rounded half up: for sql > 0 (the CASE
    # below), (sql + half) / (scale / 100) in integer division, with no factor that brings an overflow nearer.
    if scale == 1:
        fen = f"({sql}) * 100"
    elif scale == 10:
        fen = f"({sql}) * 10"
    elif scale == 100:
        fen = f"({sql})"
    else:
        fen = f"((({sql}) + {scale // 200}) / {scale // 100})"
    expr = f"(CASE WHEN ({sql}) <= 0 THEN 0 ELSE {fen} END)"
    names = sorted(n for n in symbols(node) if n in c.nullable)
    if names:
        test = " OR ".join(f"{c.symbol_sql(n)} IS NULL" for n in names)
        expr = f"(CASE WHEN {test} THEN 0 ELSE {expr} END)"
    return expr


def compile_outcome(ruleset: RuleSet, conds: list[str], as_of: dt.date, pg: bool) -> tuple[str, str]:
    """(clauses text expr, amount_fen expr) of the whole rule set, given its clauses' compiled conditions;
    raises NotCompilable."""
    c = Compiler(ruleset.subject, as_of, pg)
    kind = ruleset.subject
    amounts = [compile_amount_fen(c, kind, str(cl.amount)) for cl in ruleset.clauses]
    codes = [sql_str(cl.code) for cl in ruleset.clauses]
    if ruleset.combine == "first":
        clauses = "(CASE " + " ".join(f"WHEN {w} THEN {code}" for w, code in zip(conds, codes)) + " END)"
        total = "(CASE " + " ".join(f"WHEN {w} THEN {a}" for w, a in zip(conds, amounts)) + " END)"
    else:
        clauses = (
            "rtrim("
            + " || ".join(f"(CASE WHEN {w} THEN {code[:-1]};' ELSE '' END)" for w, code in zip(conds, codes))
            + ", ';')"
        )
        total = "(" + " + ".join(f"(CASE WHEN {w} THEN {a} ELSE 0 END)" for w, a in zip(conds, amounts)) + ")"
    if ruleset.cap_per_subject is not None:
        cap = round_yuan_to_fen(ruleset.cap_per_subject)
        total = f"(CASE WHEN {total} > {cap} THEN {cap} ELSE {total} END)"
    if not pg:
        # SQLite turns an integer overflow into a float and carries on; an amount that is not an integer then stops
        # the statement (zhida_amount_overflow raises), and the matcher computes the amounts in Python instead.
        # PostgreSQL raises on overflow by itself.
        total = f"(CASE WHEN typeof({total}) = 'integer' THEN {total} ELSE zhida_amount_overflow() END)"
    return clauses, total
