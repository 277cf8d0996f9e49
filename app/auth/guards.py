"""Role guards, checked on the server for every route, and the current user of a request.

Usage in a controller module:

    from app.auth.guards import requires, current_user
    @get("/policies", guards=[requires(Role.POLICY_OFFICER, Role.POLICY_REVIEWER)])
    async def page(request: Request) -> Template:
        user = current_user(request)   # dict: username, role, subject_kind, subject_id, display_name

A request without a session gets 401 (pages: a redirect to /login); a user without the role gets 403.
Enterprise and talent users carry their subject id: use ``own_subject(request)`` to scope every query.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app.auth.service import get_user
from kit.vocab import Role

Guard = Callable[[ASGIConnection, BaseRouteHandler], Awaitable[None]]

SESSION_KEY = "user"
PUBLIC = "public"  # opt key: a route that anyone may see (login, health, verify); everything else is guarded


def current_user(connection: ASGIConnection) -> dict[str, Any] | None:
    session = connection.scope.get("session") or {}
    user = session.get(SESSION_KEY) if isinstance(session, dict) else None
    return user or None


def requires(*roles: Role) -> Guard:
    """A guard letting in only users holding one of ``roles`` (any logged-in user when none are given)."""

    async def guard(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
        user = current_user(connection)
        if user is None:
            raise NotAuthorizedException("please log in / 请先登录")
        fresh = await get_user(user["username"])
        if fresh is None or fresh["role"] != user["role"]:
            connection.scope["session"] = {}
            raise NotAuthorizedException("your session is no longer valid; please log in again")
        if roles and user["role"] not in roles:
            raise PermissionDeniedException(f"this needs the role {' or '.join(roles)}; you are {user['role']}")

    # Read by the route-coverage test.
    guard.roles = roles  # type: ignore[attr-defined]
    return guard


def own_subject(connection: ASGIConnection) -> tuple[str, str]:
    """(kind, subject_id) of the logged-in enterprise or talent; 403 for staff."""
    user = current_user(connection)
    if not user or not user.get("subject_id"):
        raise PermissionDeniedException("only enterprise and talent accounts have a portal")
    return user["subject_kind"], user["subject_id"]
