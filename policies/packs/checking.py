"""Checking a policy's rules (through eligibility/) and running its own tests; a whole pack in, checked content out."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from eligibility.errors import ProfileInvalid
from eligibility.explain import explain_profile
from eligibility.profiles import normalize_profile
from eligibility.rules import check_ruleset, evaluate
from eligibility.schemas import RuleClause, RuleSet
from kit.i18n import FieldReasons, _l
from policies.errors import PackRefused
from policies.packs.reading import _FEN, _Located, parse_pack_text, validate_structure
from policies.schemas import ClauseContent, PackProblem, PolicyContent, TestOutcome


def to_ruleset(content: PolicyContent, key: str | None = None, version_id: int | None = None) -> RuleSet:
    """The eligibility RuleSet of a policy's content (what the matcher and evaluator take)."""
    return RuleSet(
        key=key or f"{content.code}@draft",
        version_id=version_id,
        **content.model_dump(
            include={"code", "subject", "when", "combine", "cap_per_subject", "effective_from", "effective_to"}
        ),
        clauses=[RuleClause(code=c.code, title=c.title, when=c.when, amount=c.amount) for c in content.clauses],
    )


def check_rules(content: PolicyContent, loc: _Located | None = None) -> list[PackProblem]:
    """The rule problems (unknown field, type mismatch, amount not a number, …) of every expression."""
    loc = loc or _Located()
    out = []
    for rp in check_ruleset(to_ruleset(content)):
        ccode = getattr(rp, "clause_code", None)
        part = getattr(rp, "part", None) or "when"
        # Clause codes may repeat in a refused pack: find the clause by its code and expression.
        index = next(
            (i for i, c in enumerate(content.clauses) if c.code == ccode and getattr(c, part) == rp.expression),
            next((i for i, c in enumerate(content.clauses) if c.code == ccode), None),
        )
        path = ("clauses", index, part) if index is not None else (part,)
        out.append(
            PackProblem(
                policy_code=content.code,
                clause_code=ccode,
                field=part,
                expression=rp.expression,
                position=rp.position,
                line=loc.line(*path),
                message=rp.message,
                hint=rp.hint,
                template=rp.template,
                params=rp.params,
                hint_template=rp.hint_template,
                hint_params=rp.hint_params,
            )
        )
    return out


def run_tests(content: PolicyContent) -> list[TestOutcome]:
    """Run the policy's own tests (assumes its rules check clean)."""
    ruleset = to_ruleset(content)
    outcomes = []
    for t in content.tests:
        try:
            profile = normalize_profile(content.subject, dict(t.profile), partial=True)
        except ProfileInvalid as exc:
            outcomes.append(
                TestOutcome(
                    name=t.name,
                    passed=False,
                    expected=t.expect,
                    message="the test profile is invalid: " + _problems_text(exc),
                    profile_problems=[(str(f), str(r)) for f, r in getattr(exc, "problems", [])],
                )
            )
            continue
        as_of = t.as_of or content.effective_from
        try:
            ev = evaluate(ruleset, profile, as_of)
        except Exception as exc:  # noqa: BLE001 - reported as the test's failure
            outcomes.append(
                TestOutcome(
                    name=t.name,
                    passed=False,
                    expected=t.expect,
                    # A page reads it back (app/i18n.shown): a general sentence, the inner text (ours: from the
                    # catalog; the rule engine's: as it is) its detail.
                    message=_l("evaluation failed: {error}").format(error=getattr(exc, "message", exc)),
                )
            )
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
        outcomes.append(
            TestOutcome(
                name=t.name,
                passed=not wrong,
                expected=t.expect,
                eligible=ev.eligible,
                clauses=clauses,
                amount=amount,
                message="; ".join(wrong),
                why_zh=_why(ruleset, profile, as_of, "zh") if wrong else [],
                why_en=_why(ruleset, profile, as_of, "en") if wrong else [],
            )
        )
    return outcomes


def _with_value(cond, lang: str) -> str:
    """A condition not met, with the profile's values: explain's "学历需 = 博士，当前 硕士" when it has one."""
    if cond.distance:
        return cond.distance
    have = ", ".join(f"{k} = {v}" for k, v in cond.values.items())
    return f"{cond.text}，当前 {have}" if lang == "zh" else f"{cond.text}; the profile has {have}"


def _why(ruleset: RuleSet, profile: dict, as_of: dt.date, lang: str) -> list[str]:
    """Which conditions the test profile fails, each with the profile's value ("学历需 = 博士，当前 硕士"); when it
    fails none, which clauses it meets (the test expected otherwise)."""
    ex = explain_profile(ruleset, "", profile, as_of, lang)
    parts = [ex.policy] if ex.policy else []
    failing = [
        f"{c.title or c.code}：{_with_value(cond, lang)}"
        if lang == "zh"
        else f"{c.title or c.code}: {_with_value(cond, lang)}"
        for c in [*parts, *ex.clauses]
        for cond in c.conditions
        if cond.met is not True
    ]
    if not ex.in_effect:
        failing.insert(0, ex.summary)
    if failing:
        return failing
    met = ", ".join(c.title or c.code or "" for c in ex.clauses if c.met)
    return [f"全部条件满足：{met}" if lang == "zh" else f"every condition is met: {met}"]


def _met_clause_codes(ev) -> list[str]:
    out = []
    for c in ev.clauses or []:
        if isinstance(c, str):
            out.append(c)
        elif getattr(c, "met", True):
            out.append(getattr(c, "code", None) or c.clause_code)
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
            out.append(
                PackProblem.of(
                    _l("test '{name}' expects clause(s) {clauses} that the policy does not have"),
                    {"name": t.name, "clauses": ", ".join(unknown)},
                    hint=_l("clause codes: {codes}"),
                    hint_params={"codes": ", ".join(sorted(codes))},
                    policy_code=content.code,
                    field=f"tests[{i}].expect.clauses",
                    line=loc.line("tests", i, "expect", "clauses"),
                )
            )
    if out:
        return out
    for i, o in enumerate(run_tests(content)):
        if not o.passed:
            out.append(
                PackProblem.of(
                    _l("own test '{name}' fails: the test profile is invalid: {problems}"),
                    {"name": o.name, "problems": FieldReasons(o.profile_problems)},
                    hint=_l("fix the rule or the test's expectation; a policy whose tests fail is not stored"),
                    policy_code=content.code,
                    field=f"tests[{i}]",
                    line=loc.line("tests", i),
                )
                if o.profile_problems
                else PackProblem.of(
                    _l("own test '{name}' fails: {why}"),
                    {"name": o.name, "why": o.message},
                    hint=_l("fix the rule or the test's expectation; a policy whose tests fail is not stored"),
                    policy_code=content.code,
                    field=f"tests[{i}]",
                    line=loc.line("tests", i),
                )
            )
    return out


test_problems.__test__ = False  # a function named test_* that pytest must not collect


def coverage_problems(content: PolicyContent, outcomes: list[TestOutcome] | None = None) -> list[PackProblem]:
    """What a version's own tests leave untested (policy-pack.md): each clause needs a passing test where it pays, and
    the policy one where it does not pay. Empty when nothing is missing. ``outcomes``: run_tests(content), if run."""
    outcomes = run_tests(content) if outcomes is None else outcomes
    paid: set[str] = set()
    not_paying = False
    for o in outcomes:
        if not o.passed:
            continue
        if o.eligible:
            paid |= set(o.clauses)
        else:
            not_paying = True
    out = [
        PackProblem.of(
            _l("no test where clause {clause} pays"),
            {"clause": c.code + (f" ({c.title})" if c.title else "")},
            hint=_l("add a test whose profile meets clause {code}: expect {{eligible: true, clauses: [{code}]}}"),
            hint_params={"code": c.code},
            policy_code=content.code,
            clause_code=c.code,
            field="tests",
        )
        for c in content.clauses
        if c.code not in paid
    ]
    if not not_paying:
        out.append(
            PackProblem.of(
                _l("no test where the policy does not pay"),
                hint=_l("add a test of a subject who is not eligible: expect {{eligible: false}}"),
                hint_params={"_": ""},  # formatted, so the doubled braces read as one
                policy_code=content.code,
                field="tests",
            )
        )
    return out


def check_policy(
    data: Any, loc: _Located | None = None, *, require_tests: bool = True
) -> tuple[PolicyContent | None, list[PackProblem]]:
    """Structure, then rules, then own tests (each only when the step before is clean)."""
    partial: dict = {}
    content, probs = validate_structure(data, loc, partial)
    if content is None:
        # Still check the expressions that did parse, so one refusal lists every problem.
        if partial.get("subject") and (partial.get("clauses") or partial.get("when")):
            stand_in = PolicyContent.model_construct(
                code=partial.get("code") or "?",
                subject=partial["subject"],
                when=partial.get("when"),
                combine=partial.get("combine", "first"),
                cap_per_subject=None,
                effective_from=partial.get("effective_from") or dt.date(2000, 1, 1),
                effective_to=None,
                clauses=partial.get("clauses") or [ClauseContent(code="_", when="true", amount="0")],
            )
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
                problems.append(
                    PackProblem.of(
                        _l("policy {code} appears twice in this pack"),
                        {"code": content.code},
                        policy_code=content.code,
                        line=loc.line(),
                    )
                )
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
        raise PackRefused([PackProblem.of(_l("cannot read the file: {error}"), {"error": exc})], str(path)) from None
    return read_pack_text(text, str(path))
