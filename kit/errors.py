"""One error type for the platform: a message for the person who reads it, an HTTP status, optional detail.

Every domain's errors subclass these; app/ renders any of them as ``{"error": message, "detail": detail}`` on the
API and as one line (exit 1) on the CLI. A failure of an outside service (the bank, the SMS gateway) is ours to
report as 502/503: its own status code never reaches a user as if it were theirs.

A message is an English catalog entry (``kit.i18n._l``) with ``str.format`` parameters given as keywords:
``Forbidden(_l("only {role} may do this"), role=Role.ADMIN)``. ``message`` (and ``str(exc)``) is the English text,
the CLI's byte for byte; app/i18n.py renders ``template`` and ``params`` in the reader's language.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """A refusal or failure whose ``message`` is written for the person who will read it."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None, detail: Any = None, **params: Any) -> None:
        # An f-string message (not yet a catalog entry) has no params and is shown as it is in every language.
        self.template = message
        self.params = params
        self.message = message.format(**params) if params else message
        super().__init__(self.message)
        if status is not None:
            self.status = status
        self.detail = detail


class Invalid(AppError):
    """The input is well-formed but refused (validation, an amount with three decimals…)."""

    status = 422


class Unauthorized(AppError):
    """No valid credential was given."""

    status = 401


class Forbidden(AppError):
    """The actor may not do this (role, ownership, or a four-eyes rule)."""

    status = 403


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    """The request collides with what is stored (a duplicate, a concurrent change)."""

    status = 409


class InvalidState(Conflict):
    """The object is not in a state that allows this step."""


class BadGateway(AppError):
    """An outside service answered, but not with something we can use (the bank refused our request)."""

    status = 502


class Unavailable(AppError):
    """An outside service (or our own database or queue) cannot be reached now; trying later may work."""

    status = 503


def http_status_of(exc: BaseException) -> int:
    """The status an error renders with: its own for an AppError, 500 for anything else."""
    return exc.status if isinstance(exc, AppError) else 500
