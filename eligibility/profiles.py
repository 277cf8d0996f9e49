"""Profile validation (profiles.md): identifiers' check characters, types, enums, and the canonical digest."""

from __future__ import annotations

import datetime as dt
import hashlib
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from eligibility.errors import ProfileInvalid
from eligibility.fields import BOOL, DATE, ENUM, FIELDS, INT, LIST, MONEY, SUBJECT_ID, Field
from eligibility.store import columns, from_row, to_row
from kit.money import format_yuan, yuan_to_fen
from kit.time import china_today
from kit.vocab import SubjectKind

# GB 32100-2015: 18 characters from this 31-letter alphabet; the last one is a MOD 31 check character.
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_SET = frozenset(USCC_ALPHABET)
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_REGION = re.compile(r"^[0-9]{6}$")
_INDUSTRY = re.compile(r"^[A-T][0-9]{0,4}$")
_ACCOUNT = re.compile(r"^[0-9]{8,32}$")
_MONEY = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")
_CENT = Decimal("0.01")
_TRUE = {"true", "1", "是", "True", "TRUE"}
_FALSE = {"false", "0", "否", "False", "FALSE"}


def uscc_check_char(first17: str) -> str:
    total = sum(map(operator.mul, map(_USCC_VALUE.__getitem__, first17[:17]), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


# The USCC fast path: the alphabet's characters as their values (bytes.translate), and every other byte, to find.
_USCC_TO_VALUE = bytes.maketrans(USCC_ALPHABET.encode(), bytes(range(31)))
_NOT_USCC = bytes(b for b in range(128) if chr(b) not in _USCC_SET)


def uscc_problem(value: str) -> str | None:
    """Why ``value`` is not a valid USCC, or None."""
    if len(value) == 18 and value.isascii():  # the usual valid case in C-level byte operations; else the reason below
        raw = value.encode()
        if (
            len(raw.translate(None, _NOT_USCC)) == 18
            and value[17]
            == USCC_ALPHABET[(31 - sum(map(operator.mul, raw.translate(_USCC_TO_VALUE), _USCC_WEIGHTS)) % 31) % 31]
        ):
            return None
    if len(value) != 18:
        return f"must be 18 characters, got {len(value)}"
    if not _USCC_SET.issuperset(value):
        bad = [c for c in value if c not in _USCC_VALUE]
        return f"character {bad[0]!r} is not allowed in a USCC (GB 32100-2015)"
    want = uscc_check_char(value[:17])
    if value[17] != want:
        return f"check character is {value[17]!r}, should be {want!r}"
    return None


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def birth_date_of(id_number: str) -> dt.date:
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid resident ID number (GB 11643), or None."""
    if len(value) != 18:
        return f"must be 18 characters, got {len(value)}"
    if not value[:17].isdigit() or not value[:17].isascii() or value[17] not in "0123456789X":
        return "must be 17 digits and a digit or X"
    try:
        born = birth_date_of(value)
    except ValueError:
        return f"birth date {value[6:14]} is not a valid date"
    if born.year < 1900:
        return f"birth date {born.isoformat()} is before 1900"
    want = id_check_char(value[:17])
    if value[17] != want:
        return f"check character is {value[17]!r}, should be {want!r}"
    return None


class _Bad(Exception):
    pass


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return str(v)
    raise _Bad(f"must be text, got {type(v).__name__}")


# Whole numbers and fen are stored as 64-bit integers (BIGINT): a larger value is refused here with a reason,
# instead of failing the whole import when the database cannot store it.
STORED_MAX = 2**63 - 1
_TOO_LARGE_INT = f"is too large to store (at most {STORED_MAX:,})"
_TOO_LARGE_MONEY = f"is too large to store (at most {format_yuan(STORED_MAX)} yuan)"


def _parse_int(v: Any) -> int:
    if type(v) is str and v.isascii() and v.isdigit() and len(v) < 19:
        return int(v)
    if isinstance(v, bool):
        raise _Bad("must be a whole number")
    if isinstance(v, int):
        n = v
    else:
        s = _text(v)
        if not s.lstrip("-").isdigit():
            raise _Bad(f"must be a whole number, got {s!r}")
        if len(s.lstrip("-").lstrip("0")) > 19:  # beyond any stored value (and Python's int-from-text limit)
            raise _Bad("must be >= 0" if s.startswith("-") else _TOO_LARGE_INT)
        n = int(s)
    if n < 0:
        raise _Bad("must be >= 0")
    if n > STORED_MAX:
        raise _Bad(_TOO_LARGE_INT)
    return n


def _storable(d: Decimal) -> Decimal:
    """``d`` (finite), refused when its fen would not fit the stored BIGINT; checked before any rounding, which
    fails beyond Decimal's 28-digit precision."""
    if d and (d.adjusted() > 16 or d * 100 > STORED_MAX):
        raise _Bad(_TOO_LARGE_MONEY)
    return d


def _parse_money(v: Any) -> Decimal:
    if type(v) is str and _MONEY.match(v):
        return _storable(Decimal(v)).quantize(_CENT)
    if isinstance(v, bool):
        raise _Bad("must be an amount in yuan")
    if isinstance(v, float):
        v = repr(v)  # YAML/JSON numbers: their shortest text, never the binary value
    if isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, Decimal):
        d = v
        if not d.is_finite() or (d.adjusted() <= 16 and d != d.quantize(_CENT)):
            raise _Bad("must be decimal yuan with at most 2 decimals")
    else:
        s = _text(v)
        if not _MONEY.match(s):
            if s.startswith("-"):
                raise _Bad("must be >= 0")
            raise _Bad(f"must be decimal yuan with at most 2 decimals, got {s!r}")
        d = Decimal(s)
    if d < 0:
        raise _Bad("must be >= 0")
    return _storable(d).quantize(_CENT)


_BOOLS = {**{t: True for t in _TRUE}, **{f: False for f in _FALSE}}


def _parse_bool(v: Any) -> bool:
    if type(v) is str and v in _BOOLS:
        return _BOOLS[v]
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    s = _text(v)
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise _Bad(f"must be true/false, 1/0 or 是/否, got {s!r}")


def _parse_date(v: Any) -> dt.date:
    if type(v) is str and len(v) == 10 and v[4] == "-" and v[7] == "-":
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            pass
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    s = _text(v)
    try:
        if len(s) != 10:
            raise ValueError
        return dt.date.fromisoformat(s)
    except ValueError:
        raise _Bad(f"must be a date YYYY-MM-DD, got {s!r}") from None


def _parse_list(v: Any) -> tuple[str, ...] | None:
    if isinstance(v, (list, tuple)):
        items = [_text(x) for x in v]
    else:
        items = _text(v).split(";")
    items = [x.strip() for x in items if x.strip()]
    for x in items:
        if ";" in x:
            raise _Bad("a tag cannot contain ';'")
    return tuple(items) if items else None


def _parser(f: Field) -> Callable[[Any], Any]:
    if f.type == INT:
        return _parse_int
    if f.type == MONEY:
        return _parse_money
    if f.type == BOOL:
        return _parse_bool
    if f.type == DATE:
        return _parse_date
    if f.type == LIST:
        return _parse_list
    if f.type == ENUM:
        choices = frozenset(f.choices)
        listed = ", ".join(f.choices)

        def enum(v: Any) -> str:
            if type(v) is str and v in choices:
                return v
            s = _text(v)
            if s not in choices:
                raise _Bad(f"must be one of {listed}, got {s!r}")
            return s

        return enum
    checks: dict[str, Callable[[str], str | None]] = {
        "uscc": uscc_problem,
        "employer_uscc": uscc_problem,
        "id_number": id_number_problem,
        "region_code": lambda s: None if _REGION.match(s) else f"must be 6 digits, got {s!r}",
        "industry_code": lambda s: (
            None if _INDUSTRY.match(s) else f"must be a section letter and 0-4 digits (GB/T 4754), got {s!r}"
        ),
        "bank_account": lambda s: None if _ACCOUNT.match(s) else "must be 8-32 digits",
    }
    check = checks.get(f.name)

    def string(v: Any) -> str:
        s = v.strip() if type(v) is str else _text(v)
        if not s:
            raise _Bad("must not be empty")
        if check is not None:
            problem = check(s)
            if problem:
                raise _Bad(problem)
        return s

    return string


def _money_fen(v: Any) -> int:
    if type(v) is str:  # _MONEY's test in str methods (a third faster than the regular expression)
        whole, dot, frac = v.partition(".")
        if whole.isdigit() and whole.isascii() and len(whole) < 17:  # longer: checked against STORED_MAX below
            if not dot:
                return int(whole) * 100
            if 0 < len(frac) <= 2 and frac.isdigit() and frac.isascii():
                return int(whole) * 100 + int(frac) * (10 if len(frac) == 1 else 1)
    return yuan_to_fen(_parse_money(v))


def _date_ymd(v: Any) -> int:
    d = _parse_date(v)
    return d.year * 10000 + d.month * 100 + d.day


def _tags_text(v: Any) -> str | None:
    if type(v) is str and " " not in v and ";;" not in v and v[0] != ";" and v[-1] != ";":
        return ";" + v + ";"
    tags = _parse_list(v)
    return ";" + ";".join(tags) + ";" if tags else None


def _stored_parser(f: Field) -> Callable[[Any], Any]:
    """The parser of a field returning its stored form (fen, YYYYMMDD, ';a;b;')."""
    if f.type == MONEY:
        return _money_fen
    if f.type == DATE:
        return _date_ymd
    if f.type == LIST:
        return _tags_text
    return _parser(f)


_PARSERS: dict[str, list[tuple[str, bool, Callable[[Any], Any]]]] = {
    kind: [(f.name, f.required, _stored_parser(f)) for f in fields] for kind, fields in FIELDS.items()
}


def field_names(kind: str) -> list[str]:
    """The contract fields of ``kind`` in the order validate_values takes them."""
    return [name for name, _, _ in _PARSERS[kind]]


def validate_row(kind: str, raw: dict, *, partial: bool = False, today: dt.date | None = None) -> list:
    """Validate ``raw`` (CSV strings or JSON/YAML values) into stored column values (the order of
    ``store.columns(kind)``; talents end with the birth date). Raises ProfileInvalid with every problem."""
    parsers = _PARSERS.get(kind)
    if parsers is None:
        raise ProfileInvalid([("kind", f"must be enterprise or talent, got {kind!r}")])
    get = raw.get
    return validate_values(kind, [get(name) for name, _, _ in parsers], partial=partial, today=today)


def validate_values(kind: str, values, *, partial: bool = False, today: dt.date | None = None) -> list:
    """validate_row for the values of ``field_names(kind)`` in that order (None or "" where missing): the import's
    path, which reads each CSV row's cells by position instead of building a dict."""
    out: list = []
    append = out.append
    problems: list[tuple[str, str]] = []
    for (name, required, parse), v in zip(_PARSERS[kind], values):
        if v is not None and v != "":
            try:
                append(parse(v))
                continue
            except _Bad as exc:
                if type(v) is not str or v.strip():
                    problems.append((name, str(exc)))
                    append(None)
                    continue
        # missing: absent, null, or an empty (or blank) cell
        if required and not partial:
            problems.append((name, "required value is missing"))
        append(None)
    if kind == SubjectKind.ENTERPRISE:
        founded = out[5]
        if founded is not None:
            t = today or china_today()
            if founded > t.year * 10000 + t.month * 100 + t.day:
                problems.append(
                    (
                        "founded_on",
                        f"{founded // 10000:04d}-{founded // 100 % 100:02d}-{founded % 100:02d} is in the future",
                    )
                )
    else:
        idn = out[0]
        append(int(idn[6:14]) if idn else None)
    if problems:
        raise ProfileInvalid(problems)
    return out


def normalize_profile(kind: str, raw: dict, *, partial: bool = False, today: dt.date | None = None) -> dict:
    """Validate ``raw`` (CSV strings or JSON/YAML values) and return the stored form: str, int,
    Decimal yuan, bool, date, tuple of tags, None for a missing value. For talents also ``birth_date``.

    ``partial`` lets required fields be missing (policy test profiles). Raises ProfileInvalid listing
    every problem."""
    row = validate_row(kind, raw, partial=partial, today=today)
    return from_row(kind, dict(zip(columns(kind), row)))


def subject_id(kind: str, profile: dict) -> str | None:
    return profile.get(SUBJECT_ID[kind])


def profile_digest(kind: str, profile: dict) -> str:
    """SHA-256 of the profile's contract fields in their stored form: equal data, equal digest."""
    return row_digest(to_row(kind, profile))


def row_digest(row: list) -> str:
    """SHA-256 of stored column values (ints, text, bools, None): cheap, and canonical for equal data."""
    return hashlib.sha256(repr(tuple(row)).encode()).hexdigest()
