"""Profile history: the version a change replaces is kept (valid from/to, the feed that wrote it), and the version a
stored match used is found again by its subject and profile digest.

A profile's current version is its row in eligibility_enterprise / eligibility_talent; each earlier one is a row of
eligibility_*_version with the same columns and digest, so the data a digest was computed over is there to replay.
An import that changes nothing writes no version (only a change replaces one).
"""

from __future__ import annotations

import datetime as dt

from piccolo.engine.sqlite import convert_datetime_in

from eligibility import store
from eligibility.schemas import ProfileVersionRead
from kit import db

_IN_CHUNK = 900  # SQLite's bound parameters per statement, with room for the timestamp


def _copy_head(kind: str, source: str) -> str:
    cols = store.columns(kind) + ["digest", "feed"]
    hist = store.VERSIONS[kind]._meta.tablename
    return (
        f"INSERT INTO {hist} ({', '.join(cols)}, valid_from, valid_to) "
        f"SELECT {', '.join('p.' + c for c in cols)}, p.updated_at, {{now}} FROM {store.TABLES[kind]._meta.tablename} p"
        f"{source}"
    )


async def keep_previous(kind: str, subject_ids: list[str], connection, pg: bool, now: dt.datetime) -> None:
    """Copy the stored versions of ``subject_ids`` into the history, valid until ``now``. Called in the transaction
    of the upsert that replaces them, just before it. PostgreSQL locks the rows first (FOR UPDATE): a concurrent change
    of the same profile waits, and the version copied is the one this upsert replaces."""
    if not subject_ids:
        return
    if pg:
        sql = _copy_head(kind, " WHERE p.subject_id = ANY($2::text[]) FOR UPDATE").format(now="$1")
        await connection.execute(sql, now, list(subject_ids))
        return
    stamp = convert_datetime_in(now)
    for i in range(0, len(subject_ids), _IN_CHUNK):
        chunk = subject_ids[i : i + _IN_CHUNK]
        sql = _copy_head(kind, f" WHERE p.subject_id IN ({store.placeholders(len(chunk), False)})").format(now="?")
        await connection.execute(sql, [stamp, *chunk])


async def keep_previous_of_temp(kind: str, temp: str, connection, now: dt.datetime) -> None:
    """PostgreSQL's COPY path: keep the stored version of every subject of the temporary table ``temp`` whose digest
    it changes (rows locked as in keep_previous)."""
    sql = _copy_head(
        kind, f" JOIN {temp} t ON t.subject_id = p.subject_id WHERE p.digest <> t.digest FOR UPDATE OF p"
    ).format(now="$1")
    await connection.execute(sql, now)


def _when(v) -> dt.datetime | None:
    if v is None or isinstance(v, dt.datetime):
        return v
    return dt.datetime.fromisoformat(str(v))


def _read(kind: str, row: dict, current: bool) -> ProfileVersionRead:
    return ProfileVersionRead(
        id=None if current else row["id"],
        subject_kind=kind,
        subject_id=row["subject_id"],
        digest=row["digest"],
        feed=row["feed"],
        valid_from=_when(row["updated_at"] if current else row["valid_from"]),
        valid_to=None if current else _when(row["valid_to"]),
        current=current,
        profile=store.from_row(kind, row),
        values=store.stored_values(kind, row),
    )


async def profile_versions(kind: str, subject_id: str) -> list[ProfileVersionRead]:
    """Every kept version of a profile, oldest first, the current one (``current``, no ``valid_to``) last."""
    hist = store.VERSIONS[kind]._meta.tablename
    table = store.TABLES[kind]._meta.tablename
    rows = await db.raw(f"SELECT * FROM {hist} WHERE subject_id = {{}} ORDER BY valid_to, id", subject_id)
    out = [_read(kind, r, False) for r in rows]
    now = await db.raw(f"SELECT * FROM {table} WHERE subject_id = {{}}", subject_id)
    if now:
        out.append(_read(kind, now[0], True))
    return out


async def version_with_digest(kind: str, subject_id: str, digest: str) -> ProfileVersionRead | None:
    """The version of a profile whose digest is ``digest`` (the current one if it is, else the latest kept one with
    it: versions with the same digest hold the same data), or None when no such version is kept."""
    table = store.TABLES[kind]._meta.tablename
    rows = await db.raw(f"SELECT * FROM {table} WHERE subject_id = {{}} AND digest = {{}}", subject_id, digest)
    if rows:
        return _read(kind, rows[0], True)
    hist = store.VERSIONS[kind]._meta.tablename
    rows = await db.raw(
        f"SELECT * FROM {hist} WHERE subject_id = {{}} AND digest = {{}} ORDER BY valid_to DESC, id DESC",
        subject_id,
        digest,
    )
    return _read(kind, rows[0], False) if rows else None
