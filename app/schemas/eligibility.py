"""Shapes of the eligibility API: the data exchange's upsert report and stored profiles as staff and owners see them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class UpsertResultRead(BaseModel):
    subject_id: str
    outcome: str = Field(description="inserted, updated or unchanged")


class UpsertRejectRead(BaseModel):
    index: int = Field(description="position of the refused profile in the request (0-based)")
    field: str
    reason: str


class ExchangeUpsertRead(BaseModel):
    """What an upsert from the data exchange did: counts, each stored profile's outcome, each refusal's reason."""

    inserted: int
    updated: int
    unchanged: int
    rejected: int = Field(description="profiles refused (each has one or more rejects)")
    results: list[UpsertResultRead]
    rejects: list[UpsertRejectRead]


class _ProfileRead(BaseModel):
    # The project may add fields to the contract's (contracts/profiles.md): they are answered too.
    model_config = ConfigDict(extra="allow")

    name: str
    region_code: str
    tags: list[str] | None = None
    bank_name: str | None = None
    bank_account: str | None = Field(None, description="masked unless the reader is its owner or finance staff")


class EnterpriseProfileRead(_ProfileRead):
    """一企一档: an enterprise's stored profile (money as decimal yuan strings)."""

    uscc: str
    industry_code: str
    scale: str
    founded_on: dt.date
    employees: int
    revenue: str
    tax_paid: str
    rd_expense: str | None = None
    unemployment_insurance_paid: str | None = None
    new_graduate_hires: int | None = None
    high_tech: bool
    specialized: str
    credit_rating: str
    blacklisted: bool


class TalentProfileRead(_ProfileRead):
    """一人一档: a talent's stored profile; the ID number is masked (and the birth date left out) unless the reader
    is its owner or finance staff."""

    id_number: str
    education: str
    graduated_on: dt.date | None = None
    arrived_on: dt.date
    social_insurance_months: int
    employer_uscc: str | None = None
    title: str | None = None
    birth_date: dt.date | None = None


ProfileRead = EnterpriseProfileRead | TalentProfileRead
