"""A version's own tests, the impact preview (shadow run) and the rule editor's live check."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

from eligibility.fields import DERIVED_PERSONAL, IDENTIFYING, PERSONAL
from eligibility.matcher import match_ruleset
from eligibility.rules import check_ruleset
from eligibility.rules.language import parse, symbols
from eligibility.schemas import RuleClause, RuleSet
from eligibility.service import regions_of
from kit.i18n import _l
from kit.money import FEN
from kit.time import china_today
from policies import packs
from policies.errors import PackRefused
from policies.schemas import (
    CONTENT_KEYS,
    ImpactChange,
    ImpactGroup,
    ImpactPreview,
    ImpactSubject,
    Once,
    PolicyContent,
    PriorPayments,
    TestOutcome,
)
from policies.service.common import LIVE, _content, _key, _version_row, _yuan
from policies.service.reading import _published_row
from policies.service.winners import shown_id as _shown
from policies.service.winners import shown_name, winners_losers, winners_losers_chunks


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


async def _match_amounts(ruleset, as_of: dt.date) -> dict[str, Decimal]:
    return {s: a for s, (a, _) in (await _matches(ruleset, as_of)).items()}


async def _matches(ruleset, as_of: dt.date) -> dict[str, tuple[Decimal, list[str]]]:
    """{subject id: (amount, paying clauses)} of a shadow run."""
    run = await match_ruleset(ruleset, as_of, store=False)
    return {str(r.subject_id): (Decimal(r.amount).quantize(FEN), list(r.clauses)) for r in run.results}


SUBJECTS_SHOWN = 200  # the preview lists this many matched subjects (the largest amounts first)


async def _breakdown(preview: ImpactPreview, content, rows: dict[str, tuple[Decimal, list[str]]]) -> None:
    """By paying clause(s), by region, and the first SUBJECTS_SHOWN subjects (masked), into ``preview``."""
    kind = content.subject
    titles = {c.code: c.title or c.code for c in content.clauses}
    regions = await regions_of(kind, sorted(rows))
    by_clause: dict[str, list] = {}
    by_region: dict[str, list] = {}
    for s, (amount, clauses) in rows.items():
        for key, groups in ((";".join(clauses), by_clause), (regions.get(s, ("", ""))[0], by_region)):
            g = groups.setdefault(key, [0, Decimal("0.00")])
            g[0] += 1
            g[1] += amount
    preview.by_clause = [
        ImpactGroup(key=k, label="、".join(titles.get(c, c) for c in k.split(";")), count=n, total_amount=t)
        for k, (n, t) in sorted(by_clause.items(), key=lambda kv: -kv[1][1])
    ]
    preview.by_region = [
        ImpactGroup(key=k, count=n, total_amount=t) for k, (n, t) in sorted(by_region.items(), key=lambda kv: kv[0])
    ]
    first = sorted(rows.items(), key=lambda kv: (-kv[1][0], kv[0]))[:SUBJECTS_SHOWN]
    preview.subjects = [
        ImpactSubject(
            subject_id=_shown(kind, s),
            name=shown_name(kind, regions.get(s, ("", ""))[1]),
            region_code=regions.get(s, ("", ""))[0],
            clauses=clauses,
            amount=amount,
        )
        for s, (amount, clauses) in first
    ]
    preview.subjects_total = len(rows)


# What the policy already paid the matched subjects (payments' side; policies does not import payments): app/ wiring
# sets it. Arguments: code, subject kind, version number, once, top_up, as_of, {subject id: amount in fen}.
PriorLookup = Callable[[str, str, int, Once, bool, dt.date, dict[str, int]], Awaitable[PriorPayments]]
_prior_lookup: PriorLookup | None = None


def set_prior_lookup(lookup: PriorLookup | None) -> None:
    global _prior_lookup
    _prior_lookup = lookup


async def impact_preview(version_id: int, as_of: dt.date | None = None, *, small_counts: bool = False) -> ImpactPreview:
    """Shadow run: who the version would match on ``as_of``, for how much, and what changes from the published one
    (``winners_losers``: who gains, loses or is paid differently, against the published version on the same date).

    What the author controls is bounded (item 7 of the security review): no count for rules reading identifying
    fields; rules reading a field derived from one (age) are counted as of today whatever ``as_of`` says; and a draft
    matching fewer than MIN_SHOWN_COUNT subjects shows no count. ``small_counts``: the reviewer's publication (stored
    for the auditor) keeps a small count, since the version then pays those subjects anyway."""
    return (await _impact(version_id, as_of, small_counts=small_counts))[0]


async def winners_losers_export(
    version_id: int, as_of: dt.date | None = None, *, small_counts: bool = False
) -> tuple[ImpactPreview, AsyncIterator[list[dict]] | None]:
    """The preview (the same bounds) and every winner, loser and changed amount in chunks (raw ids: the export masks
    them); None when there is nothing to compare (no published version, or the preview counts nothing)."""
    preview, sides = await _impact(version_id, as_of, small_counts=small_counts, prior=False)
    if sides is None:
        return preview, None
    kind, mine, theirs = sides
    return preview, winners_losers_chunks(kind, mine, theirs)


async def _impact(
    version_id: int, as_of: dt.date | None, *, small_counts: bool, prior: bool = True
) -> tuple[ImpactPreview, tuple[str, dict[str, Decimal], dict[str, Decimal]] | None]:
    """(the preview, (subject kind, this version's amounts, the published version's) when the two are compared)."""
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
        return withheld(_withheld(read)), None
    rows = await _matches(ruleset, as_of)
    mine = {s: a for s, (a, _) in rows.items()}
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
        return few, None
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
    await _breakdown(preview, content, rows)
    sides = None
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
        preview.winners_losers = await winners_losers(kind, mine, theirs)
        sides = (kind, mine, theirs)
    if prior and _prior_lookup is not None:
        preview.prior = await _prior_lookup(
            row["code"],
            content.subject,
            row["number"],
            content.once,
            content.top_up,
            as_of,
            {s: int(a * 100) for s, a in mine.items()},
        )
    return preview, sides


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
            "problems": [
                {
                    "message": "the expression is empty",
                    "hint": None,
                    "position": None,
                    "template": _l("the expression is empty"),
                }
            ],
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
                {
                    "message": p.message,
                    "hint": p.hint,
                    "position": p.position,
                    "expression": p.expression,
                    "template": p.template,
                    "params": p.params,
                    "hint_template": p.hint_template,
                    "hint_params": p.hint_params,
                }
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
# The reviewer reads the diff in words: each field's name in zh and en, and which values are yuan.
FIELD_LABELS: dict[str, tuple[str, str]] = {
    "title": ("政策名称", "title"),
    "issuer": ("发文单位", "issuer"),
    "mode": ("兑现方式", "mode"),
    "effective_from": ("生效日期", "effective from"),
    "effective_to": ("截止日期", "effective to"),
    "budget": ("预算", "budget"),
    "once": ("享受次数", "how often paid"),
    "top_up": ("就高补差", "top-up"),
    "cap_per_subject": ("单个对象上限", "cap per subject"),
    "combine": ("多条款合并方式", "how clauses combine"),
    "exclusive_group": ("互斥组", "exclusive group"),
    "when": ("总体条件", "overall condition"),
    "source": ("政策依据", "source"),
    "summary": ("摘要", "summary"),
    "guide": ("申兑指南", "application guide"),
}
_YUAN = {"budget", "cap_per_subject", "amount"}
_PARTS = {"title": ("名称", "title"), "when": ("条件", "condition"), "amount": ("金额", "amount")}


def _words(label_zh: str, label_en: str, before: str, after: str, yuan: bool) -> tuple[str, str]:
    """("预算由 1000000 元改为 2000000 元", "budget changed from 1000000 yuan to 2000000 yuan"), and the added and
    removed forms."""
    zy, ey = (" 元", " yuan") if yuan else ("", "")
    if not before:
        return f"新增{label_zh}：{after}{zy}", f"{label_en} set to {after}{ey}"
    if not after:
        return f"删除{label_zh}（原为 {before}{zy}）", f"{label_en} removed (was {before}{ey})"
    return f"{label_zh}由 {before}{zy} 改为 {after}{zy}", f"{label_en} changed from {before}{ey} to {after}{ey}"


def _item(item: str, before: str, after: str, label: tuple[str, str], words: tuple[str, str]) -> dict:
    return {
        "item": item,
        "before": before,
        "after": after,
        "label_zh": label[0],
        "label_en": label[1],
        "zh": words[0],
        "en": words[1],
    }


async def diff_with_published(version_id: int) -> list[dict]:
    """What the version changes in the text of the published one: fields and clauses (before, after), each also in
    words (``zh``/``en``: which condition, amount or date changed from what to what).

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
            before, after = "" if a is None else str(a), "" if b is None else str(b)
            label = FIELD_LABELS.get(f, (f, f))
            out.append(_item(f, before, after, label, _words(*label, before, after, f in _YUAN)))
    old = {c.code: c for c in theirs.clauses}
    new = {c.code: c for c in mine.clauses}
    for code in [*old, *[c for c in new if c not in old]]:
        a, b = old.get(code), new.get(code)
        name = (b or a).title or code  # type: ignore[union-attr]
        for part in ("title", "when", "amount"):
            va, vb = getattr(a, part) if a else None, getattr(b, part) if b else None
            if va != vb:
                pz, pe = _PARTS[part]
                label = (f"条款「{name}」的{pz}", f"clause “{name}” {pe}")
                if a is None and part == "title":
                    words = (f"新增条款「{name}」", f"new clause “{name}”")
                elif b is None and part == "title":
                    words = (f"删除条款「{name}」", f"clause “{name}” removed")
                else:
                    words = _words(*label, str(va or ""), str(vb or ""), part in _YUAN)
                out.append(_item(f"clause {code}.{part}", str(va or ""), str(vb or ""), label, words))
    if [c.code for c in theirs.clauses if c.code in new] != [c.code for c in mine.clauses if c.code in old]:
        label = ("条款顺序", "clause order")
        before, after = ", ".join(old), ", ".join(new)
        out.append(_item("clause order", before, after, label, _words(*label, before, after, False)))
    if len(theirs.tests) != len(mine.tests) or theirs.tests != mine.tests:
        n0, n1 = len(theirs.tests), len(mine.tests)
        words = (
            (f"测试用例由 {n0} 个改为 {n1} 个", f"tests changed from {n0} to {n1}")
            if n0 != n1
            else (f"测试用例有改动（仍为 {n1} 个）", f"tests edited (still {n1})")
        )
        out.append(_item("tests", f"{n0}", f"{n1}", ("测试用例", "tests"), words))
    return out
