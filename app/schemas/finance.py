"""Shapes of the finance API that app/ assembles from payments' results (money as decimal yuan strings)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BatchCreatedRead(BaseModel):
    batch_id: int
    payments: int
    total: str = Field(description="yuan, with thousands separators")
    left_for_budget: int = Field(description="payable entitlements left out because the budget is used up")
    needs_second_checker: bool
    held_out: int = Field(
        0, description="entitlements held out on re-verification (no longer eligible, or the amount changed)"
    )
    in_publicity: int = Field(
        0, description="payable entitlements left out: in their publicity period (公示) or held by an open objection"
    )


class BatchProgressRead(BaseModel):
    """Where a running batch is: payments and totals per status, how many still active, how many held."""

    batch_id: int
    status: str
    counts: dict[str, int]
    totals: dict[str, str] = Field(description="yuan per payment status")
    active: int
    held: int
    done: bool
    fraction: float = Field(0.0, description="share of the payments no longer being worked on, 0…1 (the page's bar)")


class BatchStepRead(BaseModel):
    """A batch after a checker's or maker's step (approve, reject, cancel)."""

    batch_id: int
    status: str


class BatchRunRead(BaseModel):
    batch_id: int
    jobs_queued: int


class ReissueRead(BaseModel):
    """The new batch of a re-issue (退汇重发), to approve like any other."""

    batch_id: int


class PaymentExceptionRead(BaseModel):
    payment_id: int
    exception: str


class BudgetUsageRead(BaseModel):
    """A policy version's budget and what of it is committed, in transit and paid (from the ledger)."""

    version_id: int
    policy_code: str
    policy_version: int
    budget: str
    committed: str
    in_transit: str
    paid: str
    used: str
    used_percent: str
    alert_level: int = Field(description="0, or the threshold crossed: 80 or 95 (percent)")


class ReconciliationRunRead(BaseModel):
    """One stored comparison of the ledger with a day's bank statement (对账)."""

    id: int
    statement_date: str
    matched: int
    differences: int
    bank_lines: int
    ledger_lines: int
    actor: str
    created_at: str


class DifferenceRead(BaseModel):
    """One difference between the bank statement and the ledger; reported, never corrected automatically."""

    kind: str
    request_id: str = ""
    transfer_id: str = ""
    payment_id: int | None = None
    bank_amount_fen: int | None = None
    ledger_amount_fen: int | None = None
    detail: str = ""


class StoredDifferenceRead(DifferenceRead):
    id: int
    run_id: int


class ReconciliationRead(BaseModel):
    run_id: int
    date: str
    matched: int
    differences: list[DifferenceRead]


class ReceiptsZipRead(BaseModel):
    """A batch's receipts ZIP, built by a job (payments.build_receipts_zip): ``preparing`` until it is written, then
    ``ready`` with its download link; ``absent`` when none is built for the receipts as they stand (POST to prepare)."""

    batch_id: int
    status: str = Field(description="absent, preparing or ready")
    receipts: int = Field(description="how many receipts the ZIP holds (or will)")
    download: str | None = Field(None, description="the ZIP's link once ready")
