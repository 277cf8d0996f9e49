"""HTTP routes of the review side of 依申请: the officers' application queue (approve with four eyes above the
threshold, reject with a reason), attachments, the objections queue with its countdown, and finance's
verification of corrected receiving accounts. JSON under /api/applications, pages under /applications."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from arq import ArqRedis
from litestar import MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody
from litestar.response import File, Redirect, Stream, Template
from pydantic import BaseModel

from app import flows, jobs
from app.audit import AuditActor
from app.auth.guards import current_user, requires
from app.config import get_settings
from app.exports import Column, export, subject_columns
from app.paging import API_SIZE, paged_json, pager_of, paging
from app.schemas.errors import errors
from app.schemas.portal import AccountToVerifyRead
from eligibility import corrections
from eligibility.fields import label, rule_fields
from kit.audit import Actor
from kit.money import yuan_to_fen
from kit.paging import PageRequest
from kit.vocab import Role
from payments import service as payments
from payments.service import publicity
from policies import service as policies
from policies.applications import service
from policies.applications.schemas import (
    ACCOUNT_VERIFIER_ROLES,
    OFFICER_ROLES,
    AccountRead,
    ApplicationDecision,
    ApplicationRead,
    ObjectionAnswer,
    ObjectionRead,
)

OFFICERS = requires(*map(Role, OFFICER_ROLES))
VERIFIERS = requires(*map(Role, ACCOUNT_VERIFIER_ROLES))
FORM = Body(media_type=RequestEncodingType.URL_ENCODED)
# (kind, subject_id, payee_name, bank_name, account): the portal account handed to payments' open entitlements.
AccountSync = Callable[[str, str, str, str, str], Awaitable[None]]


# ---------------------------------------------------------------------------------- collaborators (adapters)


def attachments_dir() -> Path:
    """Outside the web root (static files are app/static): data_dir/attachments."""
    return Path(get_settings().data_dir) / "attachments"


def four_eyes_threshold_fen() -> int:
    return yuan_to_fen(get_settings().application_four_eyes_threshold)


def actor_of(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


async def queue_or_none() -> ArqRedis:
    return await jobs.get_queue()


async def sync_payment_account(
    kind: str, subject_id: str, payee_name: str, bank_name: str, account: str, *, actor: Actor
) -> None:
    """Adapter to payments: put the subject's portal account on its open entitlements ("" holds payment)."""
    await payments.account_verified(
        kind, subject_id, payee_name=payee_name, bank_name=bank_name, payee_account=account, actor=actor
    )


def account_sync(actor: Actor) -> AccountSync:
    async def sync(kind: str, subject_id: str, payee_name: str, bank_name: str, account: str) -> None:
        await sync_payment_account(kind, subject_id, payee_name, bank_name, account, actor=actor)

    return sync


def entitle_through_payments(actor: Actor) -> Callable[[ApplicationRead], Awaitable[int | None]]:
    """Adapter to payments: an approved application becomes an entitlement; the account the subject set in the
    portal (verified or held) then overrides the profile's."""

    async def entitle(app: ApplicationRead) -> int | None:
        ent = await payments.create_entitlement_from_application(
            version_id=app.version_id,
            subject_kind=app.subject_kind,
            subject_id=app.subject_id,
            amount_fen=yuan_to_fen(app.amount),
            clause_codes=app.clause_codes,
            application_id=app.id,
            actor=actor,
        )
        own = await service.payment_account(app.subject_kind, app.subject_id)
        if own is not None:
            status, bank_name, account = own
            profile_name = (await service.account_of(app.subject_kind, app.subject_id)).payee_name
            await sync_payment_account(
                app.subject_kind,
                app.subject_id,
                profile_name,
                bank_name,
                account if status == "verified" else "",
                actor=actor,
            )
        return ent.id

    return entitle


def _html(name: str, **context: Any) -> Template:
    return Template(name, context=context, media_type=MediaType.HTML)


# ---------------------------------------------------------------------------------- JSON API


@get(
    "/api/applications",
    guards=[OFFICERS],
    tags=["applications"],
    responses=errors(),
    dependencies={"paging": paging(service.APPLICATION_SORTS, size=API_SIZE)},
)
async def api_list(
    paging: PageRequest, status: str | None = None, policy: str | None = None
) -> Response[list[ApplicationRead]]:
    """The review queue (oldest first), optionally by status and policy code; a page of it (page, size, sort, q),
    the total in X-Total-Count."""
    return paged_json(await service.application_page(paging, status or None, policy or None))


@get("/api/applications/{application_id:int}", guards=[OFFICERS], tags=["applications"], responses=errors(404))
async def api_get(application_id: int) -> ApplicationRead:
    return await service.get_application(application_id)


@post(
    "/api/applications/{application_id:int}/approve",
    guards=[OFFICERS],
    tags=["applications"],
    status_code=200,
    responses=errors(404, 409, 422),
)
async def api_approve(
    request: Request, application_id: int, data: JSONBody[ApplicationDecision | None] = None
) -> ApplicationRead:
    """Approve (a first approval only, above the four-eyes threshold; the second must be another officer)."""
    actor = actor_of(request)
    return await service.approve_application(
        application_id,
        actor=actor,
        entitle=entitle_through_payments(actor),
        base_url=get_settings().base_url,
        note=(data.reason if data else ""),
        queue=await queue_or_none(),
    )


@post(
    "/api/applications/{application_id:int}/reject",
    guards=[OFFICERS],
    tags=["applications"],
    status_code=200,
    responses=errors(404, 409),
)
async def api_reject(request: Request, application_id: int, data: JSONBody[ApplicationDecision]) -> ApplicationRead:
    return await service.reject_application(
        application_id,
        actor=actor_of(request),
        reason=data.reason,
        base_url=get_settings().base_url,
        queue=await queue_or_none(),
    )


def _file(path: Path, filename: str, content_type: str) -> File:
    return File(
        path=path,
        filename=filename,
        media_type=content_type,
        content_disposition_type="attachment",
        headers={"x-content-type-options": "nosniff", "cache-control": "private, no-store"},
    )


@get(
    "/api/applications/attachments/{attachment_id:int}", guards=[OFFICERS], tags=["applications"], responses=errors(404)
)
async def api_attachment(attachment_id: int) -> File:
    att, path = await service.attachment_for_officer(attachment_id, attachments_dir())
    return _file(path, att.filename, att.content_type)


@get(
    "/api/applications/objections",
    guards=[OFFICERS],
    tags=["applications"],
    responses=errors(),
    dependencies={"paging": paging(service.OBJECTION_SORTS, size=API_SIZE)},
)
async def api_objections(paging: PageRequest, status: str | None = "open") -> Response[list[ObjectionRead]]:
    """Objections, the nearest deadline first; ``seconds_left`` counts down to the response deadline; a page of
    them, the total in X-Total-Count."""
    return paged_json(await service.objection_page(paging, status or None))


@post(
    "/api/applications/objections/{objection_id:int}/answer",
    guards=[OFFICERS],
    tags=["applications"],
    status_code=200,
    responses=errors(404, 409),
)
async def api_answer(request: Request, objection_id: int, data: JSONBody[ObjectionAnswer]) -> ObjectionRead:
    """Decide an objection: its answer is a notice to the subject; ``outcome`` dismissed or revoked ends a 公示
    objection (the entitlement it holds is released or revoked); corrected writes ``corrections`` to the subject's
    profile and re-evaluates it at once (new or withdrawn matches, entitlements and notices, each once)."""
    if data.outcome == "corrected":
        return await flows.correct_by_objection(
            objection_id,
            corrections=data.corrections,
            answer=data.answer,
            actor=actor_of(request),
            queue=await queue_or_none(),
        )
    return await publicity.decide(
        objection_id,
        outcome=data.outcome,
        actor=actor_of(request),
        answer=data.answer,
        base_url=get_settings().base_url,
        queue=await queue_or_none(),
    )


class CorrectionRequestRead(BaseModel):
    id: int
    feed: str
    subject_kind: str
    subject_id: str
    field: str
    old_value: str | None
    proposed_value: str | None
    objection_id: int
    officer: str
    status: str
    reason: str


class FeedRefusal(BaseModel):
    reason: str


def _request_read(r: dict) -> CorrectionRequestRead:
    return CorrectionRequestRead(**{k: r[k] for k in CorrectionRequestRead.model_fields})


@get("/api/applications/corrections", guards=[OFFICERS], tags=["applications"], responses=errors(422))
async def api_corrections(status: str | None = None) -> list[CorrectionRequestRead]:
    """Correction requests to the feeds that own fields (objections upheld with a data correction): pending until
    the feed's import delivers the value, or rejected with the feed's reason; the oldest first."""

    return [_request_read(r) for r in await corrections.requests(status or None)]


@get(
    "/api/applications/corrections.csv",
    guards=[OFFICERS],
    tags=["applications"],
    responses=errors(422),
    media_type="text/csv; charset=utf-8",
)
async def api_corrections_csv(status: str | None = None) -> Response[str]:
    """The correction requests as CSV for the data exchange (the whole subject id: the feed needs it)."""

    return Response(
        "\ufeff" + corrections.csv_text(await corrections.requests(status or None)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="correction-requests.csv"'},
    )


@post(
    "/api/applications/corrections/{request_id:int}/refuse",
    guards=[OFFICERS],
    tags=["applications"],
    status_code=200,
    responses=errors(404, 409),
)
async def api_refuse_correction(
    request: Request, request_id: int, data: JSONBody[FeedRefusal]
) -> CorrectionRequestRead:
    """Record the feed's refusal of a correction request: the objection is answered again with the feed's reason."""
    r = await flows.refuse_correction(request_id, data.reason, actor=actor_of(request), queue=await queue_or_none())
    return _request_read(r)


@get("/api/applications/accounts", guards=[VERIFIERS], tags=["applications"], responses=errors())
async def api_accounts() -> list[AccountToVerifyRead]:
    """Corrected receiving accounts awaiting verification, with the whole number (finance needs it)."""
    return [
        AccountToVerifyRead(**a.model_dump(), account=full, previous_account_masked=old)
        for a, full, old in await service.unverified_accounts()
    ]


@post(
    "/api/applications/accounts/{kind:str}/{subject_id:str}/verify",
    guards=[VERIFIERS],
    tags=["applications"],
    status_code=200,
    responses=errors(404, 409),
)
async def api_verify_account(request: Request, kind: str, subject_id: str) -> AccountRead:
    actor = actor_of(request)
    return await service.verify_account(kind, subject_id, actor=actor, sync=account_sync(actor))


class AccountRejection(BaseModel):
    reason: str


@post(
    "/api/applications/accounts/{kind:str}/{subject_id:str}/reject",
    guards=[VERIFIERS],
    tags=["applications"],
    status_code=200,
    responses=errors(404, 409),
)
async def api_reject_account(
    request: Request, kind: str, subject_id: str, data: JSONBody[AccountRejection]
) -> AccountRead:
    """Finance rejects a corrected account with the reason the subject is shown; payment stays held."""
    return await service.reject_account(kind, subject_id, data.reason, actor=actor_of(request))


# ---------------------------------------------------------------------------------- pages

STATUSES = ("submitted", "first_approved", "approved", "rejected")


@get(
    "/applications",
    guards=[OFFICERS],
    include_in_schema=False,
    dependencies={"paging": paging(service.APPLICATION_SORTS)},
)
async def queue_page(
    request: Request, paging: PageRequest, status: str | None = None, policy: str | None = None
) -> Template:
    page = await service.application_page(paging, status or None, (policy or "").strip() or None)
    open_objections = await service.objection_page(PageRequest(size=1), "open")
    return _html(
        "applications/list.html",
        rows=page.items,
        pager=pager_of(request, page, ("件", "applications"), q=paging.q, status=status, policy=policy),
        statuses=STATUSES,
        filters={"status": status or "", "policy": policy or "", "q": paging.q},
        open_objections=open_objections.total,
        threshold=get_settings().application_four_eyes_threshold,
    )


APPLICATION_STATUS = {
    "submitted": "待审核",
    "first_approved": "初审通过，待复核",
    "approved": "已通过",
    "rejected": "已驳回",
}
APPLICATION_COLUMNS = [
    Column("application_no", "申请编号", "Application no."),
    Column("policy_code", "政策编号", "Policy code"),
    Column("policy_title", "政策名称", "Policy"),
    *subject_columns(),
    Column("amount", "金额（元）", "Amount (yuan)"),
    Column("clause_codes", "条款", "Clauses"),
    Column("status", "状态", "Status", value=lambda a: APPLICATION_STATUS.get(a.status, a.status)),
    Column("needs_two", "须双人审核", "Two approvals"),
    Column("first_approver", "初审人", "First approver"),
    Column("decided_by", "决定人", "Decided by"),
    Column("decided_at", "决定时间（北京时间）", "Decided (Beijing time)"),
    Column("reason", "理由", "Reason"),
    Column("created_at", "提交时间（北京时间）", "Submitted (Beijing time)"),
    Column("attachments", "附件数", "Files", value=lambda a: len(a.attachments)),
]


@get("/applications/export", guards=[OFFICERS], include_in_schema=False)
async def queue_export(
    request: Request, format: str = "csv", status: str | None = None, policy: str | None = None, q: str = ""
) -> Stream:
    """The review queue with the page's filters, CSV or Excel."""
    rows = service.application_chunks(status or None, (policy or "").strip() or None, q.strip())
    return export(request, format, "applications", APPLICATION_COLUMNS, rows, sheet="申请")


@get("/applications/{application_id:int}", guards=[OFFICERS], include_in_schema=False)
async def detail_page(request: Request, application_id: int) -> Template:
    app = await service.get_application(application_id)
    me = current_user(request)["username"]
    objections = [o for o in await service.list_objections(None) if o.target == "application" and o.target_id == app.id]
    return _html("applications/detail.html", a=app, me=me, objections=objections)


@post("/applications/{application_id:int}/approve", guards=[OFFICERS], include_in_schema=False)
async def approve_form(request: Request, application_id: int, data: Annotated[ApplicationDecision, FORM]) -> Redirect:
    await api_approve.fn(request, application_id, data)
    return Redirect(f"/applications/{application_id}")


@post("/applications/{application_id:int}/reject", guards=[OFFICERS], include_in_schema=False)
async def reject_form(request: Request, application_id: int, data: Annotated[ApplicationDecision, FORM]) -> Redirect:
    await api_reject.fn(request, application_id, data)
    return Redirect(f"/applications/{application_id}")


@get("/applications/attachments/{attachment_id:int}", guards=[OFFICERS], include_in_schema=False)
async def attachment_page(attachment_id: int) -> File:
    return await api_attachment.fn(attachment_id)


@get(
    "/applications/objections",
    guards=[OFFICERS],
    include_in_schema=False,
    dependencies={"paging": paging(service.OBJECTION_SORTS)},
)
async def objections_page(
    request: Request, paging: PageRequest, status: str | None = "open", id: int | None = None
) -> Template:
    # ?id=N: that one objection, whatever its status (a correction request or a message links to it).
    page = await service.objection_page(paging, None if id is not None else status or None, objection_id=id)
    rows = page.items
    # An objection to an entitlement carries the policy's code where its title belongs: name the policy.
    unnamed = [o for o in rows if o.policy_title in ("", o.policy_code)]
    titles = await policies.titles_of(o.policy_code for o in unnamed)
    rows = [
        o.model_copy(update={"policy_title": titles.get(o.policy_code, o.policy_code)}) if o in unnamed else o
        for o in rows
    ]
    return _html(
        "applications/objections.html",
        rows=rows,
        status=status or "",
        q=paging.q,
        pager=pager_of(request, page, ("件", "objections"), q=paging.q, status=status or "", id=id or ""),
    )


SLA_COLUMNS = [
    Column("policy_code", "政策编号", "Policy code"),
    Column("policy_title", "政策名称", "Policy"),
    Column("on_time", "按期答复", "Answered on time"),
    Column("late", "逾期答复", "Answered late"),
    Column("open_overdue", "逾期未答复", "Open, overdue"),
    Column("open_in_time", "期限内待答复", "Open, in time"),
    Column("total", "合计", "Total"),
]


@get("/applications/objections/sla", guards=[OFFICERS], include_in_schema=False)
async def sla_page(request: Request) -> Template:
    """The objections' SLA report: answered on time / late, open and overdue, per policy; the overdue ones."""
    return _html("applications/objections_sla.html", report=await service.sla_report())


@get("/applications/objections/sla.csv", guards=[OFFICERS], include_in_schema=False)
async def sla_export(request: Request, format: str = "csv") -> Stream:
    """The SLA report per policy, with a total row, CSV or Excel."""
    report = await service.sla_report()
    rows = [*report["policies"], {"policy_code": "", "policy_title": "合计 / Total", **report["total"]}]

    async def chunks():
        yield rows

    return export(request, format, "objections-sla", SLA_COLUMNS, chunks(), sheet="异议时限")


class _AnswerForm(BaseModel):
    answer: str
    outcome: str = ""
    corrections: str = ""  # one "field=value" a line (outcome corrected)


def _corrections(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.replace("\r", "").split("\n") if "=" in line]
    return {k.strip(): v.strip() for k, v in pairs if k.strip()}


@post("/applications/objections/{objection_id:int}/answer", guards=[OFFICERS], include_in_schema=False)
async def answer_form(request: Request, objection_id: int, data: Annotated[_AnswerForm, FORM]) -> Redirect:
    await api_answer.fn(
        request,
        objection_id,
        ObjectionAnswer(answer=data.answer, outcome=data.outcome, corrections=_corrections(data.corrections)),
    )
    return Redirect("/applications/objections")


# What a correction request's status reads as (the objection's outcome reads through _objection.html's table).
REQUEST_STATUS = {
    "pending": ("待数据源处理", "awaiting the data source"),
    "accepted": ("数据源已更正", "corrected by the data source"),
    "rejected": ("数据源不予更正", "refused by the data source"),
}


@get(
    "/applications/corrections",
    guards=[OFFICERS],
    include_in_schema=False,
    dependencies={"paging": paging(corrections.REQUEST_SORTS)},
)
async def corrections_page(
    request: Request, paging: PageRequest, status: str | None = "pending", msg: str = ""
) -> Template:
    """The correction requests to the feeds that own fields, with the feed's refusal form for a pending one (the
    same service as POST /api/applications/corrections/{id}/refuse) and the CSV of GET .../corrections.csv."""
    page = await corrections.request_page(paging, status or None)

    def shown(r: dict, value: str | None, lang: str) -> str:
        f = rule_fields(r["subject_kind"]).get(r["field"])
        if value is None:
            return "—"
        return f.choice_label(value, lang) if f is not None and f.choice_labels else value

    rows = [
        {
            **r,
            "field_zh": label(r["subject_kind"], r["field"], "zh"),
            "field_en": label(r["subject_kind"], r["field"], "en"),
            "old_zh": shown(r, r["old_value"], "zh"),
            "old_en": shown(r, r["old_value"], "en"),
            "new_zh": shown(r, r["proposed_value"], "zh"),
            "new_en": shown(r, r["proposed_value"], "en"),
            "status_zh": REQUEST_STATUS.get(r["status"], (r["status"], r["status"]))[0],
            "status_en": REQUEST_STATUS.get(r["status"], (r["status"], r["status"]))[1],
        }
        for r in page.items
    ]
    return _html(
        "applications/corrections.html",
        rows=rows,
        status=status or "",
        q=paging.q,
        msg=msg,
        csv_link="/api/applications/corrections.csv" + (f"?status={status}" if status else ""),
        pager=pager_of(request, page, ("条", "correction requests"), q=paging.q, status=status or ""),
    )


@post("/applications/corrections/{request_id:int}/refuse", guards=[OFFICERS], include_in_schema=False)
async def refuse_correction_form(request: Request, request_id: int, data: Annotated[FeedRefusal, FORM]) -> Redirect:
    await api_refuse_correction.fn(request, request_id, data)
    return Redirect("/applications/corrections?status=pending&msg=refused")


@get("/applications/accounts", guards=[VERIFIERS], include_in_schema=False)
async def accounts_page(request: Request, msg: str = "") -> Template:
    return _html("applications/accounts.html", rows=await service.unverified_accounts(), msg=msg)


@post("/applications/accounts/{account_id:int}/reject", guards=[VERIFIERS], include_in_schema=False)
async def reject_account_form(request: Request, account_id: int, data: Annotated[AccountRejection, FORM]) -> Redirect:
    # The page names the account by its row id: a talent's subject id is the whole ID number, kept out of URLs.
    kind, subject_id = await service.subject_of_account(account_id)
    await api_reject_account.fn(request, kind, subject_id, data)
    return Redirect("/applications/accounts?msg=rejected")


@post("/applications/accounts/{account_id:int}/verify", guards=[VERIFIERS], include_in_schema=False)
async def verify_form(request: Request, account_id: int) -> Redirect:
    kind, subject_id = await service.subject_of_account(account_id)
    await api_verify_account.fn(request, kind, subject_id)
    return Redirect("/applications/accounts")


route_handlers = [
    queue_export,
    api_list,
    api_get,
    api_approve,
    api_reject,
    api_attachment,
    api_objections,
    api_answer,
    api_corrections,
    api_corrections_csv,
    api_refuse_correction,
    api_accounts,
    api_verify_account,
    api_reject_account,
    reject_account_form,
    queue_page,
    detail_page,
    approve_form,
    reject_form,
    attachment_page,
    objections_page,
    sla_page,
    sla_export,
    answer_form,
    corrections_page,
    refuse_correction_form,
    accounts_page,
    verify_form,
]
