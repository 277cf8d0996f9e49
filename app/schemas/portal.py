"""Shapes of the enterprise and talent portal: my policies and where each one's money is."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from eligibility.schemas import Explanation
from notifications.schemas import NoticeRead
from payments.schemas import EntitlementRead
from policies.applications.schemas import AccountRead, ApplicationRead
from policies.schemas import PolicyContent, PublishedVersion


class InboxRead(BaseModel):
    unread: int
    notices: list[NoticeRead]


class StepRead(BaseModel):
    """One step on the way to the money, for the progress bar."""

    code: str
    zh: str
    en: str
    state: str = Field(description="done, current or todo")


class ApplicationRefRead(BaseModel):
    id: int
    no: str
    status: str


class PaymentStandingRead(BaseModel):
    status: str
    settled_at: dt.datetime | None = None
    account: str = Field(description="the receiving account, masked")


class ReceiptRefRead(BaseModel):
    code: str
    url: str = Field(description="the signed PDF")
    verify_url: str


class PolicyStandingRead(BaseModel):
    """A policy the subject matched or applied for, and where it stands on the way to the money."""

    version_id: int
    code: str
    title: str
    mode: str
    issuer: str
    amount: str = Field(description="yuan, with thousands separators; empty when not known yet")
    stage: str
    stage_zh: str
    stage_en: str
    steps: list[StepRead]
    reason: str
    entitlement_id: int | None = None
    application: ApplicationRefRead | None = None
    payment: PaymentStandingRead | None = None
    receipt: ReceiptRefRead | None = None


class PortalOverviewRead(BaseModel):
    subject_kind: str
    subject_id: str
    unread: int
    policies: list[PolicyStandingRead]


class PortalPolicyRead(BaseModel):
    """A policy as its subject reads it: text, why it qualifies (or the problem explaining it), its own records."""

    version: PublishedVersion
    content: PolicyContent
    explanation: Explanation | None = None
    explanation_problem: str | None = None
    status: PolicyStandingRead | None = None
    applications: list[ApplicationRead]
    account: AccountRead


class PortalEntitlementRead(BaseModel):
    entitlement: EntitlementRead
    status: PolicyStandingRead | None = None


class AccountToVerifyRead(AccountRead):
    """A corrected receiving account awaiting verification, with the whole number (finance needs it)."""

    account: str
    previous_account_masked: str = Field("", description="the account it replaces (the profile's), masked")
