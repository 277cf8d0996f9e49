"""Errors of policies.applications: a message for the person who reads it, an HTTP status and detail."""

from __future__ import annotations

from kit import errors
from kit.errors import AppError


class ApplicationError(AppError):
    """Base of every applications error (the web app renders it as {"error", "detail"} with its status)."""


class NotFound(ApplicationError, errors.NotFound):
    """Absent, or another subject's (an owner never learns whether someone else's record exists)."""


class NotAllowed(ApplicationError, errors.Forbidden): ...


class InvalidState(ApplicationError, errors.InvalidState): ...


class NotEligible(ApplicationError, errors.Invalid): ...


class BadAttachment(ApplicationError):
    status = 400


class AttachmentTooLarge(BadAttachment):
    status = 413
