"""Bounds on what a rule's author controls: its length and nesting, and regular expressions that cannot backtrack
exponentially. A rule within them is checked, evaluated and pushed down to SQL in bounded time and memory."""

from __future__ import annotations

from re import _parser as sre  # type: ignore[attr-defined]  # the tree `re` compiles: the analysis sees what runs
from re import error as RegexError
from typing import Any

from rule_engine import ast as rast

from eligibility.rules.language import children
from kit.i18n import _l

MAX_EXPRESSION_CHARS = 4000
# The SQL push-down nests the rule's parts, and SQLite's parser has a fixed stack: a clause's amount (compiled inside
# the CASEs that combine and cap the clauses) overflowed it at 11 nested `? :`, 21 nested `$max`, 21 levels of
# `a + (b + (…))`, 34 of `not` and 56 of `a + b + …` (measured with `age`, whose SQL is the deepest of a field).
# So a rule's depth is counted in roughly those units (_weight below), and kept well under the 55 that overflowed.
MAX_DEPTH = 32
MAX_NODES = 1000
MAX_PATTERN_CHARS = 256
# Each repeat of variable length multiplies the ways a match can be tried: `\w*\w*\w*!` over a 300-character name
# takes 1.6 s in `re`, `\w*\w*!` 18 ms.
MAX_VARIABLE_REPEATS = 2
DEPTH_HINT = _l(
    "write a list of values as `field in [a, b, …]` instead of a chain of `or`, "
    "or move the conditions every clause shares into the policy's `when`"
)
REGEX_HINT = _l('a pattern is a prefix or a simple shape, e.g. "^3601" or "^C[0-9]+3$"')


def text_problem(text: str) -> tuple[str, dict[str, Any], str, int] | None:
    """(message, its params, hint, position) when the text itself is out of bounds: too long, or holding a NUL
    character (the message and hint are catalog msgids)."""
    if len(text) > MAX_EXPRESSION_CHARS:
        return (
            _l("the rule is {length} characters long; at most {max} are allowed"),
            {"length": len(text), "max": MAX_EXPRESSION_CHARS},
            DEPTH_HINT,
            MAX_EXPRESSION_CHARS,
        )
    if "\x00" in text:
        return (
            _l("the rule holds a NUL character (\\x00)"),
            {},
            _l("remove the invisible character"),
            text.index("\x00"),
        )
    return None


def _weight(parent: Any, child: Any, index: int) -> int:
    """How much deeper ``child`` sits than ``parent`` in the SQL they compile to (in parser-stack units)."""
    if not children(child):
        return 1  # a field or a literal
    if isinstance(parent, rast.TernaryExpression):
        return 6  # (CASE WHEN … THEN … ELSE … END)
    if isinstance(parent, (rast.FunctionCallExpression, rast.ContainsExpression)):
        return 3  # MAX(…, …), x IN (…)
    if isinstance(parent, rast.UnaryExpression):
        return 2  # (NOT …), (-…)
    if isinstance(parent, rast.BinaryExpressionBase) and index == 1:
        return 3  # the right side of (a OR (…)) waits on the stack with its operator; a left side is reduced first
    return 1


def tree_problem(tree: Any) -> tuple[str, dict[str, Any], str] | None:
    """(message, its params, hint) when the parsed rule nests too deeply (in _weight's units), has too many parts, or has a text
    literal with a NUL character. Iterative, so a tree of any shape is measured without recursion."""
    nodes = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            return (
                _l(
                    "the rule nests too deeply for the database: more than {max} levels, where a `? :` counts "
                    "6, a $function, an `in` or a parenthesised right-hand side 3, and `not` 2"
                ),
                {"max": MAX_DEPTH},
                DEPTH_HINT,
            )
        if nodes > MAX_NODES:
            return _l("the rule has more than {max} parts"), {"max": MAX_NODES}, DEPTH_HINT
        if isinstance(node, rast.StringExpression) and "\x00" in node.value:
            return _l("a text in the rule holds a NUL character (\\x00)"), {}, _l("remove the invisible character")
        stack.extend((child, depth + _weight(node, child, i)) for i, child in enumerate(children(node)))
    return None


def regex_problem(pattern: str) -> str | None:
    """Why a regular expression may take exponential (or high polynomial) time, or None when it is bounded: no
    variable repeat inside a repeat, no alternation under a repeat, no back-reference, at most MAX_VARIABLE_REPEATS
    variable repeats, and a bounded length. Checked on the tree `re` compiles (`(a|b)+` is a character set there, safe)."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return _l("the pattern is {length} characters long; at most {max} are allowed").format(
            length=len(pattern), max=MAX_PATTERN_CHARS
        )
    try:
        tree = sre.parse(pattern)
    except RegexError:
        return None  # an invalid pattern: rule-engine reports it with its own message
    variable = 0
    stack: list[tuple[Any, bool]] = [(tree, False)]
    while stack:
        items, repeated = stack.pop()
        for op, av in items:
            if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                low, high, body = av
                if low != high:
                    if repeated:
                        return _l("a repeat inside a repeat (like (a+)+ or (a?)*) can take exponential time")
                    variable += 1
                stack.append((body, repeated or high > 1))
            elif op is sre.BRANCH:
                if repeated:
                    return _l("an alternation inside a repeat (like (a|ab)+) can take exponential time")
                stack.extend((branch, repeated) for branch in av[1])
            elif op in (sre.GROUPREF, sre.GROUPREF_EXISTS):
                return _l("a back-reference (\\1) can take exponential time")
            elif op is sre.SUBPATTERN:
                stack.append((av[3], repeated))
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                stack.append((av[1], repeated))
            elif op is sre.ATOMIC_GROUP:
                stack.append((av, repeated))
    if variable > MAX_VARIABLE_REPEATS:
        return _l(
            "the pattern has {count} repeats of variable length (*, +, ?, {{m,n}}); at most "
            "{max} keep its matching time bounded"
        ).format(count=variable, max=MAX_VARIABLE_REPEATS)
    return None
