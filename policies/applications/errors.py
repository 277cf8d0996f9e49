"""Errors of policies.applications: a message for the person who reads it, an HTTP status and detail."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base of every applications error (the web app renders it as {"error", "detail"} with its status)."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.detail = detail


class NotFound(ApplicationError):
    """Absent, or another subject's (an owner never learns whether someone else's record exists)."""

    status = 404


class NotAllowed(ApplicationError):
    status = 403


class InvalidState(ApplicationError):
    status = 409


class NotEligible(ApplicationError):
    status = 422


class BadAttachment(ApplicationError):
    status = 400


class AttachmentTooLarge(BadAttachment):
    status = 413
