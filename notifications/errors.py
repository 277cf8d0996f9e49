"""Errors of notifications/: messages written for the person or caller who reads them."""

from __future__ import annotations

from typing import Any

from kit import errors
from kit.errors import AppError


class NotificationError(AppError):
    """Base: ``message`` for a person, ``status`` for HTTP, ``detail`` structured and optional."""


class UnknownNoticeKind(NotificationError, errors.Invalid): ...


class ContextIncomplete(NotificationError, errors.Invalid):
    """The context lacks a field the notice's template needs."""


class RecipientInvalid(NotificationError, errors.Invalid): ...


class NoticeNotFound(NotificationError, errors.NotFound):
    """No such notice for this subject (another subject's notice is reported the same way)."""


class ChannelError(NotificationError, errors.BadGateway):
    """A channel could not deliver; ``permanent`` ones are not retried (a 4xx refusal, a bad address)."""

    def __init__(self, message: str, permanent: bool = False, **params: Any) -> None:
        super().__init__(message, **params)
        self.permanent = permanent
