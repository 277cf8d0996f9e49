"""One error base for the platform and the handler that renders it as {"error", "detail"}."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error whose message is written for the person who will read it."""

    status: int = 400

    def __init__(self, message: str, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.detail = detail


class NotFound(AppError):
    status = 404


class Forbidden(AppError):
    status = 403


class Conflict(AppError):
    status = 409
