"""The platform's error type lives in kit/errors.py; app/ code imports it from here or from kit alike."""

from kit.errors import AppError, Conflict, Forbidden, Invalid, InvalidState, NotFound, Unavailable  # noqa: F401
