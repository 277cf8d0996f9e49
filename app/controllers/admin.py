"""The administrator's user management, and the page where an account's owner activates it.

An admin never sets a password: a new (or reset) account gets a one-time activation code, shown once to the admin
who hands it to the owner, who sets the password at /activate. A policy, finance or admin role needs a second
admin's confirmation (app/auth/accounts.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from pydantic import BaseModel

from app.audit import AuditActor
from app.auth import accounts
from app.auth.guards import PUBLIC, current_user, requires
from app.auth.service import unlock_user
from app.auth.throttle import ANY_SOURCE
from app.config import get_settings
from app.errors import AppError
from app.flash import back_to_form
from app.i18n import error_text, lang_of, render
from app.paging import pager_of, paging
from app.schemas.errors import errors
from app.schemas.platform import AccountOpened, RoleGrantRead
from app.tables import LoginThrottle, User
from kit.errors import NotFound
from kit.i18n import _l
from kit.paging import PageRequest, Sorts, fetch_page, search
from kit.vocab import Role


class UserCreate(BaseModel):
    username: str
    role: str  # checked by open_account, whose refusal lists the roles
    display_name: str = ""
    # Refused when given: an admin never chooses another person's password.
    password: str | None = None


class RoleChange(BaseModel):
    role: str


class ActivationForm(BaseModel):
    username: str = ""  # typed by the owner, or
    account: str = ""  # the account's row id, from the activation link (which never holds the user name)
    code: str
    password: str
    password2: str = ""


def _me(request: Request) -> AuditActor:
    me = current_user(request)
    return AuditActor(me["username"], me["role"])


def _no_password(data: UserCreate) -> None:
    if data.password:
        raise AppError(
            _l(
                "管理员不能设置他人密码 / an admin does not set another person's password: the account gets an activation code and its owner sets the password"
            )
        )


def activation_link(account_id: int, code: str) -> str:
    """The link handed to an account's owner: the account by its row id, never its user name (a talent's is its ID
    number, and the link is pasted into mail and SMS)."""
    return f"{get_settings().base_url.rstrip('/')}/activate?{urlencode({'account': account_id, 'code': code})}"


async def _linked_username(account: str) -> str | None:
    if not account.strip().isdigit():
        return None
    row = await User.select(User.username).where(User.id == int(account.strip())).first()
    return row["username"] if row else None


def _opened(done: dict) -> AccountOpened:
    code = done.get("activation_code")
    user = done.get("user")
    return AccountOpened(
        status=done["status"],
        user=user,
        grant=done.get("grant"),
        activation_code=code,
        activation_link=activation_link(user["id"], code) if code and user else None,
        expires_at=done.get("expires_at"),
    )


class AccountEdit(BaseModel):
    display_name: str


FILTERS = ("pending", "locked", "inactive")
USER_SORTS = Sorts({"username": User.username, "role": User.role, "created": User.created_at}, default="username")
USER_COLUMNS = (
    User.id,
    User.username,
    User.role,
    User.display_name,
    User.active,
    User.created_at,
    User.activation_hash,
    User.password_hash,
)


async def _locked_names() -> set[str]:
    """The names locked by the login throttle (failures from many sources), which only an admin lifts."""
    rows = await LoginThrottle.select(LoginThrottle.username).where(
        LoginThrottle.slot.like(f"{ANY_SOURCE}|%") & (LoginThrottle.blocked_until > int(time.time()))
    )
    return {r["username"] for r in rows}


async def _page(
    request: Request,
    *,
    error: str | None = None,
    done: dict | None = None,
    status: int = 200,
    paging: PageRequest | None = None,
    role: str = "",
) -> Any:
    paging = paging or PageRequest()
    wanted = request.query_params.get("filter") or ""
    locked = await _locked_names()
    where: list[Any] = [User.role == role if role else None, search(paging.q, User.username, User.display_name)]
    if wanted == "pending":
        where.append(User.activation_hash.is_not_null() | (User.password_hash == ""))
    elif wanted == "inactive":
        where.append(User.active == False)  # noqa: E712  (Piccolo's column comparison)
    elif wanted == "locked":
        where.append(User.username.is_in(sorted(locked) or [""]))
    page = await fetch_page(User, where, paging, USER_SORTS, USER_COLUMNS)
    users = page.items
    for u in users:
        pending, password = u.pop("activation_hash"), u.pop("password_hash")  # neither reaches the template
        u["awaiting_activation"] = bool(pending) or not password
        u["locked"] = u["username"] in locked
    return Template(
        "admin_users.html",
        context={
            "users": users,
            "pager": pager_of(
                request, page, ("个", "accounts"), q=paging.q, role=role, filter=wanted if wanted in FILTERS else ""
            ),
            "q": paging.q,
            "role_filter": role,
            "filter": wanted if wanted in FILTERS else "",
            "roles": accounts.ROLES,
            "staff_roles": [r for r in accounts.ROLES if r not in (Role.ENTERPRISE, Role.TALENT)],
            "confirmed_roles": accounts.CONFIRMED_ROLES,
            "grants": await accounts.pending_grants(),
            "me": current_user(request)["username"],
            "error": error,
            "done": _opened(done) if done else None,
        },
        status_code=status,
        media_type=MediaType.HTML,
    )


async def _form_action(request: Request, action) -> Any:
    """What the admin did, on the users page (a one-time activation code is shown there once, never kept). A refusal
    of a browser's form goes back to the page it was sent from, with the reason as a message (app/flash.py), as every
    form's does; a client that names no such page gets the users page with the reason, at the refusal's status."""
    try:
        done = await action()
    except AppError as exc:
        if back_to_form(request):
            raise
        return await _page(request, error=error_text(lang_of(request), exc), status=exc.status)
    return await _page(request, done=done)


ADMIN = [requires(Role.ADMIN)]


async def _username_of(user_id: int) -> str:
    """The pages' forms name an account by its row id: a portal account's user name is its ID number or USCC, which
    stays out of URLs (and so out of access logs and browser history)."""
    row = await User.select(User.username).where(User.id == user_id).first()
    if row is None:
        raise NotFound(_l("no such user"))
    return row["username"]


async def _by_id(user_id: int, action: Callable[..., Awaitable[dict]], *args: Any) -> dict:
    return await action(await _username_of(user_id), *args)


@get("/admin/users", guards=ADMIN, include_in_schema=False, dependencies={"paging": paging(USER_SORTS)})
async def users_page(request: Request, paging: PageRequest, role: str = "") -> Template:
    return await _page(request, paging=paging, role=role.strip())


@post("/admin/users", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_create(
    request: Request, data: Annotated[UserCreate, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Any:
    async def action():
        _no_password(data)
        return await accounts.open_account(data.username, data.role, _me(request), display_name=data.display_name)

    return await _form_action(request, action)


@post("/admin/users/{user_id:int}/reset", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_reset(request: Request, user_id: int) -> Any:
    return await _form_action(request, lambda: _by_id(user_id, accounts.reset_password, _me(request)))


@post("/admin/users/{user_id:int}/role", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_role(
    request: Request, user_id: int, data: Annotated[RoleChange, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Any:
    return await _form_action(request, lambda: _by_id(user_id, accounts.change_role, data.role, _me(request)))


@post("/admin/users/{user_id:int}/edit", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_edit(
    request: Request, user_id: int, data: Annotated[AccountEdit, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Any:
    return await _form_action(request, lambda: _by_id(user_id, accounts.edit_account, data.display_name, _me(request)))


@post("/admin/users/{user_id:int}/disable", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_disable(request: Request, user_id: int) -> Any:
    return await _form_action(request, lambda: _by_id(user_id, accounts.set_active, False, _me(request)))


@post("/admin/users/{user_id:int}/enable", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_enable(request: Request, user_id: int) -> Any:
    return await _form_action(request, lambda: _by_id(user_id, accounts.set_active, True, _me(request)))


@post("/admin/users/{user_id:int}/unlock", guards=ADMIN, include_in_schema=False, status_code=200)
async def users_unlock(request: Request, user_id: int) -> Any:
    async def action():
        username = await _username_of(user_id)
        await unlock_user(username, _me(request))
        row = (
            await User.select(
                User.id, User.username, User.role, User.display_name, User.subject_kind, User.subject_id, User.active
            )
            .where(User.username == username)
            .first()
        )
        return {"status": "unlocked", "user": row, "activation_code": None, "grant": None}

    return await _form_action(request, action)


@post("/admin/grants/{grant_id:int}/confirm", guards=ADMIN, include_in_schema=False, status_code=200)
async def grants_confirm(request: Request, grant_id: int) -> Any:
    return await _form_action(request, lambda: accounts.confirm(grant_id, _me(request)))


@post("/admin/grants/{grant_id:int}/cancel", guards=ADMIN, include_in_schema=False, status_code=200)
async def grants_cancel(request: Request, grant_id: int) -> Any:
    async def action():
        await accounts.cancel(grant_id, _me(request))
        return None

    return await _form_action(request, action)


@post("/api/users", guards=ADMIN, tags=["platform"], responses=errors(403, 409))
async def users_create_api(request: Request, data: Annotated[UserCreate, Body()]) -> AccountOpened:
    """Open an account (admin): with its one-time activation code, or, for a policy, finance or admin role, a request
    that a second admin confirms (`/api/grants/{id}/confirm`)."""
    _no_password(data)
    return _opened(await accounts.open_account(data.username, data.role, _me(request), display_name=data.display_name))


@post("/api/users/{username:str}/reset", guards=ADMIN, tags=["platform"], responses=errors(403, 404, 409))
async def users_reset_api(request: Request, username: str) -> AccountOpened:
    """Reset an account (admin): its password and CLI token stop working; a new activation code (a second admin
    confirms for a policy, finance or admin account)."""
    return _opened(await accounts.reset_password(username, _me(request)))


@post("/api/users/{username:str}/role", guards=ADMIN, tags=["platform"], responses=errors(403, 404, 409))
async def users_role_api(request: Request, username: str, data: Annotated[RoleChange, Body()]) -> AccountOpened:
    """Change a staff account's role (admin); to a policy, finance or admin role only once a second admin confirms."""
    return _opened(await accounts.change_role(username, data.role, _me(request)))


@get("/api/grants", guards=ADMIN, tags=["platform"], responses=errors())
async def grants_api(request: Request) -> list[RoleGrantRead]:
    """The requests waiting for a second admin."""
    return [RoleGrantRead.model_validate(g) for g in await accounts.pending_grants()]


@post("/api/grants/{grant_id:int}/confirm", guards=ADMIN, tags=["platform"], responses=errors(403, 404, 409))
async def grants_confirm_api(request: Request, grant_id: int) -> AccountOpened:
    """A second admin (never the one who asked) confirms a request; a new or reset account's activation code is
    returned to this admin."""
    return _opened(await accounts.confirm(grant_id, _me(request)))


@post("/api/grants/{grant_id:int}/cancel", guards=ADMIN, tags=["platform"], responses=errors(403, 404))
async def grants_cancel_api(request: Request, grant_id: int) -> RoleGrantRead:
    """Withdraw or turn down a pending request (admin)."""
    return RoleGrantRead.model_validate(await accounts.cancel(grant_id, _me(request)))


@get("/activate", opt={PUBLIC: True}, include_in_schema=False)
async def activate_page(request: Request, account: str = "", user: str = "", code: str = "") -> Template:
    """From the activation link (``?account=<row id>&code=``) the account is named masked and sent back by its id;
    an old ``?user=`` link still fills the user name in."""
    named = await _linked_username(account[:20]) if account else None
    return Template(
        "activate.html",
        context={
            "username": "" if named else user[:64],
            "account": account[:20] if named else "",
            "account_name": named,
            "code": code[:64],
            "error": None,
            "done": False,
        },
    )


@post("/activate", opt={PUBLIC: True}, include_in_schema=False, status_code=200)
async def activate(
    request: Request, data: Annotated[ActivationForm, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Template:
    named = await _linked_username(data.account[:20]) if data.account else None
    username = named or data.username.strip()

    def again(error: str, status: int) -> Template:
        return Template(
            "activate.html",
            context={
                "username": "" if named else data.username[:64],
                "account": data.account[:20] if named else "",
                "account_name": named,
                "code": data.code[:64],
                "error": error,
                "done": False,
            },
            status_code=status,
            media_type=MediaType.HTML,
        )

    if data.password2 and data.password2 != data.password:
        return again(render(lang_of(request), _l("两次输入的密码不一致 / the two passwords differ")), 400)
    try:
        await accounts.activate(username, data.code, data.password)
    except AppError as exc:
        return again(error_text(lang_of(request), exc), exc.status)
    return Template("activate.html", context={"username": "", "code": "", "error": None, "done": True})


route_handlers = [
    users_page,
    users_create,
    users_reset,
    users_role,
    users_edit,
    users_disable,
    users_enable,
    users_unlock,
    grants_confirm,
    grants_cancel,
    users_create_api,
    users_reset_api,
    users_role_api,
    grants_api,
    grants_confirm_api,
    grants_cancel_api,
    activate_page,
    activate,
]
