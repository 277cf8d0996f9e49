"""Rows of a feed that owns fields (profiles.md, "Feeds that own fields"): what such a row may change, validated,
then merged onto the stored profiles of a batch in one read.

A field the row carries is changed (an empty cell or ``null`` clears it); a field it does not carry keeps its stored
value; a field the feed does not own refuses the row (a value silently dropped would be data lost without a word).
A row for a subject not stored yet creates the profile only if it holds every required field; a row that would
clear a required field is refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

from eligibility import store
from eligibility.errors import EligibilityError, ProfileInvalid
from eligibility.feeds import feed_named
from eligibility.fields import FIELDS, SUBJECT_ID
from eligibility.profiles import row_digest, validate_values
from eligibility.records import in_batches, open_records, valid_rows
from eligibility.schemas import ImportReport
from kit.i18n import _l


class _Absent:
    """The value of a field a row does not carry (a CSV column the file lacks, an NDJSON key the object lacks)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


def not_owned(kind: str, feed: str, owns: tuple[str, ...], carried: Iterable[str]) -> list[tuple[str, str]]:
    """(field, reason) for each field carried that the feed does not own."""
    allowed = {*owns, SUBJECT_ID[kind]}
    extra = [n for n in carried if n not in allowed]
    return [
        (
            n,
            f"feed {feed} does not own {n}: its rows may change only {', '.join(owns)} (send {n} from the feed that owns it)",
        )
        for n in extra
    ]


def validate_owned(
    kind: str, feed: str, owns: tuple[str, ...], values: list, today: dt.date | None
) -> tuple[list, list[bool]]:
    """The stored values of one row's fields (the order of ``field_names(kind)``, ABSENT where the row does not carry
    a field) and which fields it carries. Raises ProfileInvalid naming every problem."""
    names = [f.name for f in FIELDS[kind]]
    present = [v is not ABSENT for v in values]
    problems = not_owned(kind, feed, owns, [n for n, p in zip(names, present) if p])
    plain = [None if v is ABSENT else v for v in values]
    sid = plain[0]
    if sid is None or (isinstance(sid, str) and not sid.strip()):
        problems.insert(0, (names[0], "required value is missing: every row names its subject"))
    if problems:
        raise ProfileInvalid(problems)
    return validate_values(kind, plain, partial=True, today=today), present


async def _stored_rows(kind: str, ids: list[str], connection, pg: bool) -> dict[str, dict]:
    """The stored rows of ``ids``; PostgreSQL locks them (FOR UPDATE) until the merge is written, so two feeds
    changing different fields of one profile at once both keep their change."""
    table = store.TABLES[kind]._meta.tablename
    out: dict[str, dict] = {}
    if pg:
        for r in await connection.fetch(f"SELECT * FROM {table} WHERE subject_id = ANY($1::text[]) FOR UPDATE", ids):
            out[r["subject_id"]] = dict(r)
        return out
    for i in range(0, len(ids), 900):
        chunk = ids[i : i + 900]
        sql = f"SELECT * FROM {table} WHERE subject_id IN ({store.placeholders(len(chunk), False)})"
        for r in await store.fetch(connection, sql, chunk, False):
            out[r["subject_id"]] = r
    return out


async def merge(
    kind: str, feed: str, items: list[tuple[Any, list, list[bool]]], connection, pg: bool
) -> tuple[list[list], list[tuple[Any, str, str]]]:
    """Merge validated rows of an owning feed, (ref, stored values, carried) each, onto their stored profiles (one
    read for the batch). Returns the whole rows to upsert, each ending with its digest, and the rejects (ref,
    field, reason)."""
    fields = FIELDS[kind]
    stored = await _stored_rows(kind, sorted({v[0] for _, v, _ in items}), connection, pg)
    rows: list[list] = []
    rejects: list[tuple[Any, str, str]] = []
    for ref, values, present in items:
        old = stored.get(values[0])
        if old is None:
            missing = [f.name for f, v in zip(fields, values) if f.required and v is None]
            if missing:
                rejects.append(
                    (
                        ref,
                        missing[0],
                        f"no stored profile of this subject: a row of feed {feed} creates one only with every required "
                        f"field (missing: {', '.join(missing)}); the full-record feed sends new profiles",
                    )
                )
                continue
            row = list(values)
        else:
            row = store.stored_values(kind, old)
            cleared = []
            for i, carried in enumerate(present):
                if carried:
                    row[i] = values[i]
                    if values[i] is None and fields[i].required:
                        cleared.append(fields[i].name)
            if cleared:
                rejects += [(ref, n, "required value is missing: a required field cannot be cleared") for n in cleared]
                continue
        row.append(row_digest(row))
        rows.append(row)
    return rows, rejects


async def owns_of(feed: str | None, kind: str) -> tuple[str, ...] | None:
    """The fields ``feed`` owns (None: a full-record feed, or no feed named); an unknown feed, or one of the other
    subject kind, is refused before anything is read."""
    if feed is None:
        return None
    row = await feed_named(feed)
    if row is None:
        raise EligibilityError(
            _l("no feed named {feed!r}: declare it with `zhida profiles feed-key {feed} --kind {kind}`"),
            feed=feed,
            kind=kind,
        )
    if row["kind"] != kind:
        raise EligibilityError(
            _l("feed {feed} sends {kind} profiles, not {kind2} profiles"), feed=feed, kind=row["kind"], kind2=kind
        )
    return row["owns"]


def batches(
    binary, kind: str, fmt: str, today: dt.date, feed: str, owns: tuple[str, ...], size: int
) -> Iterator[tuple]:
    """The importer's ``_batches`` for a feed that owns fields: ("owned", (line, stored values, carried) per row,
    rejects, bytes read) per batch of ``size``, then ("end", the file's SHA-256, rows rejected); the importer merges
    each batch onto the stored profiles (``merge``) when it writes it."""
    reader, records = open_records(binary, kind, fmt, absent=ABSENT)
    report = ImportReport(kind=kind)
    rejects: list[tuple[int, str, str]] = []

    def check(raw: tuple) -> tuple:
        return validate_owned(kind, feed, owns, list(raw), today)

    # An invalid row of an owning feed does not count as its subject's row (a later valid one is no repeat).
    items = valid_rows(kind, records, lambda *r: rejects.append(r), report, check, repeats_among_invalid=False)
    yield from in_batches("owned", items, size, reader, report, rejects)
