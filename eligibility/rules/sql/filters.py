"""A rule set's filter: the terms of the WHERE that keeps the profiles some clause may match, cheapest and most
selective made visible (the conditions every clause implies), each with a rough cost for the planner."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from rule_engine import ast as rast

from eligibility.rules.language import children, parse, unparse
from eligibility.rules.sql.conditions import Compiler, literal_prefix
from eligibility.schemas import RuleSet


def _and_terms(node: Any) -> list:
    if isinstance(node, rast.LogicExpression) and node.type == "and":
        return _and_terms(node.left) + _and_terms(node.right)
    return [node]


def _cost(node: Any) -> float:
    """A rough per-row cost of a condition, in comparisons, to order a filter's terms."""
    own = 1.0
    if isinstance(node, rast.FuzzyComparisonExpression):
        own = 4 if isinstance(node.right, rast.StringExpression) and literal_prefix(node) is not None else 30
    elif isinstance(node, rast.ContainsExpression):
        own = 2 + (len(node.container.value) if isinstance(node.container, rast.ArrayExpression) else 2)
    elif isinstance(node, rast.FunctionCallExpression):
        own = 3
    return own + sum(_cost(c) for c in children(node))


# A bound on a number: (symbol, direction, strict, value) of `symbol >= value`, `symbol > value`, … ("==" bounds
# both ways).
_LOWER, _UPPER = {"ge": False, "gt": True}, {"le": False, "lt": True}


def _bounds(node: Any) -> list[tuple[str, str, bool, Decimal]]:
    """The bounds a condition `symbol <op> number` puts on its symbol (none for any other condition)."""
    if not (
        isinstance(node, rast.ComparisonExpression)
        and isinstance(node.left, rast.SymbolExpression)
        and isinstance(node.right, rast.FloatExpression)
    ):
        return []
    name, value, op = node.left.name, node.right.value, node.type
    if not value.is_finite():  # refused by the rule check; never a bound here
        return []
    if op == "eq":
        return [(name, "lower", False, value), (name, "upper", False, value)]
    if op in _LOWER:
        return [(name, "lower", _LOWER[op], value)]
    if op in _UPPER:
        return [(name, "upper", _UPPER[op], value)]
    return []


def _implies(a: Any, b: Any) -> bool:
    """Whether condition ``a`` being true makes ``b`` true: the same text, or a bound on the same number at least
    as tight (`x >= 3000000` implies `x >= 1000000`; `x == 5` implies `x > 4`)."""
    if unparse(a) == unparse(b):
        return True
    wanted = _bounds(b)
    if len(wanted) != 1:
        return False
    name, way, strict, v = wanted[0]
    for n, w, s, u in _bounds(a):
        if n == name and w == way:
            tighter = u > v if way == "lower" else u < v
            if tighter or (u == v and (s or not strict)):
                return True
    return False


def implied_conditions(nodes: list) -> list:
    """Conditions true of every profile that meets at least one of the clauses ``nodes``: each a top-level AND term
    of some clause that every clause implies (the weakest of the clauses' like bounds, or a term they share). As
    extra filter terms they change no result, since a row is kept only where the OR of the clauses is true, but a
    cheap one that rejects most profiles lets the database stop early (and PostgreSQL use an index on it): the
    typical policy of bench/match.py, `(high_tech and rd_expense >= 1000000) or (rd_expense >= 3000000 and …)`,
    gains `rd_expense >= 1000000`. The strongest of those that imply one another is kept."""
    conjuncts = [_and_terms(n) for n in nodes]
    found: list = []
    for cand in (t for terms in conjuncts for t in terms):
        if all(any(_implies(t, cand) for t in terms) for terms in conjuncts) and not any(
            _implies(f, cand) for f in found
        ):
            found = [f for f in found if not _implies(cand, f)] + [cand]
    return found


def compile_ruleset(ruleset: RuleSet, as_of: dt.date, pg: bool) -> tuple[list[tuple[str, float]], list[str]]:
    """(the filter's terms, one SQL boolean per clause). The filter is the AND of its terms, each (SQL, cost): the
    top-level AND terms of the policy-level `when`, the conditions every clause implies (implied_conditions), and
    the OR of the clauses (left out when one clause is all of it). Raises NotCompilable."""
    kind = ruleset.subject
    c = Compiler(kind, as_of, pg)
    terms = []
    nodes = [parse(kind, str(cl.when)) for cl in ruleset.clauses]
    implied = implied_conditions(nodes) if nodes else []
    terms += [(c.boolean(n), _cost(n)) for n in implied]
    if ruleset.when and str(ruleset.when).strip():
        terms += [(c.boolean(n), _cost(n)) for n in _and_terms(parse(kind, ruleset.when))]
    clauses = [c.boolean(n) for n in nodes]
    if not (len(nodes) == 1 and len(implied) == len(_and_terms(nodes[0]))):
        terms.append(
            ("(" + (" OR ".join(f"({sql})" for sql in clauses) or "1 = 0") + ")", sum(_cost(n) for n in nodes))
        )
    return terms, clauses
