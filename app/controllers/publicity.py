"""公示 (public notice before paying), no login: the payees to be of each policy with ``publicity_days`` (name, ID
masked, policy, amount, until when), as a mobile-first page and as JSON; anyone may object during the period (a
form with a contact and a reason, or the API), and the objection holds that entry until it is decided."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template
from pydantic import BaseModel, Field

from app.audit import AuditActor
from app.auth import throttle
from app.auth.guards import PUBLIC
from app.auth.service import TooManyAttempts
from app.config import get_settings
from app.controllers.core import client_source
from app.i18n import error_text, lang_of
from app.schemas.errors import errors
from kit.errors import AppError
from kit.i18n import _l
from payments.service import publicity

PUBLIC_ACTOR = AuditActor("public", "public")  # an anonymous visitor of the 公示 page or a caller of the public API
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


async def _quota(request: Request) -> None:
    """Each anonymous objection holds its entry until it is decided: one source gets a few an hour, not a list."""
    per_hour = get_settings().public_objections_per_hour
    if not await throttle.take_quota(client_source(request), "publicity-objection", per_hour):
        raise TooManyAttempts(
            _l("too many objections from this address within an hour (at most {n}); try again later"), n=per_hour
        )


class PublicObjection(BaseModel):
    contact: str = Field(min_length=1, max_length=200, description="a phone number or email to answer to")
    reason: str = Field(min_length=1, max_length=2000)


class PublicObjectionRead(BaseModel):
    objection_id: int
    due_at: str = Field(description="the answer's deadline (working days), ISO 8601")
    held: bool = True


@get("/publicity", opt={PUBLIC: True}, include_in_schema=False)
async def publicity_page(request: Request, policy: str = "") -> Template:
    return await _page(policy)


@get("/publicity/{code:str}", opt={PUBLIC: True}, include_in_schema=False)
async def publicity_of_policy(request: Request, code: str) -> Template:
    return await _page(code)


async def _page(code: str, done: int | None = None, error: str = "", status_code: int = 200) -> Template:
    return Template(
        "publicity.html",
        status_code=status_code,
        context={
            "code": code,
            "policies": await publicity.publicity_policies(),
            "entries": await publicity.publicity_list(code or None),
            "done": done,
            "form_error": error,
        },
    )


@get(
    "/api/public/publicity",
    opt={PUBLIC: True},
    tags=["public"],
    responses=errors(guarded=False),
    summary="公示: the payees to be still in their publicity period (no login)",
)
async def api_publicity(policy: str | None = None, limit: int = 200, offset: int = 0) -> list[publicity.PublicityEntry]:
    """The public list (personal data masked), the nearest end of period first; ``policy`` a policy code."""
    return await publicity.publicity_list(policy or None, limit=limit, offset=offset)


@post(
    "/api/public/publicity/{entitlement_id:int}/objections",
    opt={PUBLIC: True},
    tags=["public"],
    status_code=201,
    responses=errors(404, 409, 422, 429, guarded=False),
    summary="Object to an entry of a publicity list (no login): holds it until the objection is decided",
)
async def api_public_object(request: Request, entitlement_id: int, data: PublicObjection) -> PublicObjectionRead:
    await _quota(request)
    made = await publicity.object_during_publicity(
        entitlement_id, reason=data.reason, contact=data.contact, actor=PUBLIC_ACTOR, origin="api"
    )
    return PublicObjectionRead(objection_id=made.id, due_at=made.due_at.isoformat())


@post("/publicity/{entitlement_id:int}/object", opt={PUBLIC: True}, include_in_schema=False, status_code=200)
async def public_object_form(
    request: Request, entitlement_id: int, data: Annotated[PublicObjection, FORM], policy: str = ""
) -> Template:
    try:
        await _quota(request)
        made = await publicity.object_during_publicity(
            entitlement_id, reason=data.reason, contact=data.contact, actor=PUBLIC_ACTOR, origin="public"
        )
    except AppError as e:
        return await _page(policy, error=error_text(lang_of(request), e), status_code=e.status)
    return await _page(policy, done=made.id)


route_handlers = [publicity_page, publicity_of_policy, api_publicity, api_public_object, public_object_form]
