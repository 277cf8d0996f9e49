"""Marking messages for the translation catalog (app/locale): English msgids, translated where a person reads them.

A message written in a domain is English (the CLI and the API speak it); ``_l("…")`` marks it so Babel's extraction
(app/i18n_catalog.py) finds it, and returns it as a ``Msg`` — still the same ``str`` — so that whoever renders it for
a person (app/i18n.py, per request) knows it is a catalog entry to look up. kit/ imports no i18n library.
"""

from __future__ import annotations

from typing import Any


class Msg(str):
    """An English msgid of the catalog (a ``str``): rendered as is in English, looked up in the catalog otherwise."""

    __slots__ = ()


def _l(message: str) -> Msg:
    """Mark ``message`` for the catalog; placeholders are ``str.format`` fields (``{name}``), filled in after lookup."""
    return Msg(message)


def problem_fields(
    message: str,
    params: dict[str, Any] | None = None,
    *,
    hint: str | None = None,
    hint_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of a problem built from a catalog message and its parameters (RuleProblem.of, PackProblem.of): the
    English text filled in (``message``, ``hint``, what the CLI and the API read) and the msgids with their values
    as text (``template``, ``params``, ``hint_template``, ``hint_params``, what a page renders per language)."""
    shown = {k: str(v) for k, v in (params or {}).items()}
    hint_shown = {k: str(v) for k, v in (hint_params or {}).items()}
    return {
        "message": message.format(**shown) if shown else message,
        "hint": (hint.format(**hint_shown) if hint_shown else hint) if hint is not None else None,
        "template": message,
        "params": shown,
        "hint_template": hint,
        "hint_params": hint_shown,
    }


class FieldReasons(tuple):
    """(field, reason) pairs as a message parameter: ``field: reason; …`` in English; app/i18n.py names each field by
    its label and each reason (a catalog message, filled in English) in the reader's words."""

    __slots__ = ()

    def __str__(self) -> str:
        return "; ".join(f"{f}: {r}" for f, r in self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class AnyOf(tuple):
    """Alternatives as a message parameter: ``a or b`` in English; app/i18n.py joins them in the reader's words."""

    __slots__ = ()

    def __str__(self) -> str:
        return " or ".join(str(v) for v in self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class RequestProblems(FieldReasons):
    """A refused request body's (field, validator message) pairs: ``field: message; …`` in English; app/i18n.py shows
    each message (a catalog msgid raised by a validator, filled in English) in the reader's words."""

    __slots__ = ()
