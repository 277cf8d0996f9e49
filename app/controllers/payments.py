"""HTTP routes of payments: the JSON API under /api/finance and the finance pages under /finance (batches, approval,
progress of a run, the exceptions queue, budgets and their alerts, reconciliation)."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request, get, post
from litestar.params import JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, Field

from app.audit import AuditActor
from app.auth.guards import current_user, requires
from app.config import get_settings
from eligibility.fields import china_today
from payments import service
from payments.errors import PaymentsError
from payments.money import format_yuan, yuan_to_fen
from payments.schemas import BatchRead, PaymentRead

FINANCE = ("finance_maker", "finance_checker", "auditor", "admin")
STAFF_ACTING = ("finance_maker", "finance_checker")


def _actor(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def _threshold_fen() -> int:
    return yuan_to_fen(get_settings().second_checker_threshold)


async def _run(batch_id: int, actor: AuditActor) -> int:
    """Start (or resume) a batch and queue its chunk jobs after the commit; returns how many were queued."""
    from app import jobs
    from payments.tasks import enqueue_chunks

    chunks = await service.start_batch(batch_id, actor=actor)
    return await enqueue_chunks(await jobs.get_queue(), chunks)


# --------------------------------------------------------------------------- JSON API


class BatchCreate(BaseModel):
    policy_code: str | None = None
    entitlement_ids: list[int] = Field(default_factory=list)
    refresh: bool = True


class Reason(BaseModel):
    reason: str = ""


class ReissueRequest(BaseModel):
    payment_ids: list[int]


class ReconcileRequest(BaseModel):
    date: dt.date


def _plain(fen: int) -> str:
    return format_yuan(fen).replace(",", "")


def _usage(u) -> dict[str, Any]:
    return {
        "version_id": u.version_id,
        "policy_code": u.policy_code,
        "policy_version": u.policy_version,
        "budget": _plain(u.budget_fen),
        "committed": _plain(u.committed_fen),
        "in_transit": _plain(u.in_transit_fen),
        "paid": _plain(u.paid_fen),
        "used": _plain(u.used_fen),
        "used_percent": str(u.used_percent),
        "alert_level": u.alert_level,
    }


@get("/api/finance/batches", guards=[requires(*FINANCE)], tags=["finance"])
async def api_batches(status: str | None = None) -> list[BatchRead]:
    """Batches, newest first, with payment counts and totals by status."""
    return await service.list_batches(status)


@post("/api/finance/batches", guards=[requires(*STAFF_ACTING)], tags=["finance"], status_code=HTTP_201_CREATED)
async def api_create(request: Request, data: JSONBody[BatchCreate]) -> dict[str, Any]:
    """A finance_maker's batch of a policy's payable entitlements (or of a selection); reserves the budget."""
    actor = _actor(request)
    if data.policy_code and data.refresh and actor.role == "finance_maker":
        await service.refresh_entitlements(data.policy_code, actor=actor)
    made = await service.create_batch(
        actor=actor,
        policy_code=data.policy_code,
        entitlement_ids=data.entitlement_ids or None,
        second_checker_threshold_fen=_threshold_fen(),
    )
    return {
        "batch_id": made.batch_id,
        "payments": made.payment_count,
        "total": format_yuan(made.total_fen),
        "left_for_budget": made.left_for_budget,
        "needs_second_checker": made.needs_second_checker,
    }


@get("/api/finance/batches/{batch_id:int}", guards=[requires(*FINANCE)], tags=["finance"])
async def api_batch(batch_id: int) -> BatchRead:
    return await service.get_batch(batch_id)


@get("/api/finance/batches/{batch_id:int}/progress", guards=[requires(*FINANCE)], tags=["finance"])
async def api_progress(batch_id: int) -> dict[str, Any]:
    """Where a running batch is: payments and totals per status, how many still active, how many held."""
    p = await service.progress(batch_id)
    return {
        "batch_id": batch_id,
        "status": p.status,
        "counts": p.counts,
        "totals": {k: _plain(v) for k, v in p.totals_fen.items()},
        "active": p.active,
        "held": p.held,
        "done": p.done,
    }


@get("/api/finance/batches/{batch_id:int}/payments", guards=[requires(*FINANCE)], tags=["finance"])
async def api_payments(
    batch_id: int, status: str | None = None, limit: int = 200, offset: int = 0
) -> list[PaymentRead]:
    return await service.payments_of_batch(batch_id, status, min(limit, 1000), offset)


@post(
    "/api/finance/batches/{batch_id:int}/approve",
    guards=[requires(*STAFF_ACTING)],
    tags=["finance"],
    status_code=HTTP_200_OK,
)
async def api_approve(request: Request, batch_id: int) -> dict[str, Any]:
    """A checker's approval; 403 for the batch's maker (and for the first checker at the second step)."""
    return {"batch_id": batch_id, "status": await service.approve_batch(batch_id, actor=_actor(request))}


@post(
    "/api/finance/batches/{batch_id:int}/reject",
    guards=[requires(*STAFF_ACTING)],
    tags=["finance"],
    status_code=HTTP_200_OK,
)
async def api_reject(request: Request, batch_id: int, data: JSONBody[Reason]) -> dict[str, Any]:
    await service.reject_batch(batch_id, actor=_actor(request), reason=data.reason)
    return {"batch_id": batch_id, "status": "rejected"}


@post(
    "/api/finance/batches/{batch_id:int}/cancel",
    guards=[requires(*STAFF_ACTING)],
    tags=["finance"],
    status_code=HTTP_200_OK,
)
async def api_cancel(request: Request, batch_id: int, data: JSONBody[Reason | None] = None) -> dict[str, Any]:
    await service.cancel_batch(batch_id, actor=_actor(request), reason=(data.reason if data else ""))
    return {"batch_id": batch_id, "status": "cancelled"}


@post(
    "/api/finance/batches/{batch_id:int}/run",
    guards=[requires(*STAFF_ACTING)],
    tags=["finance"],
    status_code=HTTP_200_OK,
)
async def api_run(request: Request, batch_id: int) -> dict[str, Any]:
    """Start (or resume) an approved batch: its payment jobs are queued; follow it with /progress."""
    return {"batch_id": batch_id, "jobs_queued": await _run(batch_id, _actor(request))}


@get("/api/finance/exceptions", guards=[requires(*FINANCE)], tags=["finance"])
async def api_exceptions() -> list[PaymentRead]:
    """Rejected, returned and held payments waiting for a person, with the bank's reason."""
    return await service.exceptions_queue()


@post("/api/finance/payments/reissue", guards=[requires(*STAFF_ACTING)], tags=["finance"], status_code=HTTP_201_CREATED)
async def api_reissue(request: Request, data: JSONBody[ReissueRequest]) -> dict[str, Any]:
    """退汇重发 to the corrected, re-verified account: a new batch to approve like any other."""
    batch_id = await service.reissue_payments(
        data.payment_ids, actor=_actor(request), second_checker_threshold_fen=_threshold_fen()
    )
    return {"batch_id": batch_id}


@post(
    "/api/finance/payments/{payment_id:int}/abandon",
    guards=[requires(*STAFF_ACTING)],
    tags=["finance"],
    status_code=HTTP_200_OK,
)
async def api_abandon(request: Request, payment_id: int, data: JSONBody[Reason]) -> dict[str, Any]:
    await service.abandon_payment(payment_id, actor=_actor(request), reason=data.reason)
    return {"payment_id": payment_id, "exception": "abandoned"}


@get("/api/finance/budgets", guards=[requires(*FINANCE)], tags=["finance"])
async def api_budgets(alerts_only: bool = False) -> list[dict[str, Any]]:
    """Budget, committed, in transit and paid per policy version (from the ledger); alert level 80/95."""
    rows = await (service.budget_alerts() if alerts_only else service.budget_usage())
    return [_usage(u) for u in rows]


@get("/api/finance/reconciliations", guards=[requires(*FINANCE)], tags=["finance"])
async def api_reconciliations() -> list[dict[str, Any]]:
    return [
        {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}
        for r in await service.list_runs()
    ]


@get("/api/finance/reconciliations/{run_id:int}", guards=[requires(*FINANCE)], tags=["finance"])
async def api_reconciliation(run_id: int) -> list[dict[str, Any]]:
    return await service.differences_of(run_id)


@post("/api/finance/reconciliations", guards=[requires(*STAFF_ACTING)], tags=["finance"], status_code=HTTP_201_CREATED)
async def api_reconcile(request: Request, data: JSONBody[ReconcileRequest]) -> dict[str, Any]:
    """Compare the bank statement of a date with the ledger; differences are stored and returned, never fixed."""
    result = await _reconcile(data.date, _actor(request))
    return {
        "run_id": result.run_id,
        "date": data.date.isoformat(),
        "matched": result.matched,
        "differences": [d.__dict__ for d in result.differences],
    }


@asynccontextmanager
async def _bank():
    """The configured bank adapter for one request (reconciliation, or asking about a transfer)."""
    from payments.adapters import get_adapter

    adapter = get_adapter(get_settings())
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def _reconcile(date: dt.date, actor: AuditActor):
    async with _bank() as adapter:
        return await service.reconcile(adapter, date, actor=actor)


# --------------------------------------------------------------------------- pages

STATUS_LABELS = {
    "created": ("待审核", "waiting for approval"),
    "checked": ("待二次审核", "waiting for a second checker"),
    "approved": ("已审核", "approved"),
    "running": ("发放中", "running"),
    "completed": ("已完成", "completed"),
    "rejected": ("已退回", "rejected"),
    "cancelled": ("已取消", "cancelled"),
    "submitted": ("已提交", "submitted"),
    "accepted": ("银行已受理", "accepted"),
    "settled": ("已到账", "settled"),
    "unknown": ("结果待查", "outcome unknown"),
    "returned": ("已退汇", "returned"),
    "void": ("作废", "void"),
}


def _ctx(request: Request, **extra) -> dict[str, Any]:
    user = current_user(request)
    return {"user": user, "role": user["role"], "labels": STATUS_LABELS, "yuan": format_yuan, **extra}


@get("/finance", guards=[requires(*FINANCE)], include_in_schema=False)
async def finance_page(request: Request, msg: str = "") -> Template:
    return Template(
        "payments/list.html",
        context=_ctx(
            request,
            batches=await service.list_batches(),
            budgets=await service.budget_usage(),
            alerts=await service.budget_alerts(),
            exceptions=len(await service.exceptions_queue()),
            msg=msg,
        ),
    )


@post("/finance/batches", guards=[requires(*STAFF_ACTING)], include_in_schema=False)
async def create_page(request: Request) -> Redirect:
    form = await request.form()
    code = (form.get("policy_code") or "").strip()
    actor = _actor(request)
    if not code:
        raise PaymentsError("say which policy the batch pays")
    if actor.role == "finance_maker":
        await service.refresh_entitlements(code, actor=actor)
    made = await service.create_batch(actor=actor, policy_code=code, second_checker_threshold_fen=_threshold_fen())
    return Redirect(f"/finance/batches/{made.batch_id}?msg=created")


@get("/finance/batches/{batch_id:int}", guards=[requires(*FINANCE)], include_in_schema=False)
async def batch_page(request: Request, batch_id: int, msg: str = "", status: str | None = None) -> Template:
    return Template(
        "payments/detail.html",
        context=_ctx(
            request,
            batch=await service.get_batch(batch_id),
            progress=await service.progress(batch_id),
            payments=await service.payments_of_batch(batch_id, status or None, 200),
            msg=msg,
            filter=status or "",
        ),
    )


@post("/finance/batches/{batch_id:int}/{step:str}", guards=[requires(*STAFF_ACTING)], include_in_schema=False)
async def batch_step(request: Request, batch_id: int, step: str) -> Redirect:
    form = await request.form()
    reason = (form.get("reason") or "").strip()
    actor = _actor(request)
    if step == "approve":
        await service.approve_batch(batch_id, actor=actor)
    elif step == "reject":
        await service.reject_batch(batch_id, actor=actor, reason=reason)
    elif step == "cancel":
        await service.cancel_batch(batch_id, actor=actor, reason=reason)
    elif step == "run":
        await _run(batch_id, actor)
    else:
        raise PaymentsError(f"unknown step {step!r}", status=404)
    return Redirect(f"/finance/batches/{batch_id}?msg={step}")


@get("/finance/exceptions", guards=[requires(*FINANCE)], include_in_schema=False)
async def exceptions_page(request: Request, msg: str = "") -> Template:
    return Template("payments/exceptions.html", context=_ctx(request, rows=await service.exceptions_queue(), msg=msg))


@post("/finance/payments/{payment_id:int}/{step:str}", guards=[requires(*STAFF_ACTING)], include_in_schema=False)
async def payment_step(request: Request, payment_id: int, step: str) -> Redirect:
    form = await request.form()
    actor = _actor(request)
    if step == "reissue":
        batch_id = await service.reissue_payments(
            [payment_id], actor=actor, second_checker_threshold_fen=_threshold_fen()
        )
        return Redirect(f"/finance/batches/{batch_id}?msg=created")
    if step == "abandon":
        await service.abandon_payment(payment_id, actor=actor, reason=(form.get("reason") or "").strip())
        return Redirect("/finance/exceptions?msg=abandoned")
    if step == "return":
        from app import jobs

        async with _bank() as adapter:  # recorded only when the bank reports the transfer reversed
            await service.record_return(
                payment_id,
                actor=actor,
                adapter=adapter,
                reason=(form.get("reason") or "RETURNED").strip(),
                queue=await jobs.get_queue(),
                base_url=get_settings().base_url,
            )
        return Redirect("/finance/exceptions?msg=returned")
    raise PaymentsError(f"unknown step {step!r}", status=404)


@get("/finance/reconciliation", guards=[requires(*FINANCE)], include_in_schema=False)
async def reconciliation_page(request: Request, run: int | None = None) -> Template:
    runs = await service.list_runs()
    run_id = run or (runs[0]["id"] if runs else None)
    return Template(
        "payments/reconciliation.html",
        context=_ctx(
            request,
            runs=runs,
            run_id=run_id,
            differences=await service.differences_of(run_id) if run_id else [],
            today=china_today().isoformat(),
        ),
    )


@post("/finance/reconciliation", guards=[requires(*STAFF_ACTING)], include_in_schema=False)
async def reconcile_page(request: Request) -> Redirect:
    form = await request.form()
    try:
        date = dt.date.fromisoformat((form.get("date") or "").strip())
    except ValueError:
        raise PaymentsError("a date is YYYY-MM-DD") from None
    result = await _reconcile(date, _actor(request))
    return Redirect(f"/finance/reconciliation?run={result.run_id}")


route_handlers = [
    api_batches,
    api_create,
    api_batch,
    api_progress,
    api_payments,
    api_approve,
    api_reject,
    api_cancel,
    api_run,
    api_exceptions,
    api_reissue,
    api_abandon,
    api_budgets,
    api_reconciliations,
    api_reconciliation,
    api_reconcile,
    finance_page,
    create_page,
    batch_page,
    batch_step,
    exceptions_page,
    payment_step,
    reconciliation_page,
    reconcile_page,
]
