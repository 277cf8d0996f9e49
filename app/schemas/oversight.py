"""Shapes of the risk-flag API (风险拦截, /api/oversight/flags): personal numbers masked, money in fen and yuan."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class RiskFlagRead(BaseModel):
    """One risk flag: which rule found which entitlement suspicious, with its evidence and the auditors' decision."""

    id: int
    rule: str = Field(description="the rule's code (docs/oversight.md)")
    rule_title: str = Field(description="the rule's title in the request's language")
    severity: str = Field(description="low | medium | high")
    state: str = Field(description="open | confirmed | cleared")
    entitlement_id: int
    policy_code: str
    subject_kind: str
    subject_id: str = Field(description="a talent's ID number masked; an enterprise's USCC whole")
    amount_fen: int
    amount: str = Field(description="yuan, with thousands separators")
    evidence: dict[str, Any] = Field(description="the rule, its figures (accounts masked) and the thresholds used")
    first_cleared_by: str | None = Field(None, description="a high flag's first auditor (four-eyes)")
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    reason: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime


class EvidencePackRead(BaseModel):
    """An evidence pack (证据包) of a risk flag or a policy, built by a job (app.build_evidence_pack): ``preparing``
    until it is written, then ``ready`` with its download link; ``absent`` when none is built for the rows as they
    stand (POST to prepare). ``fraction`` and ``done`` are what the pages' progress bar polls."""

    kind: str = Field(description="flag | policy")
    ref: str = Field(description="the flag's id or the policy's code")
    status: str = Field(description="absent, preparing or ready")
    fingerprint: str = Field(description="digest of the rows the pack covers; it changes when they do")
    download: str | None = Field(None, description="the ZIP's link once ready")
    built_at: str | None = Field(None, description="when it was built, Beijing time (ISO 8601, +08:00)")
    built_by: str | None = Field(None, description="the auditor it was first prepared for")
    files: dict[str, int] = Field(default_factory=dict, description="rows per CSV file, once ready")
    fraction: float = 0.0
    done: bool = True
