"""Server-side sessions: a login opens a row, every request checks it, logout and credential changes end it.

The session cookie (encrypted with ZHIDA_SECRET_KEY) carries only a random token; this table holds its SHA-256, the
user, the role and a digest of the password hash at login. A request's session counts while its row exists, has not
expired, and the user is still active with the same role and password: so logging out, changing a password or a role,
or deactivating a user ends every session that came before, on every web process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from app.tables import Session, User
from kit.time import now

SESSION_HOURS = 8
SESSION_FIELDS = ("username", "role", "display_name", "subject_kind", "subject_id")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def credential_of(password_hash: str) -> str:
    """What a session remembers of the password: a digest of its hash, changed by any new password."""
    return hashlib.sha256(b"zhida session|" + password_hash.encode()).hexdigest()


async def open_session(username: str) -> str:
    """A new session for ``username`` (an active user); returns the token the cookie carries."""
    user = await User.select(User.username, User.role, User.password_hash).where(User.username == username).first()
    if user is None:
        raise LookupError(username)
    token = secrets.token_urlsafe(32)
    at = now()
    await Session.delete().where((Session.username == username) & (Session.expires_at < at))
    await Session.insert(
        Session(
            token_hash=_digest(token),
            username=username,
            role=user["role"],
            credential=credential_of(user["password_hash"]),
            created_at=at,
            expires_at=at + dt.timedelta(hours=SESSION_HOURS),
        )
    )
    return token


async def session_user(token: Any) -> dict[str, Any] | None:
    """The user of a live session token, or None (unknown, expired, logged out, or the user's role, password or
    state changed since)."""
    if not isinstance(token, str) or not token:
        return None
    row = await Session.select().where((Session.token_hash == _digest(token)) & (Session.expires_at > now())).first()
    if row is None:
        return None
    user = await User.select().where(User.username == row["username"]).first()
    if (
        user is None
        or not user["active"]
        or user["role"] != row["role"]
        or not secrets.compare_digest(credential_of(user["password_hash"]), row["credential"])
    ):
        await Session.delete().where(Session.id == row["id"])
        return None
    return {k: user[k] for k in SESSION_FIELDS}


async def close_session(token: Any) -> None:
    """Log out: this session's token no longer counts anywhere."""
    if isinstance(token, str) and token:
        await Session.delete().where(Session.token_hash == _digest(token))


async def revoke_sessions(username: str) -> int:
    """End every session of ``username`` (a password reset, a role change, a deactivation); returns how many."""
    gone = await Session.delete().where(Session.username == username).returning(Session.id)
    return len(gone)
