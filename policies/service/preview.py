"""A version's own tests, the impact preview (shadow run) and the rule editor's live check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from decimal import Decimal

from eligibility.fields import PERSONAL
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
from policies.service.common import _content, _key, _version_row, _yuan
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


def personal_fields_read(ruleset) -> list[str]:
    """The personal fields (eligibility.fields.PERSONAL) the rule set's conditions or amounts read."""
    read: set[str] = set()
    for text in [ruleset.when or "true", *(c.when for c in ruleset.clauses), *(str(c.amount) for c in ruleset.clauses)]:
        read |= symbols(parse(ruleset.subject, text))
    return sorted(read & PERSONAL[ruleset.subject])


def _withheld(read: list[str]) -> str:
    return (
        f"no count for rules that read personal fields ({', '.join(read)}): a count would give their values away; "
        "the version's own tests still run"
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


async def impact_preview(version_id: int, as_of: dt.date | None = None) -> ImpactPreview:
    """Shadow run: who the version would match on ``as_of``, for how much, and what changes from the published one."""
    row = await _version_row(version_id)
    content = await _content(row)
    problems = packs.check_rules(content)
    if problems:
        raise PackRefused(problems)
    as_of = _default_as_of(content, as_of)
    ruleset = packs.to_ruleset(content, key=_key(row) + "~preview", version_id=row["id"])
    budget = _yuan(row["budget_fen"])
    pub = await _published_row(row["code"])
    pub_ruleset = None
    if pub is not None and pub["id"] != row["id"]:
        pub_content = await _content(pub)
        pub_ruleset = (
            packs.to_ruleset(pub_content, key=_key(pub), version_id=pub["id"])
            if _in_effect(pub_content, as_of)
            else None
        )
    read = sorted(set(personal_fields_read(ruleset)) | set(personal_fields_read(pub_ruleset) if pub_ruleset else ()))
    if read:
        return ImpactPreview(
            code=row["code"],
            version_id=row["id"],
            number=row["number"],
            as_of=as_of,
            matched=None,
            total_amount=None,
            budget=budget,
            budget_left=None,
            withheld=_withheld(read),
        )
    mine = await _match_amounts(ruleset, as_of)
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
    read = personal_fields_read(rs)
    if count and part == "when" and read:
        return {"ok": True, "problems": [], "matched": None, "count_withheld": _withheld(read)}
    matched = None
    if count and part == "when":
        try:
            matched = len(await _match_amounts(rs, as_of))
        except Exception:  # noqa: BLE001 - a count is a convenience; the check result stands without it
            matched = None
    return {"ok": True, "problems": [], "matched": matched}


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
