"""HTTP routes of the enterprise/talent portal: my policies and where each one's money is, a policy's text and
why I qualify, my receiving account, applications with attachments, objections. Every query is scoped by
``own_subject(request)``; another subject's record is "not found". JSON under /api/portal, pages under /portal.
(The inbox pages are the notifications module's, in portal.py.)"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from litestar.response import File, Redirect, Template

from app import todo
from app.audit import AuditActor
from app.auth.guards import current_user, own_subject, requires
from app.config import get_settings
from app.controllers.applications import (
    _file,
    account_sync,
    actor_of,
    attachments_dir,
    four_eyes_threshold_fen,
    queue_or_none,
)
from app.controllers.portal_standing import own_entitlement, policy_view, subject_overview
from app.flash import flash
from app.i18n import lang_of
from app.schemas.errors import errors
from app.schemas.portal import PortalEntitlementRead, PortalOverviewRead, PortalPolicyRead
from kit.errors import NotFound
from kit.i18n import _l
from kit.time import china_today, in_china
from kit.vocab import SUBJECT_ROLES, VersionStatus
from notifications import service as notifications
from payments.service import publicity
from policies.applications import attachments as attachment_rules
from policies.applications import service
from policies.applications.errors import InvalidState
from policies.applications.schemas import AccountConfirm, AccountRead, ApplicationRead, ObjectionCreate, ObjectionRead
from policies.service import library

SUBJECTS = requires(*SUBJECT_ROLES)
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
MAX_REQUEST = attachment_rules.MAX_FILES * attachment_rules.MAX_BYTES + 1024 * 1024


async def _unread(kind: str, subject_id: str) -> int:
    return await notifications.unread_count(kind, subject_id)


async def _unread_notices(kind: str, subject_id: str, limit: int = 5) -> list:
    return [n for n in await notifications.inbox(kind, subject_id, limit=50) if n.read_at is None][:limit]


# ---------------------------------------------------------------------------------- JSON API


@get("/api/portal/overview", guards=[SUBJECTS], tags=["portal"], responses=errors())
async def api_overview(request: Request) -> PortalOverviewRead:
    """My policies, each with its status on the way to the money, and my unread notice count."""
    kind, subject_id = own_subject(request)
    return PortalOverviewRead(
        subject_kind=kind,
        subject_id=subject_id,
        unread=await _unread(kind, subject_id),
        policies=await subject_overview(kind, subject_id),
    )


@get("/api/portal/policies/{version_id:int}", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_policy(request: Request, version_id: int) -> PortalPolicyRead:
    kind, subject_id = own_subject(request)
    return await policy_view(version_id, kind, subject_id, lang_of(request))


@get("/api/portal/account", guards=[SUBJECTS], tags=["portal"], responses=errors())
async def api_account(request: Request) -> AccountRead:
    kind, subject_id = own_subject(request)
    return await service.account_of(kind, subject_id)


@put("/api/portal/account", guards=[SUBJECTS], tags=["portal"], responses=errors(404, 409, 422))
async def api_confirm_account(request: Request, data: JSONBody[AccountConfirm]) -> AccountRead:
    """Confirm the account on file (stays verified) or correct it (unverified until finance verifies it;
    payment is held meanwhile). Audited."""
    kind, subject_id = own_subject(request)
    actor = actor_of(request)
    return await service.confirm_account(kind, subject_id, data, actor=actor, sync=account_sync(actor))


async def _apply(request: Request, version_id: int) -> ApplicationRead:
    kind, subject_id = own_subject(request)
    await service.visible_version(version_id, kind)  # not the subject's kind: 404 before the body is read
    form = await request.form()
    uploads = [f for f in form.getall("files") if isinstance(f, UploadFile)] if "files" in form else []
    files_in = [(f.filename, await f.read(attachment_rules.MAX_BYTES + 1)) for f in uploads]
    settings = get_settings()
    return await service.submit_application(
        version_id,
        kind,
        subject_id,
        applicant=current_user(request)["username"],
        statement=str(form.get("statement") or ""),
        files_in=files_in,
        attachments_dir=attachments_dir(),
        actor=actor_of(request),
        as_of=china_today(),
        four_eyes_threshold_fen=four_eyes_threshold_fen(),
        base_url=settings.base_url,
        queue=await queue_or_none(),
    )


@post(
    "/api/portal/policies/{version_id:int}/applications",
    guards=[SUBJECTS],
    tags=["portal"],
    request_max_body_size=MAX_REQUEST,
    responses=errors(404, 409, 413, 422),
)
async def api_apply(request: Request, version_id: int) -> ApplicationRead:
    """Apply (multipart: ``statement`` and up to 5 ``files``, PDF/JPG/PNG, 5 MB each)."""
    return await _apply(request, version_id)


@get("/api/portal/applications", guards=[SUBJECTS], tags=["portal"], responses=errors())
async def api_applications(request: Request) -> list[ApplicationRead]:
    kind, subject_id = own_subject(request)
    return await service.applications_of_subject(kind, subject_id)


@get("/api/portal/applications/{application_id:int}", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_application(request: Request, application_id: int) -> ApplicationRead:
    kind, subject_id = own_subject(request)
    return await service.application_of_subject(application_id, kind, subject_id)


@get("/api/portal/attachments/{attachment_id:int}", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_attachment(request: Request, attachment_id: int) -> File:
    kind, subject_id = own_subject(request)
    att, path = await service.attachment_of_subject(attachment_id, kind, subject_id, attachments_dir())
    return _file(path, att.filename, att.content_type)


@get("/api/portal/entitlements/{entitlement_id:int}", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_entitlement(request: Request, entitlement_id: int) -> PortalEntitlementRead:
    """One of my entitlements followed to the money: its state and reason, payment, receipt."""
    kind, subject_id = own_subject(request)
    ent = await own_entitlement(entitlement_id, kind, subject_id)
    status = next((i for i in await subject_overview(kind, subject_id) if i.entitlement_id == ent.id), None)
    return PortalEntitlementRead(entitlement=ent, status=status)


async def file_objection(
    kind: str, subject_id: str, data: ObjectionCreate, *, actor: AuditActor, origin: str = "subject", contact: str = ""
) -> ObjectionRead:
    """An objection of this subject's, checked as the portal checks it: the subject's own entitlement or
    application, or a published policy of its kind it was not matched to (the portal and the 12345 hotline)."""
    ent = await own_entitlement(data.target_id, kind, subject_id) if data.target == "entitlement" else None
    policy = None
    if data.target == "policy":  # a non-match: a published policy of my kind I was not matched to
        version = await service.visible_version(data.target_id, kind)
        if version.status != VersionStatus.PUBLISHED:
            raise InvalidState(_l("this policy is no longer in effect / 该政策已不再施行"))
        if any(i.version_id == version.id for i in await subject_overview(kind, subject_id)):
            raise InvalidState(_l("you are matched to this policy: object to its decision instead / 您已匹配该政策"))
        policy = (version.code, version.title)
    made = await service.raise_objection(
        kind, subject_id, data, actor=actor, entitlement=ent, policy=policy, origin=origin, contact=contact
    )
    if ent is not None:  # during its 公示 an objection holds the entitlement out of every batch until decided
        await publicity.hold_if_in_publicity(ent.id, made.id, actor)
    return made


@post("/api/portal/objections", guards=[SUBJECTS], tags=["portal"], responses=errors(404, 409, 422))
async def api_object(request: Request, data: JSONBody[ObjectionCreate]) -> ObjectionRead:
    """Object to a decision on one of my applications or entitlements, or to a non-match (target ``policy``: a
    published policy of my kind I believe I qualify for); officers answer within 15 working days."""
    kind, subject_id = own_subject(request)
    return await file_objection(kind, subject_id, data, actor=actor_of(request))


@get("/api/portal/objections", guards=[SUBJECTS], tags=["portal"], responses=errors())
async def api_objections(request: Request) -> list[ObjectionRead]:
    kind, subject_id = own_subject(request)
    return await service.objections_of_subject(kind, subject_id)


@get("/api/portal/objections/{objection_id:int}", guards=[SUBJECTS], tags=["portal"], responses=errors(404))
async def api_objection(request: Request, objection_id: int) -> ObjectionRead:
    kind, subject_id = own_subject(request)
    return await service.objection_of_subject(objection_id, kind, subject_id)


# ---------------------------------------------------------------------------------- pages


def _html(name: str, **context: Any) -> Template:
    return Template(name, context=context, media_type=MediaType.HTML)


@get("/portal", guards=[SUBJECTS], include_in_schema=False)
async def home_page(request: Request) -> Template:
    kind, subject_id = own_subject(request)
    return _html(
        "portal/home.html",
        items=await subject_overview(kind, subject_id),
        unread=await _unread(kind, subject_id),
        notices=await _unread_notices(kind, subject_id),
        account=await service.account_of(kind, subject_id),
        objections=await service.objections_of_subject(kind, subject_id),
        cards=await todo.subject_cards(kind, subject_id),
    )


@get("/portal/policies/{version_id:int}", guards=[SUBJECTS], include_in_schema=False)
async def policy_page(request: Request, version_id: int, saved: str | None = None) -> Template:
    kind, subject_id = own_subject(request)
    view = await policy_view(version_id, kind, subject_id, lang_of(request))
    return _html(
        "portal/policy.html",
        v=view.model_dump(mode="json"),  # the page reads the JSON API's values, dates as text
        saved=saved,
        max_mb=attachment_rules.MAX_BYTES // (1024 * 1024),
        max_files=attachment_rules.MAX_FILES,
    )


@get("/portal/policies/code/{code:str}", guards=[SUBJECTS], include_in_schema=False)
async def policy_by_code(request: Request, code: str) -> Redirect:
    """The library's and the calculator's way into the subject's own page of a published policy (where a subject
    not matched to it may object to the non-match): its published version's page."""
    row = await library.library_policy(code)
    if row is None:
        raise NotFound(_l("no published policy {code}"), code=code)
    return Redirect(f"/portal/policies/{int(row['id'])}#nonmatch-objection")


class _AccountForm(AccountConfirm):
    next: str = "/portal"


@post("/portal/account", guards=[SUBJECTS], include_in_schema=False)
async def account_form(request: Request, data: Annotated[_AccountForm, FORM]) -> Redirect:
    await api_confirm_account.fn(request, AccountConfirm(bank_name=data.bank_name, account=data.account))
    target = data.next if data.next.startswith("/portal") and "//" not in data.next else "/portal"
    return Redirect(target + ("&" if "?" in target else "?") + "saved=account")


@post(
    "/portal/policies/{version_id:int}/apply",
    guards=[SUBJECTS],
    include_in_schema=False,
    request_max_body_size=MAX_REQUEST,
)
async def apply_form(request: Request, version_id: int) -> Redirect:
    app = await _apply(request, version_id)
    return Redirect(f"/portal/applications/{app.id}")


@get("/portal/applications/{application_id:int}", guards=[SUBJECTS], include_in_schema=False)
async def application_page(request: Request, application_id: int) -> Template:
    kind, subject_id = own_subject(request)
    app = await service.application_of_subject(application_id, kind, subject_id)
    objections = [
        o
        for o in await service.objections_of_subject(kind, subject_id)
        if o.target == "application" and o.target_id == app.id
    ]
    status = next((i for i in await subject_overview(kind, subject_id) if i.version_id == app.version_id), None)
    return _html("portal/application.html", a=app, objections=objections, status=status)


@get("/portal/attachments/{attachment_id:int}", guards=[SUBJECTS], include_in_schema=False)
async def attachment_page(request: Request, attachment_id: int) -> File:
    return await api_attachment.fn(request, attachment_id)


class _ObjectionForm(ObjectionCreate):
    next: str = "/portal"


@post("/portal/objections", guards=[SUBJECTS], include_in_schema=False)
async def objection_form(request: Request, data: Annotated[_ObjectionForm, FORM]) -> Redirect:
    made = await api_object.fn(request, ObjectionCreate(target=data.target, target_id=data.target_id, text=data.text))
    due = in_china(made.due_at).date().isoformat()
    flash(
        request,
        f"已提交异议（{made.policy_title}），工作人员将在 {due}（北京时间）前答复，答复会发到您的消息中。"
        if lang_of(request) == "zh"
        else f"Your objection ({made.policy_title}) was received; an officer answers by {due} (Beijing time), "
        "in your inbox.",
    )
    target = data.next if data.next.startswith("/portal") and "//" not in data.next else "/portal"
    return Redirect(target)


route_handlers = [
    api_overview,
    api_policy,
    api_account,
    api_confirm_account,
    api_apply,
    api_applications,
    api_application,
    api_attachment,
    api_entitlement,
    api_object,
    api_objections,
    api_objection,
    home_page,
    policy_page,
    policy_by_code,
    account_form,
    apply_form,
    application_page,
    attachment_page,
    objection_form,
]
