"""The one error body every refusal is answered with, and the OpenAPI responses that describe it."""

from __future__ import annotations

from typing import Any

from litestar.openapi import ResponseSpec
from pydantic import BaseModel, Field


class ErrorRead(BaseModel):
    """A refusal or failure: ``error`` in words for the person who reads it, ``detail`` structured when there is
    more (the problems of a refused pack, the rows of a refused upload…)."""

    error: str = Field(description="what went wrong, for a person")
    detail: Any = Field(default=None, description="structured detail, when the refusal has any")


# What each status means on this API (kit/errors.py): the description of its response.
MEANING = {
    400: "the request is not valid: a malformed body or parameter, or a refusal without a more specific status",
    401: "not logged in, or the session (or the data-exchange API key) is not valid",
    403: "not allowed: the role, another subject's record, or a four-eyes rule",
    404: "no such record",
    409: "the record is not in a state that allows this, or it collides with a stored one",
    413: "the request is larger than allowed",
    422: "the input is well-formed but refused; its problems are in detail",
    429: "too many attempts; try again later",
    500: "an error of ours; it has been logged",
    502: "the bank answered, but not with something usable",
    503: "the bank (or the audit trail) cannot be used now; trying later may work",
}
BANK = (502, 503)


def errors(*statuses: int, guarded: bool = True) -> dict[int, ResponseSpec]:
    """The error responses of an operation, every one an ErrorRead: 400 (Litestar's own request validation, which
    would otherwise be documented with its own body) and 500 always; 401 and 403 for a guarded route; and
    ``statuses``, what its handler and services can refuse with."""
    codes = {400, 500, *statuses}
    if guarded:
        codes |= {401, 403}
    return {
        code: ResponseSpec(data_container=ErrorRead, description=MEANING[code], generate_examples=False)
        for code in sorted(codes)
    }
