"""The staff inbox (/staff/inbox): deadline reminders and escalations addressed to the logged-in staff user
(app/staff_messages.py), newest first, with the unread count also shown on the staff home. Only one's own
messages: another user's message id answers 404."""

from __future__ import annotations

import datetime as dt

from litestar import Request, get
from litestar.response import Template
from pydantic import BaseModel, Field

from app import staff_messages
from app.audit import AuditActor
from app.auth.guards import current_user, requires
from app.controllers.portal import _html
from app.i18n import api_lang_of, lang_of
from app.schemas.errors import errors
from kit.errors import NotFound
from kit.i18n import _l
from kit.vocab import STAFF_ROLES

STAFF = requires(*STAFF_ROLES)
PAGE_SIZE = 50


class StaffMessageOut(BaseModel):
    id: int
    kind: str = Field(description="objection_reminder | objection_escalation")
    title: str
    body: str
    link: str
    created_at: dt.datetime
    read: bool


class StaffInboxRead(BaseModel):
    unread: int
    total: int
    messages: list[StaffMessageOut]


def _me(request: Request) -> tuple[str, AuditActor]:
    user = current_user(request)
    return user["username"], AuditActor(user["username"], user["role"])


@get("/api/staff/messages", guards=[STAFF], tags=["platform"], responses=errors())
async def api_messages(request: Request, limit: int = PAGE_SIZE, offset: int = 0) -> StaffInboxRead:
    """My staff messages, newest first, with the unread count: {"unread", "total", "messages": [...]}."""
    me, _ = _me(request)
    limit = max(1, min(limit, 200))
    lang = api_lang_of(request)
    found = await staff_messages.inbox(me, lang, limit=limit, offset=max(0, offset))
    return StaffInboxRead(
        unread=await staff_messages.unread_count(me),
        total=await staff_messages.count(me),
        messages=[StaffMessageOut(**staff_messages.as_json(m)) for m in found],
    )


@get("/staff/inbox", guards=[STAFF], include_in_schema=False)
async def inbox_page(request: Request, page: int = 1) -> Template:
    me, _ = _me(request)
    page = max(1, min(page, 10_000))
    found = await staff_messages.inbox(me, lang_of(request), limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
    return _html(
        "staff/inbox.html",
        messages=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        page=page,
        unread=await staff_messages.unread_count(me),
    )


@get("/staff/inbox/{message_id:int}", guards=[STAFF], include_in_schema=False)
async def message_page(request: Request, message_id: int) -> Template:
    me, actor = _me(request)
    m = await staff_messages.open_message(message_id, me, lang_of(request), actor=actor)
    if m is None:
        raise NotFound(_l("no such message"))
    return _html("staff/message.html", m=m, unread=await staff_messages.unread_count(me))


route_handlers = [api_messages, inbox_page, message_page]
