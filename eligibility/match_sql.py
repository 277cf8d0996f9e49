"""The matcher's SQL path: plan a compiled rule set's filter, run it against the profiles, store the matches.

eligibility.rules.sql compiles (no database); this module owns the connections, the SQLite functions compiled
rules call, the order of a filter's terms, and the INSERT … SELECT that writes matches without passing them
through Python.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import re
import sqlite3

import asyncpg

from eligibility import store
from eligibility.fields import derived_values
from eligibility.rules.closures import compile_value
from eligibility.rules.evaluate import combine, to_fen_amount
from eligibility.rules.language import parse
from eligibility.rules.sql import NotCompilable, compile_outcome, compile_ruleset
from eligibility.schemas import MatchResult, RuleSet
from eligibility.store import RULE_INDEX, SQLITE_MATCH_CACHE_KIB
from kit.audit import Actor
from kit.money import fen_to_yuan
from kit.vocab import MatchState


def _re_match(pattern: str, text: str | None):
    if text is None or pattern is None:
        return None
    return 1 if _compiled(pattern).match(text) else 0


def _re_search(pattern: str, text: str | None):
    if text is None or pattern is None:
        return None
    return 1 if _compiled(pattern).search(text) else 0


_RE_CACHE: dict[str, re.Pattern] = {}


def _compiled(pattern: str) -> re.Pattern:
    p = _RE_CACHE.get(pattern)
    if p is None:
        p = _RE_CACHE[pattern] = re.compile(pattern)
    return p


async def _prepare_sqlite(conn) -> None:
    """SQLite: a bounded page cache, no mapped file (store.SQLITE_MATCH_CACHE_KIB), and the functions compiled
    rules and match storage call (regular expressions, SHA-256)."""
    await conn.execute(f"PRAGMA cache_size = {SQLITE_MATCH_CACHE_KIB}")
    await conn.execute("PRAGMA mmap_size = 0")
    await conn.create_function("zhida_re_match", 2, _re_match, deterministic=True)
    await conn.create_function("zhida_re_search", 2, _re_search, deterministic=True)
    await conn.create_function("zhida_sha256", 1, _sha256_hex, deterministic=True)
    await conn.create_function("zhida_amount_overflow", 0, _amount_overflow, deterministic=True)


@contextlib.asynccontextmanager
async def read_connection(engine):
    """A connection for the matcher's queries (SQLite gets our regex functions registered on it)."""
    if engine.engine_type == "postgres":
        if engine.pool is not None:
            async with engine.pool.acquire() as conn:
                yield conn
        else:
            conn = await engine.get_new_connection()
            try:
                yield conn
            finally:
                await conn.close()
        return
    conn = await engine.get_connection()
    try:
        await _prepare_sqlite(conn)
        yield conn
    finally:
        await conn.close()


PROBE_CHUNKS, PROBE_ROWS = 16, 128


async def ordered_filter(conn, kind: str, terms: list[tuple[str, float]], pg: bool) -> str:
    """The AND of ``terms``, those likeliest to reject a profile for the least work first.

    SQLite evaluates a WHERE's terms in the order written and stops at the first false one, so on SQLite the order
    is the filter's speed (bench/match.py's typical policy over 1M profiles, through the rule index: 160 ms as written, 72 ms ordered). Each
    term's pass rate is counted on a sample (16 runs of 128 profiles spread over the table), and the terms are sorted
    by cost / (1 - pass rate), the order that minimises the expected work of independent terms. The order changes
    no result: AND is commutative in SQL's three-valued logic and every function we call is pure. PostgreSQL orders a
    WHERE's terms by its own cost estimates, so there they stay as written."""
    joined = " AND ".join(sql for sql, _ in terms)
    if pg or len(terms) < 2:
        return joined
    name = store.TABLES[kind]._meta.tablename
    # Two subqueries: SQLite answers a lone MIN or MAX of the rowid from the b-tree's ends, both at once by a scan.
    bounds = (
        await store.fetch(
            conn, f"SELECT (SELECT MIN(id) FROM {name}) AS lo, (SELECT MAX(id) FROM {name}) AS hi", [], False
        )
    )[0]
    lo, hi = bounds["lo"], bounds["hi"]
    if lo is None:
        return joined
    starts = sorted({lo + (hi - lo) * i // PROBE_CHUNKS for i in range(PROBE_CHUNKS)})
    sample = " UNION ALL ".join(
        f"SELECT * FROM (SELECT * FROM {name} WHERE id >= {s} ORDER BY id LIMIT {PROBE_ROWS})" for s in starts
    )
    sums = ", ".join(f"SUM(CASE WHEN {sql} THEN 1 ELSE 0 END) AS t{i}" for i, (sql, _) in enumerate(terms))
    got = (await store.fetch(conn, f"SELECT COUNT(*) AS n, {sums} FROM ({sample}) AS s", [], False))[0]
    n = got["n"] or 1

    def key(i: int) -> float:
        return terms[i][1] / max(1 - (got[f"t{i}"] or 0) / n, 0.001)

    return " AND ".join(terms[i][0] for i in sorted(range(len(terms)), key=key))


def rule_source(kind: str, cond: str, pg: bool, has_index: bool = True) -> str:
    """The FROM of a filter over the profiles of ``kind``. SQLite: the table through its rule index (store.RULE_INDEX)
    when the index exists and the filter reads no column outside it; the table row is then read only for the rows
    the filter keeps."""
    table = store.TABLES[kind]
    name = table._meta.tablename
    if pg or not has_index:
        return name
    index, covered = RULE_INDEX[kind]
    outside = {c._meta.db_column_name for c in table._meta.columns} - set(covered)
    if outside & set(re.findall(r"[a-z_]+", cond)):
        return name
    return f"{name} INDEXED BY {index}"


async def filter_query(conn, kind: str, terms: list[tuple[str, float]], pg: bool, select: str) -> str:
    """``SELECT {select}`` over the profiles of ``kind`` that the filter (``compile_ruleset``'s terms) keeps, as the
    matcher runs it (the bench times it)."""
    cond = await ordered_filter(conn, kind, terms, pg)
    has_index = True
    if not pg:  # INDEXED BY a missing index is an error (a database migrated back, or built without migrations)
        has_index = bool(
            await store.fetch(
                conn, "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", [RULE_INDEX[kind][0]], False
            )
        )
    return f"SELECT {select} FROM {rule_source(kind, cond, pg, has_index)} WHERE {cond}"


async def sql_path(ruleset: RuleSet, as_of: dt.date) -> tuple[list[tuple[MatchResult, str]], int]:
    """The database filters; amounts are computed for the matched rows only. Returns (found, total)."""
    kind = ruleset.subject
    table = store.TABLES[kind]
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    terms, clauses = compile_ruleset(ruleset, as_of, pg)
    flags = ", ".join(f"(CASE WHEN {c} THEN 1 ELSE 0 END) AS zc{i}" for i, c in enumerate(clauses))
    name = table._meta.tablename
    amounts = [compile_value(parse(kind, str(cl.amount))) for cl in ruleset.clauses]
    found = []
    async with read_connection(engine) as conn:
        rows = await store.fetch(conn, await filter_query(conn, kind, terms, pg, f"{name}.*, {flags}"), [], pg)
        rows.sort(key=lambda r: r["subject_id"])
        total_rows = await store.fetch(conn, f"SELECT COUNT(*) AS n FROM {name}", [], pg)
    first = ruleset.combine == "first"
    for row in rows:
        profile = store.from_row(kind, row)
        values = None
        met = []
        for i, cl in enumerate(ruleset.clauses):
            if row[f"zc{i}"]:
                if values is None:
                    values = {**profile, **derived_values(kind, profile, as_of)}
                met.append((cl.code, to_fen_amount(amounts[i](values))))
                if first:
                    break
        codes, amount = combine(ruleset, met)
        if codes:
            found.append((MatchResult(subject_id=row["subject_id"], clauses=codes, amount=amount), row["digest"]))
    return found, int(total_rows[0]["n"])


def _overflow_not_compilable(path):
    """An amount of ``path`` that overflows the database's integers raises NotCompilable (nothing is stored: the
    write transaction rolls back), so the matcher computes the amounts in Python."""

    @functools.wraps(path)
    async def guarded(*args, **kwargs):
        try:
            return await path(*args, **kwargs)
        except Exception as exc:
            if _is_overflow(exc):
                raise NotCompilable(OVERFLOW) from None
            raise

    return guarded


def _outcome_select(ruleset: RuleSet, as_of: dt.date, pg: bool) -> tuple[list, str]:
    """A rule set's filter terms and the select list of every SQL path (the full match, the stale subjects of a
    re-run, delta matching): subject, profile digest, the clauses met and the amount. Raises NotCompilable."""
    terms, conds = compile_ruleset(ruleset, as_of, pg)
    clauses_sql, total_sql = compile_outcome(ruleset, conds, as_of, pg)
    return terms, f"subject_id, digest, {clauses_sql} AS zclauses, {total_sql} AS zamount"


@_overflow_not_compilable
async def full_sql_path(
    ruleset: RuleSet,
    as_of: dt.date,
    *,
    do_store: bool,
    actor: Actor | None,
    rdigest: str,
    collect: bool = True,
):
    """Everything in the database: the rows and their amounts, and (when storing) one INSERT … SELECT … ON CONFLICT
    DO NOTHING with the match digests computed in SQL (PostgreSQL's sha256, a registered function on SQLite), so no
    match row passes through Python. ``collect=False`` returns no results, only their count and total (the job that
    matches a published version wants nothing else). Returns (results, total profiles, new, matched, total fen)."""
    kind = ruleset.subject
    table = store.TABLES[kind]
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    terms, select = _outcome_select(ruleset, as_of, pg)
    name = table._meta.tablename

    async def read(conn):
        inner = await filter_query(conn, kind, terms, pg, select)
        results: list = []
        if collect:
            # No ORDER BY: SQLite would walk the subject_id index and visit every row at random (5x slower
            # than a scan); the matches are sorted here instead.
            rows = await store.fetch(conn, inner, [], pg)
            rows.sort(key=lambda r: r["subject_id"])
            results = [
                MatchResult.model_construct(
                    subject_id=r["subject_id"],
                    clauses=r["zclauses"].split(";"),
                    amount=fen_to_yuan(r["zamount"]),
                )
                for r in rows
            ]
            matched, total_fen = len(rows), sum(int(r["zamount"]) for r in rows)
        else:
            agg = await store.fetch(conn, f"SELECT COUNT(*) AS n, SUM(zamount) AS s FROM ({inner}) AS m", [], pg)
            matched, total_fen = int(agg[0]["n"]), int(agg[0]["s"] or 0)
        profiles = await store.fetch(conn, f"SELECT COUNT(*) AS n FROM {name}", [], pg)
        return results, int(profiles[0]["n"]), matched, total_fen, inner

    if not do_store:
        async with read_connection(engine) as conn:
            results, profiles, matched, total_fen, _ = await read(conn)
        return results, profiles, 0, matched, total_fen
    if pg:
        async with read_connection(engine) as conn:
            results, profiles, matched, total_fen, inner = await read(conn)
    async with engine.transaction() as tx:
        if not pg:
            # SQLite: read and insert on the write transaction's connection, so the second scan (the INSERT's)
            # finds the profile pages in this connection's cache; SQLite has one writer at a time anyway.
            await _prepare_sqlite(tx.connection)
            results, profiles, matched, total_fen, inner = await read(tx.connection)
        # The matches and their audit entry commit together.
        new = await _insert_matches(tx.connection, pg, ruleset, as_of, inner, rdigest) if matched else 0
        if actor is not None:
            await actor.record(
                "eligibility.match",
                "ruleset",
                ruleset.key,
                after={"new": new},
                detail={"as_of": as_of.isoformat(), "new": new, "matched": matched},
            )
    return results, profiles, new, matched, total_fen


async def stale_subjects(ruleset: RuleSet, as_of: dt.date, rdigest: str) -> list[str]:
    """The subjects with a current match of ``ruleset`` that is not the match they would get now (same digest as
    _insert_matches computes): the only ones a re-run must settle again. A subject whose one current row is the one
    it qualifies for now needs nothing, so a re-run that changes nothing reads no profile into Python. One anti-join
    in the database; raises NotCompilable like full_sql_path."""
    kind = ruleset.subject
    table = store.TABLES[kind]
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    terms, select = _outcome_select(ruleset, as_of, pg)
    async with read_connection(engine) as conn:
        inner = await filter_query(conn, kind, terms, pg, select)
        if pg:
            sep, key, rd, state, fn = (
                "chr(31)",
                "$1::text",
                "$2::text",
                "$3",
                "encode(sha256(convert_to({}, 'UTF8')), 'hex')",
            )
        else:
            sep, key, rd, state, fn = "char(31)", "?1", "?2", "?3", "zhida_sha256({})"
        text = (
            f"{key} || {sep} || subject_id || {sep} || zclauses || {sep} || CAST(zamount AS TEXT) || {sep} || "
            f"digest || {sep} || {rd}"
        )
        sql = (
            f"SELECT DISTINCT e.subject_id FROM eligibility_match e LEFT JOIN "
            f"(SELECT subject_id, {fn.format(text)} AS zdigest FROM ({inner}) AS m) AS d "
            f"ON d.subject_id = e.subject_id AND d.zdigest = e.match_digest "
            f"WHERE e.ruleset_key = {key} AND e.state = {state} AND d.subject_id IS NULL"
        )
        rows = await store.fetch(conn, sql, [ruleset.key, rdigest, MatchState.CURRENT.value], pg)
    return sorted(r["subject_id"] for r in rows)


_DELTA: dict[tuple, tuple[str, str] | NotCompilable] = {}


def _delta_sql(ruleset: RuleSet, as_of: dt.date, pg: bool) -> tuple[str, str]:
    """(filter, select list) of a rule set for delta matching, compiled once per rule set content, day and engine (a
    feed asks for every live rule set in every chunk of changed profiles). Raises NotCompilable."""
    key = (ruleset.model_dump_json(), as_of, pg)
    hit = _DELTA.get(key)
    if hit is None:
        try:
            terms, select = _outcome_select(ruleset, as_of, pg)
            hit = (" AND ".join(sql for sql, _ in terms) or "1 = 1", select)
        except NotCompilable as exc:
            hit = exc
        if len(_DELTA) > 20_000:
            _DELTA.clear()
        _DELTA[key] = hit
    if isinstance(hit, NotCompilable):
        raise hit
    return hit


def id_list(ids: list[int]) -> str:
    """Row ids as the SQL list delta_matches takes: integers, never text from a feed. Made once per chunk of a
    changed set, then used by every live rule set's statement."""
    return ",".join(str(int(i)) for i in ids)


async def delta_matches(conn, ruleset: RuleSet, as_of: dt.date, ids: str, pg: bool) -> list[tuple[MatchResult, str]]:
    """The matches of ``ruleset`` among the profiles whose row ids are ``ids`` (a feed's changed set, as made by
    ``id_list``), with their profile digests: the rule set's whole filter, clauses and amounts in one statement,
    restricted to those rows (the primary key finds them). Raises NotCompilable when the rule set, or an amount,
    cannot be computed in SQL."""
    cond, select = _delta_sql(ruleset, as_of, pg)
    name = store.TABLES[ruleset.subject]._meta.tablename
    try:
        rows = await store.fetch(conn, f"SELECT {select} FROM {name} WHERE id IN ({ids}) AND ({cond})", [], pg)
    except Exception as exc:
        if _is_overflow(exc):
            raise NotCompilable(OVERFLOW) from None
        raise
    return [
        (
            MatchResult.model_construct(
                subject_id=r["subject_id"], clauses=r["zclauses"].split(";"), amount=fen_to_yuan(r["zamount"])
            ),
            r["digest"],
        )
        for r in rows
    ]


def compiles(ruleset: RuleSet, as_of: dt.date) -> bool:
    """Whether the rule set's filter, clauses and amounts all compile to SQL on the configured engine."""
    pg = store.TABLES[ruleset.subject]._meta.db.engine_type == "postgres"
    try:
        _delta_sql(ruleset, as_of, pg)
    except NotCompilable:
        return False
    return True


async def stream_matches(ruleset: RuleSet, as_of: dt.date, chunk: int = 5000):
    """The matches of ``ruleset`` as (subject_id, clauses text, amount in fen) tuples in subject order, in chunks,
    computed and sorted by the database (SQLite's sorter spills to disk; PostgreSQL reads through a server-side
    cursor), so no more than a chunk is ever in Python. Raises NotCompilable when the rule set, or an amount, needs
    Python (then nothing is to be trusted of what was yielded: the caller starts again another way)."""
    kind = ruleset.subject
    engine = store.TABLES[kind]._meta.db
    pg = engine.engine_type == "postgres"
    terms, conds = compile_ruleset(ruleset, as_of, pg)
    clauses_sql, total_sql = compile_outcome(ruleset, conds, as_of, pg)
    async with read_connection(engine) as conn:
        inner = await filter_query(
            conn, kind, terms, pg, f"subject_id, {clauses_sql} AS zclauses, {total_sql} AS zamount"
        )
        # "+": sort the result instead of walking the subject index to every row at random (SQLite).
        sql = f"SELECT subject_id, zclauses, zamount FROM ({inner}) AS m ORDER BY {'' if pg else '+'}subject_id"
        try:
            if pg:
                async with conn.transaction():
                    cursor = await conn.cursor(sql)
                    while rows := await cursor.fetch(chunk):
                        yield [(r["subject_id"], r["zclauses"], int(r["zamount"])) for r in rows]
            else:
                cur = await conn.execute(sql)
                try:
                    while rows := await cur.fetchmany(chunk):
                        yield [(r["subject_id"], r["zclauses"], int(r["zamount"])) for r in rows]
                finally:
                    await cur.close()
        except Exception as exc:
            if _is_overflow(exc):
                raise NotCompilable(OVERFLOW) from None
            raise


class AmountOverflow(Exception):
    pass


def _amount_overflow() -> None:
    raise AmountOverflow


OVERFLOW = "an amount beyond the database's 64-bit integers (the amounts are computed in Python)"


def _is_overflow(exc: BaseException) -> bool:
    """An amount that overflowed in SQL: PostgreSQL's numeric_value_out_of_range, or SQLite's
    zhida_amount_overflow (the driver reports any exception of a registered function the same way; falling back is
    safe for every one of them)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "user-defined function raised exception" in str(exc)
    return getattr(exc, "sqlstate", None) == "22003"


def _sha256_hex(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


async def _insert_matches(conn, pg: bool, ruleset: RuleSet, as_of: dt.date, inner: str, rdigest: str) -> int:
    """INSERT … SELECT the matches of ``inner`` not stored yet; the digest text is the one of
    eligibility.matcher.match_digest (fields joined by U+001F). Returns how many rows were new."""
    now = dt.datetime.now(dt.UTC)
    cols = (
        "ruleset_key, version_id, code, subject_kind, subject_id, clauses, amount_fen, as_of, profile_digest, "
        "rule_digest, match_digest, created_at"
    )
    if pg:
        sep = "chr(31)"
        text = (
            f"$1::text || {sep} || subject_id || {sep} || zclauses || {sep} || CAST(zamount AS TEXT) || {sep} || "
            f"digest || {sep} || $6::text"
        )
        digest = f"encode(sha256(convert_to({text}, 'UTF8')), 'hex')"
        select = (
            f"SELECT $1::text, $2::bigint, $3::text, $4::text, subject_id, zclauses, zamount, $5::date, digest, "
            f"$6::text, zdigest, $7::timestamptz FROM (SELECT m.*, {digest} AS zdigest FROM ({inner}) AS m) AS d"
        )
        args = [ruleset.key, ruleset.version_id, ruleset.code, ruleset.subject, as_of, rdigest, now]
        # An anti-join skips what is stored: about twice as fast as ON CONFLICT, whose speculative insertion
        # costs on every row. A run that commits the same matches meanwhile makes the unique index refuse
        # one: then (inside a savepoint) the statement is repeated with ON CONFLICT DO NOTHING.
        # Inserted in subject order, the identity and subject indexes grow in order instead of at random
        # (NC-JOB-STABILIZATION's 682k matches, measured alone: 12.9-15.1 s -> 7.1-9.5 s).
        try:
            async with conn.transaction():
                status = await conn.execute(
                    f"INSERT INTO eligibility_match ({cols}) {select} WHERE NOT EXISTS "
                    f"(SELECT 1 FROM eligibility_match e WHERE e.ruleset_key = $1 AND e.subject_id = d.subject_id "
                    f"AND e.match_digest = d.zdigest) ORDER BY d.subject_id",
                    *args,
                )
        except asyncpg.UniqueViolationError:
            status = await conn.execute(
                f"INSERT INTO eligibility_match ({cols}) {select} ORDER BY d.subject_id "
                f"ON CONFLICT (ruleset_key, subject_id, match_digest) DO NOTHING",
                *args,
            )
        return int(status.split()[-1])
    sep = "char(31)"
    text = (
        f"?1 || {sep} || subject_id || {sep} || zclauses || {sep} || CAST(zamount AS TEXT) || {sep} || "
        f"digest || {sep} || ?6"
    )
    # "WHERE 1": SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT (a parsing ambiguity otherwise).
    # Inserted in subject order (sorted, "+" keeps SQLite from walking the subject index to the rows at random
    # instead): the subject index then grows at its end (measured alone: the 8 bundled policies' inserts 34 s → 26 s).
    sql = (
        f"INSERT INTO eligibility_match ({cols}) SELECT ?1, ?2, ?3, ?4, subject_id, zclauses, zamount, ?5, digest, "
        f"?6, zhida_sha256({text}), ?7 FROM ({inner}) AS m WHERE 1 ORDER BY +subject_id "
        f"ON CONFLICT (ruleset_key, subject_id, match_digest) DO NOTHING"
    )
    args = [ruleset.key, ruleset.version_id, ruleset.code, ruleset.subject, as_of, rdigest, now]
    cursor = await conn.execute(sql, args)
    new = cursor.rowcount
    await cursor.close()
    return int(new)
