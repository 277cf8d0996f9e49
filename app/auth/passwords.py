"""The password policy: a staff password has at least 12 characters and is not a common one (the 10,000 most common
passwords of common_passwords.txt, also with digits or symbols around them, e.g. ``Password2025!``), nor the user
name; enterprise and talent passwords at least 8 characters."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from kit.errors import Invalid
from kit.i18n import _l
from kit.vocab import SUBJECT_ROLES

STAFF_MIN_LENGTH = 12
SUBJECT_MIN_LENGTH = 8
_LIST = Path(__file__).with_name("common_passwords.txt")


class WeakPassword(Invalid):
    """A password the policy refuses; the message says which rule."""


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _core(password: str) -> str:
    """The password without the digits and symbols people put before and after a word: "Dragon123!" → "dragon"."""
    text = password.lower()
    start, end = 0, len(text)
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return text[start:end]


def check_password(password: str, *, username: str = "", role: str = "") -> None:
    """Refuse (WeakPassword) a password the policy does not allow for ``role``."""
    if role in SUBJECT_ROLES:
        if len(password) < SUBJECT_MIN_LENGTH:
            raise WeakPassword(
                _l("密码至少 {SUBJECT_MIN_LENGTH} 个字符 / a password has at least {SUBJECT_MIN_LENGTH} characters"),
                SUBJECT_MIN_LENGTH=SUBJECT_MIN_LENGTH,
            )
        return
    if len(password) < STAFF_MIN_LENGTH:
        raise WeakPassword(
            _l(
                "工作人员密码至少 {STAFF_MIN_LENGTH} 个字符 / a staff password has at least {STAFF_MIN_LENGTH} characters"
            ),
            STAFF_MIN_LENGTH=STAFF_MIN_LENGTH,
        )
    lowered, common = password.lower(), common_passwords()
    if lowered in common or (len(_core(password)) >= 3 and _core(password) in common) or len(set(lowered)) < 4:
        raise WeakPassword(_l("这是常见密码，请换一个 / this is a common password: choose another"))
    if username and len(username) >= 3 and username.lower() in lowered:
        raise WeakPassword(_l("密码不能包含用户名 / a password must not contain the user name"))
