"""Errors of payments/: each carries a message for the person who reads it and an HTTP status."""

from __future__ import annotations

from typing import Any


class PaymentsError(Exception):
    """Base of every refusal in payments/."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.detail = detail


class NotFound(PaymentsError):
    status = 404


class Forbidden(PaymentsError):
    """The actor may not do this (wrong role, or the four-eyes rule)."""

    status = 403


class InvalidState(PaymentsError):
    """The batch or payment is not in a state that allows this step."""

    status = 409


class BudgetExceeded(PaymentsError):
    status = 409


class InvalidAmount(PaymentsError):
    status = 422
