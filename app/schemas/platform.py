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


class RoleGrantRead(BaseModel):
    """A request that waits for a second admin: a new account with a policy, finance or admin role (``create``), a
    change to such a role (``role``) or a reset of such an account (``reset``)."""

    id: int
    username: str
    role: str
    display_name: str
    kind: str
    status: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str | None = None
    decided_at: dt.datetime | None = None


class AccountOpened(BaseModel):
    """What an admin's account action did: ``created`` | ``reset`` | ``changed`` | ``edited`` | ``disabled`` |
    ``enabled`` | ``unlocked`` | ``pending`` (a second admin must
    confirm ``grant``). A new or reset account's one-time activation code (and link) is shown here once: hand it to
    the account's owner, who sets the password at /activate."""

    status: str
    user: UserRead | None = None
    grant: RoleGrantRead | None = None
    activation_code: str | None = None
    activation_link: str | None = None
    expires_at: dt.datetime | None = None


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
