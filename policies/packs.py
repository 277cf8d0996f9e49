"""Policy packs (policy-pack.md): YAML in, every problem out, checked content; and a version back to YAML.

Nothing here touches the database: ``read_pack`` turns a file into checked ``PolicyContent`` or raises
``PackRefused`` listing every problem (YAML, unknown keys, types, rules, the policy's own tests).
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from policies.errors import PackRefused
from policies.schemas import ClauseContent, PackProblem, PolicyContent, PolicyTestCase, TestExpect, TestOutcome

PACKS_DIR = Path(__file__).resolve().parent / "packs"

POLICY_KEYS = ("code", "title", "issuer", "subject", "mode", "effective_from", "effective_to", "budget",
               "cap_per_subject", "combine", "exclusive_group", "when", "source", "summary", "clauses", "tests")
REQUIRED_POLICY_KEYS = ("code", "title", "issuer", "subject", "mode", "effective_from", "budget", "clauses")
CLAUSE_KEYS = ("code", "title", "when", "amount")
TEST_KEYS = ("name", "profile", "as_of", "expect")
EXPECT_KEYS = ("eligible", "clauses", "amount")
CHOICES = {"subject": ("talent", "enterprise"), "mode": ("auto", "apply"), "combine": ("first", "sum")}
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_FEN = Decimal("0.01")
QUOTE_HINT = ("an expression that starts with a quote must be quoted whole or written as a block scalar: "
              "`when: >-` and the rule on the next line")


def bundled_pack_paths() -> list[Path]:
    """The realistic policy packs shipped with Zhida (``zhida demo`` loads and publishes them)."""
    return sorted(PACKS_DIR.glob("*.yaml"))


# --------------------------------------------------------------------------- YAML with lines and raw text


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

    def sub(self, prefix: tuple) -> "_Located":
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
    """The policies of a pack (one mapping, or a ``policies:`` list) with their locations; YAML errors refuse."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML error: {problem}" + (f" ({context})" if context else "")
        bad_line = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
        hint = QUOTE_HINT if re.search(r":\s*[\"'][^\"']*[\"']\s+\S", bad_line) else \
            "check the indentation and the quoting on this line and the one before"
        raise PackRefused([PackProblem(line=line, message=message, hint=hint,
                                       expression=bad_line.strip() or None)]) from None
    if node is None:
        raise PackRefused([PackProblem(line=1, message="the file is empty", hint="a pack holds one policy "
                                       "(code, title, …) or a list of them under `policies:`")])
    loc = _Located()
    loc.walk(node)
    if isinstance(data, dict) and "policies" in data:
        extra = [k for k in data if k != "policies"]
        if extra or not isinstance(data["policies"], list):
            raise PackRefused([PackProblem(line=loc.line(), message="a pack with `policies:` holds only that list",
                                           hint=f"move {', '.join(map(str, extra))} into a policy" if extra else
                                           "write `policies:` followed by `- code: …` entries")])
        return [(p, loc.sub(("policies", i))) for i, p in enumerate(data["policies"])]
    return [(data, loc)]


# --------------------------------------------------------------------------- structure and types


def _did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "allowed keys: " + ", ".join(choices)


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


def validate_structure(data: Any, loc: _Located | None = None, partial: dict | None = None
                       ) -> tuple[PolicyContent | None, list[PackProblem]]:
    """Keys, types and choices of one policy (as parsed from YAML or posted as JSON); rules are not checked here.

    ``partial`` (a dict) receives what did parse, so rules can still be checked when other keys are wrong."""
    loc = loc or _Located()
    probs: list[PackProblem] = []
    code = data.get("code") if isinstance(data, dict) else None
    pcode = str(code) if code is not None else None

    def problem(message: str, *path, clause: str | None = None, hint: str | None = None, expression=None):
        probs.append(PackProblem(policy_code=pcode, clause_code=clause, field=_path_text(path) or None,
                                 line=loc.line(*path), message=message, hint=hint, expression=expression))

    if not isinstance(data, dict):
        problem("a policy is a mapping of keys (code, title, issuer, …)")
        return None, probs
    for k in data:
        if k not in POLICY_KEYS:
            problem(f"unknown key '{k}'", k, hint=_did_you_mean(k, POLICY_KEYS))
    for k in REQUIRED_POLICY_KEYS:
        if data.get(k) in (None, ""):
            problem(f"'{k}' is required", k)
    out: dict[str, Any] = partial if partial is not None else {}
    if code is not None:
        if not isinstance(code, str) or not _CODE.match(code):
            problem("a policy code is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
                    "code", hint="e.g. NC-TALENT-HOUSING-2025")
        out["code"] = str(code)
    for k in ("title", "issuer", "source", "summary", "exclusive_group"):
        v = data.get(k)
        if v is None:
            continue
        if not isinstance(v, (str, int)) or isinstance(v, bool):
            problem(f"'{k}' must be text", k)
        else:
            out[k] = str(v).strip()
    if "exclusive_group" in out and not _CODE.match(out["exclusive_group"]):
        problem("an exclusive group is 1-64 letters, digits, '.', '_' or '-'", "exclusive_group")
    for k, choices in CHOICES.items():
        v = data.get(k)
        if v is None:
            continue
        if v not in choices:
            problem(f"'{k}' must be one of {', '.join(choices)}, not {v!r}", k, hint=_did_you_mean(v, choices)
                    if difflib.get_close_matches(str(v), choices, n=1, cutoff=0.6) else f"allowed: {', '.join(choices)}")
        else:
            out[k] = v
    for k in ("effective_from", "effective_to"):
        v = data.get(k)
        if v is None:
            continue
        d = _date(v)
        if d is None:
            problem(f"'{k}' must be a date YYYY-MM-DD, not {v!r}", k)
        else:
            out[k] = d
    if out.get("effective_to") and out.get("effective_from") and out["effective_to"] < out["effective_from"]:
        problem("'effective_to' is before 'effective_from'", "effective_to")
    for k in ("budget", "cap_per_subject"):
        v = data.get(k)
        if v is None:
            continue
        m = _money(v, loc.raw.get((k,)))
        if m is None:
            problem(f"'{k}' must be an amount in yuan (a number), not {v!r}", k, hint="e.g. 50000000.00")
        elif m < 0:
            problem(f"'{k}' must not be negative", k)
        elif m != m.quantize(_FEN):
            problem(f"'{k}' has more than 2 decimals (fen is the smallest unit)", k)
        else:
            out[k] = m.quantize(_FEN)
    if "when" in data and data["when"] is not None:
        expr = _expression(data["when"], loc.raw.get(("when",)))
        if not expr:
            problem("'when' must be a rule expression (text)", "when")
        else:
            out["when"] = expr
    out["clauses"] = _clauses(data.get("clauses"), loc, problem)
    out["tests"] = _tests(data.get("tests"), loc, problem, out.get("subject"))
    if probs:
        return None, probs
    try:
        return PolicyContent(**out), probs
    except Exception as exc:  # noqa: BLE001 - any residual type error becomes a problem, not a traceback
        problem(f"invalid policy: {exc}")
        return None, probs


def _profile_keys(subject: str) -> list[str]:
    from eligibility.fields import FIELDS

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
        problem("'clauses' must be a non-empty list of clauses (code, title, when, amount)", "clauses")
        return []
    out, seen = [], {}
    for i, c in enumerate(value):
        if not isinstance(c, dict):
            problem("a clause is a mapping with code, title, when and amount", "clauses", i)
            continue
        ccode = c.get("code")
        cc = str(ccode) if ccode is not None else None
        for k in c:
            if k not in CLAUSE_KEYS:
                problem(f"unknown key '{k}' in a clause", "clauses", i, k, clause=cc, hint=_did_you_mean(k, CLAUSE_KEYS))
        if ccode is None or not isinstance(ccode, (str, int)) or not _CODE.match(str(ccode)):
            problem("a clause needs a code (letters, digits, '.', '_' or '-')", "clauses", i, "code", clause=cc)
            ok = False
        else:
            ok = True
            if cc in seen:
                problem(f"duplicate clause code '{cc}' (clause {seen[cc] + 1} and clause {i + 1})", "clauses", i, "code",
                        clause=cc, hint="every clause of a policy needs its own code")
            seen.setdefault(cc, i)
        exprs = {}
        for part in ("when", "amount"):
            if c.get(part) is None:
                problem(f"a clause needs '{part}'", "clauses", i, part, clause=cc)
                continue
            e = _expression(c[part], loc.raw.get(("clauses", i, part)))
            if not e:
                problem(f"'{part}' must be a rule expression (text)", "clauses", i, part, clause=cc)
            exprs[part] = e
        title = c.get("title", "")
        if ok and len(exprs) == 2 and all(exprs.values()):
            out.append(ClauseContent(code=cc, title=str(title or "").strip(), when=exprs["when"], amount=exprs["amount"]))
    return out


def _tests(value: Any, loc: _Located, problem, subject: str | None) -> list[PolicyTestCase]:
    if value is None:
        return []
    if not isinstance(value, list):
        problem("'tests' must be a list of tests (name, profile, as_of, expect)", "tests")
        return []
    out = []
    for i, t in enumerate(value):
        if not isinstance(t, dict):
            problem("a test is a mapping with name, profile, as_of and expect", "tests", i)
            continue
        for k in t:
            if k not in TEST_KEYS:
                problem(f"unknown key '{k}' in a test", "tests", i, k, hint=_did_you_mean(k, TEST_KEYS))
        name = str(t.get("name") or f"test {i + 1}")
        profile = t.get("profile")
        if not isinstance(profile, dict):
            problem(f"test '{name}' needs a profile (a mapping of profile fields)", "tests", i, "profile")
            continue
        unknown = [k for k in profile if subject and k not in _profile_keys(subject)]
        for k in unknown:
            problem(f"test '{name}': unknown profile field '{k}'", "tests", i, "profile", k,
                    hint=_did_you_mean(k, _profile_keys(subject)).replace("allowed keys", "fields"))
        if unknown:
            continue
        as_of = None
        if t.get("as_of") is not None:
            as_of = _date(t["as_of"])
            if as_of is None:
                problem(f"test '{name}': 'as_of' must be a date YYYY-MM-DD", "tests", i, "as_of")
                continue
        expect = t.get("expect")
        if not isinstance(expect, dict) or not isinstance(expect.get("eligible"), bool):
            problem(f"test '{name}' needs expect: {{eligible: true|false, …}}", "tests", i, "expect")
            continue
        bad = [k for k in expect if k not in EXPECT_KEYS]
        for k in bad:
            problem(f"unknown key '{k}' in the expectation of test '{name}'", "tests", i, "expect", k,
                    hint=_did_you_mean(k, EXPECT_KEYS))
        amount = None
        if expect.get("amount") is not None:
            amount = _money(expect["amount"], loc.raw.get(("tests", i, "expect", "amount")))
            if amount is None:
                problem(f"test '{name}': expected amount must be a number of yuan", "tests", i, "expect", "amount")
                continue
            amount = amount.quantize(_FEN, ROUND_HALF_UP)
        clauses = expect.get("clauses")
        if clauses is not None and (not isinstance(clauses, list) or not all(isinstance(c, (str, int)) for c in clauses)):
            problem(f"test '{name}': expected clauses must be a list of clause codes", "tests", i, "expect", "clauses")
            continue
        if bad:
            continue
        out.append(PolicyTestCase(
            name=name, profile=_json_safe(profile, loc.raw, ("tests", i, "profile")), as_of=as_of,
            expect=TestExpect(eligible=expect["eligible"], clauses=[str(c) for c in clauses] if clauses is not None else None,
                              amount=amount)))
    return out


# --------------------------------------------------------------------------- rules and own tests


def to_ruleset(content: PolicyContent, key: str | None = None, version_id: int | None = None):
    """The eligibility RuleSet of a policy's content (what the matcher and evaluator take)."""
    from eligibility.schemas import RuleClause, RuleSet

    return RuleSet(
        key=key or f"{content.code}@draft", version_id=version_id, code=content.code, subject=content.subject,
        when=content.when, combine=content.combine, cap_per_subject=content.cap_per_subject,
        effective_from=content.effective_from, effective_to=content.effective_to,
        clauses=[RuleClause(code=c.code, title=c.title, when=c.when, amount=c.amount) for c in content.clauses])


def check_rules(content: PolicyContent, loc: _Located | None = None) -> list[PackProblem]:
    """The rule problems (unknown field, type mismatch, amount not a number, …) of every expression."""
    from eligibility.rules import check_ruleset

    loc = loc or _Located()
    out = []
    for rp in check_ruleset(to_ruleset(content)):
        ccode = getattr(rp, "clause_code", None)
        part = getattr(rp, "part", None) or "when"
        # Clause codes may repeat in a refused pack: find the clause by its code and expression.
        index = next((i for i, c in enumerate(content.clauses)
                      if c.code == ccode and getattr(c, part) == rp.expression),
                     next((i for i, c in enumerate(content.clauses) if c.code == ccode), None))
        path = ("clauses", index, part) if index is not None else (part,)
        out.append(PackProblem(policy_code=content.code, clause_code=ccode, field=part, expression=rp.expression,
                               position=rp.position, line=loc.line(*path), message=rp.message, hint=rp.hint))
    return out


def run_tests(content: PolicyContent) -> list[TestOutcome]:
    """Run the policy's own tests (assumes its rules check clean)."""
    from eligibility.errors import ProfileInvalid
    from eligibility.profiles import normalize_profile
    from eligibility.rules import evaluate

    ruleset = to_ruleset(content)
    outcomes = []
    for t in content.tests:
        try:
            profile = normalize_profile(content.subject, dict(t.profile), partial=True)
        except ProfileInvalid as exc:
            outcomes.append(TestOutcome(name=t.name, passed=False, expected=t.expect,
                                        message="the test profile is invalid: " + _problems_text(exc)))
            continue
        as_of = t.as_of or content.effective_from
        try:
            ev = evaluate(ruleset, profile, as_of)
        except Exception as exc:  # noqa: BLE001 - reported as the test's failure
            outcomes.append(TestOutcome(name=t.name, passed=False, expected=t.expect,
                                        message=f"evaluation failed: {getattr(exc, 'message', exc)}"))
            continue
        clauses = _met_clause_codes(ev)
        amount = Decimal(ev.amount).quantize(_FEN, ROUND_HALF_UP) if ev.eligible else Decimal("0.00")
        wrong = []
        if ev.eligible != t.expect.eligible:
            wrong.append(f"eligible is {str(ev.eligible).lower()}, expected {str(t.expect.eligible).lower()}")
        if t.expect.clauses is not None and clauses != t.expect.clauses:
            wrong.append(f"clauses are [{', '.join(clauses)}], expected [{', '.join(t.expect.clauses)}]")
        if t.expect.amount is not None and amount != t.expect.amount:
            wrong.append(f"amount is {amount}, expected {t.expect.amount}")
        outcomes.append(TestOutcome(name=t.name, passed=not wrong, expected=t.expect, eligible=ev.eligible,
                                    clauses=clauses, amount=amount, message="; ".join(wrong)))
    return outcomes


def _met_clause_codes(ev) -> list[str]:
    out = []
    for c in ev.clauses or []:
        if isinstance(c, str):
            out.append(c)
        elif getattr(c, "met", True):
            out.append(getattr(c, "code", None) or getattr(c, "clause_code"))
    return out


def _problems_text(exc) -> str:
    probs = getattr(exc, "problems", None) or []
    parts = []
    for p in probs:
        if isinstance(p, (tuple, list)) and len(p) == 2:
            parts.append(f"{p[0]}: {p[1]}")
        elif isinstance(p, dict):
            parts.append(f"{p.get('field', '')}: {p.get('reason') or p.get('message', '')}")
        else:
            parts.append(f"{getattr(p, 'field', '')}: {getattr(p, 'reason', None) or getattr(p, 'message', p)}")
    return "; ".join(parts) or str(getattr(exc, "message", exc))


def test_problems(content: PolicyContent, loc: _Located | None = None) -> list[PackProblem]:
    loc = loc or _Located()
    out = []
    codes = {c.code for c in content.clauses}
    for i, t in enumerate(content.tests):
        unknown = [c for c in (t.expect.clauses or []) if c not in codes]
        if unknown:
            out.append(PackProblem(policy_code=content.code, field=f"tests[{i}].expect.clauses",
                                   line=loc.line("tests", i, "expect", "clauses"),
                                   message=f"test '{t.name}' expects clause(s) {', '.join(unknown)} that the policy does not have",
                                   hint="clause codes: " + ", ".join(sorted(codes))))
    if out:
        return out
    for i, o in enumerate(run_tests(content)):
        if not o.passed:
            out.append(PackProblem(policy_code=content.code, field=f"tests[{i}]", line=loc.line("tests", i),
                                   message=f"own test '{o.name}' fails: {o.message}",
                                   hint="fix the rule or the test's expectation; a policy whose tests fail is not stored"))
    return out


test_problems.__test__ = False  # a function named test_* that pytest must not collect


def check_policy(data: Any, loc: _Located | None = None, *, require_tests: bool = True
                 ) -> tuple[PolicyContent | None, list[PackProblem]]:
    """Structure, then rules, then own tests (each only when the step before is clean)."""
    partial: dict = {}
    content, probs = validate_structure(data, loc, partial)
    if content is None:
        # Still check the expressions that did parse, so one refusal lists every problem.
        if partial.get("subject") and (partial.get("clauses") or partial.get("when")):
            stand_in = PolicyContent.model_construct(
                code=partial.get("code") or "?", subject=partial["subject"], when=partial.get("when"),
                combine=partial.get("combine", "first"), cap_per_subject=None,
                effective_from=partial.get("effective_from") or dt.date(2000, 1, 1), effective_to=None,
                clauses=partial.get("clauses") or [ClauseContent(code="_", when="true", amount="0")])
            try:
                probs += [p for p in check_rules(stand_in, loc) if p.clause_code != "_"]
            except Exception:  # noqa: BLE001 - the structural problems already refuse the policy
                pass
        return None, probs
    probs = check_rules(content, loc)
    if probs:
        return None, probs
    if require_tests:
        probs = test_problems(content, loc)
        if probs:
            return None, probs
    return content, []


def read_pack_text(text: str, source: str = "") -> list[PolicyContent]:
    """Every policy of a pack, checked; ``PackRefused`` lists every problem of the whole file."""
    try:
        items = parse_pack_text(text)
    except PackRefused as exc:
        exc.source = source
        raise PackRefused(exc.problems, source) from None
    contents, problems, seen = [], [], {}
    for data, loc in items:
        content, probs = check_policy(data, loc)
        problems += probs
        if content is not None:
            if content.code in seen:
                problems.append(PackProblem(policy_code=content.code, line=loc.line(),
                                            message=f"policy {content.code} appears twice in this pack"))
            seen[content.code] = True
            contents.append(content)
    if problems:
        raise PackRefused(problems, source)
    return contents


def read_pack(path: str | Path) -> list[PolicyContent]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackRefused([PackProblem(message=f"cannot read the file: {exc}")], str(path)) from None
    return read_pack_text(text, str(path))


# --------------------------------------------------------------------------- export


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        # Indent list items under their key, as the contract's examples are written.
        return super().increase_indent(flow, False)


class _Expr(str):
    """A rule expression: a bare number or boolean is written bare (it means the same expression)."""


_BARE = re.compile(r"^(?:-?[0-9]+(?:\.[0-9]+)?|true|false)$")


def _repr_expr(dumper, s: "_Expr"):
    if _BARE.match(s):
        tag = "tag:yaml.org,2002:bool" if s in ("true", "false") else (
            "tag:yaml.org,2002:float" if "." in s else "tag:yaml.org,2002:int")
        return dumper.represent_scalar(tag, str(s))
    return _repr_str(dumper, str(s))


def _repr_decimal(dumper, d: Decimal):
    return dumper.represent_scalar("tag:yaml.org,2002:float" if d != d.to_integral() else "tag:yaml.org,2002:int",
                                   str(d) if d != d.to_integral() else str(d.quantize(Decimal(1))))


def _repr_str(dumper, s: str):
    if "\n" in s:
        return dumper.represent_scalar("tag:yaml.org,2002:str", s, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", s)


_Dumper.add_representer(Decimal, _repr_decimal)
_Dumper.add_representer(str, _repr_str)
_Dumper.add_representer(_Expr, _repr_expr)


def content_to_dict(content: PolicyContent) -> dict:
    """The pack form of a content, in the contract's key order, without empty optional keys."""
    d: dict[str, Any] = {}
    for k in ("code", "title", "issuer", "subject", "mode", "effective_from", "effective_to", "budget",
              "cap_per_subject", "combine", "exclusive_group", "when", "source", "summary"):
        v = getattr(content, k)
        if v is None or v == "":
            continue
        d[k] = _Expr(v) if k == "when" else v
    d["clauses"] = []
    for c in content.clauses:
        item = {"code": c.code, "title": c.title} if c.title else {"code": c.code}
        d["clauses"].append({**item, "when": _Expr(c.when), "amount": _Expr(c.amount)})
    if content.tests:
        tests = []
        for t in content.tests:
            e: dict[str, Any] = {"eligible": t.expect.eligible}
            if t.expect.clauses is not None:
                e["clauses"] = t.expect.clauses
            if t.expect.amount is not None:
                e["amount"] = t.expect.amount
            item: dict[str, Any] = {"name": t.name, "profile": t.profile}
            if t.as_of:
                item["as_of"] = t.as_of
            item["expect"] = e
            tests.append(item)
        d["tests"] = tests
    return d


def export_yaml(content: PolicyContent, header: str = "") -> str:
    """A pack holding this one policy; loading it gives the same content."""
    body = yaml.dump(content_to_dict(content), Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=100)
    return (f"# {header}\n" if header else "") + body


def content_hash(content: PolicyContent) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(content.model_dump(mode="json"), sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).hexdigest()
