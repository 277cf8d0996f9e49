"""The finance JSON API under /api/finance: batches (make, approve, reject, cancel, run, progress), payments, the
exceptions queue, budgets and reconciliation."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from litestar import Request, Response, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, Field, field_validator

from app.auth.guards import requires
from app.controllers.payments.common import FINANCE, STAFF_ACTING, actor_of, reconcile_on, run_batch, threshold_fen
from app.paging import API_SIZE, paged_json, paging
from app.progress import batch_fraction
from app.schemas.errors import BANK, errors
from app.schemas.finance import (
    BatchCreatedRead,
    BatchProgressRead,
    BatchRunRead,
    BatchStepRead,
    BudgetUsageRead,
    DifferenceRead,
    PaymentExceptionRead,
    ReconciliationRead,
    ReconciliationRunRead,
    ReissueRead,
    StoredDifferenceRead,
)
from kit.db import RowId
from kit.money import format_yuan
from kit.paging import PageRequest, Sorts
from kit.vocab import BatchStatus, PaymentException, Role
from payments import service
from payments.schemas import BatchRead, EntitlementRead, HeldOutRead, PaymentRead
from payments.service import BudgetUsage


class BatchCreate(BaseModel):
    policy_code: str | None = None
    entitlement_ids: list[RowId] = Field(default_factory=list)
    refresh: bool = True


class Reason(BaseModel):
    reason: str = ""


class ReissueRequest(BaseModel):
    payment_ids: list[RowId]


class ReconcileRequest(BaseModel):
    date: dt.date = Field(description="the statement's date, YYYY-MM-DD")

    @field_validator("date", mode="before")
    @classmethod
    def _iso_text(cls, value: object) -> object:
        # pydantic reads a number as a Unix time (0 → 1970-01-01): a date is written as text here.
        if not isinstance(value, (str, dt.date)):
            raise ValueError("a date as YYYY-MM-DD")
        return value


def _plain(fen: int) -> str:
    return format_yuan(fen).replace(",", "")


def _usage(u: BudgetUsage) -> BudgetUsageRead:
    return BudgetUsageRead(
        version_id=u.version_id,
        policy_code=u.policy_code,
        policy_version=u.policy_version,
        budget=_plain(u.budget_fen),
        committed=_plain(u.committed_fen),
        in_transit=_plain(u.in_transit_fen),
        paid=_plain(u.paid_fen),
        used=_plain(u.used_fen),
        used_percent=str(u.used_percent),
        alert_level=u.alert_level,
    )


def _acting(path: str, *statuses: int, status_code: int = HTTP_200_OK) -> HTTPRouteHandler:
    """A POST of a finance_maker or finance_checker (the service checks which of them, and the four eyes)."""
    return post(
        path, guards=[requires(*STAFF_ACTING)], tags=["finance"], status_code=status_code, responses=errors(*statuses)
    )


def _reading(path: str, *statuses: int, sorts: Sorts | None = None, size: int = API_SIZE) -> HTTPRouteHandler:
    # A path parameter that does not parse (an id that is not a number) matches no route: 404.
    statuses += (404,) if "{" in path else ()
    return get(
        path,
        guards=[requires(*FINANCE)],
        tags=["finance"],
        responses=errors(*statuses),
        dependencies={"paging": paging(sorts, size=size)} if sorts is not None else None,
    )


@_reading("/api/finance/batches", sorts=service.BATCH_SORTS, size=200)
async def api_batches(paging: PageRequest, status: str | None = None) -> Response[list[BatchRead]]:
    """Batches, newest first, with payment counts and totals by status; a page of them (page, size, sort, q in the
    policy code, title and maker), the total in X-Total-Count."""
    return paged_json(await service.batch_page(paging, status or None))


@_acting("/api/finance/batches", 404, 409, 422, status_code=HTTP_201_CREATED)
async def api_create(request: Request, data: JSONBody[BatchCreate]) -> BatchCreatedRead:
    """A finance_maker's batch of a policy's payable entitlements (or of a selection); reserves the budget."""
    actor = actor_of(request)
    if data.policy_code and data.refresh and actor.role == Role.FINANCE_MAKER:
        await service.refresh_entitlements(data.policy_code, actor=actor)
    made = await service.create_batch(
        actor=actor,
        policy_code=data.policy_code,
        entitlement_ids=data.entitlement_ids or None,
        second_checker_threshold_fen=threshold_fen(),
    )
    return BatchCreatedRead(
        batch_id=made.batch_id,
        payments=made.payment_count,
        total=format_yuan(made.total_fen),
        left_for_budget=made.left_for_budget,
        needs_second_checker=made.needs_second_checker,
        held_out=made.held_out,
        in_publicity=made.in_publicity,
    )


@_reading("/api/finance/held")
async def api_held(batch_id: int | None = None) -> list[HeldOutRead]:
    """Entitlements held out on re-verification (资格复核): withdrawn, or their amount changed, with the reason."""
    return await service.held_out(batch_id=batch_id)


@_acting("/api/finance/entitlements/{entitlement_id:int}/accept-amount", 403, 404, 409)
async def api_accept_amount(request: Request, entitlement_id: int) -> EntitlementRead:
    """A finance_maker accepts the amount a subject qualifies for now; payable in the next batch."""
    await service.accept_amount(entitlement_id, actor=actor_of(request))
    return await service.get_entitlement(entitlement_id)


@_reading("/api/finance/batches/{batch_id:int}", 404)
async def api_batch(batch_id: int) -> BatchRead:
    return await service.get_batch(batch_id)


@_reading("/api/finance/batches/{batch_id:int}/progress", 404)
async def api_progress(batch_id: int) -> BatchProgressRead:
    """Where a running batch is: payments and totals per status, how many still active, how many held."""
    p = await service.progress(batch_id)
    return BatchProgressRead(
        batch_id=batch_id,
        status=p.status,
        counts=p.counts,
        totals={k: _plain(v) for k, v in p.totals_fen.items()},
        active=p.active,
        held=p.held,
        done=p.done,
        fraction=batch_fraction(p.counts, p.active),
    )


@_reading("/api/finance/batches/{batch_id:int}/payments", 404, sorts=service.PAYMENT_SORTS, size=200)
async def api_payments(
    batch_id: int, paging: PageRequest, status: str | None = None, limit: int | None = None, offset: int = 0
) -> Response[list[PaymentRead]]:
    """A batch's payments, a page at a time (page, size, sort, q), or ``limit`` from ``offset`` as before (at most
    1,000); the batch's total (with the filters) in X-Total-Count."""
    if limit is not None or offset:
        paging = replace(paging, size=min(limit if limit is not None else paging.size, 1000), start=offset)
    return paged_json(await service.payments_page(batch_id, paging, status or None))


@_acting("/api/finance/batches/{batch_id:int}/approve", 404, 409)
async def api_approve(request: Request, batch_id: int) -> BatchStepRead:
    """A checker's approval; 403 for the batch's maker (and for the first checker at the second step)."""
    return BatchStepRead(batch_id=batch_id, status=await service.approve_batch(batch_id, actor=actor_of(request)))


@_acting("/api/finance/batches/{batch_id:int}/reject", 404, 409)
async def api_reject(request: Request, batch_id: int, data: JSONBody[Reason]) -> BatchStepRead:
    await service.reject_batch(batch_id, actor=actor_of(request), reason=data.reason)
    return BatchStepRead(batch_id=batch_id, status=BatchStatus.REJECTED)


@_acting("/api/finance/batches/{batch_id:int}/cancel", 404, 409)
async def api_cancel(request: Request, batch_id: int, data: JSONBody[Reason | None] = None) -> BatchStepRead:
    await service.cancel_batch(batch_id, actor=actor_of(request), reason=(data.reason if data else ""))
    return BatchStepRead(batch_id=batch_id, status=BatchStatus.CANCELLED)


@_acting("/api/finance/batches/{batch_id:int}/run", 404, 409)
async def api_run(request: Request, batch_id: int) -> BatchRunRead:
    """Start (or resume) an approved batch: its payment jobs are queued; follow it with /progress."""
    return BatchRunRead(batch_id=batch_id, jobs_queued=await run_batch(batch_id, actor_of(request)))


@_reading("/api/finance/exceptions", sorts=service.PAYMENT_SORTS)
async def api_exceptions(paging: PageRequest, status: str | None = None) -> Response[list[PaymentRead]]:
    """Rejected, returned and held payments waiting for a person, with the bank's reason; a page of them, the total
    in X-Total-Count."""
    return paged_json(await service.exceptions_page(paging, status or None))


@_acting("/api/finance/payments/reissue", 404, 409, status_code=HTTP_201_CREATED)
async def api_reissue(request: Request, data: JSONBody[ReissueRequest]) -> ReissueRead:
    """退汇重发 to the corrected, re-verified account: a new batch to approve like any other."""
    batch_id = await service.reissue_payments(
        data.payment_ids, actor=actor_of(request), second_checker_threshold_fen=threshold_fen()
    )
    return ReissueRead(batch_id=batch_id)


@_acting("/api/finance/payments/{payment_id:int}/abandon", 404, 409)
async def api_abandon(request: Request, payment_id: int, data: JSONBody[Reason]) -> PaymentExceptionRead:
    await service.abandon_payment(payment_id, actor=actor_of(request), reason=data.reason)
    return PaymentExceptionRead(payment_id=payment_id, exception=PaymentException.ABANDONED)


@_reading("/api/finance/budgets")
async def api_budgets(alerts_only: bool = False) -> list[BudgetUsageRead]:
    """Budget, committed, in transit and paid per policy version (from the ledger); alert level 80/95."""
    rows = await (service.budget_alerts() if alerts_only else service.budget_usage())
    return [_usage(u) for u in rows]


@_reading("/api/finance/reconciliations")
async def api_reconciliations() -> list[ReconciliationRunRead]:
    return [
        ReconciliationRunRead.model_validate(
            {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()}
        )
        for r in await service.list_runs()
    ]


@_reading("/api/finance/reconciliations/{run_id:int}", sorts=service.DIFFERENCE_SORTS)
async def api_reconciliation(run_id: int, paging: PageRequest) -> Response[list[StoredDifferenceRead]]:
    """A run's differences, a page at a time, the total in X-Total-Count."""
    return paged_json((await service.differences_page(run_id, paging)).map(StoredDifferenceRead.model_validate))


@_acting("/api/finance/reconciliations", *BANK, status_code=HTTP_201_CREATED)
async def api_reconcile(request: Request, data: JSONBody[ReconcileRequest]) -> ReconciliationRead:
    """Compare the bank statement of a date with the ledger; differences are stored and returned, never fixed."""
    result = await reconcile_on(data.date, actor_of(request))
    return ReconciliationRead(
        run_id=result.run_id,
        date=data.date.isoformat(),
        matched=result.matched,
        differences=[DifferenceRead.model_validate(d.__dict__) for d in result.differences],
    )


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
    api_held,
    api_accept_amount,
]
