"""Users and login: argon2 password hashes, the login throttle (app/auth/throttle.py), equal-time refusals."""

from __future__ import annotations

import asyncio
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.audit import SYSTEM, AuditActor
from app.auth import throttle
from app.auth.passwords import check_password
from app.auth.sessions import revoke_sessions
from app.errors import AppError, Conflict
from app.tables import User
from kit.audit import Actor
from kit.i18n import AnyOf, _l
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
        raise AppError(_l("unknown role {got}; the roles are {role}"), got=repr(role), role=AnyOf(ROLES))
    if not _NAME.match(username):
        raise AppError(_l("a user name is 2-64 letters, digits, '.', '_' or '-'"))
    check_password(password, username=username, role=role)
    engine = User._meta.db
    async with engine.transaction():
        if await User.exists().where(User.username == username):
            raise Conflict(_l("user {username!r} exists already"), username=username)
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


_dummy_hash: list[str] = []


def _verify(password_hash: str | None, password: str) -> bool:
    """argon2 verification, against a dummy hash of the same cost when there is no user: an unknown name takes as
    long to refuse as a wrong password (user names are USCCs and ID numbers, not to be probed)."""
    if not _dummy_hash:
        _dummy_hash.append(_hasher.hash(secrets.token_urlsafe(16)))
    try:
        return _hasher.verify(password_hash or _dummy_hash[0], password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(username: str, password: str, *, source: str = "unknown") -> dict:
    """The user whose password this is. Each attempt is counted before the password is checked (per ``source``, the
    client's address, and name); refused with TooManyAttempts while this source must wait or the name is locked."""
    refusal = await throttle.reserve_attempt(source, username)
    if refusal is not None:
        if refusal.locked:
            raise TooManyAttempts(
                _l(
                    "此账号因多处登录失败已锁定，请联系管理员解锁 / this account is locked after failed logins from many places; an administrator can unlock it"
                )
            )
        wait = f"{refusal.seconds} 秒" if refusal.seconds < 120 else f"{refusal.seconds // 60} 分钟"
        wait_en = f"{refusal.seconds} seconds" if refusal.seconds < 120 else f"{refusal.seconds // 60} minutes"
        raise TooManyAttempts(
            _l("登录失败次数过多，请 {wait}后再试 / too many failed logins; try again in {wait_en}"),
            wait=wait,
            wait_en=wait_en,
        )
    row = await User.select().where(User.username == username).first()
    known = row is not None and row["active"]
    # Off the event loop: argon2 takes tens of milliseconds of CPU, which would stall every other request.
    ok = await asyncio.to_thread(_verify, row["password_hash"] if known else None, password)
    if not ok:
        if await throttle.attempt_failed(source, username) and known:
            await SYSTEM.record("user.lock", "user", username, detail={"reason": "failed logins from many sources"})
        raise LoginRefused(_l("用户名或密码错误 / wrong user name or password"))
    await throttle.attempt_succeeded(source, username)
    await AuditActor(row["username"], row["role"]).record("user.login", "user", username)
    return _public(row)


async def unlock_user(username: str, actor: Actor = SYSTEM) -> bool:
    """Lift the lock a name got from failed logins from many sources (and every source's back-off for it)."""
    if not await User.exists().where(User.username == username):
        raise AppError(_l("no user named {username!r}"), username=username, status=404)
    locked = await throttle.is_locked(username)
    await throttle.lift(username)
    await actor.record("user.unlock", "user", username, detail={"was_locked": locked})
    return locked


async def change_password(username: str, current_password: str, new_password: str) -> None:
    """The owner changes their password (the current one proves it): the policy applies, and every session of the
    user ends (app/auth/sessions.py)."""
    row = await User.select().where(User.username == username).first()
    if row is None or not row["active"] or not await asyncio.to_thread(_verify, row["password_hash"], current_password):
        raise LoginRefused(_l("当前密码错误 / the current password is wrong"))
    check_password(new_password, username=username, role=row["role"])
    async with User._meta.db.transaction():
        await User.update({User.password_hash: _hasher.hash(new_password)}).where(User.username == username)
        await revoke_sessions(username)
        await AuditActor(row["username"], row["role"]).record("user.password", "user", username)
