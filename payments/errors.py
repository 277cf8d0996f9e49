"""Errors of payments/: each carries a message for the person who reads it and an HTTP status."""

from __future__ import annotations

from kit import errors
from kit.errors import AppError
from kit.money import InvalidAmount  # noqa: F401 - the money rule's own error, raised by payments too


class PaymentsError(AppError):
    """Base of every refusal in payments/."""


class NotFound(PaymentsError, errors.NotFound): ...


class Forbidden(PaymentsError, errors.Forbidden):
    """The actor may not do this (wrong role, or the four-eyes rule)."""


class InvalidState(PaymentsError, errors.InvalidState):
    """The batch or payment is not in a state that allows this step."""


class BudgetExceeded(PaymentsError, errors.Conflict): ...
