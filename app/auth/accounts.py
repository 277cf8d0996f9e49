"""Accounts that only their owner can use, and roles that no single admin can hand out (separation of duties).

- An admin opens an account without a password: the account gets a one-time activation code (its SHA-256 stored,
  valid ``ACTIVATION_HOURS``, used once) and its owner sets the password on the activation page. An admin never sets
  or learns a password; a reset revokes the password (and the CLI token) and issues a new code.
- A policy, finance or admin role (``CONFIRMED_ROLES``) is granted only when a second admin confirms the first one's
  request (a pending ``RoleGrant``): opening such an account, changing an account to such a role, and resetting such
  an account's password. The confirming admin receives the activation code, never the requesting one.
- An admin holds no policy or finance role, and such an account is never made an admin; together with the four-eyes
  rules in policies/ and payments/ (maker ≠ checker, author ≠ reviewer, two officers above the threshold) that means
  two people, always.
- The operator CLI (`zhida users create … --password-stdin`) stays the bootstrap path, as trusted as the database.

A user's personal CLI token (``issue_token``) lets a script authenticate ``--actor`` without the password
(ZHIDA_ACTOR_TOKEN); it is issued only to a caller who knows the password, and stored as its SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.audit import AuditActor
from app.auth.passwords import check_password
from app.auth.sessions import revoke_sessions
from app.errors import AppError, Conflict
from app.tables import RoleGrant, User
from eligibility.profiles import id_number_problem, uscc_problem
from kit.audit import Actor
from kit.errors import Forbidden, NotFound
from kit.i18n import AnyOf, _l
from kit.masking import mask_username
from kit.time import now
from kit.vocab import STAFF_ROLES, SUBJECT_ROLES, Role

POLICY_FINANCE_ROLES: tuple[Role, ...] = (
    Role.POLICY_OFFICER,
    Role.POLICY_REVIEWER,
    Role.FINANCE_MAKER,
    Role.FINANCE_CHECKER,
)
# Granting one of these needs a second admin (an admin role too: else one admin makes a second one and confirms).
CONFIRMED_ROLES: tuple[Role, ...] = (*POLICY_FINANCE_ROLES, Role.ADMIN)
ROLES: tuple[Role, ...] = (*STAFF_ROLES, *SUBJECT_ROLES)
ACTIVATION_HOURS = 72
TOKEN_PREFIX = "zt_"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
_hasher = PasswordHasher()


class ActivationRefused(AppError):
    status = 400


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _public(row: dict) -> dict:
    return {k: row[k] for k in ("id", "username", "role", "display_name", "subject_kind", "subject_id", "active")}


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden(
            _l("只有系统管理员可以{what} / only an admin may {what}; {name} is {actor_role}"),
            what=what,
            name=actor.name,
            actor_role=actor.role,
        )


def check_separation(current: str | None, new: str) -> None:
    """An admin account never takes a policy or finance role, nor such an account the admin role."""
    if current == Role.ADMIN and new in POLICY_FINANCE_ROLES:
        raise Forbidden(
            _l(
                "管理员账户不能担任业务角色 / an admin account cannot hold the role {new}: open a separate account for the person who does that work"
            ),
            new=new,
        )
    if current in POLICY_FINANCE_ROLES and new == Role.ADMIN:
        raise Forbidden(
            _l(
                "业务账户不能成为管理员 / a {current} account cannot become an admin: an admin holds no policy or finance role; open a separate admin account"
            ),
            current=current,
        )


def _check_new(username: str, role: str) -> None:
    if role not in ROLES:
        raise AppError(_l("unknown role {got}; the roles are {role}"), got=repr(role), role=AnyOf(ROLES))
    if not _NAME.match(username):
        raise AppError(_l("a user name is 2-64 letters, digits, '.', '_' or '-'"))
    # A portal account is named by its subject id, which must be a real one (eligibility's own checksums).
    if role == Role.ENTERPRISE and (problem := uscc_problem(username)):
        raise AppError(
            f"企业账户须以有效的统一社会信用代码命名 / an enterprise account is named by a valid USCC: {problem}"
        )
    if role == Role.TALENT and (problem := id_number_problem(username)):
        raise AppError(
            f"人才账户须以有效的居民身份证号命名 / a talent account is named by a valid ID number: {problem}"
        )


def _new_code() -> tuple[str, str, dt.datetime]:
    code = secrets.token_urlsafe(18)
    return code, _sha(code), now() + dt.timedelta(hours=ACTIVATION_HOURS)


async def _pending(username: str) -> dict | None:
    return (
        await RoleGrant.select()
        .where((RoleGrant.username == username) & (RoleGrant.status == "pending"))
        .order_by(RoleGrant.id)
        .first()
    )


async def _grant(kind: str, username: str, role: str, display_name: str, actor: Actor) -> dict:
    if await _pending(username):
        raise Conflict(
            _l("a request for {username!r} already waits for a second admin: confirm or cancel it first"),
            username=username,
        )
    grant = RoleGrant(
        username=username,
        role=role,
        display_name=display_name,
        kind=kind,
        status="pending",
        requested_by=actor.name,
        requested_at=now(),
    )
    await grant.save()
    row = grant.to_dict()
    await actor.record(
        "user.grant_requested", "user", username, None, None, {"grant": row["id"], "kind": kind, "role": role}
    )
    return {"status": "pending", "grant": _grant_row(row), "activation_code": None, "user": None}


def _grant_row(row: dict) -> dict:
    return {
        k: row[k] for k in ("id", "username", "role", "display_name", "kind", "status", "requested_by", "requested_at")
    } | {"decided_by": row.get("decided_by"), "decided_at": row.get("decided_at")}


async def _insert_account(
    username: str, role: str, display_name: str, actor: Actor, audit_detail: dict | None = None
) -> dict:
    if await User.exists().where(User.username == username):
        raise Conflict(_l("user {username!r} exists already"), username=username)
    code, code_hash, expires = _new_code()
    user = User(
        username=username,
        role=role,
        password_hash="",  # none until the owner activates: no password verifies against it
        display_name=display_name or username,
        subject_kind=role if role in SUBJECT_ROLES else None,
        subject_id=username if role in SUBJECT_ROLES else None,
        created_at=now(),
        activation_hash=code_hash,
        activation_expires_at=expires,
    )
    await user.save()
    row = _public(user.to_dict())
    await actor.record(
        "user.create", "user", username, None, row, {"activation": "code issued", **(audit_detail or {})}
    )
    return {"status": "created", "user": row, "activation_code": code, "grant": None, "expires_at": expires}


async def open_account(username: str, role: str, actor: Actor, *, display_name: str = "") -> dict:
    """An admin opens an account. Without a policy, finance or admin role it exists at once, with an activation code
    for its owner; with one, a request waits for a second admin (``confirm``). The result: ``status`` (created |
    pending), ``user``, ``activation_code`` (shown once, to hand to the owner) and ``grant``."""
    _require_admin(actor, _l("开设账户 / open accounts"))
    _check_new(username, role)
    async with User._meta.db.transaction():
        if await User.exists().where(User.username == username):
            raise Conflict(_l("user {username!r} exists already"), username=username)
        if role in CONFIRMED_ROLES:
            return await _grant("create", username, role, display_name, actor)
        return await _insert_account(username, role, display_name, actor)


async def _user(username: str) -> dict:
    row = await User.select().where(User.username == username).first()
    if row is None:
        raise NotFound(_l("no user named {username!r}"), username=username)
    return row


async def change_role(username: str, role: str, actor: Actor) -> dict:
    """An admin changes a staff account's role: to a policy, finance or admin role only with a second admin."""
    _require_admin(actor, _l("变更角色 / change roles"))
    if role not in STAFF_ROLES:
        raise AppError(_l("a staff account's role is {role}"), role=AnyOf(STAFF_ROLES))
    async with User._meta.db.transaction():
        row = await _user(username)
        if row["role"] in SUBJECT_ROLES:
            raise AppError(_l("an enterprise or talent account keeps its role"))
        if row["role"] == role:
            raise Conflict(_l("{username} is {role} already"), username=username, role=role)
        check_separation(row["role"], role)
        if role in CONFIRMED_ROLES:
            return await _grant("role", username, role, row["display_name"], actor)
        await User.update({User.role: role}).where(User.username == username)
        await actor.record("user.role", "user", username, {"role": row["role"]}, {"role": role})
        return {"status": "changed", "user": _public({**row, "role": role}), "activation_code": None, "grant": None}


async def edit_account(username: str, display_name: str, actor: Actor) -> dict:
    """An admin corrects an account's display name (the role and the password are not edited here)."""
    _require_admin(actor, _l("修改账户 / edit accounts"))
    name = display_name.strip()
    if not name or len(name) > 128:
        raise AppError(_l("姓名须为 1-128 个字符 / a display name is 1-128 characters"))
    row = await _user(username)
    await User.update({User.display_name: name}).where(User.username == username)
    await actor.record("user.edit", "user", username, {"display_name": row["display_name"]}, {"display_name": name})
    return {"status": "edited", "user": _public({**row, "display_name": name}), "activation_code": None, "grant": None}


async def set_active(username: str, active: bool, actor: Actor) -> dict:
    """An admin disables an account (its sessions and CLI token end at once); never their own. Enabling it again
    restores access, so it is a four-eyes step like a grant: one admin requests it (a pending ``enable`` request) and
    a different admin confirms it (``confirm``) — no single admin disables and re-enables an account alone."""
    _require_admin(actor, _l("停用或启用账户 / disable or enable accounts"))
    if username == actor.name:
        raise Forbidden(_l("管理员不能停用或启用自己的账户 / an admin does not disable or enable their own account"))
    async with User._meta.db.transaction():
        row = await _user(username)
        if row["active"] == active:
            raise Conflict(
                _l("{username} is active already") if active else _l("{username} is disabled already"),
                username=mask_username(username),
            )
        if active:
            return await _grant("enable", username, row["role"], row["display_name"], actor)
        await User.update({User.active: False, User.token_hash: None}).where(User.username == username)
        await revoke_sessions(username)
        await actor.record("user.disable", "user", username, {"active": True}, {"active": False})
    return {"status": "disabled", "user": _public({**row, "active": False}), "activation_code": None, "grant": None}


async def _revoke_and_issue(username: str) -> tuple[str, dt.datetime]:
    code, code_hash, expires = _new_code()
    await User.update(
        {
            User.password_hash: "",
            User.token_hash: None,
            User.activation_hash: code_hash,
            User.activation_expires_at: expires,
        }
    ).where(User.username == username)
    return code, expires


async def reset_password(username: str, actor: Actor) -> dict:
    """An admin resets an account: its password and CLI token stop working and its owner gets a new activation
    code. For a policy, finance or admin account a second admin confirms (and receives the code)."""
    _require_admin(actor, _l("重置密码 / reset passwords"))
    async with User._meta.db.transaction():
        row = await _user(username)
        if row["role"] in CONFIRMED_ROLES:
            return await _grant("reset", username, row["role"], row["display_name"], actor)
        code, expires = await _revoke_and_issue(username)
        await actor.record("user.reset", "user", username, None, None, {"activation": "code issued"})
        return {
            "status": "reset",
            "user": _public(row),
            "activation_code": code,
            "grant": None,
            "expires_at": expires,
        }


async def confirm(grant_id: int, actor: Actor) -> dict:
    """A second admin confirms a pending request; the requester cannot. Returns what ``open_account`` returns, with
    the activation code for a new or reset account (given to this admin, to hand to the owner)."""
    _require_admin(actor, _l("确认授权 / confirm grants"))
    async with User._meta.db.transaction():
        grant = await RoleGrant.select().where(RoleGrant.id == grant_id).first()
        if grant is None or grant["status"] != "pending":
            raise NotFound(_l("no pending request {grant_id}"), grant_id=grant_id)
        if grant["requested_by"] == actor.name:
            raise Forbidden(_l("需要另一名管理员确认 / a second admin must confirm this: you requested it yourself"))
        detail = {
            "grant": grant_id,
            "kind": grant["kind"],
            "role": grant["role"],
            "requested_by": grant["requested_by"],
        }
        username, role = grant["username"], grant["role"]
        if grant["kind"] == "create":
            done = await _insert_account(username, role, grant["display_name"], actor, detail)
        elif grant["kind"] == "enable":
            row = await _user(username)
            if row["active"]:
                raise Conflict(_l("{username} is active already"), username=mask_username(username))
            await User.update({User.active: True}).where(User.username == username)
            await actor.record("user.enable", "user", username, {"active": False}, {"active": True}, detail)
            done = {"status": "enabled", "user": _public({**row, "active": True}), "activation_code": None}
        elif grant["kind"] == "role":
            row = await _user(username)
            check_separation(row["role"], role)
            await User.update({User.role: role}).where(User.username == username)
            await actor.record("user.role", "user", username, {"role": row["role"]}, {"role": role}, detail)
            done = {"status": "changed", "user": _public({**row, "role": role}), "activation_code": None}
        else:
            row = await _user(username)
            code, expires = await _revoke_and_issue(username)
            await actor.record("user.reset", "user", username, None, None, {**detail, "activation": "code issued"})
            done = {"status": "reset", "user": _public(row), "activation_code": code, "expires_at": expires}
        at = now()
        await RoleGrant.update(
            {RoleGrant.status: "confirmed", RoleGrant.decided_by: actor.name, RoleGrant.decided_at: at}
        ).where(RoleGrant.id == grant_id)
        await actor.record("user.grant_confirmed", "user", username, None, None, detail)
        grant.update(status="confirmed", decided_by=actor.name, decided_at=at)
        return {**done, "grant": _grant_row(grant)}


async def cancel(grant_id: int, actor: Actor) -> dict:
    """Any admin withdraws (or turns down) a pending request."""
    _require_admin(actor, _l("撤销授权请求 / cancel grants"))
    async with User._meta.db.transaction():
        grant = await RoleGrant.select().where(RoleGrant.id == grant_id).first()
        if grant is None or grant["status"] != "pending":
            raise NotFound(_l("no pending request {grant_id}"), grant_id=grant_id)
        at = now()
        await RoleGrant.update(
            {RoleGrant.status: "cancelled", RoleGrant.decided_by: actor.name, RoleGrant.decided_at: at}
        ).where(RoleGrant.id == grant_id)
        await actor.record(
            "user.grant_cancelled", "user", grant["username"], None, None, {"grant": grant_id, "kind": grant["kind"]}
        )
        grant.update(status="cancelled", decided_by=actor.name, decided_at=at)
        return _grant_row(grant)


async def pending_grants() -> list[dict]:
    rows = await RoleGrant.select().where(RoleGrant.status == "pending").order_by(RoleGrant.id)
    return [_grant_row(r) for r in rows]


async def activate(username: str, code: str, password: str) -> dict:
    """The owner sets the account's password with its activation code (once, before it expires)."""
    refused = ActivationRefused("激活码无效、已使用或已过期 / the activation code is wrong, used or expired")
    row = await User.select().where(User.username == username).first()
    if row is None or not row["active"] or not row["activation_hash"]:
        raise refused
    expires = row["activation_expires_at"]
    if not hmac.compare_digest(row["activation_hash"], _sha(code.strip())) or expires is None or expires < now():
        raise refused
    check_password(password, username=username, role=row["role"])
    async with User._meta.db.transaction():
        # Used once: only the update that still finds this code sets the password.
        done = (
            await User.update(
                {
                    User.password_hash: _hasher.hash(password),
                    User.activation_hash: None,
                    User.activation_expires_at: None,
                }
            )
            .where((User.username == username) & (User.activation_hash == row["activation_hash"]))
            .returning(User.id)
        )
        if not done:
            raise refused
        await AuditActor(row["username"], row["role"]).record("user.activate", "user", username)
    return _public(row)


def password_matches(row: dict, password: str) -> bool:
    if not row.get("password_hash") or not password:
        return False
    try:
        return _hasher.verify(row["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(username: str, password: str) -> dict | None:
    """The active user whose password this is, or None."""
    row = await User.select().where(User.username == username).first()
    return _public(row) if row and row["active"] and password_matches(row, password) else None


async def verify_token(username: str, token: str) -> dict | None:
    """The active user ``username`` if ``token`` is that user's personal CLI token, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await User.select().where(User.username == username).first()
    if not row or not row["active"] or not row["token_hash"]:
        return None
    return _public(row) if hmac.compare_digest(row["token_hash"], _sha(token)) else None


async def issue_token(username: str, actor: Actor) -> str:
    """A new personal CLI token for ``username`` (the previous one stops working); the caller has authenticated as
    that user. Only its SHA-256 is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with User._meta.db.transaction():
        await User.update({User.token_hash: _sha(token)}).where(User.username == username)
        await actor.record("user.token", "user", username, None, None, {"token": "issued"})
    return token


async def revoke_token(username: str, actor: Actor) -> None:
    async with User._meta.db.transaction():
        await User.update({User.token_hash: None}).where(User.username == username)
        await actor.record("user.token", "user", username, None, None, {"token": "revoked"})
