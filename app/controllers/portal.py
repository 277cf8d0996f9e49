"""HTTP routes of the portal's inbox (消息): an enterprise's or talent's notices with the unread count, opening a
notice (marks it read), its delivery status per channel, and the channel opt-out form. JSON under
/api/portal/notices and /api/portal/preferences, pages under /portal/inbox and /portal/preferences.
Every query is scoped by ``own_subject(request)``; another subject's notice is "not found".
(The other portal pages are in portal_pages.py.)"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, get, post, put
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app.audit import AuditActor
from app.auth.guards import current_user, own_subject, requires
from app.i18n import lang_of
from app.schemas.errors import errors
from app.schemas.portal import InboxRead
from kit.vocab import SUBJECT_ROLES
from notifications import service as notifications
from notifications.schemas import ChannelPreferences, DeliveryRead, NoticeRead, RecipientRead

SUBJECTS = requires(*SUBJECT_ROLES)
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
PAGE_SIZE = 20


def _actor(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def _html(name: str, **context: Any) -> Template:
    return Template(name, context=context, media_type=MediaType.HTML)


# ---------------------------------------------------------------------------------- JSON API


@get("/api/portal/notices", guards=[SUBJECTS], tags=["portal"], responses=errors())
async def api_notices(request: Request, limit: int = PAGE_SIZE, offset: int = 0) -> InboxRead:
    """My notices, newest first, in my interface language, with the unread count."""
    kind, subject_id = own_subject(request)
    items = await notifications.inbox(kind, subject_id, limit=limit, offset=offset, locale=lang_of(request))
    return InboxRead(unread=await notifications.unread_count(kind, subject_id), notices=items)


@get("/api/portal/notices/{notice_id:int}", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_notice(request: Request, notice_id: int) -> NoticeRead:
    """One of my notices (reading it here does not mark it read: POST …/read does)."""
    kind, subject_id = own_subject(request)
    return await notifications.get_notice(notice_id, kind, subject_id, locale=lang_of(request))


@post(
    "/api/portal/notices/{notice_id:int}/read",
    guards=[SUBJECTS],
    tags=["portal"],
    status_code=200,
    responses=errors(404),
)
async def api_mark_read(request: Request, notice_id: int) -> NoticeRead:
    kind, subject_id = own_subject(request)
    return await notifications.mark_read(notice_id, kind, subject_id, actor=_actor(request), locale=lang_of(request))


@get("/api/portal/notices/{notice_id:int}/deliveries", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_notice_deliveries(request: Request, notice_id: int) -> list[DeliveryRead]:
    """Where one of my notices went: inbox (sent/read), email, SMS, webhook (queued/sent/failed and why)."""
    kind, subject_id = own_subject(request)
    await notifications.get_notice(notice_id, kind, subject_id)  # ownership first
    return await notifications.deliveries(notice_id)


@get("/api/portal/preferences", guards=[SUBJECTS], tags=["portal"], responses=errors())
async def api_preferences(request: Request) -> RecipientRead:
    kind, subject_id = own_subject(request)
    return await notifications.preferences_of(kind, subject_id)


@put("/api/portal/preferences", guards=[SUBJECTS], tags=["portal"], responses=errors(422))
async def api_set_preferences(request: Request, data: JSONBody[ChannelPreferences]) -> RecipientRead:
    """Switch email, SMS and webhook delivery on or off (the inbox always receives). Audited."""
    kind, subject_id = own_subject(request)
    return await notifications.set_preferences(kind, subject_id, data, actor=_actor(request))


# ---------------------------------------------------------------------------------- pages


@get("/portal/inbox", guards=[SUBJECTS], include_in_schema=False)
async def inbox_page(request: Request, page: int = 1) -> Template:
    kind, subject_id = own_subject(request)
    page = max(1, page)
    items = await notifications.inbox(
        kind, subject_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, locale=lang_of(request)
    )
    return _html(
        "portal/inbox.html",
        notices=items[:PAGE_SIZE],
        page=page,
        more=len(items) > PAGE_SIZE,
        unread=await notifications.unread_count(kind, subject_id),
    )


@get("/portal/inbox/{notice_id:int}", guards=[SUBJECTS], include_in_schema=False)
async def notice_page(request: Request, notice_id: int) -> Template:
    """Opening a notice marks it read."""
    kind, subject_id = own_subject(request)
    notice = await notifications.mark_read(notice_id, kind, subject_id, actor=_actor(request), locale=lang_of(request))
    return _html(
        "portal/notice.html",
        n=notice,
        deliveries=await notifications.deliveries(notice_id),
        unread=await notifications.unread_count(kind, subject_id),
    )


@get("/portal/preferences", guards=[SUBJECTS], include_in_schema=False)
async def preferences_page(request: Request, saved: str | None = None) -> Template:
    kind, subject_id = own_subject(request)
    return _html("portal/preferences.html", r=await notifications.preferences_of(kind, subject_id), saved=bool(saved))


class _PreferencesForm(BaseModel):
    # An unticked checkbox is absent from the form: absent means off.
    email: bool = False
    sms: bool = False
    webhook: bool = False


@post("/portal/preferences", guards=[SUBJECTS], include_in_schema=False)
async def preferences_form(request: Request, data: Annotated[_PreferencesForm, FORM]) -> Redirect:
    await api_set_preferences.fn(request, ChannelPreferences(email=data.email, sms=data.sms, webhook=data.webhook))
    return Redirect("/portal/preferences?saved=1")


route_handlers = [
    api_notices,
    api_notice,
    api_mark_read,
    api_notice_deliveries,
    api_preferences,
    api_set_preferences,
    inbox_page,
    notice_page,
    preferences_page,
    preferences_form,
]
