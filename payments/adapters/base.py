"""What the payment service needs from a bank (contracts/bank-gateway.md), independent of transport."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

from kit.errors import AppError

TransferStatus = Literal["accepted", "settled", "rejected", "reversed"]


@dataclass(frozen=True)
class TransferRequest:
    request_id: str  # the idempotency key, at most 64 characters; the same for every retry of a payment
    payer_account: str
    payee_account: str
    payee_name: str
    amount: Decimal  # yuan, > 0, at most 2 decimals
    memo: str = ""
    currency: str = "CNY"


@dataclass(frozen=True)
class TransferResult:
    request_id: str
    transfer_id: str
    status: TransferStatus
    reason: str | None = None  # ACCOUNT_NOT_FOUND, ACCOUNT_CLOSED, NAME_MISMATCH, INSUFFICIENT_FUNDS, INVALID_AMOUNT


@dataclass(frozen=True)
class StatementLine:
    transfer_id: str
    request_id: str
    payee_account: str
    amount: Decimal
    status: str  # settled | reversed
    settled_at: dt.datetime


class BankError(AppError):
    """Base of what a bank call can end in other than an answer. To our own users a failed bank call is a bad
    gateway (502) or, when trying later may work, unavailable (503): never the bank's own HTTP status."""

    status = 502

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message, **params)


class BankTransient(BankError):
    """500/502/503 or a refused connection before the request was sent: nothing was taken; retry the same request_id."""

    status = 503


class BankRateLimited(BankTransient):
    def __init__(self, message: str, retry_after: float, **params: Any) -> None:
        super().__init__(message, **params)
        self.retry_after = retry_after


class BankOutcomeUnknown(BankError):
    """Timeout or dropped connection after sending: the bank may have taken it. Resolve with query(), never resend blind."""


class BankConflict(BankError):
    """409: the request_id was used with a different body. Never retried automatically."""


class BankAuthError(BankError):
    """401: signature or clock wrong. A configuration problem, not retried."""


class BankBadRequest(BankError):
    """400/404/405/413/422 to a transfer: the bank refused the request itself, took nothing. A bug or a
    misconfigured URL, not a fault: never retried automatically."""

    def __init__(self, message: str, status: int, **params: Any) -> None:
        super().__init__(message, **params)
        self.bank_status = status  # the bank's HTTP status, for the log and the operator; ours stays 502


class BankAdapter(Protocol):
    async def submit(self, request: TransferRequest) -> TransferResult: ...

    async def query(self, request_id: str) -> TransferResult | None:
        """The current status, or None when the bank answered 404 (it never took that request)."""
        ...

    async def statement(self, date: dt.date) -> list[StatementLine]: ...

    async def aclose(self) -> None: ...
