"""Masking of personal data (DESIGN invariant 7): one rule per kind of datum, used by receipts, notices, pages,
exports and logs alike, so the same account or ID number looks the same wherever a person meets it.

- bank account: first four and last four, four stars between, whatever the length (6222****0011);
- ID number (and a USCC where one is masked): first three and last four (360***********1234);
- mobile number: first three and last four (138****5678);
- a person's name: the first and last character (张*明, 张*);
- a user name: a portal account's (its ID number or USCC) like an ID number, a staff name as it is.

Each returns "" for an empty value.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from typing import Any


def _compact(value: str) -> str:
    return re.sub(r"[\s-]", "", value)


def mask_account(account: str | None) -> str:
    """6222****0011: enough for the payee to recognise the account, not its length or enough to use it."""
    if not account:
        return ""
    s = _compact(str(account))
    if len(s) <= 8:
        return "****" + s[-2:] if len(s) > 4 else "****"
    return f"{s[:4]}****{s[-4:]}"


def mask_id_number(id_number: str | None) -> str:
    """360***********1234: the first three and last four characters of an ID number; all starred when short."""
    if not id_number:
        return ""
    s = _compact(str(id_number))
    if len(s) <= 7:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


_SUBJECT_LOGIN = re.compile(r"[0-9A-Z]{15,18}")


def mask_username(username: str | None) -> str:
    """A user name as a page shows it: a portal account is named by its subject's ID number or USCC, so such a name
    is masked like an ID number (360***********1234); a staff name (letters, '_', '.') is shown as it is."""
    if not username:
        return ""
    s = str(username)
    if _SUBJECT_LOGIN.fullmatch(s) and sum(c.isdigit() for c in s) >= 8:
        return mask_id_number(s)
    return s


def mask_phone(phone: str | None) -> str:
    """138****5678: the first three and last four digits of a mobile number."""
    if not phone:
        return ""
    p = _compact(str(phone))
    if p.startswith("+86"):
        p = p[3:]
    if len(p) <= 4:
        return "*" * len(p)
    if len(p) < 8:
        return "*" * (len(p) - 4) + p[-4:]
    return p[:3] + "*" * (len(p) - 7) + p[-4:]


def mask_name(name: str | None) -> str:
    """A person's name with the middle hidden: 张三明 → 张*明, 张三 → 张*, 欧阳小明 → 欧**明."""
    if not name:
        return ""
    s = name.strip()
    if len(s) <= 1:
        return s
    if len(s) == 2:
        return s[0] + "*"
    return s[0] + "*" * (len(s) - 2) + s[-1]


# Context keys whose values are personal data, and how each is masked before a notice is rendered or a log line is
# written. Matching is on the key name (lower-case, containing the fragment), so callers need no flag.
_SENSITIVE: tuple[tuple[str, Callable[[str | None], str]], ...] = (
    ("id_number", mask_id_number),
    ("id_no", mask_id_number),
    ("idcard", mask_id_number),
    ("account", mask_account),
    ("phone", mask_phone),
    ("mobile", mask_phone),
)


def masker_for(key: str) -> Callable[[str | None], str] | None:
    """The masking rule for a value stored under ``key``, or None when the key names no personal datum."""
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
        out[key] = fn(str(value)) if fn is not None and isinstance(value, (str, int)) and value != "" else value
    return out


# A run of 11 or more digits (a mobile, an ID number with its check character, a bank account) inside free text.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{10,}[\dXx](?![0-9A-Za-z])")
# A USCC (GB 32100-2015): 18 characters of digits and capitals, starting with its registration authority's digit or
# letter and mostly digits; masked like an ID number wherever free text carries one (an audit entry's entity id).
_USCC = re.compile(r"(?<![0-9A-Za-z])[0-9A-HJ-NP-RTUWXY][0-9][0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}(?![0-9A-Za-z])")


def scrub_text(text: str) -> str:
    """Free text (an error message, a log line) with every long number in it masked like an ID number, for places
    that cannot know which datum a number is: 'no profile 360102199207081233' → 'no profile 360***********1233'."""
    text = _LONG_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _USCC.sub(lambda m: mask_id_number(m.group(0)), text)


_log_masking_installed = False


def install_log_masking() -> None:
    """Mask long numbers (ID numbers, accounts, phones) in every log record this process writes, its message and the
    trace it carries alike: a message that names a profile, a driver's error quoting a value, arq's line for a job and
    its arguments. Done where records are made (the record factory), so every handler — uvicorn's, arq's, the CLI's,
    a test's — gets the masked text. Idempotent."""
    global _log_masking_installed
    if _log_masking_installed:
        return
    previous = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a record whose arguments do not fit its format is logging's to report
            return record
        record.msg, record.args = scrub_text(message), None
        if record.exc_info and record.exc_info[1] is not None:
            trace = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = scrub_text(trace)
        return record

    logging.setLogRecordFactory(masked_record)
    _log_masking_installed = True
