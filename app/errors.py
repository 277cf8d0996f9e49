"""The platform's error types live in kit/errors.py; app/ code imports them from here or from kit alike."""

from kit.errors import (  # noqa: F401  (re-exported)
    AppError,
    BadGateway,
    Conflict,
    Forbidden,
    Invalid,
    InvalidState,
    NotFound,
    Unauthorized,
    Unavailable,
    http_status_of,
)
