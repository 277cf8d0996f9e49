"""Which account a unified-identity login opens, and the staff links an admin makes.

- A staff account is linked to the provider's ``sub`` by an admin (audited); for a policy, finance or admin account
  the link counts only once a second admin confirms it, as a password reset of such an account does
  (app/auth/accounts.py). A login never creates a staff account nor gives a role.
- Anyone else is an enterprise or a talent: the claim named by ZHIDA_OIDC_USCC_CLAIM (or ZHIDA_OIDC_ID_NUMBER_CLAIM)
  carries the USCC (or ID number); a valid one with a profile from the data exchange opens that subject's account,
  created on its first login (without a password: it logs in through the provider, or is activated as any other).
- A login that maps to nothing is refused: no session, no account.
"""

from __future__ import annotations

import hashlib

from app.audit import AuditActor
from app.auth.accounts import CONFIRMED_ROLES, _public
from app.auth.sessions import revoke_sessions
from app.config import Settings, get_settings
from app.errors import AppError, Conflict
from app.tables import IdentityLink, User
from eligibility import service as eligibility
from eligibility.profiles import id_number_problem, uscc_problem
from kit.audit import Actor
from kit.errors import Forbidden, NotFound
from kit.i18n import _l
from kit.time import now
from kit.vocab import STAFF_ROLES, Role, SubjectKind


class NoAccount(AppError):
    status = 403


def _key(issuer: str, subject: str) -> str:
    return hashlib.sha256(f"{issuer.rstrip('/')}\0{subject}".encode()).hexdigest()


def _issuer(settings: Settings) -> str:
    if not settings.oidc_issuer:
        raise AppError(_l("统一身份认证未启用 / unified-identity login is not configured (ZHIDA_OIDC_ISSUER)"))
    return settings.oidc_issuer.rstrip("/")


def _link_row(row: dict) -> dict:
    return {
        k: row[k]
        for k in ("id", "issuer", "subject", "username", "status", "requested_by", "requested_at", "decided_by")
    } | {"decided_at": row.get("decided_at")}


async def account_for(claims: dict, settings: Settings | None = None) -> dict:
    """The active account this login's (verified) claims open; NoAccount when there is none to open."""
    settings = settings or get_settings()
    issuer = _issuer(settings)
    link = await IdentityLink.select().where(IdentityLink.subject_key == _key(issuer, claims["sub"])).first()
    if link is not None and link["status"] == "linked":
        row = await User.select().where(User.username == link["username"]).first()
        if row is None or not row["active"]:
            raise NoAccount("关联的平台账户已停用 / the linked account is deactivated")
        return _public(row)
    for kind, claim, problem in (
        (SubjectKind.ENTERPRISE, settings.oidc_uscc_claim, uscc_problem),
        (SubjectKind.TALENT, settings.oidc_id_number_claim, id_number_problem),
    ):
        value = claims.get(claim)
        if not isinstance(value, str) or not value.strip():
            continue
        subject_id = value.strip().upper()
        if problem(subject_id) is None and await eligibility.get_profile(kind, subject_id) is not None:
            return await _subject_account(kind, subject_id)
    raise NoAccount(
        "此统一身份账号未关联本平台账户：企业和人才需在数据交换中有档案，工作人员需由管理员关联 / this identity opens "
        "no account here: enterprises and talents need a profile from the data exchange, staff a link by an admin"
    )


async def _subject_account(kind: str, subject_id: str) -> dict:
    row = await User.select().where(User.username == subject_id).first()
    if row is None:
        user = User(
            username=subject_id,
            role=kind,
            password_hash="",  # none: this account logs in through the provider (or is activated by an admin's code)
            display_name=subject_id,
            subject_kind=kind,
            subject_id=subject_id,
            created_at=now(),
        )
        try:
            async with User._meta.db.transaction():
                await user.save()
                await AuditActor(subject_id, kind).record(
                    "user.create", "user", subject_id, None, _public(user.to_dict()), {"via": "oidc"}
                )
        except Exception:
            # Two first logins at once: the other one created it.
            if not await User.exists().where(User.username == subject_id):
                raise
        row = await User.select().where(User.username == subject_id).first()
    if row["role"] != kind or row["subject_id"] != subject_id:
        raise NoAccount("该身份对应的平台账户不是主体账户 / the account of this identity is not a subject account")
    if not row["active"]:
        raise NoAccount("该账户已停用 / this account is deactivated")
    return _public(row)


async def record_login(user: dict) -> None:
    await AuditActor(user["username"], user["role"]).record(
        "user.login", "user", user["username"], detail={"via": "oidc"}
    )


def _require_admin(actor: Actor) -> None:
    if actor.role != Role.ADMIN:
        raise Forbidden(
            _l("只有系统管理员可以关联统一身份 / only an admin links identities; {name} is {actor_role}"),
            name=actor.name,
            actor_role=actor.role,
        )


async def link_identity(username: str, subject: str, actor: Actor, settings: Settings | None = None) -> dict:
    """An admin links the staff account ``username`` to the provider's ``subject`` (its ``sub``). Pending until a
    second admin confirms (``confirm_link``) when the account has a policy, finance or admin role."""
    _require_admin(actor)
    issuer = _issuer(settings or get_settings())
    subject = subject.strip()
    if not subject or len(subject) > 255:
        raise AppError(_l("the provider's subject (sub) is 1-255 characters"))
    async with User._meta.db.transaction():
        row = await User.select().where(User.username == username).first()
        if row is None:
            raise NotFound(_l("no user named {username!r}"), username=username)
        if row["role"] not in STAFF_ROLES or not row["active"]:
            raise AppError(_l("只有在用的工作人员账户可以关联 / only an active staff account is linked to an identity"))
        if await IdentityLink.exists().where(IdentityLink.subject_key == _key(issuer, subject)):
            raise Conflict("这个统一身份已关联一个账户 / this identity is linked to an account already")
        if await IdentityLink.exists().where(IdentityLink.username == username):
            raise Conflict(
                _l("{username} 已关联统一身份，请先解除 / {username} is linked already: unlink it first"),
                username=username,
            )
        pending = row["role"] in CONFIRMED_ROLES
        at = now()
        link = IdentityLink(
            subject_key=_key(issuer, subject),
            issuer=issuer,
            subject=subject,
            username=username,
            status="pending" if pending else "linked",
            requested_by=actor.name,
            requested_at=at,
            decided_by=None if pending else actor.name,
            decided_at=None if pending else at,
        )
        await link.save()
        out = _link_row(link.to_dict())
        detail = {"link": out["id"], "issuer": issuer, "sub": subject, "role": row["role"]}
        await actor.record(
            "user.identity_requested" if pending else "user.identity_linked", "user", username, None, None, detail
        )
    return out


async def confirm_link(link_id: int, actor: Actor) -> dict:
    """A second admin confirms a pending link; the admin who requested it cannot."""
    _require_admin(actor)
    async with User._meta.db.transaction():
        link = await IdentityLink.select().where(IdentityLink.id == link_id).first()
        if link is None or link["status"] != "pending":
            raise NotFound(f"no pending identity link {link_id}")
        if link["requested_by"] == actor.name:
            raise Forbidden("需要另一名管理员确认 / a second admin must confirm this: you requested it yourself")
        at = now()
        await IdentityLink.update(
            {IdentityLink.status: "linked", IdentityLink.decided_by: actor.name, IdentityLink.decided_at: at}
        ).where(IdentityLink.id == link_id)
        detail = {
            "link": link_id,
            "issuer": link["issuer"],
            "sub": link["subject"],
            "requested_by": link["requested_by"],
        }
        await actor.record("user.identity_linked", "user", link["username"], None, None, detail)
    return _link_row({**link, "status": "linked", "decided_by": actor.name, "decided_at": at})


async def unlink_identity(username: str, actor: Actor) -> int:
    """An admin removes the account's link (pending or not); the account's sessions end with it."""
    _require_admin(actor)
    async with User._meta.db.transaction():
        gone = await IdentityLink.delete().where(IdentityLink.username == username).returning(IdentityLink.id)
        if not gone:
            raise NotFound(_l("{username} has no identity link"), username=username)
        await revoke_sessions(username)
        await actor.record("user.identity_unlinked", "user", username, None, None, {"links": [g["id"] for g in gone]})
    return len(gone)


async def identity_links() -> list[dict]:
    return [_link_row(r) for r in await IdentityLink.select().order_by(IdentityLink.id)]
