"""Role guards, checked on the server for every route, and the current user of a request.

Usage in a controller module:

    from app.auth.guards import requires, current_user
    @get("/policies", guards=[requires(Role.POLICY_OFFICER, Role.POLICY_REVIEWER)])
    async def page(request: Request) -> Template:
        user = current_user(request)   # dict: username, role, subject_kind, subject_id, display_name

A request without a live session gets 401 (pages: a redirect to /login); a user without the role gets 403. Sessions
are checked against the server's session table on every request (SessionCheckMiddleware, app/auth/sessions.py), so
``current_user`` never returns a logged-out or outdated session. Enterprise and talent users carry their subject id:
use ``own_subject(request)`` to scope every query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.auth.sessions import session_user
from kit.errors import Forbidden
from kit.i18n import AnyOf, _l
from kit.vocab import Role

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]

SESSION_KEY = "sid"  # the session cookie holds only this: the token of a row in app_session
USER_SCOPE_KEY = "zhida.user"  # the request's checked user, set by SessionCheckMiddleware
PENDING_LOGIN_KEY = "oidc"  # a unified-identity login under way: {state, nonce, verifier, next, at}
PUBLIC = "public"  # opt key: a route that anyone may see (login, health, verify); everything else is guarded


def current_user(connection: ASGIConnection) -> dict[str, Any] | None:
    user = connection.scope.get(USER_SCOPE_KEY)  # type: ignore[misc]
    return dict(user) if user else None


def session_token(connection: ASGIConnection) -> str | None:
    session = connection.scope.get("session") or {}
    token = session.get(SESSION_KEY) if isinstance(session, dict) else None
    return token if isinstance(token, str) else None


class SessionCheckMiddleware(ASGIMiddleware):
    """Checks the cookie's session against the session table on every request (after the cookie middleware has
    decrypted it): a dead session is emptied, so its cookie is deleted, and the request is anonymous."""

    scopes = (ScopeType.HTTP,)
    should_bypass_for_scope = staticmethod(
        lambda scope: scope["path"].startswith("/static/") or scope["path"] == "/healthz"
    )

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        session = scope.get("session")
        user = None
        if isinstance(session, dict) and session:
            user = await session_user(session.get(SESSION_KEY))
            if user is None:
                # Only a unified-identity login under way (app/auth/oidc.py) outlives a dead or absent session.
                scope["session"] = {k: v for k, v in session.items() if k == PENDING_LOGIN_KEY}
        scope[USER_SCOPE_KEY] = user  # type: ignore[literal-required]
        await next_app(scope, receive, send)


def requires(*roles: Role) -> Guard:
    """A guard letting in only users holding one of ``roles`` (any logged-in user when none are given)."""

    async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        user = current_user(connection)
        if user is None:
            raise NotAuthorizedException("please log in / 请先登录")
        if roles and user["role"] not in roles:
            raise Forbidden(
                _l("this needs the role {roles}; you are {actor_role}"), roles=AnyOf(roles), actor_role=user["role"]
            )

    # Read by the route-coverage test.
    guard.roles = roles  # type: ignore[attr-defined]
    return guard


def own_subject(connection: ASGIConnection) -> tuple[str, str]:
    """(kind, subject_id) of the logged-in enterprise or talent; 403 for staff."""
    user = current_user(connection)
    if not user or not user.get("subject_id"):
        raise Forbidden(_l("only enterprise and talent accounts have a portal"))
    return user["subject_kind"], user["subject_id"]
