"""Users and login: argon2 password hashes, a database-backed limit on failed logins."""

from __future__ import annotations

import datetime as dt
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.audit import SYSTEM, AuditActor
from app.config import get_settings
from app.errors import AppError, Conflict
from app.tables import LoginAttempt, User
from kit.audit import Actor
from kit.time import now
from kit.vocab import STAFF_ROLES, SUBJECT_ROLES, Role

ROLES: tuple[Role, ...] = (*STAFF_ROLES, *SUBJECT_ROLES)
_hasher = PasswordHasher()
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")


class LoginRefused(AppError):
    status = 401


class TooManyAttempts(AppError):
    status = 429


def _public(row: dict) -> dict:
    return {k: row[k] for k in ("id", "username", "role", "display_name", "subject_kind", "subject_id", "active")}


async def create_user(
    username: str, role: Role | str, password: str, *, display_name: str = "", actor: Actor = SYSTEM
) -> dict:
    """A staff user by name, or an enterprise/talent user named by its subject id."""
    if role not in ROLES:
        raise AppError(f"unknown role {role!r}; roles are: {', '.join(ROLES)}")
    if not _NAME.match(username):
        raise AppError("a user name is 2-64 letters, digits, '.', '_' or '-'")
    if len(password) < 8:
        raise AppError("a password has at least 8 characters")
    engine = User._meta.db
    async with engine.transaction():
        if await User.exists().where(User.username == username):
            raise Conflict(f"user {username!r} exists already")
        user = User(
            username=username,
            role=role,
            password_hash=_hasher.hash(password),
            display_name=display_name or username,
            subject_kind=role if role in SUBJECT_ROLES else None,
            subject_id=username if role in SUBJECT_ROLES else None,
            created_at=now(),
        )
        await user.save()
        row = _public(user.to_dict())
        await actor.record("user.create", "user", username, None, row)
    return row


async def get_user(username: str) -> dict | None:
    row = await User.select().where(User.username == username).first()
    return _public(row) if row and row["active"] else None


async def authenticate(username: str, password: str) -> dict:
    """The user whose password this is; refused after too many recent failures for that name."""
    settings = get_settings()
    since = now() - dt.timedelta(minutes=settings.login_lockout_minutes)
    failures = await LoginAttempt.count().where((LoginAttempt.username == username) & (LoginAttempt.at > since))
    if failures >= settings.login_max_failures:
        raise TooManyAttempts(
            f"登录失败次数过多，请 {settings.login_lockout_minutes} 分钟后再试 / too many failed logins; "
            f"try again in {settings.login_lockout_minutes} minutes"
        )
    row = await User.select().where(User.username == username).first()
    ok = False
    if row and row["active"]:
        try:
            ok = _hasher.verify(row["password_hash"], password)
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok:
        await LoginAttempt.insert(LoginAttempt(username=username[:64], at=now()))
        raise LoginRefused("用户名或密码错误 / wrong user name or password")
    await LoginAttempt.delete().where(LoginAttempt.username == username)
    await AuditActor(row["username"], row["role"]).record("user.login", "user", username)
    return _public(row)
