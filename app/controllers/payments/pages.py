"""The finance pages under /finance: batches and their steps, a run's progress, the exceptions queue, budgets and
their alerts, reconciliation."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Template

from app import i18n, jobs
from app.auth.guards import current_user, requires
from app.config import get_settings
from app.controllers.payments.common import (
    FINANCE,
    STAFF_ACTING,
    actor_of,
    bank,
    reconcile_on,
    run_batch,
    threshold_fen,
)
from app.controllers.receipts import ZIP_ROLES, receipts_zip_status
from kit.i18n import _l
from kit.money import format_yuan
from kit.time import china_today
from kit.vocab import Role
from payments import service
from payments.errors import PaymentsError

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
i18n.register_states(STATUS_LABELS)  # a refusal naming a state shows its label

# What a finance page says after a step (?msg=…): a sentence in the reader's language; an unknown code says nothing.
FLASH = {
    "created": _l("The batch has been created and waits for a checker's approval."),
    "approve": _l("The batch has been approved."),
    "reject": _l("The batch has been sent back to its maker; its entitlements are payable again."),
    "cancel": _l("The batch has been cancelled."),
    "run": _l("The batch is being paid out; this page shows its progress."),
    "receipts-zip": _l("The receipts ZIP is being prepared; its link appears on this page when it is ready."),
    "amount-accepted": _l("The changed amount has been accepted."),
    "abandoned": _l("The payment has been abandoned; it will not be paid."),
    "returned": _l("The returned payment has been recorded; it waits in the exceptions queue."),
}


def _ctx(request: Request, **extra) -> dict[str, Any]:
    user = current_user(request)
    return {"user": user, "role": user["role"], "labels": STATUS_LABELS, "flash": FLASH, "yuan": format_yuan, **extra}


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
    actor = actor_of(request)
    if not code:
        raise PaymentsError(_l("say which policy the batch pays"))
    if actor.role == Role.FINANCE_MAKER:
        await service.refresh_entitlements(code, actor=actor)
    made = await service.create_batch(actor=actor, policy_code=code, second_checker_threshold_fen=threshold_fen())
    return Redirect(f"/finance/batches/{made.batch_id}?msg=created")


@get("/finance/batches/{batch_id:int}", guards=[requires(*FINANCE)], include_in_schema=False)
async def batch_page(request: Request, batch_id: int, msg: str = "", status: str | None = None) -> Template:
    batch = await service.get_batch(batch_id)
    receipts_zip = None
    if current_user(request)["role"] in ZIP_ROLES:
        with contextlib.suppress(NotFoundException):  # no settled payment yet, so no receipt
            receipts_zip = await receipts_zip_status(batch_id)
    return Template(
        "payments/detail.html",
        context=_ctx(
            request,
            batch=batch,
            receipts_zip=receipts_zip,
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
    actor = actor_of(request)
    if step == "approve":
        await service.approve_batch(batch_id, actor=actor)
    elif step == "reject":
        await service.reject_batch(batch_id, actor=actor, reason=reason)
    elif step == "cancel":
        await service.cancel_batch(batch_id, actor=actor, reason=reason)
    elif step == "run":
        await run_batch(batch_id, actor)
    else:
        raise PaymentsError(_l("unknown step {step!r}"), step=step, status=404)
    return Redirect(f"/finance/batches/{batch_id}?msg={step}")


@get("/finance/exceptions", guards=[requires(*FINANCE)], include_in_schema=False)
async def exceptions_page(request: Request, msg: str = "") -> Template:
    return Template(
        "payments/exceptions.html",
        context=_ctx(request, rows=await service.exceptions_queue(), held=await service.held_out(limit=200), msg=msg),
    )


@post(
    "/finance/entitlements/{entitlement_id:int}/accept-amount",
    guards=[requires(*STAFF_ACTING)],
    include_in_schema=False,
)
async def accept_amount_page(request: Request, entitlement_id: int) -> Redirect:
    """The finance maker accepts a changed amount (资格复核)."""
    await service.accept_amount(entitlement_id, actor=actor_of(request))
    return Redirect("/finance/exceptions?msg=amount-accepted")


@post("/finance/payments/{payment_id:int}/{step:str}", guards=[requires(*STAFF_ACTING)], include_in_schema=False)
async def payment_step(request: Request, payment_id: int, step: str) -> Redirect:
    form = await request.form()
    actor = actor_of(request)
    if step == "reissue":
        batch_id = await service.reissue_payments(
            [payment_id], actor=actor, second_checker_threshold_fen=threshold_fen()
        )
        return Redirect(f"/finance/batches/{batch_id}?msg=created")
    if step == "abandon":
        await service.abandon_payment(payment_id, actor=actor, reason=(form.get("reason") or "").strip())
        return Redirect("/finance/exceptions?msg=abandoned")
    if step == "return":
        async with bank() as adapter:  # recorded only when the bank reports the transfer reversed
            await service.record_return(
                payment_id,
                actor=actor,
                adapter=adapter,
                reason=(form.get("reason") or "RETURNED").strip(),
                queue=await jobs.get_queue(),
                base_url=get_settings().base_url,
            )
        return Redirect("/finance/exceptions?msg=returned")
    raise PaymentsError(_l("unknown step {step!r}"), step=step, status=404)


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
        raise PaymentsError(_l("a date is YYYY-MM-DD")) from None
    result = await reconcile_on(date, actor_of(request))
    return Redirect(f"/finance/reconciliation?run={result.run_id}")


route_handlers = [
    finance_page,
    create_page,
    batch_page,
    batch_step,
    exceptions_page,
    payment_step,
    accept_amount_page,
    reconciliation_page,
    reconcile_page,
]
