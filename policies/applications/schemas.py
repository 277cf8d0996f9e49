"""Pydantic models of policies.applications: what the portal, the review queue and the API read and send."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from kit.db import RowId
from kit.i18n import _l
from kit.masking import mask_account  # noqa: F401 - the one account rule, used by accounts.py

OFFICER_ROLES = ("policy_officer", "policy_reviewer")
ACCOUNT_VERIFIER_ROLES = ("finance_maker", "finance_checker")  # never an admin (DESIGN.md invariant 4)


class AttachmentRead(BaseModel):
    id: int
    application_id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: dt.datetime


class ApplicationRead(BaseModel):
    id: int
    application_no: str
    version_id: int
    policy_code: str
    policy_title: str
    subject_kind: str
    subject_id: str
    applicant: str
    amount: Decimal
    clause_codes: list[str]
    statement: str
    status: Literal["submitted", "first_approved", "approved", "rejected"]
    needs_two: bool
    first_approver: str | None
    decided_by: str | None
    decided_at: dt.datetime | None
    reason: str
    entitlement_id: int | None
    created_at: dt.datetime
    attachments: list[AttachmentRead] = Field(default_factory=list)


class ApplicationDecision(BaseModel):
    reason: str = Field(default="", max_length=2000)


class ObjectionCreate(BaseModel):
    target: Literal["application", "entitlement", "policy"] = Field(
        description="application or entitlement (a decision); policy: a published version (its id) the subject "
        "believes it qualifies for but was not matched to (a non-match)"
    )
    target_id: RowId
    text: str = Field(min_length=1, max_length=4000)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(_l("say what you object to"))
        return v.strip()


class ObjectionAnswer(BaseModel):
    answer: str = Field(min_length=1, max_length=4000)
    outcome: Literal["", "dismissed", "revoked", "corrected"] = Field(
        "",
        description="how it ends: dismissed (with the answer as the reason; a held entitlement is released), revoked "
        "(the entitlement it is about is revoked, never paid), corrected (upheld with a data correction: "
        "``corrections`` are written to the subject's profile, which is re-evaluated at once), or '' (a plain "
        "answer; a hold is released)",
    )
    corrections: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="outcome corrected: profile field -> corrected value (a field a rule reads; identifying fields "
        "and accounts are not corrected this way), as the data exchange would send it",
    )


class ObjectionRead(BaseModel):
    id: int
    subject_kind: str
    subject_id: str
    target: str
    target_id: int
    policy_code: str
    policy_title: str
    text: str
    status: Literal["open", "answered"]
    due_at: dt.datetime
    answer: str
    answered_by: str | None
    answered_at: dt.datetime | None
    created_at: dt.datetime
    seconds_left: int = Field(description="until due_at when read; negative once overdue")
    origin: str = Field("subject", description="subject (portal) | public (the 公示 page) | api")
    outcome: str = Field(
        "",
        description="dismissed | revoked | corrected once decided; correcting while the correction waits for the "
        "feed that owns the field, feed_refused when that feed refused it; '' otherwise",
    )
    reminded_at: dt.datetime | None = Field(None, description="reminded: due within 3 working days")
    escalated_at: dt.datetime | None = Field(None, description="overdue: escalated to a reviewer")

    @property
    def overdue(self) -> bool:
        return self.status == "open" and self.seconds_left < 0


class AccountConfirm(BaseModel):
    """The subject confirms (same account as on file) or corrects its receiving account."""

    bank_name: str = Field(min_length=1, max_length=128)
    account: str = Field(min_length=8, max_length=32)

    @field_validator("account")
    @classmethod
    def _digits(cls, v: str) -> str:
        v = v.replace(" ", "")
        if not v.isdigit() or not 8 <= len(v) <= 32:
            raise ValueError(_l("an account number is 8-32 digits"))
        return v

    @field_validator("bank_name")
    @classmethod
    def _bank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError(_l("name the bank"))
        return v.strip()


class AccountRead(BaseModel):
    """A subject's receiving account as the subject and staff see it: the number masked."""

    subject_kind: str
    subject_id: str
    payee_name: str
    bank_name: str
    account_masked: str
    status: Literal["verified", "unverified", "rejected", "missing"]
    source: Literal["exchange", "corrected", "none"]
    confirmed: bool
    confirmed_at: dt.datetime | None = None
    verified_by: str | None = None
    status_reason: str = Field("", description="why finance rejected the account (status rejected)")
    account_id: int | None = Field(None, description="the confirmed account's row id (an opaque id for URLs)")
