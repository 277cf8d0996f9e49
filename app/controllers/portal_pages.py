"""HTTP routes of the enterprise/talent portal: my policies and where each one's money is, a policy's text and
why I qualify, my receiving account, applications with attachments, objections. Every query is scoped by
``own_subject(request)``; another subject's record is "not found". JSON under /api/portal, pages under /portal.
(The inbox pages are the notifications module's, in portal.py.)"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import MediaType, Request, get, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from litestar.response import File, Redirect, Template

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
from app.i18n import lang_of
from eligibility import service as eligibility
from eligibility.errors import EligibilityError
from kit.money import fen_to_yuan
from kit.time import china_today
from kit.vocab import SUBJECT_ROLES
from notifications import service as notifications
from payments import service as payments
from payments.errors import NotFound as PaymentNotFound
from policies import service as policies
from policies.applications import attachments as attachment_rules
from policies.applications import service
from policies.applications.errors import NotFound
from policies.applications.schemas import AccountConfirm, AccountRead, ApplicationRead, ObjectionCreate, ObjectionRead
from policies.errors import PolicyNotFound

SUBJECTS = requires(*SUBJECT_ROLES)
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
MAX_REQUEST = attachment_rules.MAX_FILES * attachment_rules.MAX_BYTES + 1024 * 1024

# Where an entitlement is on its way to the money: (code, zh, en). Apply-mode policies start two steps earlier.
STAGES = {
    "may_apply": ("可申请", "You may apply"),
    "applied": ("已申请，审核中", "Applied, under review"),
    "first_approved": ("已初审通过，待复核", "First approval given, awaiting the second"),
    "rejected": ("未通过", "Rejected"),
    "matched": ("已匹配", "Matched"),
    "waiting_account": ("待确认收款账户", "Awaiting account confirmation"),
    "account_unverified": ("收款账户核验中", "Account being verified"),
    "payable": ("待拨付", "Awaiting a payment batch"),
    "excluded": ("不重复享受", "Not paid (exclusive group)"),
    "batched": ("拨付中", "In a payment batch"),
    "payment_returned": ("款项被退回，待重新发放", "Payment returned; to be paid again"),
    "paid": ("已到账", "Paid"),
    "abandoned": ("已终止", "Stopped"),
}
AUTO_STEPS = ["matched", "waiting_account", "payable", "batched", "paid"]
APPLY_STEPS = ["may_apply", "applied", "waiting_account", "payable", "batched", "paid"]


def _today() -> dt.date:
    return china_today()


async def subject_overview(kind: str, subject_id: str) -> list[dict[str, Any]]:
    """Each policy this subject matched or applied for, with where it stands on the way to the money:
    application, entitlement state and reason, payment status, receipt code."""
    latest_match: dict[int, Any] = {}
    for m in await eligibility.matches_of_subject(subject_id):
        if m.subject_kind == kind and m.version_id is not None:
            latest_match[m.version_id] = m
    apps = {a.version_id: a for a in await service.applications_of_subject(kind, subject_id)}  # the last per version
    ents = {(e.policy_code, e.policy_version): e for e in await payments.entitlements_of_subject(kind, subject_id)}
    receipts = {r.payment_id: r for r in await payments.receipts_of_subject(kind, subject_id)}
    # An entitlement's latest payment (a re-issue follows a rejected or returned one); one batch may hold several of
    # the subject's payments, one per entitlement.
    pays = {
        p.entitlement_id: p for p in await payments.payments_of_subject(kind, subject_id) if p.status != "void"
    }  # a re-issue's batch sent back voids its payment; the one before it stands
    own_account = await service.payment_account(kind, subject_id)
    items = []
    for version_id in sorted(set(latest_match) | set(apps)):
        try:
            v = await policies.get_version(version_id)
        except PolicyNotFound:  # a version that vanished is simply not shown
            continue
        match, app = latest_match.get(version_id), apps.get(version_id)
        ent = ents.get((v.code, v.number))
        payment = pays.get(ent.id) if ent else None
        # The receipt of the money that arrived and stayed: none for a payment rejected or sent back (退汇).
        receipt = receipts.get(payment.id) if payment is not None and payment.status == "settled" else None
        if ent is not None:
            stage = ent.state
            if stage == "waiting_account" and own_account and own_account[0] == "unverified":
                stage = "account_unverified"
        elif v.mode == "apply":
            stage = (
                {
                    "submitted": "applied",
                    "first_approved": "first_approved",
                    "rejected": "rejected",
                    "approved": "payable",
                }.get(app.status, "applied")
                if app
                else "may_apply"
            )
        else:
            stage = "matched"
        if payment is not None and payment.status == "settled":
            stage = "paid"
        elif payment is not None and payment.status in ("rejected", "returned") and payment.exception == "open":
            stage = "payment_returned"
        steps = APPLY_STEPS if v.mode == "apply" else AUTO_STEPS
        current = (
            steps.index(stage)
            if stage in steps
            else (
                steps.index("waiting_account")
                if stage == "account_unverified"
                else steps.index("batched")
                if stage == "payment_returned"
                else -1
            )
        )
        amount = ent.amount if ent else app.amount if app else (fen_to_yuan(match.amount_fen) if match else None)
        items.append(
            {
                "version_id": version_id,
                "code": v.code,
                "title": v.title,
                "mode": v.mode,
                "issuer": v.issuer,
                "amount": f"{amount:,.2f}" if amount is not None else "",
                "stage": stage,
                "stage_zh": STAGES.get(stage, (stage, stage))[0],
                "stage_en": STAGES.get(stage, (stage, stage))[1],
                "steps": [
                    {
                        "code": s,
                        "zh": STAGES[s][0],
                        "en": STAGES[s][1],
                        "state": "done" if i < current else "current" if i == current else "todo",
                    }
                    for i, s in enumerate(steps)
                ],
                "reason": ent.reason if ent else (app.reason if app else ""),
                "entitlement_id": ent.id if ent else None,
                "application": {"id": app.id, "no": app.application_no, "status": app.status} if app else None,
                "payment": {
                    "status": payment.status,
                    "settled_at": payment.settled_at,
                    "account": payment.payee_account_masked,
                }
                if payment
                else None,
                "receipt": {
                    "code": receipt.code,
                    "url": f"/api/receipts/{receipt.code}.pdf",
                    "verify_url": f"/verify/{receipt.code}",
                }
                if receipt
                else None,
            }
        )
    return items


async def _unread(kind: str, subject_id: str) -> int:
    return await notifications.unread_count(kind, subject_id)


async def _unread_notices(kind: str, subject_id: str, limit: int = 5) -> list:
    return [n for n in await notifications.inbox(kind, subject_id, limit=50) if n.read_at is None][:limit]


async def policy_view(version_id: int, kind: str, subject_id: str, lang: str) -> dict[str, Any]:
    """A policy as its subject reads it: text, clauses, why it qualifies (or not), and its own records of it."""
    version = await service.visible_version(version_id, kind)
    content = (await policies.read_version(version_id)).content
    try:
        explanation = await eligibility.explain(await policies.ruleset_of(version_id), subject_id, _today(), lang)
    except EligibilityError as exc:
        explanation, problem = None, getattr(exc, "message", str(exc))
    else:
        problem = None
    items = [i for i in await subject_overview(kind, subject_id) if i["version_id"] == version_id]
    apps = [a for a in await service.applications_of_subject(kind, subject_id) if a.version_id == version_id]
    return {
        "version": version.model_dump(mode="json"),
        "content": content.model_dump(mode="json"),
        "explanation": explanation.model_dump(mode="json") if explanation else None,
        "explanation_problem": problem,
        "status": items[0] if items else None,
        "applications": [a.model_dump(mode="json") for a in apps],
        "account": (await service.account_of(kind, subject_id)).model_dump(mode="json"),
    }


# ---------------------------------------------------------------------------------- JSON API


@get("/api/portal/overview", guards=[SUBJECTS], tags=["portal"])
async def api_overview(request: Request) -> dict[str, Any]:
    """My policies, each with its status on the way to the money, and my unread notice count."""
    kind, subject_id = own_subject(request)
    return {
        "subject_kind": kind,
        "subject_id": subject_id,
        "unread": await _unread(kind, subject_id),
        "policies": await subject_overview(kind, subject_id),
    }


@get("/api/portal/policies/{version_id:int}", guards=[SUBJECTS], tags=["portal"])
async def api_policy(request: Request, version_id: int) -> dict[str, Any]:
    kind, subject_id = own_subject(request)
    return await policy_view(version_id, kind, subject_id, lang_of(request))


@get("/api/portal/account", guards=[SUBJECTS], tags=["portal"])
async def api_account(request: Request) -> AccountRead:
    kind, subject_id = own_subject(request)
    return await service.account_of(kind, subject_id)


@put("/api/portal/account", guards=[SUBJECTS], tags=["portal"])
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
        as_of=_today(),
        four_eyes_threshold_fen=four_eyes_threshold_fen(),
        base_url=settings.base_url,
        queue=await queue_or_none(),
    )


@post(
    "/api/portal/policies/{version_id:int}/applications",
    guards=[SUBJECTS],
    tags=["portal"],
    request_max_body_size=MAX_REQUEST,
)
async def api_apply(request: Request, version_id: int) -> ApplicationRead:
    """Apply (multipart: ``statement`` and up to 5 ``files``, PDF/JPG/PNG, 5 MB each)."""
    return await _apply(request, version_id)


@get("/api/portal/applications", guards=[SUBJECTS], tags=["portal"])
async def api_applications(request: Request) -> list[ApplicationRead]:
    kind, subject_id = own_subject(request)
    return await service.applications_of_subject(kind, subject_id)


@get("/api/portal/applications/{application_id:int}", guards=[SUBJECTS], tags=["portal"])
async def api_application(request: Request, application_id: int) -> ApplicationRead:
    kind, subject_id = own_subject(request)
    return await service.application_of_subject(application_id, kind, subject_id)


@get("/api/portal/attachments/{attachment_id:int}", guards=[SUBJECTS], tags=["portal"])
async def api_attachment(request: Request, attachment_id: int) -> File:
    kind, subject_id = own_subject(request)
    att, path = await service.attachment_of_subject(attachment_id, kind, subject_id, attachments_dir())
    return _file(path, att.filename, att.content_type)


async def _own_entitlement(entitlement_id: int, kind: str, subject_id: str):
    try:
        ent = await payments.get_entitlement(entitlement_id)
    except PaymentNotFound:
        ent = None
    if ent is None or (ent.subject_kind, ent.subject_id) != (kind, subject_id):
        raise NotFound("no such entitlement / 没有该享受记录")
    return ent


@get("/api/portal/entitlements/{entitlement_id:int}", guards=[SUBJECTS], tags=["portal"])
async def api_entitlement(request: Request, entitlement_id: int) -> dict[str, Any]:
    """One of my entitlements followed to the money: its state and reason, payment, receipt."""
    kind, subject_id = own_subject(request)
    ent = await _own_entitlement(entitlement_id, kind, subject_id)
    status = next((i for i in await subject_overview(kind, subject_id) if i["entitlement_id"] == ent.id), None)
    return {"entitlement": ent.model_dump(mode="json"), "status": status}


@post("/api/portal/objections", guards=[SUBJECTS], tags=["portal"])
async def api_object(request: Request, data: JSONBody[ObjectionCreate]) -> ObjectionRead:
    """Object to a decision on one of my applications or entitlements; officers answer within 15 days."""
    kind, subject_id = own_subject(request)
    ent = await _own_entitlement(data.target_id, kind, subject_id) if data.target == "entitlement" else None
    return await service.raise_objection(kind, subject_id, data, actor=actor_of(request), entitlement=ent)


@get("/api/portal/objections", guards=[SUBJECTS], tags=["portal"])
async def api_objections(request: Request) -> list[ObjectionRead]:
    kind, subject_id = own_subject(request)
    return await service.objections_of_subject(kind, subject_id)


@get("/api/portal/objections/{objection_id:int}", guards=[SUBJECTS], tags=["portal"])
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
    )


@get("/portal/policies/{version_id:int}", guards=[SUBJECTS], include_in_schema=False)
async def policy_page(request: Request, version_id: int, saved: str | None = None) -> Template:
    kind, subject_id = own_subject(request)
    view = await policy_view(version_id, kind, subject_id, lang_of(request))
    return _html(
        "portal/policy.html",
        v=view,
        saved=saved,
        max_mb=attachment_rules.MAX_BYTES // (1024 * 1024),
        max_files=attachment_rules.MAX_FILES,
    )


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
    status = next((i for i in await subject_overview(kind, subject_id) if i["version_id"] == app.version_id), None)
    return _html("portal/application.html", a=app, objections=objections, status=status)


@get("/portal/attachments/{attachment_id:int}", guards=[SUBJECTS], include_in_schema=False)
async def attachment_page(request: Request, attachment_id: int) -> File:
    return await api_attachment.fn(request, attachment_id)


class _ObjectionForm(ObjectionCreate):
    next: str = "/portal"


@post("/portal/objections", guards=[SUBJECTS], include_in_schema=False)
async def objection_form(request: Request, data: Annotated[_ObjectionForm, FORM]) -> Redirect:
    await api_object.fn(request, ObjectionCreate(target=data.target, target_id=data.target_id, text=data.text))
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
    account_form,
    apply_form,
    application_page,
    attachment_page,
    objection_form,
]
