"""Shapes of the platform's own routes: the logged-in user, users, the audit trail."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class SessionUserRead(BaseModel):
    """The logged-in user, as the session holds it (subject kind and id for enterprise and talent users)."""

    username: str
    role: str
    display_name: str
    subject_kind: str | None = None
    subject_id: str | None = None


class UserRead(SessionUserRead):
    id: int
    active: bool


class AuditEntryRead(BaseModel):
    """One entry of the hash-chained trail (审计留痕): who did what to which object; states as their digests."""

    id: int
    seq: int
    at: dt.datetime
    actor: str
    role: str
    action: str
    entity: str
    entity_id: str
    before_digest: str
    after_digest: str
    detail: str
    prev_hash: str
    hash: str


class AuditVerifyRead(BaseModel):
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""
