"""Errors of policies.applications: a message for the person who reads it, an HTTP status and detail."""

from __future__ import annotations

from kit.errors import AppError


class ApplicationError(AppError):
    """Base of every applications error (the web app renders it as {"error", "detail"} with its status)."""


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
