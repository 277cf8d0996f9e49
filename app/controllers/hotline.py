"""HTTP routes of the 12345 hotline (app/hotline.py).

The subject's side, in the portal: /portal/hotline shows a consent code to read out to the agent (POST issues a new
one; JSON at POST /api/portal/hotline/code). The agent's side (role ``hotline``): /hotline takes the caller's USCC or
ID number and the code and opens a grant; /hotline/grants/{id} shows that caller's policies and where each stands,
the plain explanations, notices, objections and the answers to the common questions, and files an objection or a
data-correction objection on the caller's behalf. URLs carry the grant's id, never the caller's ID number (URLs end
up in access logs). Every grant route asks ``hotline.caller_of`` first: another agent's grant, or an expired one,
is 403.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import MediaType, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field

from app import hotline
from app.audit import AuditActor
from app.auth.guards import current_user, own_subject, requires
from app.controllers.core import client_source
from app.controllers.policies.tests_form import field_options
from app.controllers.portal_pages import file_objection
from app.controllers.portal_standing import policy_view, subject_overview
from app.errors import AppError
from app.flash import flash
from app.i18n import error_text, lang_of
from app.schemas.errors import errors
from eligibility.errors import EligibilityError
from kit.db import ROW_ID_MAX, RowId
from kit.i18n import _l
from kit.time import in_china
from kit.vocab import SUBJECT_ROLES, Role
from notifications import service as notifications
from policies.applications import service as applications
from policies.applications.schemas import ObjectionCreate, ObjectionRead

SUBJECTS = requires(*SUBJECT_ROLES)
AGENTS = requires(Role.HOTLINE)
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)


def _actor(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def _html(name: str, status_code: int = 200, **context: Any) -> Template:
    return Template(name, context=context, media_type=MediaType.HTML, status_code=status_code)


class ConsentCodeRead(BaseModel):
    code: str = Field(description=f"{hotline.CODE_DIGITS} digits, to read out to the 12345 agent")
    expires_at: Any
    minutes: int = hotline.CODE_MINUTES


class GrantOpen(BaseModel):
    identifier: str = Field(min_length=15, max_length=18, description="the caller's USCC or ID number")
    code: str = Field(min_length=1, max_length=12)


class GrantRead(BaseModel):
    id: int
    subject_kind: str
    subject_id_masked: str
    expires_at: Any


class AnswerRead(BaseModel):
    version_id: int | None
    stage: str
    text: str
    amount: str


class CallerRead(BaseModel):
    grant: GrantRead
    policies: list[Any]
    why_not_paid: list[AnswerRead]
    may_enjoy: list[AnswerRead]


class HotlineObjection(BaseModel):
    """An objection filed for the caller: ``kind`` correction names the field the caller says is wrong and its
    right value, which the officer answering it may write back with "correct the data and re-evaluate"."""

    target: Literal["application", "entitlement", "policy"]
    target_id: RowId
    text: str = Field(min_length=1, max_length=3500)
    kind: Literal["objection", "correction"] = "objection"
    field: str = Field("", max_length=64)
    value: str = Field("", max_length=200)


def _masked(kind: str, subject_id: str) -> str:
    from kit.masking import mask_id_number

    return subject_id if kind == "enterprise" else mask_id_number(subject_id)


def _grant_read(g: hotline.Grant) -> GrantRead:
    return GrantRead(
        id=g.id,
        subject_kind=g.subject_kind,
        subject_id_masked=_masked(g.subject_kind, g.subject_id),
        expires_at=g.expires_at,
    )


async def _grant(request: Request, grant_id: int) -> hotline.Grant:
    """The agent's own live grant; any other (another agent's, expired, unknown) is 403."""
    return await hotline.grant_of(current_user(request)["username"], grant_id)


def _answers(found: dict[str, list[hotline.Answer]], key: str) -> list[AnswerRead]:
    return [AnswerRead(version_id=a.version_id, stage=a.stage, text=a.text, amount=a.amount) for a in found[key]]


# ---------------------------------------------------------------------------------- the subject's side


@post("/api/portal/hotline/code", guards=[SUBJECTS], tags=["portal"], status_code=200, responses=errors())
async def api_issue_code(request: Request) -> ConsentCodeRead:
    """A new consent code for the 12345 hotline (the older one stops working). Audited."""
    kind, subject_id = own_subject(request)
    code, expires = await hotline.issue_code(kind, subject_id, actor=_actor(request))
    return ConsentCodeRead(code=code, expires_at=expires)


@get("/portal/hotline", guards=[SUBJECTS], include_in_schema=False)
async def consent_page(request: Request) -> Template:
    own_subject(request)
    return _html("portal/hotline.html", code=None, minutes=hotline.CODE_MINUTES, grant_minutes=hotline.GRANT_MINUTES)


@post("/portal/hotline", guards=[SUBJECTS], include_in_schema=False, status_code=200)
async def consent_form(request: Request) -> Template:
    made = await api_issue_code.fn(request)
    return _html(
        "portal/hotline.html",
        code=made.code,
        expires_at=made.expires_at,
        minutes=hotline.CODE_MINUTES,
        grant_minutes=hotline.GRANT_MINUTES,
    )


# ---------------------------------------------------------------------------------- the agent's side


@post("/api/hotline/grants", guards=[AGENTS], tags=["hotline"], responses=errors(403, 429))
async def api_open_grant(request: Request, data: JSONBody[GrantOpen]) -> GrantRead:
    """The caller's identifier and the consent code it reads out: access to that caller for 30 minutes. Wrong codes
    are throttled; a code takes five wrong tries at most. Audited."""
    g = await hotline.open_grant(_actor(request), data.identifier, data.code, source=client_source(request))
    return _grant_read(g)


@get("/api/hotline/grants/{grant_id:int}", guards=[AGENTS], tags=["hotline"], responses=errors(403, 404))
async def api_caller(request: Request, grant_id: int) -> CallerRead:
    """The caller's policies and where each stands, and the answers to the common questions."""
    g = await _grant(request, grant_id)
    lang = lang_of(request)
    items = await subject_overview(g.subject_kind, g.subject_id)
    found = await hotline.answers(g.subject_kind, g.subject_id, items, lang)
    return CallerRead(
        grant=_grant_read(g),
        policies=[i.model_dump(mode="json") for i in items],
        why_not_paid=_answers(found, "why_not_paid"),
        may_enjoy=_answers(found, "may_enjoy"),
    )


async def _file(request: Request, g: hotline.Grant, data: HotlineObjection) -> ObjectionRead:
    agent = _actor(request)
    text = data.text.strip()
    if not text:  # the objection service refuses it too, but as a validation error of its own body: say it here
        raise AppError(_l("say what you object to"))
    if data.kind == "correction":
        if not data.field.strip() or not data.value.strip():
            raise AppError(_l("a data correction names the field and its right value"))
        # The field by the label people read (学历, not the profile key): the form's own choices.
        labels = {o["name"]: o["zh"] for o in field_options().get(str(g.subject_kind), [])}
        if data.field.strip() not in labels:
            raise AppError(_l("{field} is not a field of the caller's record"), field=data.field.strip())
        text = f"【数据更正 / data correction】{labels[data.field.strip()]} → {data.value.strip()}\n{text}"
    made = await file_objection(
        g.subject_kind,
        g.subject_id,
        ObjectionCreate(target=data.target, target_id=data.target_id, text=text),
        actor=agent,
        origin="hotline",
        contact=f"12345:{agent.name}",
    )
    await agent.record(
        "hotline.objection",
        "objection",
        made.id,
        None,
        None,
        {"on_behalf_of": g.subject_id, "subject_kind": g.subject_kind, "kind": data.kind, "grant_id": g.id},
    )
    return made


@post(
    "/api/hotline/grants/{grant_id:int}/objections",
    guards=[AGENTS],
    tags=["hotline"],
    responses=errors(403, 404, 409, 422),
)
async def api_file(request: Request, grant_id: int, data: JSONBody[HotlineObjection]) -> ObjectionRead:
    """An objection (or a data-correction objection) for the caller, audited with the agent as the actor."""
    return await _file(request, await _grant(request, grant_id), data)


@get("/hotline", guards=[AGENTS], include_in_schema=False)
async def desk_page(request: Request) -> Template:
    grants = [_grant_read(g) for g in await hotline.grants_of(current_user(request)["username"])]
    return _html("hotline/desk.html", grants=grants, error=None, identifier="", minutes=hotline.GRANT_MINUTES)


class _GrantForm(BaseModel):
    identifier: str = ""
    code: str = ""


@post("/hotline", guards=[AGENTS], include_in_schema=False)
async def desk_form(request: Request, data: Annotated[_GrantForm, FORM]) -> Any:
    try:
        g = await hotline.open_grant(_actor(request), data.identifier, data.code, source=client_source(request))
    except AppError as exc:
        grants = [_grant_read(x) for x in await hotline.grants_of(current_user(request)["username"])]
        return _html(
            "hotline/desk.html",
            status_code=exc.status,
            grants=grants,
            error=error_text(lang_of(request), exc),
            identifier=data.identifier.strip()[:18],
            minutes=hotline.GRANT_MINUTES,
        )
    return Redirect(f"/hotline/grants/{g.id}")


@get("/hotline/grants/{grant_id:int}", guards=[AGENTS], include_in_schema=False)
async def caller_page(request: Request, grant_id: int) -> Template:
    g = await _grant(request, grant_id)
    lang = lang_of(request)
    items = await subject_overview(g.subject_kind, g.subject_id)
    explained: dict[int, str] = {}
    for i in items:
        try:
            view = await policy_view(i.version_id, g.subject_kind, g.subject_id, lang)
        except (AppError, EligibilityError):
            continue
        if view.explanation is not None:
            explained[i.version_id] = view.explanation.plain_summary or view.explanation.summary
        elif view.explanation_problem:
            explained[i.version_id] = view.explanation_problem
    found = await hotline.answers(g.subject_kind, g.subject_id, items, lang)
    apps = {a.id: a for a in await applications.applications_of_subject(g.subject_kind, g.subject_id)}
    targets = [(f"entitlement:{i.entitlement_id}", i.title) for i in items if i.entitlement_id is not None] + [
        (f"application:{i.application.id}", i.title)
        for i in items
        if i.application is not None
        and apps.get(i.application.id)
        and apps[i.application.id].status in ("approved", "rejected")
    ]
    return _html(
        "hotline/caller.html",
        g=_grant_read(g),
        expires=in_china(g.expires_at),
        items=items,
        explained=explained,
        why=found["why_not_paid"],
        enjoy=found["may_enjoy"],
        notices=await notifications.inbox(g.subject_kind, g.subject_id, limit=10, locale=lang),
        objections=await applications.objections_of_subject(g.subject_kind, g.subject_id),
        targets=targets,
        fields=field_options().get(str(g.subject_kind), []),
    )


class _ObjectionForm(BaseModel):
    target: str = ""
    text: str = Field("", max_length=3500)
    kind: Literal["objection", "correction"] = "objection"
    field: str = Field("", max_length=64)
    value: str = Field("", max_length=200)


@post("/hotline/grants/{grant_id:int}/objections", guards=[AGENTS], include_in_schema=False)
async def file_form(request: Request, grant_id: int, data: Annotated[_ObjectionForm, FORM]) -> Redirect:
    g = await _grant(request, grant_id)
    target, _, target_id = data.target.partition(":")
    if target not in ("application", "entitlement") or not target_id.isdigit() or not 1 <= int(target_id) <= ROW_ID_MAX:
        raise AppError(_l("choose what the caller objects to"))
    made = await _file(
        request,
        g,
        HotlineObjection(
            target=target,
            target_id=int(target_id),
            text=data.text or "-",
            kind=data.kind,  # type: ignore[arg-type]
            field=data.field,
            value=data.value,
        ),
    )
    due = in_china(made.due_at).date().isoformat()
    flash(
        request,
        f"已为来电人提交异议（{made.policy_title}），答复期限 {due}（北京时间），答复将发到来电人的消息中。"
        if lang_of(request) == "zh"
        else f"Objection filed for the caller ({made.policy_title}); the answer is due by {due} (Beijing time), in "
        "the caller's inbox.",
    )
    return Redirect(f"/hotline/grants/{g.id}")


route_handlers = [
    api_issue_code,
    consent_page,
    consent_form,
    api_open_grant,
    api_caller,
    api_file,
    desk_page,
    desk_form,
    caller_page,
    file_form,
]
