"""Checking a rule set against the typed profile schema of its subject: every problem, with a hint."""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any

from rule_engine import ast as rast
from rule_engine import errors as rerrors

from eligibility.fields import BOOL, DATE, ENUM, INT, LIST, MONEY, STRING, Field, rule_fields
from eligibility.rules.language import literal_text, parse, parse_untyped
from eligibility.rules.limits import DEPTH_HINT, REGEX_HINT, regex_problem, text_problem, tree_problem
from eligibility.schemas import RuleProblem, RuleSet

# Types our checker reasons with: number, string, bool, date, list, null, any.
_FIELD_TYPE = {
    STRING: "string",
    ENUM: "string",
    INT: "number",
    MONEY: "number",
    BOOL: "bool",
    DATE: "date",
    LIST: "list",
}
_TYPE_WORDS = {
    "number": "a number",
    "string": "text",
    "bool": "true/false",
    "date": 'a date (d"YYYY-MM-DD")',
    "list": "a list",
    "null": "null",
    "any": "a value",
}
_FUNCTIONS = {"min", "max", "abs", "sum", "round", "floor", "ceiling"}
_ORDERED = {"ge", "gt", "le", "lt"}


class _Checker:
    def __init__(self, kind: str, text: str, clause: str | None, part: str) -> None:
        self.kind = kind
        self.fields = rule_fields(kind)
        self.text = text
        self.clause = clause
        self.part = part
        self.problems: list[RuleProblem] = []
        self.inferred: dict[int, tuple[str, Field | None, Any]] = {}

    def problem(self, message: str, hint: str | None = None, needle: str | None = None) -> None:
        position = None
        if needle:
            m = (
                re.search(r"(?<![\w$])" + re.escape(needle) + r"(?!\w)", self.text)
                if needle[:1].isalnum() or needle[:1] == "_"
                else None
            )
            idx = m.start() if m else self.text.find(needle)
            position = idx if idx >= 0 else None
        self.problems.append(
            RuleProblem(
                clause_code=self.clause,
                part=self.part,
                expression=self.text,
                position=position,
                message=message,
                hint=hint,
            )
        )

    def infer(self, node: Any) -> tuple[str, Field | None, Any]:
        """(type, field or None, literal value or None) of a subtree, inferred once: a function's list is looked at
        twice (as a list, then its members), which without the memo made `$max([$max([…])])` exponential."""
        key = id(node)
        if key not in self.inferred:
            self.inferred[key] = self._infer(node)
        return self.inferred[key]

    def _infer(self, node: Any) -> tuple[str, Field | None, Any]:
        if isinstance(node, rast.SymbolExpression):
            if node.scope is not None:
                if node.name not in _FUNCTIONS:
                    self.problem(
                        f"unknown function '${node.name}'",
                        f"use one of {', '.join('$' + f for f in sorted(_FUNCTIONS))}",
                        "$" + node.name,
                    )
                return "function", None, None
            f = self.fields.get(node.name)
            if f is None:
                close = difflib.get_close_matches(node.name, list(self.fields), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else f"fields of a {self.kind}: {', '.join(self.fields)}"
                msg = f"unknown field '{node.name}'" + (f" — did you mean '{close[0]}'?" if close else "")
                self.problem(msg, hint, node.name)
                return "any", None, None
            return _FIELD_TYPE[f.type], f, None
        if isinstance(node, (rast.ArrayExpression, rast.SetExpression)):
            for m in node.value:
                self.infer(m)
            return "list", None, node
        if isinstance(node, rast.FloatExpression):
            if not node.value.is_finite():  # rule-engine reads `nan` and `inf` as numbers; no amount or bound is one
                word = "nan" if node.value.is_nan() else "inf"
                self.problem(f"'{word}' is not a number a rule can use", "write a finite number", word)
            return "number", None, node.value
        if isinstance(node, rast.StringExpression):
            return "string", None, node.value
        if isinstance(node, rast.BooleanExpression):
            return "bool", None, node.value
        if isinstance(node, rast.DatetimeExpression):
            return "date", None, node.value
        if isinstance(node, rast.NullExpression):
            return "null", None, None
        if isinstance(node, rast.LogicExpression):
            for side in (node.left, node.right):
                t, f, _ = self.infer(side)
                self.expect_bool(t, f, side)
            return "bool", None, None
        if isinstance(node, rast.UnaryExpression):
            t, f, _ = self.infer(node.right)
            if node.type == "not":
                self.expect_bool(t, f, node.right)
                return "bool", None, None
            if t not in ("number", "any"):
                self.problem(f"minus applies to a number, not {_TYPE_WORDS.get(t, t)}")
            return "number", None, None
        if isinstance(node, rast.FuzzyComparisonExpression):
            lt, lf, _ = self.infer(node.left)
            rt, _, rv = self.infer(node.right)
            if lt not in ("string", "any"):
                self.problem(
                    f"a regular expression match (=~) needs text on the left, "
                    f"{self.describe(lf, lt)} is {_TYPE_WORDS.get(lt, lt)}",
                    None,
                    lf.name if lf else None,
                )
            if not isinstance(node.right, rast.StringExpression):
                # A pattern taken from profile data would be a regular expression nobody checked.
                self.problem('the pattern of =~ must be text written in the rule, e.g. "^3601"')
            elif (why := regex_problem(node.right.value)) is not None:
                raw, pattern = node.right.value, literal_text(node.right.value)
                # Where the pattern is written: its escapes in the rule text may differ from literal_text's.
                needle = next((n for n in (pattern, f'"{raw}"', f"'{raw}'") if n in self.text), None)
                self.problem(f"the regular expression {needle or pattern} is refused: {why}", REGEX_HINT, needle)
            return "bool", None, None
        if isinstance(node, rast.ComparisonExpression):
            return self.comparison(node)
        if isinstance(node, rast.ContainsExpression):
            return self.contains(node)
        if isinstance(node, rast.BinaryExpressionBase):  # arithmetic
            lt, lf, _ = self.infer(node.left)
            rt, rf, _ = self.infer(node.right)
            if node.type == "sub" and lt == rt == "date":
                return "timedelta", None, None
            for t, f, side in ((lt, lf, node.left), (rt, rf, node.right)):
                if t not in ("number", "any"):
                    self.problem(
                        f"arithmetic needs numbers: {self.describe(f, t, side)} is {_TYPE_WORDS.get(t, t)}",
                        None,
                        f.name if f else None,
                    )
            return "number", None, None
        if isinstance(node, rast.TernaryExpression):
            ct, cf, _ = self.infer(node.condition)
            self.expect_bool(ct, cf, node.condition)
            at, _, _ = self.infer(node.case_true)
            bt, _, _ = self.infer(node.case_false)
            if "any" in (at, bt):
                return "any", None, None
            if at != bt:
                self.problem(
                    f"both branches of ? : must have the same type ({_TYPE_WORDS.get(at, at)} vs {_TYPE_WORDS.get(bt, bt)})"
                )
            return at, None, None
        if isinstance(node, rast.FunctionCallExpression):
            self.infer(node.function)
            for a in node.arguments:
                t, _, lit = self.infer(a)
                if t != "list":
                    self.problem(
                        f"{node.function.name if hasattr(node.function, 'name') else 'a function'} takes a list: "
                        f"write $min([a, b])"
                    )
                elif lit is not None:
                    for m in lit.value:
                        mt, mf, _ = self.infer(m)
                        if mt not in ("number", "any"):
                            self.problem(
                                f"{self.describe(mf, mt, m)} is {_TYPE_WORDS.get(mt, mt)}, a number is needed here",
                                None,
                                mf.name if mf else None,
                            )
            return "number", None, None
        self.problem(f"this construct is not supported in a policy rule: {type(node).__name__}")
        return "any", None, None

    def describe(self, f: Field | None, t: str, node: Any = None) -> str:
        if f is not None:
            return f"'{f.name}'"
        if node is not None and isinstance(node, rast.LiteralExpressionBase):
            return literal_text(node.value)
        return "this value"

    def expect_bool(self, t: str, f: Field | None, node: Any) -> None:
        if t not in ("bool", "any"):
            what = (
                f"'{f.name}' is {_TYPE_WORDS.get(t, t)}"
                if f
                else f"{self.describe(f, t, node)} is {_TYPE_WORDS.get(t, t)}"
            )
            self.problem(
                f"a condition must be true/false, but {what}", "compare it, e.g. employees >= 10", f.name if f else None
            )

    def comparison(self, node: Any) -> tuple[str, None, None]:
        lt, lf, lv = self.infer(node.left)
        rt, rf, rv = self.infer(node.right)
        if "null" in (lt, rt):
            self.problem(
                "comparing with null never holds: a missing value never satisfies a comparison",
                "leave the condition out, or compare with a real value",
            )
            return "bool", None, None
        if "any" not in (lt, rt) and lt != rt:
            f = lf or rf
            other_t = rt if lf else lt
            other_node = node.right if lf else node.left
            if f is not None:
                self.problem(
                    f"'{f.name}' is {_TYPE_WORDS[lt if lf else rt]} and cannot be compared with "
                    f"{self.describe(None, other_t, other_node)} ({_TYPE_WORDS.get(other_t, other_t)})",
                    self.type_hint(f),
                    f.name,
                )
            else:
                self.problem(f"cannot compare {_TYPE_WORDS.get(lt, lt)} with {_TYPE_WORDS.get(rt, rt)}")
            return "bool", None, None
        if node.type in _ORDERED and lt in ("bool", "list"):
            self.problem(f"{_TYPE_WORDS[lt]} has no order: use == or !=", None, (lf or rf).name if (lf or rf) else None)
        for f, v in ((lf, rv), (rf, lv)):
            if f is not None and f.type == ENUM and isinstance(v, str) and v not in f.choices:
                self.problem(f"'{v}' is not a value of '{f.name}'", f"allowed values: {', '.join(f.choices)}", f'"{v}"')
        return "bool", None, None

    def contains(self, node: Any) -> tuple[str, None, None]:
        mt, mf, mv = self.infer(node.member)
        ct, cf, cv = self.infer(node.container)
        if ct == "list" and cv is not None:  # x in [literal, ...]
            for m in cv.value:
                t = _literal_type(m)
                if mt not in ("any",) and t not in ("any", mt):
                    self.problem(
                        f"{self.describe(mf, mt, node.member)} is {_TYPE_WORDS.get(mt, mt)} but the list holds "
                        f"{literal_text(getattr(m, 'value', None))} ({_TYPE_WORDS.get(t, t)})",
                        None,
                        mf.name if mf else None,
                    )
                if (
                    mf is not None
                    and mf.type == ENUM
                    and isinstance(getattr(m, "value", None), str)
                    and m.value not in mf.choices
                ):
                    self.problem(
                        f"'{m.value}' is not a value of '{mf.name}'",
                        f"allowed values: {', '.join(mf.choices)}",
                        f'"{m.value}"',
                    )
        elif ct == "list":
            if mt not in ("string", "any"):
                self.problem(
                    f"'{cf.name if cf else 'the list'}' holds text; {self.describe(mf, mt, node.member)} is "
                    f"{_TYPE_WORDS.get(mt, mt)}",
                    'e.g. "外贸" in tags',
                    mf.name if mf else None,
                )
        elif ct == "string":
            if mt not in ("string", "any"):
                self.problem(
                    f"only text can be found in text; {self.describe(mf, mt, node.member)} is {_TYPE_WORDS.get(mt, mt)}"
                )
        elif ct != "any":
            self.problem(
                f"'in' needs a list or text on the right, {self.describe(cf, ct, node.container)} is "
                f"{_TYPE_WORDS.get(ct, ct)}",
                None,
                cf.name if cf else None,
            )
        return "bool", None, None

    @staticmethod
    def type_hint(f: Field) -> str:
        if f.type == ENUM:
            return f"'{f.name}' takes one of: {', '.join(f.choices)} (quoted)"
        if f.type == DATE:
            return 'write a date as d"2025-01-01"'
        if f.type in (INT, MONEY):
            return f"'{f.name}' is a number: write it without quotes, e.g. {f.name} >= 100"
        if f.type == BOOL:
            return f"'{f.name}' is true/false: write {f.name} or not {f.name}"
        return f"'{f.name}' is text: quote the value"


def _literal_type(node: Any) -> str:
    if isinstance(node, rast.FloatExpression):
        return "number"
    if isinstance(node, rast.StringExpression):
        return "string"
    if isinstance(node, rast.BooleanExpression):
        return "bool"
    if isinstance(node, rast.DatetimeExpression):
        return "date"
    return "any"


def check_expression(kind: str, text: str, clause: str | None, part: str) -> list[RuleProblem]:
    """Problems of one expression (`part` is "when", which must be true/false, or "amount", a number)."""
    return [p.model_copy(update={"clause_code": clause}) for p in _check_text(kind, (text or "").strip(), part)]


@functools.lru_cache(maxsize=1024)
def _check_text(kind: str, text: str, part: str) -> tuple[RuleProblem, ...]:
    """check_expression's answer for a clause code of None: the same text is checked once (the rule editor's check
    runs in a worker thread, and the service's check then finds it here)."""
    return tuple(_check(kind, text, part))


def _check(kind: str, text: str, part: str) -> list[RuleProblem]:
    base = dict(clause_code=None, part=part, expression=text)
    if not text:
        return [RuleProblem(**base, message=f"the {part} expression is empty")]
    bounds = text_problem(text)
    if bounds is not None:
        message, hint, position = bounds
        return [RuleProblem(**base, position=position, message=message, hint=hint)]
    try:
        tree = parse_untyped(text)
    except rerrors.RuleSyntaxError as exc:
        pos = None
        m = re.search(r"line \d+:(\d+)", exc.message or "")
        if m:
            pos = int(m.group(1))
        elif exc.token is not None and getattr(exc.token, "lexpos", None) is not None:
            pos = exc.token.lexpos
        elif "EOF" in (exc.message or ""):
            pos = len(text)
        hint = 'a date is written d"2025-01-01"; lists as ["a", "b"]; functions as $min([a, b])'
        return [RuleProblem(**base, position=pos, message=f"the rule does not parse ({exc.message})", hint=hint)]
    except rerrors.RegexSyntaxError as exc:
        return [RuleProblem(**base, message=f"invalid regular expression: {exc.error}")]
    except rerrors.EngineError as exc:
        return [RuleProblem(**base, message=f"the rule does not parse: {exc.message}")]
    except RecursionError:
        return [RuleProblem(**base, message="the rule nests too deeply to be read", hint=DEPTH_HINT)]
    except Exception as exc:  # noqa: BLE001 - rule-engine fails on some input ({{7*7}}: TypeError): a problem, not a 500
        return [RuleProblem(**base, message=f"the rule does not parse ({type(exc).__name__}: {exc})")]
    too_big = tree_problem(tree)
    if too_big is not None:
        return [RuleProblem(**base, message=too_big[0], hint=too_big[1])]
    checker = _Checker(kind, text, None, part)
    t, f, _ = checker.infer(tree)
    if part == "when" and t not in ("bool", "any"):
        checker.problem(
            f"a condition must be true/false, but this is {_TYPE_WORDS.get(t, t)}",
            "compare it, e.g. revenue >= 20000000",
        )
    if part == "amount" and t not in ("number", "any"):
        checker.problem(
            f"the amount is not a number (it is {_TYPE_WORDS.get(t, t)})",
            "an amount is yuan, e.g. 10000 or tax_paid * 0.015",
        )
    if checker.problems:
        return checker.problems
    # Our checker found nothing: rule-engine's own typed parse is the final word.
    try:
        parse(kind, text)
    except rerrors.SymbolResolutionError as exc:
        return [
            RuleProblem(
                **base,
                message=f"unknown field '{exc.symbol_name}'",
                hint=f"did you mean '{exc.suggestion}'?" if exc.suggestion else None,
            )
        ]
    except rerrors.EngineError as exc:
        return [RuleProblem(**base, message=f"the rule is not valid for a {kind}: {exc.message}")]
    except Exception as exc:  # noqa: BLE001 - as above: whatever rule-engine raises on odd input is a problem
        return [RuleProblem(**base, message=f"the rule is not valid for a {kind} ({type(exc).__name__}: {exc})")]
    return []


def check_ruleset(ruleset: RuleSet) -> list[RuleProblem]:
    """Every problem of the rule set's expressions against its subject's typed context (empty = valid)."""
    kind = ruleset.subject
    problems: list[RuleProblem] = []
    if ruleset.when is not None and str(ruleset.when).strip():
        problems += check_expression(kind, str(ruleset.when), None, "when")
    for clause in ruleset.clauses:
        problems += check_expression(kind, str(clause.when), clause.code, "when")
        problems += check_expression(kind, str(clause.amount), clause.code, "amount")
    return problems
