"""Errors of notifications/: messages written for the person or caller who reads them."""

from __future__ import annotations

from kit.errors import AppError


class NotificationError(AppError):
    """Base: ``message`` for a person, ``status`` for HTTP, ``detail`` structured and optional."""


class UnknownNoticeKind(NotificationError):
    status = 422


class ContextIncomplete(NotificationError):
    """The context lacks a field the notice's template needs."""

    status = 422


class RecipientInvalid(NotificationError):
    status = 422


class NoticeNotFound(NotificationError):
    """No such notice for this subject (another subject's notice is reported the same way)."""

    status = 404


class ChannelError(NotificationError):
    """A channel could not deliver; ``permanent`` ones are not retried (a 4xx refusal, a bad address)."""

    status = 502

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
