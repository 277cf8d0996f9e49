"""Pydantic models of eligibility/: the rule set it evaluates (rules as data) and what it returns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from kit.i18n import problem_fields

# The wire form of kit.vocab.SubjectKind: pydantic keeps a plain str, which every serialiser (YAML too) writes as is.
SubjectKind = Literal["enterprise", "talent"]


def expression_text(v):
    """A YAML scalar read as a bool or number means the expression of its text (policy-pack.md)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (int, Decimal)):
        return str(v)
    return v


class RuleClause(BaseModel):
    """One clause (条款): a condition and an amount, both rule-engine expressions (as text)."""

    code: str
    title: str = ""
    when: str
    amount: str

    _text = field_validator("when", "amount", mode="before")(expression_text)


class RuleSet(BaseModel):
    """A policy version as the matcher sees it. eligibility/ knows nothing of policy lifecycle: policies/
    builds this from a stored version and hands it over."""

    key: str = Field(description="identifies the version, e.g. 'NC-TALENT-HOUSING-2025@3'")
    version_id: int | None = None
    code: str
    subject: SubjectKind
    when: str | None = None
    combine: Literal["first", "sum"] = "first"
    cap_per_subject: Decimal | None = None
    effective_from: dt.date
    effective_to: dt.date | None = None
    clauses: list[RuleClause]

    _text = field_validator("when", mode="before")(expression_text)


class RuleProblem(BaseModel):
    """One problem found in a rule set's expressions, written so an officer can act on it."""

    clause_code: str | None = Field(None, description="None for the policy-level `when`")
    part: Literal["when", "amount"]
    expression: str
    position: int | None = None
    message: str
    hint: str | None = None
    # The catalog's msgids and their parameters (kit.i18n._l): a page shows the problem in the reader's language;
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
    ) -> RuleProblem:
        """A problem from a catalog message (``_l("unknown field '{field}'")``) and its parameters."""
        return cls(**problem_fields(message, params, hint=hint, hint_params=hint_params), **where)


class Evaluation(BaseModel):
    """The result of one rule set for one profile on one date."""

    eligible: bool
    clauses: list[str] = []
    amount: Decimal = Decimal("0.00")
    in_effect: bool = True


class MatchResult(BaseModel):
    subject_id: str
    clauses: list[str]
    amount: Decimal


class MatchRun(BaseModel):
    """A match of one rule set against every profile of its kind (stored or as a preview)."""

    key: str
    code: str
    as_of: dt.date
    results: list[MatchResult]
    matched: int
    total_amount: Decimal
    new: int = 0
    profiles: int = 0
    path: Literal["sql", "python"]
    fallback_reason: str | None = None
    withdrawn: int = 0  # earlier matches withdrawn: the subject no longer qualifies (a re-run of a rule set)


class StoredMatch(BaseModel):
    """A stored match as payments and the portal read it."""

    id: int
    ruleset_key: str
    version_id: int | None
    code: str
    subject_kind: SubjectKind
    subject_id: str
    clauses: list[str]
    amount_fen: int
    as_of: dt.date
    profile_digest: str
    rule_digest: str
    name: str | None = None
    bank_name: str | None = None
    bank_account: str | None = None
    state: str = "current"  # kit.vocab.MatchState
    withdrawn_reason: str = ""  # why the subject no longer qualifies (a withdrawn match)


class ConditionExplanation(BaseModel):
    """One condition (a leaf of the and/or tree) for one subject."""

    expression: str
    text: str
    met: bool | None = Field(description="None when a value it needs is missing")
    values: dict[str, str] = {}
    missing: list[str] = []
    distance: str | None = None
    requirement: str = Field("", description="the condition in plain words, for the subject (no rule text)")
    plain: str = Field("", description="met: the sentence with the subject's own value; not met: 还差 …")


class ClauseExplanation(BaseModel):
    code: str | None = Field(description="None for the policy-level `when`")
    title: str = ""
    met: bool
    conditions: list[ConditionExplanation]
    amount: Decimal | None = None
    pays: bool = Field(False, description="this clause is one the amount is paid under (combine and cap applied)")
    amount_text: str = Field("", description="the clause's amount in plain words: ¥20,000.00, 研发费用的 15%")
    note: str = Field("", description="why a met clause does not pay (another tier pays), in plain words")


class Explanation(BaseModel):
    key: str
    code: str
    subject_id: str
    as_of: dt.date
    in_effect: bool
    eligible: bool
    policy: ClauseExplanation | None
    clauses: list[ClauseExplanation]
    amount: Decimal
    summary: str
    plain_summary: str = Field("", description="the outcome for the subject in plain words, with the date used")


class ImportReport(BaseModel):
    kind: SubjectKind
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    digest: str = Field("", description="SHA-256 of the file as read")


class ProfileVersionRead(BaseModel):
    """One version of a profile: the current one, or an earlier one kept by the history (eligibility/history.py)."""

    id: int | None = Field(None, description="the history row; None for the current version")
    subject_kind: SubjectKind
    subject_id: str
    digest: str
    feed: str | None = Field(None, description="the feed that wrote this version; None: a full-record file")
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None = Field(None, description="when a change replaced it; None: the current version")
    current: bool
    profile: dict[str, Any]
    values: list[Any] = Field(description="the stored field values its digest was computed over")


class DecisionReplay(BaseModel):
    """A stored match (decision) evaluated again on the profile version and rule version it used."""

    match_id: int
    code: str
    ruleset_key: str
    version_id: int | None
    subject_kind: SubjectKind
    subject_id: str
    as_of: dt.date
    stored_clauses: list[str]
    stored_amount_fen: int
    stored_profile_digest: str
    stored_rule_digest: str
    stored_match_digest: str
    profile_version: ProfileVersionRead | None = Field(description="None when that version is not kept")
    profile_digest: str | None = Field(None, description="recomputed from the version's data")
    rule_digest: str | None = Field(None, description="of the rule set replayed")
    clauses: list[str] = []
    amount_fen: int | None = None
    match_digest: str | None = None
    agrees: bool
    problems: list[str] = []
