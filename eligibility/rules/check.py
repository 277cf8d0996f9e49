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
from kit.i18n import _l

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
# The words of a type, as a message parameter named ``type`` or ``*_type`` (app/i18n.py shows it in the reader's words).
_TYPE_WORDS = {
    "number": _l("a number"),
    "string": _l("text"),
    "bool": _l("true/false"),
    "date": _l('a date (d"YYYY-MM-DD")'),
    "list": _l("a list"),
    "null": _l("null"),
    "any": _l("a value"),
}
_THIS_VALUE = _l("this value")
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

    def problem(
        self,
        message: str,
        params: dict[str, Any] | None = None,
        hint: str | None = None,
        hint_params: dict[str, Any] | None = None,
        needle: str | None = None,
    ) -> None:
        """A problem from catalog msgids (``message``, ``hint``) and their parameters."""
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
            RuleProblem.of(
                message,
                params,
                hint=hint,
                hint_params=hint_params,
                clause_code=self.clause,
                part=self.part,
                expression=self.text,
                position=position,
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
                        _l("unknown function '${function}'"),
                        {"function": node.name},
                        _l("use one of {functions}"),
                        {"functions": ", ".join("$" + f for f in sorted(_FUNCTIONS))},
                        "$" + node.name,
                    )
                return "function", None, None
            f = self.fields.get(node.name)
            if f is None:
                close = difflib.get_close_matches(node.name, list(self.fields), n=1, cutoff=0.6)
                if close:
                    self.problem(
                        _l("unknown field '{field}' — did you mean '{close}'?"),
                        {"field": node.name, "close": close[0]},
                        _l("did you mean '{close}'?"),
                        {"close": close[0]},
                        node.name,
                    )
                else:
                    self.problem(
                        _l("unknown field '{field}'"),
                        {"field": node.name},
                        _l("fields of a {kind}: {fields}"),
                        {"kind": self.kind, "fields": ", ".join(self.fields)},
                        node.name,
                    )
                return "any", None, None
            return _FIELD_TYPE[f.type], f, None
        if isinstance(node, (rast.ArrayExpression, rast.SetExpression)):
            for m in node.value:
                self.infer(m)
            return "list", None, node
        if isinstance(node, rast.FloatExpression):
            if not node.value.is_finite():  # rule-engine reads `nan` and `inf` as numbers; no amount or bound is one
                word = "nan" if node.value.is_nan() else "inf"
                self.problem(
                    _l("'{word}' is not a number a rule can use"),
                    {"word": word},
                    _l("write a finite number"),
                    None,
                    word,
                )
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
                self.problem(_l("minus applies to a number, not {type}"), {"type": _TYPE_WORDS.get(t, t)})
            return "number", None, None
        if isinstance(node, rast.FuzzyComparisonExpression):
            lt, lf, _ = self.infer(node.left)
            rt, _, rv = self.infer(node.right)
            if lt not in ("string", "any"):
                self.problem(
                    _l("a regular expression match (=~) needs text on the left, {what} is {type}"),
                    {"what": self.describe(lf, lt), "type": _TYPE_WORDS.get(lt, lt)},
                    needle=lf.name if lf else None,
                )
            if not isinstance(node.right, rast.StringExpression):
                # A pattern taken from profile data would be a regular expression nobody checked.
                self.problem(_l('the pattern of =~ must be text written in the rule, e.g. "^3601"'))
            elif (why := regex_problem(node.right.value)) is not None:
                raw, pattern = node.right.value, literal_text(node.right.value)
                # Where the pattern is written: its escapes in the rule text may differ from literal_text's.
                needle = next((n for n in (pattern, f'"{raw}"', f"'{raw}'") if n in self.text), None)
                self.problem(
                    _l("the regular expression {pattern} is refused: {problem}"),
                    {"pattern": needle or pattern, "problem": why},
                    REGEX_HINT,
                    None,
                    needle,
                )
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
                        _l("arithmetic needs numbers: {what} is {type}"),
                        {"what": self.describe(f, t, side), "type": _TYPE_WORDS.get(t, t)},
                        needle=f.name if f else None,
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
                    _l("both branches of ? : must have the same type ({left_type} vs {right_type})"),
                    {"left_type": _TYPE_WORDS.get(at, at), "right_type": _TYPE_WORDS.get(bt, bt)},
                )
            return at, None, None
        if isinstance(node, rast.FunctionCallExpression):
            self.infer(node.function)
            for a in node.arguments:
                t, _, lit = self.infer(a)
                if t != "list":
                    if hasattr(node.function, "name"):
                        self.problem(
                            _l("{function} takes a list: write $min([a, b])"), {"function": node.function.name}
                        )
                    else:
                        self.problem(_l("a function takes a list: write $min([a, b])"))
                elif lit is not None:
                    for m in lit.value:
                        mt, mf, _ = self.infer(m)
                        if mt not in ("number", "any"):
                            self.problem(
                                _l("{what} is {type}, a number is needed here"),
                                {"what": self.describe(mf, mt, m), "type": _TYPE_WORDS.get(mt, mt)},
                                needle=mf.name if mf else None,
                            )
            return "number", None, None
        self.problem(
            _l("this construct is not supported in a policy rule: {construct}"), {"construct": type(node).__name__}
        )
        return "any", None, None

    def describe(self, f: Field | None, t: str, node: Any = None) -> str:
        if f is not None:
            return f"'{f.name}'"
        if node is not None and isinstance(node, rast.LiteralExpressionBase):
            return literal_text(node.value)
        return _THIS_VALUE

    def expect_bool(self, t: str, f: Field | None, node: Any) -> None:
        if t not in ("bool", "any"):
            self.problem(
                _l("a condition must be true/false, but {what} is {type}"),
                {"what": self.describe(f, t, node), "type": _TYPE_WORDS.get(t, t)},
                _l("compare it, e.g. employees >= 10"),
                None,
                f.name if f else None,
            )

    def comparison(self, node: Any) -> tuple[str, None, None]:
        lt, lf, lv = self.infer(node.left)
        rt, rf, rv = self.infer(node.right)
        if "null" in (lt, rt):
            self.problem(
                _l("comparing with null never holds: a missing value never satisfies a comparison"),
                None,
                _l("leave the condition out, or compare with a real value"),
            )
            return "bool", None, None
        if "any" not in (lt, rt) and lt != rt:
            f = lf or rf
            other_t = rt if lf else lt
            other_node = node.right if lf else node.left
            if f is not None:
                hint, hint_params = self.type_hint(f)
                self.problem(
                    _l("'{field}' is {type} and cannot be compared with {what} ({other_type})"),
                    {
                        "field": f.name,
                        "type": _TYPE_WORDS[lt if lf else rt],
                        "what": self.describe(None, other_t, other_node),
                        "other_type": _TYPE_WORDS.get(other_t, other_t),
                    },
                    hint,
                    hint_params,
                    f.name,
                )
            else:
                self.problem(
                    _l("cannot compare {left_type} with {right_type}"),
                    {"left_type": _TYPE_WORDS.get(lt, lt), "right_type": _TYPE_WORDS.get(rt, rt)},
                )
            return "bool", None, None
        if node.type in _ORDERED and lt in ("bool", "list"):
            self.problem(
                _l("{type} has no order: use == or !="),
                {"type": _TYPE_WORDS[lt]},
                needle=(lf or rf).name if (lf or rf) else None,  # type: ignore[union-attr]
            )
        for f, v in ((lf, rv), (rf, lv)):
            if f is not None and f.type == ENUM and isinstance(v, str) and v not in f.choices:
                self.problem(
                    _l("'{value}' is not a value of '{field}'"),
                    {"value": v, "field": f.name},
                    _l("allowed values: {choices}"),
                    {"choices": ", ".join(f.choices)},
                    f'"{v}"',
                )
        return "bool", None, None

    def contains(self, node: Any) -> tuple[str, None, None]:
        mt, mf, mv = self.infer(node.member)
        ct, cf, cv = self.infer(node.container)
        if ct == "list" and cv is not None:  # x in [literal, ...]
            for m in cv.value:
                t = _literal_type(m)
                if mt not in ("any",) and t not in ("any", mt):
                    self.problem(
                        _l("{what} is {type} but the list holds {value} ({other_type})"),
                        {
                            "what": self.describe(mf, mt, node.member),
                            "type": _TYPE_WORDS.get(mt, mt),
                            "value": literal_text(getattr(m, "value", None)),
                            "other_type": _TYPE_WORDS.get(t, t),
                        },
                        needle=mf.name if mf else None,
                    )
                if (
                    mf is not None
                    and mf.type == ENUM
                    and isinstance(getattr(m, "value", None), str)
                    and m.value not in mf.choices
                ):
                    self.problem(
                        _l("'{value}' is not a value of '{field}'"),
                        {"value": m.value, "field": mf.name},
                        _l("allowed values: {choices}"),
                        {"choices": ", ".join(mf.choices)},
                        f'"{m.value}"',
                    )
        elif ct == "list":
            if mt not in ("string", "any"):
                self.problem(
                    _l("'{field}' holds text; {what} is {type}") if cf else _l("the list holds text; {what} is {type}"),
                    {"what": self.describe(mf, mt, node.member), "type": _TYPE_WORDS.get(mt, mt)}
                    | ({"field": cf.name} if cf else {}),
                    _l('e.g. "外贸" in tags'),
                    None,
                    mf.name if mf else None,
                )
        elif ct == "string":
            if mt not in ("string", "any"):
                self.problem(
                    _l("only text can be found in text; {what} is {type}"),
                    {"what": self.describe(mf, mt, node.member), "type": _TYPE_WORDS.get(mt, mt)},
                )
        elif ct != "any":
            self.problem(
                _l("'in' needs a list or text on the right, {what} is {type}"),
                {"what": self.describe(cf, ct, node.container), "type": _TYPE_WORDS.get(ct, ct)},
                needle=cf.name if cf else None,
            )
        return "bool", None, None

    @staticmethod
    def type_hint(f: Field) -> tuple[str, dict[str, Any]]:
        if f.type == ENUM:
            return _l("'{field}' takes one of: {choices} (quoted)"), {"field": f.name, "choices": ", ".join(f.choices)}
        if f.type == DATE:
            return _l('write a date as d"2025-01-01"'), {}
        if f.type in (INT, MONEY):
            return _l("'{field}' is a number: write it without quotes, e.g. {field} >= 100"), {"field": f.name}
        if f.type == BOOL:
            return _l("'{field}' is true/false: write {field} or not {field}"), {"field": f.name}
        return _l("'{field}' is text: quote the value"), {"field": f.name}


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
    base: dict[str, Any] = dict(clause_code=None, part=part, expression=text)
    if not text:
        message = _l("the when expression is empty") if part == "when" else _l("the amount expression is empty")
        return [RuleProblem.of(message, **base)]
    bounds = text_problem(text)
    if bounds is not None:
        message, params, hint, position = bounds
        return [RuleProblem.of(message, params, hint=hint, position=position, **base)]
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
        hint = _l('a date is written d"2025-01-01"; lists as ["a", "b"]; functions as $min([a, b])')
        return [
            RuleProblem.of(
                _l("the rule does not parse ({error})"), {"error": exc.message}, hint=hint, position=pos, **base
            )
        ]
    except rerrors.RegexSyntaxError as exc:
        return [RuleProblem.of(_l("invalid regular expression: {error}"), {"error": exc.error}, **base)]
    except rerrors.EngineError as exc:
        return [RuleProblem.of(_l("the rule does not parse: {error}"), {"error": exc.message}, **base)]
    except RecursionError:
        return [RuleProblem.of(_l("the rule nests too deeply to be read"), hint=DEPTH_HINT, **base)]
    except Exception as exc:  # noqa: BLE001 - rule-engine fails on some input ({{7*7}}: TypeError): a problem, not a 500
        error = f"{type(exc).__name__}: {exc}"
        return [RuleProblem.of(_l("the rule does not parse ({error})"), {"error": error}, **base)]
    too_big = tree_problem(tree)
    if too_big is not None:
        return [RuleProblem.of(too_big[0], too_big[1], hint=too_big[2], **base)]
    checker = _Checker(kind, text, None, part)
    t, f, _ = checker.infer(tree)
    if part == "when" and t not in ("bool", "any"):
        checker.problem(
            _l("a condition must be true/false, but this is {type}"),
            {"type": _TYPE_WORDS.get(t, t)},
            _l("compare it, e.g. revenue >= 20000000"),
        )
    if part == "amount" and t not in ("number", "any"):
        checker.problem(
            _l("the amount is not a number (it is {type})"),
            {"type": _TYPE_WORDS.get(t, t)},
            _l("an amount is yuan, e.g. 10000 or tax_paid * 0.015"),
        )
    if checker.problems:
        return checker.problems
    # Our checker found nothing: rule-engine's own typed parse is the final word.
    try:
        parse(kind, text)
    except rerrors.SymbolResolutionError as exc:
        return [
            RuleProblem.of(
                _l("unknown field '{field}'"),
                {"field": exc.symbol_name},
                hint=_l("did you mean '{close}'?") if exc.suggestion else None,
                hint_params={"close": exc.suggestion} if exc.suggestion else None,
                **base,
            )
        ]
    except rerrors.EngineError as exc:
        return [
            RuleProblem.of(
                _l("the rule is not valid for a {kind}: {error}"), {"kind": kind, "error": exc.message}, **base
            )
        ]
    except Exception as exc:  # noqa: BLE001 - as above: whatever rule-engine raises on odd input is a problem
        error = f"{type(exc).__name__}: {exc}"
        return [
            RuleProblem.of(_l("the rule is not valid for a {kind} ({error})"), {"kind": kind, "error": error}, **base)
        ]
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
