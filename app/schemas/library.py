"""What the public library and calculator answer (政策库 / 政策计算器): no subject, no personal data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator


class LibraryClauseRead(BaseModel):
    title: str
    conditions: list[str] = Field(description="each condition in plain words")
    amount: str = Field(description="the clause's amount in plain words (¥ or a rate of a field)")


class LibraryPolicyRead(BaseModel):
    """One published policy as anyone may read it."""

    code: str
    title: str
    issuer: str
    subject: str = Field(description="enterprise | talent")
    mode: str = Field(description="auto (免申即享) | apply (依申请)")
    effective_from: dt.date
    effective_to: dt.date | None
    summary: str
    source: str
    max_amount: str | None = Field(description="the most one subject can get (封顶), ¥ formatted; None: no cap")
    url: str


class LibraryGuideRead(BaseModel):
    """申兑指南: who, what to prepare, how long it takes, where, whom to ask."""

    who: str = Field(description="申报对象")
    materials: list[str] = Field(description="申报材料, one item each")
    processing_days: int | None = Field(description="办理时限 in working days; None: not stated")
    where: str = Field(description="办理渠道 / 地点")
    contact: str = Field(description="咨询方式 (a public office)")


class LibraryPolicyDetail(LibraryPolicyRead):
    guide: LibraryGuideRead | None = Field(description="申兑指南; None when the policy has none")
    conditions: list[str] = Field(description="the policy's own conditions, in plain words")
    clauses: list[LibraryClauseRead]
    combine: str = Field(description="first: the first clause met pays; sum: every clause met pays")


class CalculatorRequest(BaseModel):
    kind: Literal["enterprise", "talent"] = Field(description="enterprise | talent")
    facts: dict[str, object] = Field(default_factory=dict, description="profile fields (contracts/profiles.md)")
    as_of: dt.date | None = Field(None, description="the date judged (default: today, China time)")

    @field_validator("as_of", mode="before")
    @classmethod
    def _a_date_is_text(cls, v: object) -> object:
        """A date is written YYYY-MM-DD: a number (0 would be 1970-01-01 to pydantic) is refused, as the schema says."""
        if v is not None and not isinstance(v, str | dt.date):
            raise ValueError("as_of is a date written YYYY-MM-DD")
        return v


class CalculatorVerdict(BaseModel):
    code: str
    title: str
    eligible: bool
    in_effect: bool
    amount: Decimal = Field(description="yuan; 0 when not eligible")
    amount_text: str
    summary: str
    missing: list[str] = Field(description="还差 …: each condition not met, with the value entered")
