"""Reading a pack: YAML with line numbers and raw scalar text, then keys, types and choices of each policy."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import yaml

from eligibility.fields import FIELDS
from kit.i18n import _l
from policies.errors import PackRefused
from policies.packs import limits
from policies.schemas import (
    CONTENT_KEYS,
    ClauseContent,
    PackProblem,
    PolicyContent,
    PolicyGuide,
    PolicyTestCase,
    TestExpect,
)

POLICY_KEYS = (*CONTENT_KEYS, "clauses", "tests")
REQUIRED_POLICY_KEYS = ("code", "title", "issuer", "subject", "mode", "effective_from", "budget", "clauses")
CLAUSE_KEYS = ("code", "title", "when", "amount")
TEST_KEYS = ("name", "profile", "as_of", "expect")
EXPECT_KEYS = ("eligible", "clauses", "amount")
GUIDE_KEYS = ("who", "materials", "processing_days", "where", "contact")
GUIDE_TEXT_MAX = 500  # characters of who / where / contact and of one material
GUIDE_MATERIALS_MAX = 30
CHOICES = {
    "subject": ("talent", "enterprise"),
    "mode": ("auto", "apply"),
    "combine": ("first", "sum"),
    "once": ("lifetime", "per_year", "per_version"),
}
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FEN = Decimal("0.01")
QUOTE_HINT = _l(
    "an expression that starts with a quote must be quoted whole or written as a block scalar: "
    "`when: >-` and the rule on the next line"
)
# PyYAML's own words for the usual mistakes, so a page shows them in the reader's language (app/i18n.py ``shown``).
YAML_WORDS = (
    _l("mapping values are not allowed here"),
    _l("could not find expected ':'"),
    _l("did not find expected key"),
    _l("did not find expected '-' indicator"),
    _l("found character '\\t' that cannot start any token"),
    _l("found unexpected end of stream"),
    _l("expected a single document in the stream"),
    _l("but found another document"),
    _l("while scanning a simple key"),
    _l("while scanning a quoted scalar"),
    _l("while scanning a plain scalar"),
    _l("while parsing a block mapping"),
    _l("while parsing a block collection"),
    _l("while parsing a flow mapping"),
    _l("while parsing a flow sequence"),
    _l("expected {expected}, but found {found}"),
)


class _Located:
    """Line numbers (1-based) and raw scalar text of every node of one YAML document, by path."""

    def __init__(self) -> None:
        self.lines: dict[tuple, int] = {}
        self.raw: dict[tuple, str] = {}

    def walk(self, node: yaml.Node, path: tuple = ()) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            self.raw[path] = node.value
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                self.walk(child, path + (i,))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode):
                    self.walk(v, path + (k.value,))

    def sub(self, prefix: tuple) -> _Located:
        out = _Located()
        n = len(prefix)
        out.lines = {p[n:]: line for p, line in self.lines.items() if p[:n] == prefix}
        out.raw = {p[n:]: text for p, text in self.raw.items() if p[:n] == prefix}
        return out

    def line(self, *path) -> int | None:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)


def parse_pack_text(text: str) -> list[tuple[Any, _Located]]:
    """The policies of a pack (one mapping, or a ``policies:`` list) with their locations; YAML errors refuse, and
    so does a pack over the bounds of policies.packs.limits (before its data is built)."""
    try:
        limits.check_text(text)
        node = limits.compose(text)
        data = limits.construct(node) if node is not None else None
    except limits.PackLimit as exc:
        raise PackRefused([exc.problem]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        bad_line = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
        hint = (
            QUOTE_HINT
            if re.search(r":\s*[\"'][^\"']*[\"']\s+\S", bad_line)
            else _l("check the indentation and the quoting on this line and the one before")
        )
        raise PackRefused(
            [
                PackProblem.of(
                    _l("YAML error: {problem} ({yaml_context})") if context else _l("YAML error: {problem}"),
                    {"problem": problem, "yaml_context": context} if context else {"problem": problem},
                    hint=hint,
                    line=line,
                    expression=bad_line.strip() or None,
                )
            ]
        ) from None
    if node is None:
        raise PackRefused(
            [
                PackProblem.of(
                    _l("the file is empty"),
                    hint=_l("a pack holds one policy (code, title, …) or a list of them under `policies:`"),
                    line=1,
                )
            ]
        )
    loc = _Located()
    loc.walk(node)
    if isinstance(data, dict) and "policies" in data:
        extra = [k for k in data if k != "policies"]
        if extra or not isinstance(data["policies"], list):
            raise PackRefused(
                [
                    PackProblem.of(
                        _l("a pack with `policies:` holds only that list"),
                        hint=_l("move {keys} into a policy")
                        if extra
                        else _l("write `policies:` followed by `- code: …` entries"),
                        hint_params={"keys": ", ".join(map(str, extra))} if extra else None,
                        line=loc.line(),
                    )
                ]
            )
        return [(p, loc.sub(("policies", i))) for i, p in enumerate(data["policies"])]
    return [(data, loc)]


def _did_you_mean(word: str, choices, allowed: str = _l("allowed keys: {keys}")) -> tuple[str, dict[str, str]]:
    """A hint as (msgid, params): the closest allowed word, else the allowed ones."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if close:
        return _l("did you mean '{word}'?"), {"word": close[0]}
    return allowed, {"keys": ", ".join(choices)}


def _expression(value: Any, raw: str | None) -> str | None:
    """The text of an expression: YAML scalars (12000, true) mean the same expression as their text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return raw if raw is not None else str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _money(value: Any, raw: str | None) -> Decimal | None:
    if isinstance(value, bool):
        return None
    text = raw if isinstance(value, (int, float)) and raw is not None else value
    if isinstance(text, (int, float, str)):
        try:
            d = Decimal(str(text).replace(",", "").strip())
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    if isinstance(value, Decimal):
        return value
    return None


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _json_safe(value: Any, raw: dict, path: tuple) -> Any:
    """A test profile as JSON-safe data: dates as ISO text, YAML floats as their own text (never a float)."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v, raw, path + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v, raw, path + (i,)) for i, v in enumerate(value)]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return raw.get(path, repr(value))
    if isinstance(value, Decimal):
        return str(value)
    return value


def validate_structure(
    data: Any, loc: _Located | None = None, partial: dict | None = None
) -> tuple[PolicyContent | None, list[PackProblem]]:
    """Keys, types and choices of one policy (as parsed from YAML or posted as JSON); rules are not checked here.

    ``partial`` (a dict) receives what did parse, so rules can still be checked when other keys are wrong."""
    loc = loc or _Located()
    probs: list[PackProblem] = []
    code = data.get("code") if isinstance(data, dict) else None
    pcode = str(code) if code is not None else None

    def problem(
        message: str,
        *path,
        clause: str | None = None,
        hint: str | None = None,
        expression=None,
        params: dict | None = None,
        hint_params: dict | None = None,
    ):
        if isinstance(hint, tuple):  # (msgid, params) from _did_you_mean
            hint, hint_params = hint
        probs.append(
            PackProblem.of(
                message,
                params,
                hint=hint,
                hint_params=hint_params,
                policy_code=pcode,
                clause_code=clause,
                field=_path_text(path) or None,
                line=loc.line(*path),
                expression=expression,
            )
        )

    bad = limits.data_problem(data)
    if bad is not None:
        path, message, params, hint = bad
        problem(message, *path, params=params, hint=hint)
        return None, probs
    if not isinstance(data, dict):
        problem(_l("a policy is a mapping of keys (code, title, issuer, …)"))
        return None, probs
    for k in data:
        if k not in POLICY_KEYS:
            problem(_l("unknown key '{key}'"), k, params={"key": k}, hint=_did_you_mean(k, POLICY_KEYS))
    for k in REQUIRED_POLICY_KEYS:
        if data.get(k) in (None, ""):
            problem(_l("'{key}' is required"), k, params={"key": k})
    out: dict[str, Any] = partial if partial is not None else {}
    if code is not None:
        if not isinstance(code, str) or not _CODE.match(code):
            problem(
                _l("a policy code is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"),
                "code",
                hint=_l("e.g. NC-TALENT-HOUSING-2025"),
            )
        out["code"] = str(code)
    for k in ("title", "issuer", "source", "summary", "exclusive_group"):
        v = data.get(k)
        if v is None:
            continue
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            problem(_l("'{key}' must be text"), k, params={"key": k})
        else:
            out[k] = str(v).strip()
    if "exclusive_group" in out and not _CODE.match(out["exclusive_group"]):
        problem(_l("an exclusive group is 1-64 letters, digits, '.', '_' or '-'"), "exclusive_group")
    for k, choices in CHOICES.items():
        v = data.get(k)
        if v is None:
            continue
        if v not in choices:
            problem(
                _l("'{key}' must be one of {choices}, not {value}"),
                k,
                params={"key": k, "choices": ", ".join(choices), "value": repr(v)},
                hint=_did_you_mean(v, choices)
                if difflib.get_close_matches(str(v), choices, n=1, cutoff=0.6)
                else (_l("allowed: {choices}"), {"choices": ", ".join(choices)}),
            )
        else:
            out[k] = v
    if data.get("top_up") is not None:
        v = data["top_up"]
        if isinstance(v, bool):
            out["top_up"] = v
        else:
            problem(
                _l("'top_up' must be true or false, not {value}"),
                "top_up",
                params={"value": repr(v)},
                hint=_l("top_up: true pays only the difference"),
            )
    if data.get("publicity_days") is not None:
        v = data["publicity_days"]
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 60:
            out["publicity_days"] = v
        else:
            problem(
                _l("'publicity_days' must be a whole number of working days from 0 to 60, not {value}"),
                "publicity_days",
                params={"value": repr(v)},
                hint=_l("publicity_days: 5 shows the payees publicly for 5 working days before paying"),
            )
    for k in ("effective_from", "effective_to"):
        v = data.get(k)
        if v is None:
            continue
        d = _date(v)
        if d is None:
            problem(_l("'{key}' must be a date YYYY-MM-DD, not {value}"), k, params={"key": k, "value": repr(v)})
        else:
            out[k] = d
    if out.get("effective_to") and out.get("effective_from") and out["effective_to"] < out["effective_from"]:
        problem(_l("'effective_to' is before 'effective_from'"), "effective_to")
    for k in ("budget", "cap_per_subject"):
        v = data.get(k)
        if v is None:
            continue
        m = _money(v, loc.raw.get((k,)))
        if m is None:
            problem(
                _l("'{key}' must be an amount in yuan (a number), not {value}"),
                k,
                params={"key": k, "value": repr(v)},
                hint=_l("e.g. 50000000.00"),
            )
        elif m < 0:
            problem(_l("'{key}' must not be negative"), k, params={"key": k})
        elif m >= limits.MAX_YUAN:
            problem(
                _l("'{key}' is beyond the largest amount accepted ({max} yuan)"),
                k,
                params={"key": k, "max": f"{limits.MAX_YUAN:,f}"},
            )
        elif m != m.quantize(_FEN):
            problem(_l("'{key}' has more than 2 decimals (fen is the smallest unit)"), k, params={"key": k})
        else:
            out[k] = m.quantize(_FEN)
    if "when" in data and data["when"] is not None:
        expr = _expression(data["when"], loc.raw.get(("when",)))
        if not expr:
            problem(_l("'when' must be a rule expression (text)"), "when")
        else:
            out["when"] = expr
    if data.get("guide") is not None:
        guide = _guide(data["guide"], problem)
        if guide is not None:
            out["guide"] = guide
    out["clauses"] = _clauses(data.get("clauses"), loc, problem)
    out["tests"] = _tests(data.get("tests"), loc, problem, out.get("subject"))
    if probs:
        return None, probs
    try:
        return PolicyContent(**out), probs
    except Exception as exc:  # noqa: BLE001 - any residual type error becomes a problem, not a traceback
        problem(_l("invalid policy: {error}"), params={"error": exc})
        return None, probs


def _text_ok(v: Any) -> bool:
    return isinstance(v, (str, int)) and not isinstance(v, bool) and 0 < len(str(v).strip()) <= GUIDE_TEXT_MAX


def _guide(value: Any, problem) -> PolicyGuide | None:
    """申兑指南: a mapping of who, materials (a list), processing_days (working days), where, contact; each optional,
    at least one given."""
    if not isinstance(value, dict) or not value:
        problem(
            _l("'guide' must be a mapping of who, materials, processing_days, where and contact"),
            "guide",
            hint=_l(
                "write guide: on its own line, then who:, materials:, processing_days:, where:, contact: indented under it"
            ),
        )
        return None
    bad = False
    for k in value:
        if k not in GUIDE_KEYS:
            problem(
                _l("unknown key '{key}' in the guide"),
                "guide",
                k,
                params={"key": k},
                hint=_did_you_mean(k, GUIDE_KEYS),
            )
            bad = True
    out: dict[str, Any] = {}
    for k in ("who", "where", "contact"):
        v = value.get(k)
        if v is None:
            continue
        if not _text_ok(v):
            problem(
                _l("guide '{key}' must be text of 1 to {max} characters"),
                "guide",
                k,
                params={"key": k, "max": GUIDE_TEXT_MAX},
            )
            bad = True
        else:
            out[k] = str(v).strip()
    materials = value.get("materials")
    if materials is not None:
        if (
            not isinstance(materials, list)
            or not materials
            or len(materials) > GUIDE_MATERIALS_MAX
            or not all(_text_ok(m) for m in materials)
        ):
            problem(
                _l("guide 'materials' must be a list of 1 to {n} items, each text of at most {max} characters"),
                "guide",
                "materials",
                params={"n": GUIDE_MATERIALS_MAX, "max": GUIDE_TEXT_MAX},
                hint=_l("materials: [营业执照, 上年度研发费用专项审计报告]"),
            )
            bad = True
        else:
            out["materials"] = [str(m).strip() for m in materials]
    days = value.get("processing_days")
    if days is not None:
        if isinstance(days, int) and not isinstance(days, bool) and 1 <= days <= 365:
            out["processing_days"] = days
        else:
            problem(
                _l("guide 'processing_days' must be a whole number of working days from 1 to 365, not {value}"),
                "guide",
                "processing_days",
                params={"value": repr(days)},
            )
            bad = True
    return None if bad else PolicyGuide(**out)


def _profile_keys(subject: str) -> list[str]:
    return [f.name for f in FIELDS[subject]]


def _path_text(path: tuple) -> str:
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text


def _clauses(value: Any, loc: _Located, problem) -> list[ClauseContent]:
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        problem(_l("'clauses' must be a non-empty list of clauses (code, title, when, amount)"), "clauses")
        return []
    if len(value) > limits.MAX_CLAUSES:
        problem(
            _l("a policy has at most {max} clauses, not {n}"),
            "clauses",
            params={"max": limits.MAX_CLAUSES, "n": len(value)},
        )
        return []
    out, seen = [], {}
    for i, c in enumerate(value):
        if not isinstance(c, dict):
            problem(_l("a clause is a mapping with code, title, when and amount"), "clauses", i)
            continue
        ccode = c.get("code")
        cc = str(ccode) if ccode is not None else None
        for k in c:
            if k not in CLAUSE_KEYS:
                problem(
                    _l("unknown key '{key}' in a clause"),
                    "clauses",
                    i,
                    k,
                    clause=cc,
                    params={"key": k},
                    hint=_did_you_mean(k, CLAUSE_KEYS),
                )
        if ccode is None or not isinstance(ccode, (str, int)) or not _CODE.match(str(ccode)):
            problem(_l("a clause needs a code (letters, digits, '.', '_' or '-')"), "clauses", i, "code", clause=cc)
            ok = False
        else:
            ok = True
            if cc in seen:
                problem(
                    _l("duplicate clause code '{code}' (clause {first} and clause {second})"),
                    "clauses",
                    i,
                    "code",
                    clause=cc,
                    params={"code": cc, "first": seen[cc] + 1, "second": i + 1},
                    hint=_l("every clause of a policy needs its own code"),
                )
            seen.setdefault(cc, i)
        exprs = {}
        for part in ("when", "amount"):
            if c.get(part) is None:
                problem(_l("a clause needs '{key}'"), "clauses", i, part, clause=cc, params={"key": part})
                continue
            e = _expression(c[part], loc.raw.get(("clauses", i, part)))
            if not e:
                problem(
                    _l("'{key}' must be a rule expression (text)"), "clauses", i, part, clause=cc, params={"key": part}
                )
            exprs[part] = e
        title = c.get("title", "")
        if ok and len(exprs) == 2 and all(exprs.values()):
            out.append(
                ClauseContent(code=cc, title=str(title or "").strip(), when=exprs["when"], amount=exprs["amount"])
            )
    return out


def _tests(value: Any, loc: _Located, problem, subject: str | None) -> list[PolicyTestCase]:
    if value is None:
        return []
    if not isinstance(value, list):
        problem(_l("'tests' must be a list of tests (name, profile, as_of, expect)"), "tests")
        return []
    if len(value) > limits.MAX_TESTS:
        problem(
            _l("a policy has at most {max} tests, not {n}"), "tests", params={"max": limits.MAX_TESTS, "n": len(value)}
        )
        return []
    out = []
    for i, t in enumerate(value):
        if not isinstance(t, dict):
            problem(_l("a test is a mapping with name, profile, as_of and expect"), "tests", i)
            continue
        for k in t:
            if k not in TEST_KEYS:
                problem(
                    _l("unknown key '{key}' in a test"),
                    "tests",
                    i,
                    k,
                    params={"key": k},
                    hint=_did_you_mean(k, TEST_KEYS),
                )
        name = str(t.get("name") or f"test {i + 1}")
        profile = t.get("profile")
        if not isinstance(profile, dict):
            problem(
                _l("test '{name}' needs a profile (a mapping of profile fields)"),
                "tests",
                i,
                "profile",
                params={"name": name},
            )
            continue
        unknown = [k for k in profile if subject and k not in _profile_keys(subject)]
        for k in unknown:
            problem(
                _l("test '{name}': unknown profile field '{key}'"),
                "tests",
                i,
                "profile",
                k,
                params={"name": name, "key": k},
                hint=_did_you_mean(k, _profile_keys(subject), _l("fields: {keys}")),
            )
        if unknown:
            continue
        as_of = None
        if t.get("as_of") is not None:
            as_of = _date(t["as_of"])
            if as_of is None:
                problem(
                    _l("test '{name}': 'as_of' must be a date YYYY-MM-DD"), "tests", i, "as_of", params={"name": name}
                )
                continue
        expect = t.get("expect")
        if not isinstance(expect, dict) or not isinstance(expect.get("eligible"), bool):
            problem(
                _l("test '{name}' needs expect: {{eligible: true|false, …}}"),
                "tests",
                i,
                "expect",
                params={"name": name},
            )
            continue
        bad = [k for k in expect if k not in EXPECT_KEYS]
        for k in bad:
            problem(
                _l("unknown key '{key}' in the expectation of test '{name}'"),
                "tests",
                i,
                "expect",
                k,
                params={"key": k, "name": name},
                hint=_did_you_mean(k, EXPECT_KEYS),
            )
        amount = None
        if expect.get("amount") is not None:
            amount = _money(expect["amount"], loc.raw.get(("tests", i, "expect", "amount")))
            if amount is None or abs(amount) >= limits.MAX_YUAN:
                problem(
                    _l("test '{name}': expected amount must be a number of yuan"),
                    "tests",
                    i,
                    "expect",
                    "amount",
                    params={"name": name},
                )
                continue
            amount = amount.quantize(_FEN, ROUND_HALF_UP)
        clauses = expect.get("clauses")
        if clauses is not None and (
            not isinstance(clauses, list) or not all(isinstance(c, (str, int)) for c in clauses)
        ):
            problem(
                _l("test '{name}': expected clauses must be a list of clause codes"),
                "tests",
                i,
                "expect",
                "clauses",
                params={"name": name},
            )
            continue
        if bad:
            continue
        out.append(
            PolicyTestCase(
                name=name,
                profile=_json_safe(profile, loc.raw, ("tests", i, "profile")),
                as_of=as_of,
                expect=TestExpect(
                    eligible=expect["eligible"],
                    clauses=[str(c) for c in clauses] if clauses is not None else None,
                    amount=amount,
                ),
            )
        )
    return out
