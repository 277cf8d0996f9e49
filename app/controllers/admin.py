"""The administrator's user management."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.audit import AuditActor
from app.auth.guards import current_user, requires
from app.auth.service import ROLES, create_user
from app.schemas.errors import errors
from app.schemas.platform import UserRead
from app.tables import User
from kit.vocab import Role


class UserCreate(BaseModel):
    username: str
    role: str  # checked by create_user, whose refusal lists the roles
    password: str
    display_name: str = ""


@get("/admin/users", guards=[requires(Role.ADMIN)], include_in_schema=False)
async def users_page(request: Request) -> Template:
    users = await User.select(User.username, User.role, User.display_name, User.active, User.created_at).order_by(
        User.username
    )
    return Template("admin_users.html", context={"users": users, "roles": ROLES, "error": None})


@post("/admin/users", guards=[requires(Role.ADMIN)], include_in_schema=False)
async def users_create(
    request: Request, data: Annotated[UserCreate, Body(media_type=RequestEncodingType.URL_ENCODED)]
) -> Any:
    me = current_user(request)
    await create_user(
        data.username,
        data.role,
        data.password,
        display_name=data.display_name,
        actor=AuditActor(me["username"], me["role"]),
    )
    return Redirect("/admin/users")


@post("/api/users", guards=[requires(Role.ADMIN)], tags=["platform"], responses=errors(409))
async def users_create_api(request: Request, data: Annotated[UserCreate, Body()]) -> UserRead:
    """Create a user (admin)."""
    me = current_user(request)
    made = await create_user(
        data.username,
        data.role,
        data.password,
        display_name=data.display_name,
        actor=AuditActor(me["username"], me["role"]),
    )
    return UserRead.model_validate(made)


route_handlers = [users_page, users_create, users_create_api]
