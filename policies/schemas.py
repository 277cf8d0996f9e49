"""Pydantic models of policies/: a policy's content (as in a pack), problems, versions, test results, impact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from kit.i18n import problem_fields
from kit.vocab import VersionStatus

# How often one subject may be paid under a policy (code): policy-pack.md `once`.
Once = Literal["lifetime", "per_year", "per_version"]


class PackProblem(BaseModel):
    """One reason a pack or form is refused, precise enough for an officer to fix it."""

    policy_code: str | None = None
    clause_code: str | None = None
    field: str | None = None  # 'when', 'amount', 'budget', 'tests[2].expect', ...
    expression: str | None = None
    position: int | None = None
    line: int | None = None  # line in the YAML file, where known
    message: str
    hint: str | None = None
    # The catalog's msgids and their parameters (kit.i18n._l), so a page shows the problem in the reader's language;
    # ``message`` and ``hint`` are the English text filled in (the CLI and the API read those).
    template: str | None = None
    params: dict[str, str] = {}
    hint_template: str | None = None
    hint_params: dict[str, str] = {}

    @classmethod
    def of(
        cls,
        message: str,
        params: dict[str, Any] | None = None,
        *,
        hint: str | None = None,
        hint_params: dict[str, Any] | None = None,
        **where: Any,
    ) -> PackProblem:
        """A problem from a catalog message (``_l("'{key}' is required")``) and its parameters."""
        return cls(**problem_fields(message, params, hint=hint, hint_params=hint_params), **where)

    def describe(self) -> str:
        where = []
        if self.policy_code:
            where.append(f"policy {self.policy_code}")
        if self.clause_code:
            where.append(f"clause {self.clause_code}")
        if self.field:
            where.append(self.field)
        head = ", ".join(where) or "pack"
        if self.line:
            head = f"line {self.line}: {head}"
        text = f"{head}: {self.message}"
        if self.expression is not None:
            text += f"\n  expression: {self.expression}"
            if self.position is not None:
                text += f"\n              {' ' * self.position}^ (position {self.position})"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class TestExpect(BaseModel):
    eligible: bool
    clauses: list[str] | None = None
    amount: Decimal | None = None


class PolicyTestCase(BaseModel):
    __test__ = False
    name: str
    profile: dict[str, Any]
    as_of: dt.date | None = None
    expect: TestExpect


class ClauseContent(BaseModel):
    code: str
    title: str = ""
    when: str
    amount: str


class PolicyGuide(BaseModel):
    """申兑指南: how a subject gets the money, in words (optional; the library and the 政策解读 notice show it)."""

    who: str = ""  # 申报对象: who may apply / who receives it
    materials: list[str] = []  # 申报材料: what to prepare, one item each
    processing_days: int | None = Field(default=None, ge=1, le=365)  # 办理时限, in working days
    where: str = ""  # 办理渠道 / 地点
    contact: str = ""  # 咨询方式 (a public office number, never a person's)

    def __str__(self) -> str:
        parts = [self.who, "、".join(self.materials), f"{self.processing_days}" if self.processing_days else "",
                 self.where, self.contact]  # fmt: skip
        return " / ".join(p for p in parts if p)


class PolicyContent(BaseModel):
    """Everything that makes a version what it is; equal content means an identical version."""

    code: str
    title: str
    issuer: str
    subject: Literal["enterprise", "talent"]
    mode: Literal["auto", "apply"]
    effective_from: dt.date
    effective_to: dt.date | None = None
    budget: Decimal = Field(description="yuan: the fund of the policy (code), over all its versions")
    once: Once = "lifetime"  # how often one subject may be paid
    top_up: bool = False  # a later version pays only the difference over what was received (就高补差)
    publicity_days: int = Field(default=0, ge=0, le=60)  # working days the payees are publicly shown (公示) first
    cap_per_subject: Decimal | None = None
    combine: Literal["first", "sum"] = "first"
    exclusive_group: str | None = None
    when: str | None = None
    source: str = ""
    summary: str = ""
    guide: PolicyGuide | None = None  # 申兑指南 (optional)
    clauses: list[ClauseContent]
    tests: list[PolicyTestCase] = []


class TestOutcome(BaseModel):
    __test__ = False
    name: str
    passed: bool
    expected: TestExpect
    eligible: bool | None = None
    clauses: list[str] = []
    amount: Decimal | None = None
    message: str = ""
    # A test whose profile is refused: (field, reason), each reason a catalog message filled in English.
    profile_problems: list[tuple[str, str]] = []
    # A failing test's conditions not met, each with the profile's value (eligibility.explain), in zh and en.
    why_zh: list[str] = []
    why_en: list[str] = []


class VersionRead(BaseModel):
    id: int
    code: str
    number: int
    status: VersionStatus  # draft → in_review → published → suspended | superseded | retired
    author: str
    reviewer: str | None = None
    created_at: dt.datetime
    submitted_at: dt.datetime | None = None
    published_at: dt.datetime | None = None
    status_reason: str = ""
    content_hash: str
    content: PolicyContent


class PublishedVersion(BaseModel):
    """What payments and others need of a published version (money in fen)."""

    id: int
    key: str
    code: str
    number: int
    status: VersionStatus  # draft → in_review → published → suspended | superseded | retired
    title: str
    issuer: str
    subject: str
    mode: Literal["auto", "apply"]
    exclusive_group: str | None
    effective_from: dt.date
    effective_to: dt.date | None
    budget_fen: int
    cap_per_subject_fen: int | None
    combine: str
    once: Once = "lifetime"
    top_up: bool = False
    publicity_days: int = 0
    clause_titles: dict[str, str]
    published_at: dt.datetime | None = None


class ImpactChange(BaseModel):
    subject_id: str
    before: Decimal
    after: Decimal


class ImpactGroup(BaseModel):
    """One line of the impact preview's breakdown: a paying clause (or clauses, when several pay) or a region."""

    key: str
    label: str = ""
    count: int
    total_amount: Decimal


class ImpactSubject(BaseModel):
    """One matched subject in the preview's list, masked as the policy tools show subjects."""

    subject_id: str = Field(description="a talent's ID number masked; an enterprise's credit code whole")
    name: str = Field(description="a talent's name masked")
    region_code: str
    clauses: list[str]
    amount: Decimal


class WinnerLoser(BaseModel):
    """One subject whose payment the new version changes: a winner (newly eligible), a loser (no longer eligible) or
    a changed amount; masked as the preview's subject list is."""

    subject_id: str = Field(description="a talent's ID number masked; an enterprise's credit code whole")
    name: str = Field(description="a talent's name masked")
    region_code: str
    before: Decimal | None = Field(description="what the published version pays (None: a winner)")
    after: Decimal | None = Field(description="what the new version would pay (None: a loser)")
    difference: Decimal


def _yuan_zero() -> Decimal:
    """0.00 yuan as a default factory, not a stated default: the OpenAPI schema is JSON, which has no Decimal."""
    return Decimal("0.00")


class WinnerLoserGroup(BaseModel):
    """Winners, losers or changed amounts: how many, what they were paid and would be paid, and the first few."""

    count: int = 0
    total_before: Decimal = Field(default_factory=_yuan_zero)
    total_after: Decimal = Field(default_factory=_yuan_zero)
    difference: Decimal = Field(default_factory=_yuan_zero)
    subjects: list[WinnerLoser] = Field([], description="the first subjects (largest difference first)")


class WinnersLosers(BaseModel):
    """The new version against the published one on the same date (the same shadow run as the preview): who gains,
    who loses, whose amount changes, and the net change of the total."""

    winners: WinnerLoserGroup = Field(description="newly eligible: not matched by the published version")
    losers: WinnerLoserGroup = Field(description="matched by the published version, no longer eligible")
    changed: WinnerLoserGroup = Field(description="eligible under both, for a different amount")
    unchanged: int = Field(description="eligible under both for the same amount")
    net_change: Decimal = Field(description="the new total minus the published total (the groups' differences)")


class PriorPayments(BaseModel):
    """What the policy (code) already paid the subjects a new version matches, and what that version would add on
    top (once / top_up): told to the reviewer at publication. Filled in by payments through app/'s wiring."""

    paid_before: int = Field(description="matched subjects already paid (or in a batch) under earlier versions")
    new_subjects: int = Field(description="matched subjects the policy has not paid for this period yet")
    new_amount: Decimal
    top_up_subjects: int = Field(description="subjects paid before whose new amount is higher (top_up only)")
    top_up_total: Decimal = Field(description="what those top-ups add, in yuan")

    @property
    def adds_amount(self) -> Decimal:
        return self.new_amount + self.top_up_total


class ImpactPreview(BaseModel):
    """Shadow run of a draft: who matches, how much against the budget, and the diff with the published version."""

    code: str
    version_id: int
    number: int
    as_of: dt.date
    matched: int | None = Field(description="None when withheld")
    total_amount: Decimal | None
    budget: Decimal
    budget_left: Decimal | None = Field(
        description="budget - total_amount; negative means the budget cannot cover every match"
    )
    withheld: str | None = Field(
        None, description="why no count was computed: the rules read personal fields, or too few subjects match"
    )
    as_of_pinned: str | None = Field(
        None, description="set when the rules read a field derived from a personal one (age): counted as of today"
    )
    published_version_id: int | None = None
    published_number: int | None = None
    published_matched: int | None = None
    published_total_amount: Decimal | None = None
    added: list[str] = Field([], description="subject ids (a talent's ID number masked)")
    removed: list[str] = Field([], description="subject ids (a talent's ID number masked)")
    amount_changed: list[ImpactChange] = []
    budget_delta: Decimal | None = Field(None, description="this draft's budget minus the published version's")
    total_delta: Decimal | None = None
    prior: PriorPayments | None = Field(
        None, description="subjects already paid under earlier versions and what this version would add"
    )
    by_clause: list[ImpactGroup] = Field([], description="matches and amounts per paying clause(s)")
    by_region: list[ImpactGroup] = Field([], description="matches and amounts per region code")
    subjects: list[ImpactSubject] = Field([], description="the first matched subjects (masked), by amount")
    subjects_total: int = 0
    winners_losers: WinnersLosers | None = Field(
        None, description="against the published version on the same date (a new version of a published code)"
    )


# A policy's own keys (not its clauses or tests), in the contract's order: what a pack reads and writes, and what the
# reviewer's diff compares.
CONTENT_KEYS = (
    "code",
    "title",
    "issuer",
    "subject",
    "mode",
    "effective_from",
    "effective_to",
    "budget",
    "once",
    "top_up",
    "publicity_days",
    "cap_per_subject",
    "combine",
    "exclusive_group",
    "when",
    "source",
    "summary",
    "guide",
)
