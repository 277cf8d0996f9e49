"""The finance pages under /finance: batches and their steps, a run's progress, the exceptions queue, budgets and
their alerts, reconciliation."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from decimal import Decimal
from typing import Any

from litestar import Request, get, post
from litestar.exceptions import NotFoundException
from litestar.response import Redirect, Stream, Template

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
from app.controllers.policies.common import STAFF as POLICY_READERS
from app.controllers.receipts import ZIP_ROLES, receipts_zip_status
from app.exports import Column, export, subject_columns
from app.paging import pager_of, paging
from app.progress import batch_fraction
from app.tables import AuditEntry
from kit.i18n import _l
from kit.masking import scrub_text
from kit.money import fen_to_yuan, format_yuan
from kit.paging import Page, PageRequest
from kit.time import china_today
from kit.vocab import Role
from payments import service
from payments.errors import PaymentsError
from policies import service as policies

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


# Where a payment stands in the exceptions queue, beside its status (a row's real state in a running batch).
EXCEPTION_LABELS = {
    "open": ("待人工处理", "held for a person"),
    "reissued": ("已重发", "re-issued"),
    "abandoned": ("已放弃", "abandoned"),
    "returned": ("已退汇", "returned"),
    "withheld": ("未发送：资格复核未通过", "not sent: failed re-verification"),
}


def batch_status(status: str, counts: dict[str, int]) -> tuple[str, str]:
    """A batch's status in words; a completed batch with payments the bank refused or sent back says how many
    ("已完成，3 笔被退回"), never a bare "已完成"."""
    zh, en = STATUS_LABELS.get(status, (status, status))
    refused = counts.get("rejected", 0) + counts.get("returned", 0)
    if status == "completed" and refused:
        return f"{zh}，{refused} 笔被退回", f"{en}, {refused} refused or returned by the bank"
    return zh, en


def _ctx(request: Request, **extra) -> dict[str, Any]:
    user = current_user(request)
    return {
        "user": user,
        "role": user["role"],
        "labels": STATUS_LABELS,
        "exception_labels": EXCEPTION_LABELS,
        "batch_status": batch_status,
        "flash": FLASH,
        "policy_readers": POLICY_READERS,  # who may open a policy's page: finance staff see the title only
        "yuan": format_yuan,
        **extra,
    }


async def _left_out(batch: Any) -> dict[str, Any]:
    """What the batch's creation left out and why: the budget cap and re-verification as counted when it was made
    (its batch.create audit entry), and the entitlements of its policy still unpayable now (no verified account,
    excluded by an exclusive group)."""
    entry = (
        await AuditEntry.select(AuditEntry.detail)
        .where(
            (AuditEntry.action == "batch.create")
            & (AuditEntry.entity == "batch")
            & (AuditEntry.entity_id == str(batch.id))
        )
        .first()
    )
    made = json.loads(entry["detail"]) if entry and entry["detail"] else {}
    return {
        "budget": int(made.get("left_for_budget") or 0),
        "held": int(made.get("held_out") or 0),
        "risk": int(made.get("risk_held") or 0),  # 风险拦截: held by an open or confirmed risk flag
        "in_publicity": int(made.get("in_publicity") or 0),
        "unpayable": await service.left_out_of(batch.policy_code) if batch.policy_code else [],
    }


@get(
    "/finance",
    guards=[requires(*FINANCE)],
    include_in_schema=False,
    dependencies={"paging": paging(service.BATCH_SORTS, size=20)},
)
async def finance_page(request: Request, paging: PageRequest, msg: str = "", status: str | None = None) -> Template:
    page = await service.batch_page(paging, status or None)
    waiting = await service.exceptions_page(PageRequest(size=1))
    budgets, alerts = await service.budget_usage(), await service.budget_alerts()
    codes = [b.policy_code for b in page.items] + [u.policy_code for u in budgets] + [a.policy_code for a in alerts]
    return Template(
        "payments/list.html",
        context=_ctx(
            request,
            batches=page.items,
            pager=pager_of(request, page, ("批", "batches"), q=paging.q, status=status),
            q=paging.q,
            filter=status or "",
            budgets=budgets,
            alerts=alerts,
            exceptions=waiting.total,
            payable=await service.payable_by_policy(),
            msg=msg,
            titles=await policies.titles_of(codes),  # pages name policies; the code links to the policy
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


@get(
    "/finance/batches/{batch_id:int}",
    guards=[requires(*FINANCE)],
    include_in_schema=False,
    dependencies={"paging": paging(service.PAYMENT_SORTS, size=100)},
)
async def batch_page(
    request: Request, batch_id: int, paging: PageRequest, msg: str = "", status: str | None = None
) -> Template:
    batch = await service.get_batch(batch_id)
    page = await service.payments_page(batch_id, paging, status or None)
    receipts_zip = None
    if current_user(request)["role"] in ZIP_ROLES:
        with contextlib.suppress(NotFoundException):  # no settled payment yet, so no receipt
            receipts_zip = await receipts_zip_status(batch_id)
    progress = await service.progress(batch_id)
    return Template(
        "payments/detail.html",
        context=_ctx(
            request,
            batch=batch,
            receipts_zip=receipts_zip,
            progress=progress,
            progress_fraction=batch_fraction(progress.counts, progress.active),
            left_out=await _left_out(batch),
            payments=page.items,
            pager=pager_of(request, page, ("笔", "payments"), q=paging.q, status=status),
            q=paging.q,
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


@get(
    "/finance/exceptions",
    guards=[requires(*FINANCE)],
    include_in_schema=False,
    dependencies={"paging": paging(service.PAYMENT_SORTS)},
)
async def exceptions_page(request: Request, paging: PageRequest, msg: str = "", status: str | None = None) -> Template:
    page = await service.exceptions_page(paging, status or None)
    held = await service.held_out(limit=200)
    return Template(
        "payments/exceptions.html",
        context=_ctx(
            request,
            rows=page.items,
            reissue_refusals=await service.reissue_refusals([p.id for p in page.items]),
            pager=pager_of(request, page, ("笔", "payments"), q=paging.q, status=status),
            q=paging.q,
            filter=status or "",
            held=held,
            msg=msg,
            titles=await policies.titles_of(h.policy_code for h in held),
        ),
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


@get(
    "/finance/reconciliation",
    guards=[requires(*FINANCE)],
    include_in_schema=False,
    dependencies={"paging": paging(service.DIFFERENCE_SORTS, size=100)},
)
async def reconciliation_page(request: Request, paging: PageRequest, run: int | None = None) -> Template:
    runs = await service.list_runs()
    run_id = run or (runs[0]["id"] if runs else None)
    page = await service.differences_page(run_id, paging) if run_id else Page([], 0, 1, paging.size)
    return Template(
        "payments/reconciliation.html",
        context=_ctx(
            request,
            runs=runs,
            run_id=run_id,
            differences=page.items,
            pager=pager_of(request, page, ("条", "differences"), run=run_id),
            today=china_today().isoformat(),
        ),
    )


# ---------------------------------------------------------------------------------- downloads (app/exports.py)

PAYMENT_COLUMNS = [
    Column("id", "支付编号", "Payment"),
    Column("batch_id", "批次", "Batch"),
    *subject_columns(),
    Column("payee_name", "收款人", "Payee"),
    Column("payee_account_masked", "收款账户", "Account", datum="account"),
    Column("amount", "金额（元）", "Amount (yuan)"),
    Column("status", "状态", "Status", value=lambda p: STATUS_LABELS.get(p.status, (p.status,))[0]),
    Column("reason", "原因", "Reason"),
    Column("attempt", "发放次数", "Attempt"),
    Column("request_id", "请求编号", "Request id"),
    Column("bank_transfer_id", "银行流水号", "Bank serial"),
    Column("settled_at", "到账时间（北京时间）", "Settled (Beijing time)"),
]


@get("/finance/batches/{batch_id:int}/export", guards=[requires(*FINANCE)], include_in_schema=False)
async def batch_export(
    request: Request, batch_id: int, format: str = "csv", status: str | None = None, q: str = ""
) -> Stream:
    """A batch's payments (the page's filters), CSV or Excel."""
    await service.get_batch(batch_id)  # 404 for a batch that does not exist
    rows = service.payment_chunks(batch_id, status=status or None, q=q.strip())
    return export(request, format, f"batch-{batch_id}-payments", PAYMENT_COLUMNS, rows, sheet=f"批次{batch_id}")


@get("/finance/exceptions/export", guards=[requires(*FINANCE)], include_in_schema=False)
async def exceptions_export(request: Request, format: str = "csv", status: str | None = None, q: str = "") -> Stream:
    rows = service.payment_chunks(None, status=status or None, q=q.strip(), exceptions=True)
    return export(request, format, "exceptions", PAYMENT_COLUMNS, rows, sheet="异常处理")


DIFFERENCE_COLUMNS = [
    Column("id", "编号", "Id"),
    Column("kind", "差异类型", "Kind"),
    Column("payment_id", "支付编号", "Payment"),
    Column("request_id", "请求编号", "Request id"),
    Column("transfer_id", "银行流水号", "Bank serial"),
    Column(
        "bank_amount_fen", "银行金额（元）", "Bank amount (yuan)", value=lambda d: _yuan_or_none(d["bank_amount_fen"])
    ),
    Column(
        "ledger_amount_fen",
        "账本金额（元）",
        "Ledger amount (yuan)",
        value=lambda d: _yuan_or_none(d["ledger_amount_fen"]),
    ),
    Column("detail", "说明", "Detail", value=lambda d: scrub_text(d["detail"] or "")),
]


def _yuan_or_none(fen: int | None) -> Decimal | None:
    return None if fen is None else fen_to_yuan(fen)


@get("/finance/reconciliation/{run_id:int}/export", guards=[requires(*FINANCE)], include_in_schema=False)
async def reconciliation_export(request: Request, run_id: int, format: str = "csv") -> Stream:
    return export(
        request,
        format,
        f"reconciliation-{run_id}",
        DIFFERENCE_COLUMNS,
        service.difference_chunks(run_id),
        sheet="对账差异",
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
    batch_export,
    exceptions_export,
    reconciliation_export,
]
