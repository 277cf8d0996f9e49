"""Profile storage below the ORM: the column of each field, row <-> profile conversion, bulk upsert."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from eligibility.fields import BOOL, DATE, FIELDS, LIST, MONEY, SUBJECT_ID
from eligibility.tables import EnterpriseProfile, EnterpriseProfileVersion, TalentProfile, TalentProfileVersion
from kit.money import fen_to_yuan, yuan_to_fen
from kit.vocab import SubjectKind

TABLES = {SubjectKind.ENTERPRISE: EnterpriseProfile, SubjectKind.TALENT: TalentProfile}
# The previous versions of each kind's profiles (eligibility/history.py).
VERSIONS = {SubjectKind.ENTERPRISE: EnterpriseProfileVersion, SubjectKind.TALENT: TalentProfileVersion}
# Written with every version of a profile after its field columns: the upsert's and the COPY's column tail.
TAIL = ["digest", "updated_at", "feed"]
# Page cache of the SQLite connections that import or match (they touch every profile): 256 MiB, in SQLite's
# negative-KiB form.
SQLITE_CACHE_KIB = -262144
# The matcher's SQLite connections (a CLI `zhida match` holds two: the scan and the write transaction): 32 MiB of
# page cache each and no memory-mapped file. Issue 19, 1M profiles, a policy matching 682k, nothing new: with
# 256 MiB and a 4 GiB map the process peaked at 1.27 GB RSS (the mapped pages count in it), with neither 203 MB,
# the CSV the same (docs/benchmarks.md); the scans read the file through the OS page cache either way.
SQLITE_MATCH_CACHE_KIB = -32768
# SQLite: the columns rules read, in one index per profile table led by the id (so it grows at its end as profiles
# are imported), fixed-width columns first (SQLite decodes a record's columns in order). The matcher scans this
# index instead of the table: a third of the bytes per profile, and the table row is read only for the matches.
# Kept in step with the table by SQLite itself. The migration that creates it holds its own copy of these lists.
RULE_INDEX = {
    SubjectKind.ENTERPRISE: (
        "eligibility_enterprise_rules",
        [
            "id",
            "blacklisted",
            "high_tech",
            "employees",
            "new_graduate_hires",
            "founded_on_ymd",
            "revenue_fen",
            "tax_paid_fen",
            "rd_expense_fen",
            "unemployment_insurance_paid_fen",
            "credit_rating",
            "scale",
            "specialized",
            "region_code",
            "industry_code",
            "tags",
        ],
    ),
    SubjectKind.TALENT: (
        "eligibility_talent_rules",
        [
            "id",
            "social_insurance_months",
            "birth_on_ymd",
            "graduated_on_ymd",
            "arrived_on_ymd",
            "education",
            "title",
            "region_code",
            "employer_uscc",
            "tags",
        ],
    ),
}


def column_of(kind: str, field: str) -> str:
    """The typed column holding a contract field (the subject id is `subject_id`)."""
    if field == SUBJECT_ID[kind]:
        return "subject_id"
    if field == "birth_date":
        return "birth_on_ymd"
    f = next((f for f in FIELDS[kind] if f.name == field), None)
    if f is None:
        raise KeyError(field)
    if f.type == MONEY:
        return f"{field}_fen"
    if f.type == DATE:
        return f"{field}_ymd"
    return field


def _extra_fields(kind: str) -> list[str]:
    return ["birth_date"] if kind == SubjectKind.TALENT else []


def columns(kind: str) -> list[str]:
    return [column_of(kind, f.name) for f in FIELDS[kind]] + [column_of(kind, x) for x in _extra_fields(kind)]


def bool_positions(kind: str) -> list[int]:
    """Where the yes/no fields are in a stored row (the order of ``columns``)."""
    return [i for i, f in enumerate(FIELDS[kind]) if f.type == BOOL]


def ymd(d: dt.date | None) -> int | None:
    return None if d is None else d.year * 10000 + d.month * 100 + d.day


def from_ymd(n: int | None) -> dt.date | None:
    return None if n is None else dt.date(n // 10000, n // 100 % 100, n % 100)


def fen(d: Decimal | None) -> int | None:
    # A profile's money was validated to at most 2 decimals: converted exactly, and anything else (a float, a
    # third decimal) refused rather than truncated.
    return None if d is None else yuan_to_fen(d)


def tags_text(tags: tuple[str, ...] | None) -> str | None:
    return None if not tags else ";" + ";".join(tags) + ";"


def _encoders(kind: str):
    out = []
    for f in FIELDS[kind]:
        if f.type == MONEY:
            out.append((f.name, fen))
        elif f.type == DATE:
            out.append((f.name, ymd))
        elif f.type == LIST:
            out.append((f.name, tags_text))
        else:
            out.append((f.name, None))
    if kind == SubjectKind.TALENT:
        out.append(("birth_date", ymd))
    return out


_ENC = {k: _encoders(k) for k in FIELDS}


def to_row(kind: str, profile: dict) -> list[Any]:
    """Column values (in ``columns(kind)`` order) of a normalized profile."""
    return [profile.get(name) if enc is None else enc(profile.get(name)) for name, enc in _ENC[kind]]


def _dec_date(v: Any) -> dt.date:
    v = int(v)
    return dt.date(v // 10000, v // 100 % 100, v % 100)


def _dec_tags(v: str) -> tuple[str, ...] | None:
    return tuple(t for t in v.split(";") if t) or None


def _decoders(kind: str) -> list[tuple[str, str, Any]]:
    out = []
    for f in FIELDS[kind]:
        dec = {MONEY: fen_to_yuan, DATE: _dec_date, LIST: _dec_tags, BOOL: bool, "int": int}.get(f.type)
        out.append((f.name, column_of(kind, f.name), dec))
    if kind == SubjectKind.TALENT:
        out.append(("birth_date", "birth_on_ymd", _dec_date))
    return out


_DEC: dict[str, list[tuple[str, str, Any]]] = {}


def from_row(kind: str, row: dict) -> dict:
    """The normalized profile of a stored row (dict keyed by column)."""
    decoders = _DEC.get(kind) or _DEC.setdefault(kind, _decoders(kind))
    out: dict[str, Any] = {}
    for name, col, dec in decoders:
        v = row[col]
        out[name] = v if v is None or dec is None else dec(v)
    return out


def placeholders(n: int, pg: bool, start: int = 1) -> str:
    return ", ".join(f"${i}" for i in range(start, start + n)) if pg else ", ".join("?" * n)


def stored_values(kind: str, row: dict) -> list[Any]:
    """The field values of a stored row (a profile's or a version's) as validation produced them, the values its
    digest was computed over: yes/no as bool (SQLite hands back 0/1)."""
    out = [row[c] for c in columns(kind)]
    for i in bool_positions(kind):
        if out[i] is not None:
            out[i] = bool(out[i])
    return out


def upsert_sql(kind: str, pg: bool) -> str:
    cols = columns(kind) + TAIL
    table = TABLES[kind]._meta.tablename
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "subject_id")
    return (
        f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({placeholders(len(cols), pg)}) "
        f"ON CONFLICT (subject_id) DO UPDATE SET {updates}"
    )


async def executemany(connection, sql: str, rows: Iterable[Iterable[Any]], pg: bool) -> None:
    rows = [tuple(r) for r in rows]
    if not rows:
        return
    await connection.executemany(sql, rows)


async def fetch(connection, sql: str, args: list, pg: bool) -> list[dict]:
    if pg:
        return [dict(r) for r in await connection.fetch(sql, *args)]
    cursor = await connection.execute(sql, args)
    rows = await cursor.fetchall()
    await cursor.close()
    return [dict(r) for r in rows]
