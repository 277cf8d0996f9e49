"""Pydantic models of payments/: what other domains hand in, and what the API and UI read."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from kit.masking import mask_account  # noqa: F401 - payments' pages and messages mask with the one rule
from kit.money import fen_to_yuan
from kit.vocab import SubjectKind
from policies.schemas import Once


class PolicyFacts(BaseModel):
    """What payments keeps of a published policy version (from policies/): budget, group, and what receipts cite."""

    version_id: int
    code: str
    version: int
    title: str = ""
    issuer: str = ""
    subject: SubjectKind = SubjectKind.ENTERPRISE
    mode: Literal["auto", "apply"] = "auto"
    budget_fen: int
    exclusive_group: str | None = None
    effective_from: dt.date
    clause_titles: dict[str, str] = Field(default_factory=dict)
    once: Once = "lifetime"  # how often a subject is paid under the code
    top_up: bool = False  # a later version pays only the difference over what the subject received (就高补差)
    publicity_days: int = 0  # working days a new entitlement is publicly shown (公示) before it is payable


class EntitlementCreate(BaseModel):
    """One subject's claim under a version: from a stored match (auto) or an approved application."""

    subject_kind: SubjectKind
    subject_id: str
    amount_fen: int = Field(gt=0)
    clause_codes: list[str] = Field(default_factory=list)
    source: Literal["auto", "application"] = "auto"
    source_ref: str = ""
    payee_name: str = ""
    bank_name: str = ""
    payee_account: str = ""
    account_verified: bool = False
    as_of: dt.date | None = None  # the evaluation date of the match: its year is the period of a per_year policy


class EntitlementRead(BaseModel):
    id: int
    policy_code: str
    policy_version: int
    subject_kind: str
    subject_id: str
    amount: Decimal
    clause_codes: list[str]
    state: str
    reason: str
    batch_id: int | None
    pending_amount: Decimal | None = None  # amount_changed: the amount waiting for the maker's acceptance
    publicity_until: dt.datetime | None = None  # 公示: not payable before this instant
    held_by: int | None = None  # the open objection holding it out of every batch


class HeldOutRead(BaseModel):
    """An entitlement held out on re-verification (资格复核): withdrawn, or its amount changed."""

    id: int
    entitlement_id: int
    payment_id: int | None
    batch_id: int | None
    stage: str  # match | batch | run | accept
    outcome: str  # withdrawn | amount_changed
    policy_code: str
    subject_kind: str
    subject_id: str
    amount: Decimal
    new_amount: Decimal | None
    reason: str
    created_at: dt.datetime


class BatchRead(BaseModel):
    id: int
    policy_code: str
    title: str
    status: str
    maker: str
    checker: str | None
    second_checker: str | None
    needs_second_checker: bool
    payment_count: int
    total: Decimal
    created_at: dt.datetime
    status_counts: dict[str, int] = Field(default_factory=dict)
    status_totals: dict[str, Decimal] = Field(default_factory=dict)


class PaymentRead(BaseModel):
    id: int
    batch_id: int
    subject_kind: str
    subject_id: str
    payee_name: str
    payee_account_masked: str
    amount: Decimal
    status: str
    reason: str
    exception: str
    attempt: int
    reissue_of: int | None
    request_id: str
    bank_transfer_id: str
    settled_at: dt.datetime | None
    entitlement_id: int | None = None


def yuan(fen: int) -> Decimal:
    return fen_to_yuan(fen)
