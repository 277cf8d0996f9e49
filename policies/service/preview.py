"""A version's own tests, the impact preview (shadow run) and the rule editor's live check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal

from eligibility.fields import DERIVED_PERSONAL, IDENTIFYING, PERSONAL
from eligibility.matcher import match_ruleset
from eligibility.rules import check_ruleset
from eligibility.rules.language import parse, symbols
from eligibility.schemas import RuleClause, RuleSet
from kit.masking import mask_id_number
from kit.money import FEN
from kit.time import china_today
from kit.vocab import SubjectKind
from policies import packs
from policies.errors import PackRefused
from policies.schemas import (
    CONTENT_KEYS,
    ImpactChange,
    ImpactPreview,
    Once,
    PolicyContent,
    PriorPayments,
    TestOutcome,
)
from policies.service.common import LIVE, _content, _key, _version_row, _yuan
from policies.service.reading import _published_row


async def run_version_tests(version_id: int) -> list[TestOutcome]:
    """Run a version's own tests (rule problems make every test fail with the problem)."""
    content = await _content(await _version_row(version_id))
    problems = packs.check_rules(content)
    if problems:
        return [
            TestOutcome(name=t.name, passed=False, expected=t.expect, message=problems[0].describe())
            for t in content.tests
        ]
    return packs.run_tests(content)


def _default_as_of(content: PolicyContent, as_of: dt.date | None) -> dt.date:
    d = as_of or china_today()
    if d < content.effective_from:
        return content.effective_from
    if content.effective_to and d > content.effective_to:
        return content.effective_to
    return d


def _in_effect(content: PolicyContent, d: dt.date) -> bool:
    return content.effective_from <= d and (content.effective_to is None or d <= content.effective_to)


# A count over a rule an author controls (the rule editor's check, a draft's impact preview) is shown only when at
# least this many subjects match: a rule narrowed to one person would otherwise answer yes or no about that person.
MIN_SHOWN_COUNT = 10


def _fields_read(ruleset) -> set[str]:
    read: set[str] = set()
    for text in [ruleset.when or "true", *(c.when for c in ruleset.clauses), *(str(c.amount) for c in ruleset.clauses)]:
        read |= symbols(parse(ruleset.subject, text))
    return read


def personal_fields_read(ruleset) -> list[str]:
    """The personal fields (eligibility.fields.PERSONAL, derived ones included) the rule set's conditions or amounts
    read."""
    return sorted(_fields_read(ruleset) & PERSONAL[ruleset.subject])


def _counting(rulesets) -> tuple[list[str], list[str]]:
    """(identifying fields read: no count at all; derived personal fields read: a count only as of today)."""
    read: set[str] = set()
    kind = None
    for rs in rulesets:
        if rs is not None:
            read |= _fields_read(rs)
            kind = rs.subject
    if kind is None:
        return [], []
    return sorted(read & IDENTIFYING[kind]), sorted(read & DERIVED_PERSONAL[kind])


def _withheld(read: list[str]) -> str:
    return (
        f"no count for rules that read personal fields ({', '.join(read)}): a count would give their values away; "
        "the version's own tests still run"
    )


def _too_few() -> str:
    return (
        f"no count: fewer than {MIN_SHOWN_COUNT} subjects match, and a count that small tells about the persons "
        "themselves; the version's own tests still run"
    )


def _pinned(read: list[str], today: dt.date) -> str:
    return (
        f"counted as of today ({today.isoformat()}): the rules read {', '.join(read)}, which moves with the date, and "
        "counts on other dates would give a birth date away"
    )


def _shown(kind: str, subject_id: str) -> str:
    """A subject id as the policy tools show it: a talent's ID number masked, an enterprise's credit code whole."""
    return mask_id_number(subject_id) if kind == SubjectKind.TALENT else subject_id


async def _match_amounts(ruleset, as_of: dt.date) -> dict[str, Decimal]:
    run = await match_ruleset(ruleset, as_of, store=False)
    return {str(r.subject_id): Decimal(r.amount).quantize(FEN) for r in run.results}


# What the policy already paid the matched subjects (payments' side; policies does not import payments): app/ wiring
# sets it. Arguments: code, subject kind, version number, once, top_up, as_of, {subject id: amount in fen}.
PriorLookup = Callable[[str, str, int, Once, bool, dt.date, dict[str, int]], Awaitable[PriorPayments]]
_prior_lookup: PriorLookup | None = None


def set_prior_lookup(lookup: PriorLookup | None) -> None:
    global _prior_lookup
    _prior_lookup = lookup


async def impact_preview(version_id: int, as_of: dt.date | None = None, *, small_counts: bool = False) -> ImpactPreview:
    """Shadow run: who the version would match on ``as_of``, for how much, and what changes from the published one.

    What the author controls is bounded (item 7 of the security review): no count for rules reading identifying
    fields; rules reading a field derived from one (age) are counted as of today whatever ``as_of`` says; and a draft
    matching fewer than MIN_SHOWN_COUNT subjects shows no count. ``small_counts``: the reviewer's publication (stored
    for the auditor) keeps a small count, since the version then pays those subjects anyway."""
    row = await _version_row(version_id)
    content = await _content(row)
    problems = packs.check_rules(content)
    if problems:
        raise PackRefused(problems)
    as_of = _default_as_of(content, as_of)
    ruleset = packs.to_ruleset(content, key=_key(row) + "~preview", version_id=row["id"])
    budget = _yuan(row["budget_fen"])
    pub = await _published_row(row["code"])
    identifying, derived = _counting([ruleset])
    note = None
    if derived and not identifying:
        # The date is pinned, the effective window too (it is the author's as well): what the rules would match today.
        as_of = china_today()
        ruleset = ruleset.model_copy(update={"effective_from": as_of, "effective_to": None})
        note = _pinned(derived, as_of)
    pub_ruleset = None
    if pub is not None and pub["id"] != row["id"]:
        pub_content = await _content(pub)
        pub_ruleset = (
            packs.to_ruleset(pub_content, key=_key(pub), version_id=pub["id"])
            if _in_effect(pub_content, as_of)
            else None
        )
    read = sorted(set(personal_fields_read(ruleset)) | set(personal_fields_read(pub_ruleset) if pub_ruleset else ()))
    identifying = _counting([ruleset, pub_ruleset])[0]

    def withheld(reason: str) -> ImpactPreview:
        return ImpactPreview(
            code=row["code"],
            version_id=row["id"],
            number=row["number"],
            as_of=as_of,
            matched=None,
            total_amount=None,
            budget=budget,
            budget_left=None,
            withheld=reason,
        )

    if identifying:
        return withheld(_withheld(read))
    mine = await _match_amounts(ruleset, as_of)
    draft = row["status"] not in LIVE
    if draft and not small_counts and len(mine) < MIN_SHOWN_COUNT:
        # The published version (reviewed, not the author's to shape) is still shown; nothing of the draft's matches.
        few = withheld(_too_few())
        few.as_of_pinned = note
        if pub is not None and pub["id"] != row["id"]:
            theirs = await _match_amounts(pub_ruleset, as_of) if pub_ruleset is not None else {}
            few.published_version_id, few.published_number = pub["id"], pub["number"]
            few.published_matched = len(theirs)
            few.published_total_amount = sum(theirs.values(), Decimal("0.00"))
            few.budget_delta = budget - _yuan(pub["budget_fen"])
        return few
    total = sum(mine.values(), Decimal("0.00"))
    preview = ImpactPreview(
        code=row["code"],
        version_id=row["id"],
        number=row["number"],
        as_of=as_of,
        matched=len(mine),
        total_amount=total,
        budget=budget,
        budget_left=budget - total,
        as_of_pinned=note,
    )
    if pub is not None and pub["id"] != row["id"]:
        theirs = await _match_amounts(pub_ruleset, as_of) if pub_ruleset is not None else {}
        ptotal = sum(theirs.values(), Decimal("0.00"))
        kind = content.subject
        preview.published_version_id = pub["id"]
        preview.published_number = pub["number"]
        preview.published_matched = len(theirs)
        preview.published_total_amount = ptotal
        preview.added = [_shown(kind, s) for s in sorted(set(mine) - set(theirs))]
        preview.removed = [_shown(kind, s) for s in sorted(set(theirs) - set(mine))]
        preview.amount_changed = [
            ImpactChange(subject_id=_shown(kind, s), before=theirs[s], after=mine[s])
            for s in sorted(set(mine) & set(theirs))
            if mine[s] != theirs[s]
        ]
        preview.budget_delta = budget - _yuan(pub["budget_fen"])
        preview.total_delta = total - ptotal
    if _prior_lookup is not None:
        preview.prior = await _prior_lookup(
            row["code"],
            content.subject,
            row["number"],
            content.once,
            content.top_up,
            as_of,
            {s: int(a * 100) for s, a in mine.items()},
        )
    return preview


async def stored_impact(version_id: int) -> ImpactPreview | None:
    """The impact preview stored with the publication of a version (for the auditor)."""
    row = await _version_row(version_id)
    return ImpactPreview.model_validate_json(row["impact_json"]) if row["impact_json"] else None


async def check_expression(
    subject: str,
    expression: str,
    part: str = "when",
    *,
    policy_when: str | None = None,
    as_of: dt.date | None = None,
    count: bool = True,
) -> dict:
    """The rule editor's live check of one expression: its problems and, for a clean condition, how many match."""
    as_of = as_of or china_today()
    expression = (expression or "").strip()
    if not expression:
        return {
            "ok": False,
            "problems": [{"message": "the expression is empty", "hint": None, "position": None}],
            "matched": None,
        }
    when, amount = (expression, "0") if part == "when" else ("true", expression)
    rs = RuleSet(
        key="editor@check",
        code="EDITOR",
        subject=subject,
        when=policy_when or None,
        combine="first",
        effective_from=as_of,
        clauses=[RuleClause(code="c", when=when, amount=amount)],
    )
    problems = [p for p in check_ruleset(rs) if getattr(p, "clause_code", None) == "c"]
    if problems:
        return {
            "ok": False,
            "matched": None,
            "problems": [
                {"message": p.message, "hint": p.hint, "position": p.position, "expression": p.expression}
                for p in problems
            ],
        }
    identifying, derived = _counting([rs])
    if count and part == "when" and identifying:
        return {"ok": True, "problems": [], "matched": None, "count_withheld": _withheld(identifying)}
    out: dict = {"ok": True, "problems": [], "matched": None}
    if count and part == "when":
        if derived:
            # The editor's as_of is the author's choice: a rule over age is counted as of today only.
            today = china_today()
            rs = rs.model_copy(update={"effective_from": min(today, rs.effective_from)})
            as_of, out["as_of_pinned"] = today, _pinned(derived, today)
        try:
            matched = len(await _match_amounts(rs, as_of))
        except Exception:  # noqa: BLE001 - a count is a convenience; the check result stands without it
            matched = None
        if matched is not None and matched < MIN_SHOWN_COUNT:
            out["count_withheld"] = _too_few()
        else:
            out["matched"] = matched
    return out


_FIELDS = tuple(k for k in CONTENT_KEYS if k not in ("code", "subject"))  # what the diff compares


async def diff_with_published(version_id: int) -> list[dict]:
    """What the version changes in the text of the published one: fields and clauses (before, after).

    Empty when the code has no published version or the version is the published one."""
    row = await _version_row(version_id)
    pub = await _published_row(row["code"])
    if pub is None or pub["id"] == row["id"]:
        return []
    mine, theirs = await _content(row), await _content(pub)
    out = []
    for f in _FIELDS:
        a, b = getattr(theirs, f), getattr(mine, f)
        if a != b:
            out.append({"item": f, "before": "" if a is None else str(a), "after": "" if b is None else str(b)})
    old = {c.code: c for c in theirs.clauses}
    new = {c.code: c for c in mine.clauses}
    for code in [*old, *[c for c in new if c not in old]]:
        a, b = old.get(code), new.get(code)
        for part in ("title", "when", "amount"):
            va, vb = getattr(a, part) if a else None, getattr(b, part) if b else None
            if va != vb:
                out.append({"item": f"clause {code}.{part}", "before": va or "", "after": vb or ""})
    if [c.code for c in theirs.clauses if c.code in new] != [c.code for c in mine.clauses if c.code in old]:
        out.append({"item": "clause order", "before": ", ".join(old), "after": ", ".join(new)})
    if len(theirs.tests) != len(mine.tests) or theirs.tests != mine.tests:
        out.append({"item": "tests", "before": f"{len(theirs.tests)}", "after": f"{len(mine.tests)}"})
    return out
