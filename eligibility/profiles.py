"""Profile validation (profiles.md): identifiers' check characters, types, enums, and the canonical digest."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from eligibility.errors import ProfileInvalid
from eligibility.fields import BOOL, DATE, ENUM, FIELDS, INT, LIST, MONEY, SUBJECT_ID, TAGS_MAX, Field, rule_fields
from eligibility.store import columns, from_row, to_row
from kit.i18n import _l
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
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Never part of a one-line text value: control characters (NUL, newlines, tabs), lone surrogates (which PostgreSQL
# cannot store), line/paragraph separators, bidirectional overrides (text that displays unlike what it stores),
# the BOM and U+FFFD (what is left of a character decoded with the wrong encoding), and the non-characters.
_BAD_TEXT = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff\ufffd\ufffe\uffff\ud800-\udfff]"
)
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
        return _l("must be 18 characters, got {n}").format(n=len(value))
    if not _USCC_SET.issuperset(value):
        bad = [c for c in value if c not in _USCC_VALUE]
        return _l("character {char} is not allowed in a USCC (GB 32100-2015)").format(char=repr(bad[0]))
    want = uscc_check_char(value[:17])
    if value[17] != want:
        return _l("check character is {got}, should be {want}").format(got=repr(value[17]), want=repr(want))
    return None


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS)) % 11]


def birth_date_of(id_number: str) -> dt.date:
    return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))


def id_number_problem(value: str) -> str | None:
    """Why ``value`` is not a valid resident ID number (GB 11643), or None."""
    if len(value) != 18:
        return _l("must be 18 characters, got {n}").format(n=len(value))
    if not value[:17].isdigit() or not value[:17].isascii() or value[17] not in "0123456789X":
        return _l("must be 17 digits and a digit or X")
    try:
        born = birth_date_of(value)
    except ValueError:
        return _l("birth date {date} is not a valid date").format(date=value[6:14])
    if born.year < 1900:
        return _l("birth date {date} is before 1900").format(date=born.isoformat())
    want = id_check_char(value[:17])
    if value[17] != want:
        return _l("check character is {got}, should be {want}").format(got=repr(value[17]), want=repr(want))
    return None


class _Bad(Exception):
    pass


def _shown(s: str) -> str:
    """``s`` quoted for a reason: a runaway value is cut, so a rejects file stays readable."""
    return repr(s) if len(s) <= 40 else f"{s[:30]!r}… ({len(s):,} characters)"


def _bad_text(s: str, limit: int) -> str | None:
    """Why free text ``s`` cannot be stored as a one-line value, or None."""
    if limit and len(s) > limit:
        return _l("is {n} characters long, at most {max} are allowed").format(n=f"{len(s):,}", max=limit)
    bad = _BAD_TEXT.search(s)
    if bad is not None:
        c = bad.group()
        if c in "\r\n\u2028\u2029":
            message = _l("contains a line break at character {at}: a one-line text of printable characters is expected")
        elif c == "\x00":
            message = _l("contains a NUL byte at character {at}: a one-line text of printable characters is expected")
        elif c == "\ufffd":
            message = _l(
                "contains U+FFFD (a character lost to a wrong encoding) at character {at}: "
                "a one-line text of printable characters is expected"
            )
        else:
            message = _l(
                "contains the character {code} at character {at}: a one-line text of printable characters is expected"
            )
        return message.format(at=bad.start() + 1, code=f"U+{ord(c):04X}")
    return None


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, (int, Decimal)) and not isinstance(v, bool):
        return str(v)
    raise _Bad(_l("must be text, got {type_name}").format(type_name=type(v).__name__))


# Whole numbers and fen are stored as 64-bit integers (BIGINT): a larger value is refused here with a reason,
# instead of failing the whole import when the database cannot store it.
STORED_MAX = 2**63 - 1
_TOO_LARGE_INT = _l("is too large to store (at most {max})").format(max=f"{STORED_MAX:,}")
_TOO_LARGE_MONEY = _l("is too large to store (at most {max} yuan)").format(max=format_yuan(STORED_MAX))


def _parse_int(v: Any) -> int:
    if type(v) is str and v.isascii() and v.isdigit() and len(v) < 19:
        return int(v)
    if isinstance(v, bool):
        raise _Bad(_l("must be a whole number"))
    if isinstance(v, int):
        n = v
    else:
        s = _text(v)
        digits = s[1:] if s.startswith("-") else s
        if not (digits.isdigit() and digits.isascii()):
            raise _Bad(_l("must be a whole number in digits 0-9, got {value}").format(value=_shown(s)))
        if len(s.lstrip("-").lstrip("0")) > 19:  # beyond any stored value (and Python's int-from-text limit)
            raise _Bad(_l("must be >= 0") if s.startswith("-") else _TOO_LARGE_INT)
        n = int(s)
    if n < 0:
        raise _Bad(_l("must be >= 0"))
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
    if type(v) is str and _MONEY.fullmatch(v):
        return _storable(Decimal(v)).quantize(_CENT)
    if isinstance(v, bool):
        raise _Bad(_l("must be an amount in yuan"))
    if isinstance(v, float):
        v = repr(v)  # YAML/JSON numbers: their shortest text, never the binary value
    if isinstance(v, int):
        d = Decimal(v)
    elif isinstance(v, Decimal):
        d = v
        if not d.is_finite() or (d.adjusted() <= 16 and d != d.quantize(_CENT)):
            raise _Bad(_l("must be decimal yuan with at most 2 decimals"))
    else:
        s = _text(v)
        if not _MONEY.fullmatch(s):
            if s.startswith("-"):
                raise _Bad(_l("must be >= 0"))
            raise _Bad(_l("must be decimal yuan with at most 2 decimals, got {value}").format(value=_shown(s)))
        d = Decimal(s)
    if d < 0:
        raise _Bad(_l("must be >= 0"))
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
    raise _Bad(_l("must be true/false, 1/0 or 是/否, got {value}").format(value=_shown(s)))


def _parse_date(v: Any) -> dt.date:
    if type(v) is str and len(v) == 10 and _DATE.fullmatch(v):
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
        if not _DATE.fullmatch(s):  # fromisoformat alone also takes 2024-W01-1 and other ISO forms
            raise ValueError
        return dt.date.fromisoformat(s)
    except ValueError:
        raise _Bad(_l("must be a date YYYY-MM-DD, got {value}").format(value=_shown(s))) from None


def _parse_list(v: Any, limit: int = 0) -> tuple[str, ...] | None:
    if isinstance(v, (list, tuple)):
        items = [_text(x) for x in v]
    else:
        items = _text(v).split(";")
    items = [x.strip() for x in items if x.strip()]
    if len(items) > TAGS_MAX:
        raise _Bad(_l("has {n} tags, at most {max} are allowed").format(n=f"{len(items):,}", max=TAGS_MAX))
    for i, x in enumerate(items, 1):
        if ";" in x:
            raise _Bad(_l("a tag cannot contain ';'"))
        problem = _bad_text(x, limit)
        if problem:
            raise _Bad(_l("tag {i} {problem}").format(i=i, problem=problem))
    return tuple(items) if items else None


def _parser(f: Field) -> Callable[[Any], Any]:
    plain = {INT: _parse_int, MONEY: _parse_money, BOOL: _parse_bool, DATE: _parse_date}.get(f.type)
    if plain is not None:
        return plain
    if f.type == LIST:
        return lambda v: _parse_list(v, f.max_length)
    if f.type == ENUM:
        choices = frozenset(f.choices)
        listed = ", ".join(f.choices)

        def enum(v: Any) -> str:
            if type(v) is str and v in choices:
                return v
            s = _text(v)
            if s not in choices:
                raise _Bad(_l("must be one of {choices}, got {value}").format(choices=listed, value=_shown(s)))
            return s

        return enum
    checks: dict[str, Callable[[str], str | None]] = {
        "uscc": uscc_problem,
        "employer_uscc": uscc_problem,
        "id_number": id_number_problem,
        "region_code": lambda s: (
            None if _REGION.fullmatch(s) else _l("must be 6 digits, got {value}").format(value=_shown(s))
        ),
        "industry_code": lambda s: (
            None
            if _INDUSTRY.fullmatch(s)
            else _l("must be a section letter and 0-4 digits (GB/T 4754), got {value}").format(value=_shown(s))
        ),
    }
    if f.name == "bank_account":
        return _account
    check = checks.get(f.name)
    limit = f.max_length

    def string(v: Any) -> str:
        s = v.strip() if type(v) is str else _text(v)
        if not s:
            raise _Bad(_l("must not be empty"))
        problem = check(s) if check is not None else _bad_text(s, limit)
        if problem:
            raise _Bad(problem)
        return s

    return string


def _account(v: Any) -> str:
    """An account number: ASCII digits, 8-32 of them once the spaces that group them are removed. A full-width
    １２３ is refused, never stored as text that looks like 123 but matches no bank's record."""
    s = (v.strip() if type(v) is str else _text(v)).replace(" ", "")
    if s.isdigit() and s.isascii() and 8 <= len(s) <= 32:
        return s
    if not s:
        raise _Bad(_l("must not be empty"))
    odd = next((c for c in s if not "0" <= c <= "9"), None)
    if odd is None:
        raise _Bad(_l("must be 8-32 digits, got {n}").format(n=f"{len(s):,}"))
    if odd.isdigit():
        raise _Bad(
            _l("must be 8-32 digits 0-9 (ASCII): {char} ({code}) is a full-width or other digit").format(
                char=repr(odd), code=f"U+{ord(odd):04X}"
            )
        )
    raise _Bad(_l("must be 8-32 digits, got the character {char}").format(char=repr(odd)))


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


def _tags_text(v: Any, limit: int) -> str | None:
    # The fast path: a short clean cell is one or more tags within the bounds.
    if (
        type(v) is str
        and len(v) <= limit
        and " " not in v
        and ";;" not in v
        and v[0] != ";"
        and v[-1] != ";"
        and not _BAD_TEXT.search(v)
    ):
        return ";" + v + ";"
    tags = _parse_list(v, limit)
    return ";" + ";".join(tags) + ";" if tags else None


def _stored_parser(f: Field) -> Callable[[Any], Any]:
    """The parser of a field returning its stored form (fen, YYYYMMDD, ';a;b;')."""
    if f.type == LIST:
        return lambda v: _tags_text(v, f.max_length)
    return {MONEY: _money_fen, DATE: _date_ymd}.get(f.type) or _parser(f)


_PARSERS: dict[str, list[tuple[str, bool, Callable[[Any], Any]]]] = {
    kind: [(f.name, f.required, _stored_parser(f)) for f in fields] for kind, fields in FIELDS.items()
}


def field_names(kind: str) -> list[str]:
    """The contract fields of ``kind`` in the order validate_values takes them."""
    return [name for name, _, _ in _PARSERS[kind]]


def unknown_fields(kind: str, names) -> list[tuple[str, str]]:
    """(name, reason) for each of ``names`` (CSV columns, JSON keys) that is not a field of ``kind``: a misspelt
    optional field would otherwise be ignored, and its value lost without a word."""
    known = field_names(kind)
    out = []
    for name in names:
        if name in known:
            continue
        if not name:
            out.append((name, "a column without a name"))
            continue
        close = difflib.get_close_matches(name.strip().lower(), known, n=1, cutoff=0.6)
        if name in rule_fields(kind):
            hint = f"{name!r} is derived from other fields, not imported"
        elif close:
            hint = f"did you mean {close[0]!r}?"
        else:
            hint = "the fields are " + ", ".join(known)
        out.append((name, f"{_shown(name)} is not a field of {kind} profiles (profiles.md): {hint}"))
    return out


def validate_row(kind: str, raw: dict, *, partial: bool = False, today: dt.date | None = None) -> list:
    """Validate ``raw`` (CSV strings or JSON/YAML values) into stored column values (the order of
    ``store.columns(kind)``; talents end with the birth date). Raises ProfileInvalid with every problem."""
    parsers = _PARSERS.get(kind)
    if parsers is None:
        raise ProfileInvalid([("kind", _l("must be enterprise or talent, got {value}").format(value=repr(kind)))])
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
            problems.append((name, _l("required value is missing")))
        append(None)
    if kind == SubjectKind.ENTERPRISE:
        founded = out[5]
        if founded is not None:
            t = today or china_today()
            if founded > t.year * 10000 + t.month * 100 + t.day:
                problems.append(
                    (
                        "founded_on",
                        _l("{date} is in the future").format(
                            date=f"{founded // 10000:04d}-{founded // 100 % 100:02d}-{founded % 100:02d}"
                        ),
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
