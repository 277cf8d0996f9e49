"""Masking of personal data (DESIGN invariant 7) for notices, logs and the UI; other domains reuse these.

Each helper keeps just enough for the owner to recognise the value and returns "" for an empty value.
"""

from __future__ import annotations

import re
from typing import Any


def _digits_and_letters(value: str) -> str:
    return re.sub(r"[\s-]", "", value)


def mask_phone(phone: str | None) -> str:
    """138****5678: the first three and last four digits of a mobile number."""
    if not phone:
        return ""
    p = _digits_and_letters(str(phone))
    if p.startswith("+86"):
        p = p[3:]
    if len(p) <= 4:
        return "*" * len(p)
    if len(p) < 8:
        return "*" * (len(p) - 4) + p[-4:]
    return p[:3] + "*" * (len(p) - 7) + p[-4:]


def mask_account(account: str | None) -> str:
    """****0123: only the last four digits of a bank account (as elsewhere on the platform)."""
    if not account:
        return ""
    a = _digits_and_letters(str(account))
    if len(a) <= 4:
        return "*" * len(a)
    return "****" + a[-4:]


def mask_id_number(id_number: str | None) -> str:
    """3601**********1234: region prefix and last four of an 18-character ID number (or a USCC)."""
    if not id_number:
        return ""
    s = _digits_and_letters(str(id_number))
    if len(s) <= 8:
        return s[:1] + "*" * (len(s) - 1) if len(s) > 1 else "*"
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


# Context keys whose values are personal data, and how each is masked before a notice is rendered or
# stored. Matching is on the key name (lower-case, containing the fragment), so callers need no flag.
_SENSITIVE = (
    ("id_number", mask_id_number),
    ("id_no", mask_id_number),
    ("idcard", mask_id_number),
    ("account", mask_account),
    ("phone", mask_phone),
    ("mobile", mask_phone),
)


def masker_for(key: str):
    k = key.lower()
    if k.endswith(("_masked", "_name", "account_name", "account_bank")) or k in ("bank_name",):
        return None
    for fragment, fn in _SENSITIVE:
        if fragment in k:
            return fn
    return None


def mask_context(context: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``context`` with every personal-data value masked (nested dicts too)."""
    out: dict[str, Any] = {}
    for key, value in context.items():
        if isinstance(value, dict):
            out[key] = mask_context(value)
            continue
        fn = masker_for(str(key))
        out[key] = fn(value) if fn is not None and isinstance(value, (str, int)) and value != "" else value
    return out
