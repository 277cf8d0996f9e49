"""Integer parameters the database can hold: every int in a path or query is checked before its handler runs.

A path or query int is a row id, a page or an offset. Row ids are SERIAL columns, 32-bit on PostgreSQL (SQLite holds
64 bits): a larger value (2147483648 on PostgreSQL, 9223372036854775808 on SQLite) made the driver raise
(asyncpg's DataError, OverflowError) and the request a 500. Paging
parameters have tighter bounds (an offset the page multiplies, a negative LIMIT PostgreSQL refuses). One check for
all operations (app.main passes it as ``before_request``), so a new route is covered without touching it.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from litestar import Request
from litestar.exceptions import ValidationException

# What a row id (Piccolo's Serial: PostgreSQL's integer) holds.
ID_MIN, ID_MAX = -(2**31), 2**31 - 1
# Paging: (least, greatest). The greatest offset and page are far past any inbox or batch; what they multiply stays
# well inside 64 bits.
PAGING: dict[str, tuple[int, int]] = {
    "limit": (0, 100_000),
    "offset": (0, 1_000_000_000),
    "page": (1, 10_000_000),
}
_INT = re.compile(r"^\s*[+-]?\d+\s*$")


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in get_args(annotation)


def _refuse(name: str, value: Any, low: int, high: int) -> None:
    raise ValidationException(
        f"{name} is out of range: {str(value)[:40]} is not between {low} and {high}",
        extra=[{"key": name, "message": f"must be an integer from {low} to {high}", "source": "parameter"}],
    )


def _check(name: str, value: Any) -> None:
    low, high = PAGING.get(name, (ID_MIN, ID_MAX))
    if isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high:
        _refuse(name, value, low, high)


def bounded_integers(request: Request) -> None:
    """Refuse (400, naming the parameter) an int path or query parameter outside what the database holds."""
    for name, value in request.path_params.items():
        _check(name, value)
    handler = request.scope.get("route_handler")
    if handler is None:
        return
    query = request.query_params
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in request.path_params or not _is_int(field.annotation):
            continue
        key = getattr(field.kwarg_definition, "query", None) or name
        raw = query.get(key)
        if raw is not None and _INT.match(str(raw)):
            _check(name, int(raw))
