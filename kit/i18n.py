"""Marking messages for the translation catalog (app/locale): English msgids, translated where a person reads them.

A message written in a domain is English (the CLI and the API speak it); ``_l("…")`` marks it so Babel's extraction
(app/i18n_catalog.py) finds it, and returns it as a ``Msg`` — still the same ``str`` — so that whoever renders it for
a person (app/i18n.py, per request) knows it is a catalog entry to look up. kit/ imports no i18n library.
"""

from __future__ import annotations


class Msg(str):
    """An English msgid of the catalog (a ``str``): rendered as is in English, looked up in the catalog otherwise."""

    __slots__ = ()


def _l(message: str) -> Msg:
    """Mark ``message`` for the catalog; placeholders are ``str.format`` fields (``{name}``), filled in after lookup."""
    return Msg(message)


class AnyOf(tuple):
    """Alternatives as a message parameter: ``a or b`` in English; app/i18n.py joins them in the reader's words."""

    __slots__ = ()

    def __str__(self) -> str:
        return " or ".join(str(v) for v in self)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)
