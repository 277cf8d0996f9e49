"""Pydantic models of eligibility/: the rule set it evaluates (rules as data) and what it returns."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

SubjectKind = Literal["enterprise", "talent"]


class RuleClause(BaseModel):
    """One clause (条款): a condition and an amount, both rule-engine expressions (as text)."""

    code: str
    title: str = ""
    when: str
    amount: str


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
