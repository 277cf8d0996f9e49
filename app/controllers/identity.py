"""Routes of the unified-identity login (统一身份认证, app/auth/oidc.py) and the admin's staff links
(app/auth/identities.py)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, post
from litestar.enums import MediaType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.audit import AuditActor
from app.auth import identities, oidc
from app.auth.guards import PUBLIC, SESSION_KEY, current_user, requires
from app.auth.sessions import open_session
from app.config import get_settings
from app.controllers.core import safe_next
from app.errors import AppError
from app.schemas.errors import errors
from kit.vocab import Role


class IdentityLinkCreate(BaseModel):
    subject: str  # the provider's `sub` of the person who holds this staff account


class IdentityLinkRead(BaseModel):
    id: int
    issuer: str
    subject: str
    username: str
    status: str  # pending (a second admin confirms) | linked
    requested_by: str
    decided_by: str | None = None


def _me(request: Request) -> AuditActor:
    me = current_user(request)
    return AuditActor(me["username"], me["role"])


def _login_page(message: str, status: int, next_path: str = "/") -> Template:
    return Template(
        "login.html",
        context={"next": next_path, "error": message, "oidc": get_settings().oidc_enabled},
        status_code=status,
        media_type=MediaType.HTML,
    )


@get("/login/oidc", opt={PUBLIC: True}, include_in_schema=False)
async def oidc_start(request: Request, next: str = "/") -> Any:
    """To the provider's login, with a fresh state, nonce and PKCE verifier remembered in this browser's session."""
    try:
        url, pending = await oidc.begin_login(safe_next(next))
    except AppError as exc:
        return _login_page(exc.message, exc.status, next)
    request.set_session({oidc.PENDING_KEY: pending})
    return Redirect(url)


@get("/login/oidc/callback", opt={PUBLIC: True}, include_in_schema=False)
async def oidc_callback(request: Request) -> Any:
    """The provider sends the browser back here: the login this browser started is completed (once) or refused."""
    session = request.session if isinstance(request.session, dict) else {}
    pending = session.get(oidc.PENDING_KEY)
    request.set_session({k: v for k, v in session.items() if k != oidc.PENDING_KEY})  # used once, whatever happens
    next_path = pending.get("next", "/") if isinstance(pending, dict) else "/"
    try:
        claims = await oidc.finish_login(pending, dict(request.query_params))
        user = await identities.account_for(claims)
    except AppError as exc:
        return _login_page(exc.message, exc.status, next_path)
    await identities.record_login(user)
    # The same server-side session as a password login (a new token each login), plus the logout hint.
    request.set_session({SESSION_KEY: await open_session(user["username"]), oidc.LOGOUT_KEY: claims["id_token"]})
    return Redirect(safe_next(next_path))


@get("/api/admin/identity-links", guards=[requires(Role.ADMIN)], tags=["admin"], responses=errors())
async def links_list() -> list[IdentityLinkRead]:
    """Staff accounts linked (or waiting for a second admin) to a person at the unified identity provider."""
    return [IdentityLinkRead.model_validate(r) for r in await identities.identity_links()]


@post(
    "/api/admin/users/{username:str}/identity",
    guards=[requires(Role.ADMIN)],
    tags=["admin"],
    responses=errors(404, 409),
)
async def link_create(request: Request, username: str, data: Annotated[IdentityLinkCreate, Body()]) -> IdentityLinkRead:
    """Link a staff account to the provider's `sub`: a policy, finance or admin account needs a second admin."""
    return IdentityLinkRead.model_validate(await identities.link_identity(username, data.subject, _me(request)))


@post(
    "/api/admin/identity-links/{link_id:int}/confirm",
    guards=[requires(Role.ADMIN)],
    tags=["admin"],
    responses=errors(404),
)
async def link_confirm(request: Request, link_id: int) -> IdentityLinkRead:
    """A second admin confirms a pending link."""
    return IdentityLinkRead.model_validate(await identities.confirm_link(link_id, _me(request)))


@delete(
    "/api/admin/users/{username:str}/identity",
    guards=[requires(Role.ADMIN)],
    tags=["admin"],
    responses=errors(404),
    status_code=204,
)
async def link_delete(request: Request, username: str) -> None:
    """Unlink a staff account (its sessions end)."""
    await identities.unlink_identity(username, _me(request))


route_handlers = [oidc_start, oidc_callback, links_list, link_create, link_confirm, link_delete]
