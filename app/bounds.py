"""Integer parameters the database can hold: every int in a path or query is checked before its handler runs.

A path or query int is a row id, a page or an offset. Row ids are SERIAL columns, 32-bit on PostgreSQL (SQLite holds
64 bits): a larger value (2147483648 on PostgreSQL, 9223372036854775808 on SQLite) made the driver raise
(asyncpg's DataError, OverflowError) and the request a 500. Paging
parameters have tighter bounds (an offset the page multiplies, a negative LIMIT PostgreSQL refuses). One check for
all operations (app.main passes it as ``before_request``), so a new route is covered without touching it. The same
hook refuses a NUL character in any path or query text, which PostgreSQL cannot store or compare.
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
    "size": (1, 500),  # rows of one page of a list (app/paging.py)
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


def _no_nul(name: str, value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise ValidationException(
            f"{name} contains a NUL character",
            extra=[{"key": name, "message": "must not contain a NUL character", "source": "parameter"}],
        )


def check_bounded(name: str, value: Any) -> None:
    """The same check for a parameter a dependency reads (app/paging.py's page and size)."""
    _check(name, value)


def bounded_integers(request: Request) -> None:
    """Refuse (400, naming the parameter) an int path or query parameter outside what the database holds, and any
    path or query text with a NUL character (PostgreSQL's text holds none: the driver raised, a 500)."""
    for name, value in request.path_params.items():
        _check(name, value)
        _no_nul(name, value)
    for name, value in request.query_params.multi_items():
        _no_nul(name, value)
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


def _bound_schema(name: str, schema: Any) -> None:
    if schema is None:
        return
    for alternative in schema.one_of or schema.any_of or ():
        _bound_schema(name, alternative)
    if getattr(schema.type, "value", schema.type) == "integer":
        schema.minimum, schema.maximum = PAGING.get(name, (ID_MIN, ID_MAX))


def declare_bounds(app: Any) -> Any:
    """Say the same bounds in the OpenAPI schema (minimum/maximum of every int path and query parameter), so that the
    schema tells a client what it will be refused. Builds the app's schema (cached by Litestar) and sets them on it;
    app.main does it at start-up. Returns the schema."""
    schema = app.openapi_schema
    for item in (schema.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            for parameter in (operation.parameters or []) if operation is not None else []:
                if getattr(parameter, "param_in", None) in ("path", "query"):
                    _bound_schema(parameter.name, parameter.schema)
            for response in (operation.responses or {}).values() if operation is not None else []:
                _http_date_headers(response)
    return schema


def _http_date_headers(response: Any) -> None:
    """A file's Last-Modified is an HTTP date (RFC 2822: "Fri, 04 Dec 2026 19:34:17 GMT"); Litestar documents it as
    a JSON-schema date-time, which it never is (schemathesis: the response header does not conform). Stated as what
    it is: a string, the format in words."""
    for name, header in (getattr(response, "headers", None) or {}).items():
        header_schema = getattr(header, "schema", None)
        if name.lower() == "last-modified" and getattr(header_schema, "format", None) is not None:
            header_schema.format = None
            header.description = "Last modified, an HTTP date (RFC 2822, GMT)"
