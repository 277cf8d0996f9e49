"""What the finance routes share: who may do what, the acting user, starting a run, the bank for one request."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Request

from app import jobs
from app.audit import AuditActor
from app.auth.guards import current_user
from app.config import get_settings
from kit.vocab import Role
from payments import service
from payments.adapters import BankAdapter, get_adapter
from payments.service import ReconciliationResult
from payments.tasks import enqueue_chunks

FINANCE = (Role.FINANCE_MAKER, Role.FINANCE_CHECKER, Role.AUDITOR)
STAFF_ACTING = (Role.FINANCE_MAKER, Role.FINANCE_CHECKER)


def actor_of(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def threshold_fen() -> int:
    return get_settings().second_checker_threshold_fen


async def run_batch(batch_id: int, actor: AuditActor) -> int:
    """Start (or resume) a batch and queue its chunk jobs after the commit; returns how many were queued."""
    chunks = await service.start_batch(batch_id, actor=actor)
    return await enqueue_chunks(await jobs.get_queue(), chunks)


@asynccontextmanager
async def bank() -> AsyncIterator[BankAdapter]:
    """The configured bank adapter for one request (reconciliation, or asking about a transfer)."""
    adapter = get_adapter(get_settings())
    try:
        yield adapter
    finally:
        await adapter.aclose()


async def reconcile_on(date: dt.date, actor: AuditActor) -> ReconciliationResult:
    async with bank() as adapter:
        return await service.reconcile(adapter, date, actor=actor)
