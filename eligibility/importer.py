"""Streaming bulk import of profiles (CSV or NDJSON): validate, upsert by subject id, count, reject, audit."""

from __future__ import annotations

import asyncio
import datetime as dt
import multiprocessing
import os
import queue as queue_mod
from collections.abc import AsyncIterator, Callable, Iterator
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as ProcessQueue
from typing import Any

from piccolo.engine.sqlite import convert_datetime_in

from eligibility import history, owned, store
from eligibility.errors import EligibilityError
from eligibility.fields import FIELDS
from eligibility.profiles import row_digest, validate_values
from eligibility.records import detect_format, in_batches, open_records, valid_rows
from eligibility.schemas import ImportReport
from kit.audit import Actor
from kit.errors import AppError
from kit.i18n import _l
from kit.metrics import FEED_ROWS
from kit.time import china_today

BATCH = 5000

Reject = Callable[[int, str, str], None]


async def upsert_profiles(
    kind: str,
    profiles: list[dict],
    report: ImportReport,
    connection,
    pg: bool,
    now: dt.datetime,
    feed: str | None = None,
) -> list[str]:
    """Upsert normalized profiles (the tests' and API's path)."""
    rows = []
    for p in profiles:
        row = store.to_row(kind, p)
        row.append(row_digest(row))
        rows.append(row)
    return await upsert_rows(kind, rows, report, connection, pg, now, feed)


async def upsert_rows(
    kind: str,
    profiles: list[list],
    report: ImportReport,
    connection,
    pg: bool,
    now: dt.datetime,
    feed: str | None = None,
) -> list[str]:
    """Upsert one batch of stored rows, each ending with its row_digest (later rows of the same subject win), written
    by ``feed`` (None: a full-record file); the versions they replace are kept (eligibility/history.py). Returns the
    subject ids changed."""
    latest: dict[str, list] = {}
    for p in profiles:
        latest[p[0]] = p
    ids = list(latest)
    table = store.TABLES[kind]._meta.tablename
    existing: dict[str, str] = {}
    if pg:
        for r in await connection.fetch(
            f"SELECT subject_id, digest FROM {table} WHERE subject_id = ANY($1::text[])", ids
        ):
            existing[r["subject_id"]] = r["digest"]
    else:
        for i in range(0, len(ids), 900):
            chunk = ids[i : i + 900]
            sql = f"SELECT subject_id, digest FROM {table} WHERE subject_id IN ({store.placeholders(len(chunk), pg)})"
            for r in await store.fetch(connection, sql, chunk, pg):
                existing[r["subject_id"]] = r["digest"]
    rows = []
    changed = []
    replaced = []
    inserted = updated = unchanged = 0  # local counters: setting a pydantic field per row is slow
    # SQLite: the values its driver binds without an adapter call each (int for a yes/no, the timestamp as the
    # text Piccolo's adapter would make of it): the same stored values, a fifth less binding work per row.
    stamp = now if pg else convert_datetime_in(now)
    bools = [] if pg else store.bool_positions(kind)
    for sid, row in latest.items():
        digest = row.pop()
        old = existing.get(sid)
        if old == digest:
            unchanged += 1
            continue
        if old is None:
            inserted += 1
        else:
            updated += 1
            replaced.append(sid)
        for i in bools:
            if row[i] is not None:
                row[i] = int(row[i])
        rows.append((*row, digest, stamp, feed))
        changed.append(sid)
    report.inserted += inserted
    report.updated += updated
    report.unchanged += unchanged
    # Duplicates of a subject inside one batch count once; the others are unchanged repeats.
    report.unchanged += len(profiles) - len(latest)
    if pg and len(rows) > 50:
        await _copy_upsert(kind, rows, connection, now, bool(replaced))
    else:
        await history.keep_previous(kind, replaced, connection, pg, now)
        await store.executemany(connection, store.upsert_sql(kind, pg), rows, pg)
    return changed


async def _copy_upsert(kind: str, rows: list[list], connection, now: dt.datetime, replaces: bool) -> None:
    """PostgreSQL: COPY the batch into a temporary table, keep the versions it replaces, then one INSERT … ON
    CONFLICT from it."""
    table = store.TABLES[kind]._meta.tablename
    cols = store.columns(kind) + store.TAIL
    temp = f"zhida_import_{kind}"
    await connection.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {temp} AS SELECT {', '.join(cols)} FROM {table} WITH NO DATA"
    )
    await connection.execute(f"TRUNCATE {temp}")
    await connection.copy_records_to_table(temp, records=[tuple(r) for r in rows], columns=cols)
    if replaces:
        await history.keep_previous_of_temp(kind, temp, connection, now)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "subject_id")
    await connection.execute(
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {temp} "
        f"ON CONFLICT (subject_id) DO UPDATE SET {updates}"
    )


def _batches(binary, kind: str, fmt: str, today: dt.date) -> Iterator[tuple]:
    """Read, parse, validate and digest a file: ("rows", stored rows each ending with its digest, the rejects met
    on the way, bytes read) per batch, in file order, then ("end", the file's SHA-256, rows rejected)."""
    reader, records = open_records(binary, kind, fmt)
    report = ImportReport(kind=kind)
    rejects: list[tuple[int, str, str]] = []

    def check(raw: tuple) -> tuple:
        row = validate_values(kind, raw, today=today)
        row.append(row_digest(row))
        return (row,)

    rows = (row for _line, row in valid_rows(kind, records, lambda *r: rejects.append(r), report, check))
    yield from in_batches("rows", rows, BATCH, reader, report, rejects)


async def _write(
    kind: str,
    batches: AsyncIterator[tuple],
    *,
    actor: Actor,
    source: str,
    reject: Reject,
    progress: Callable[[int], None] | None,
    on_changed,
    feed: str | None = None,
) -> ImportReport:
    """Upsert the batches of ``_batches`` (or ``owned.batches``) in one transaction with the audit entry: a file
    that breaks off (or a crash) leaves what was stored before, and the audit entry commits with the data."""
    report = ImportReport(kind=kind)
    merge_rejected = 0
    engine = store.TABLES[kind]._meta.db
    pg = engine.engine_type == "postgres"
    now = dt.datetime.now(dt.UTC)
    changed_all: list[str] = []
    async with engine.transaction() as tx:
        if not pg:
            # A bigger page cache for this connection: upserts by subject id touch the index at random.
            await tx.connection.execute(f"PRAGMA cache_size = {store.SQLITE_CACHE_KIB}")
        async for msg in batches:
            if msg[0] == "end":
                report.digest, report.rejected = msg[1], msg[2]
                continue
            what, rows, rejects, bytes_read = msg
            for r in rejects:
                reject(*r)
            if what == "owned" and rows:
                rows, refused = await owned.merge(kind, feed or "", rows, tx.connection, pg)
                for r in refused:
                    reject(*r)
                merge_rejected += len({line for line, _, _ in refused})
            if rows:
                changed = await upsert_rows(kind, rows, report, tx.connection, pg, now, feed)
                if on_changed:  # keep the changed ids only when someone will re-match them
                    changed_all += changed
            if progress:
                progress(bytes_read)
        report.rejected += merge_rejected
        await actor.record(
            "eligibility.profiles_import",
            f"{kind}_profiles",
            source or "stream",
            after={"digest": report.digest},
            detail={
                "file_sha256": report.digest,
                "kind": kind,
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rejected": report.rejected,
                **({"feed": feed} if feed else {}),
            },
        )
    count_rows(report)
    if on_changed and changed_all:
        await on_changed(changed_all)
    return report


def count_rows(report: ImportReport) -> None:
    """The rows of a committed import or feed call, on the feed-rows metric."""
    FEED_ROWS.labels(report.kind, "imported").inc(report.inserted + report.updated + report.unchanged)
    FEED_ROWS.labels(report.kind, "rejected").inc(report.rejected)


def _no_reject(line: int, field: str, reason: str) -> None:
    """The reject callback when the caller keeps no rejects file (the counts still say how many)."""


def _check_kind(kind: str) -> None:
    if kind not in FIELDS:
        raise EligibilityError(_l("unknown subject kind {kind!r}: use enterprise or talent"), kind=kind)


async def import_stream(
    kind: str,
    binary,
    *,
    fmt: str,
    actor: Actor,
    source: str = "",
    reject: Reject | None = None,
    progress: Callable[[int], None] | None = None,
    today: dt.date | None = None,
    on_changed: Callable[[list[str]], Any] | None = None,
    feed: str | None = None,
) -> ImportReport:
    """Import profiles from a binary stream, one batch at a time, all in one transaction (see ``_write``). ``feed``:
    the stored feed the file comes from; one that owns fields changes only those (eligibility/owned.py)."""
    _check_kind(kind)
    owns = await owned.owns_of(feed, kind)
    day = today or china_today()

    async def batches():
        msgs = (
            _batches(binary, kind, fmt, day)
            if owns is None
            else owned.batches(binary, kind, fmt, day, feed or "", owns, BATCH)
        )
        for msg in msgs:
            yield msg

    return await _write(
        kind,
        batches(),
        actor=actor,
        source=source,
        reject=reject or _no_reject,
        progress=progress,
        on_changed=on_changed,
        feed=feed,
    )


# -- a big file: parsed and validated in a second process while this one writes ------------------------------

PARALLEL_MIN_BYTES = 8 << 20  # below this, starting a process costs more than it saves


def _produce(path: str, kind: str, fmt: str, today: dt.date, out) -> None:
    """In the parsing process: send the messages of ``_batches`` (bounded by ``out``'s size), or what went wrong."""
    try:
        with open(path, "rb") as f:
            for msg in _batches(f, kind, fmt, today):
                out.put(msg)
    except AppError as exc:  # EligibilityError, NotUtf8: a refusal in words
        out.put(("error", exc.message))
    except BaseException as exc:  # noqa: BLE001 - reported to the importing process, which fails the import
        out.put(("crash", f"{type(exc).__name__}: {exc}"))


def _next_message(queue: ProcessQueue, proc: BaseProcess) -> tuple:
    while True:
        try:
            return queue.get(timeout=1.0)
        except queue_mod.Empty:
            if not proc.is_alive():
                raise EligibilityError(
                    _l("the parsing process ended unexpectedly (exit code {exitcode}): nothing was imported"),
                    exitcode=proc.exitcode,
                ) from None


async def _import_parallel(
    path: str,
    kind: str,
    fmt: str,
    *,
    actor: Actor,
    source: str,
    reject: Reject,
    progress,
    today: dt.date,
    on_changed,
    feed: str | None = None,
) -> ImportReport:
    """import_stream's work split over two processes: the child parses and validates (the CPU-heavy half), this
    process writes the same batches in the same single transaction (a failure stores nothing)."""
    mp = multiprocessing.get_context("spawn")  # never fork a process that runs an event loop and DB threads
    out = mp.Queue(maxsize=8)  # at most 8 batches in flight: memory stays bounded whatever the file's size
    proc = mp.Process(target=_produce, args=(path, kind, fmt, today, out), name="zhida-import-parse", daemon=True)
    proc.start()
    loop = asyncio.get_running_loop()

    async def batches():
        while True:
            msg = await loop.run_in_executor(None, _next_message, out, proc)
            if msg[0] == "error":
                raise EligibilityError(msg[1])
            if msg[0] == "crash":
                raise EligibilityError(_l("the file could not be parsed ({error}): nothing was imported"), error=msg[1])
            yield msg
            if msg[0] == "end":
                return

    try:
        return await _write(
            kind,
            batches(),
            actor=actor,
            source=source,
            reject=reject,
            progress=progress,
            on_changed=on_changed,
            feed=feed,
        )
    finally:
        if proc.is_alive():
            proc.terminate()
        await loop.run_in_executor(None, proc.join)
        out.close()


async def import_file(
    path: str,
    kind: str,
    *,
    actor: Actor,
    reject: Reject | None = None,
    progress: Callable[[int], None] | None = None,
    fmt: str | None = None,
    today: dt.date | None = None,
    on_changed=None,
    parallel: bool | None = None,
    feed: str | None = None,
) -> ImportReport:
    """Import a CSV or NDJSON file (format from the extension or the first byte). A file of
    PARALLEL_MIN_BYTES or more is parsed and validated in a second process while this one writes
    (``parallel`` forces either way); both paths give the same report, rejects, rows and audit entry."""
    _check_kind(kind)
    source = os.path.basename(path)
    owns = await owned.owns_of(feed, kind)
    with open(path, "rb") as f:
        fmt = fmt or detect_format(path, f.read(64))
        f.seek(0)
        if parallel is None:
            parallel = os.fstat(f.fileno()).st_size >= PARALLEL_MIN_BYTES
        if owns is not None:  # a feed's partial file is merged row by row onto stored data: parsed here
            parallel = False
        if not parallel:
            return await import_stream(
                kind,
                f,
                fmt=fmt,
                actor=actor,
                source=source,
                reject=reject,
                progress=progress,
                today=today,
                on_changed=on_changed,
                feed=feed,
            )
    return await _import_parallel(
        path,
        kind,
        fmt,
        actor=actor,
        source=source,
        reject=reject or _no_reject,
        progress=progress,
        today=today or china_today(),
        on_changed=on_changed,
        feed=feed,
    )
