"""The one raw/bulk/transaction helper: statements below the ORM where rows go by the thousand.

Piccolo's query builder costs about 1 ms per hundred parameters and builds a row object per row; the set-based
statements of the payment runner, the notice writer and the audit chain cannot afford that. Statements use ``{}``
placeholders (Piccolo's own convention) and run in the caller's transaction when there is one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, TypeVar

from annotated_types import Interval
from piccolo.conf.apps import AppConfig, table_finder
from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.querystring import QueryString
from piccolo.table import Table

# A row id as the tables store it (Piccolo's Serial: PostgreSQL's 32-bit integer). An id in a request body is one of
# these: a larger one is refused by validation (a 400 naming it), never handed to the driver (a 500).
ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Interval(ge=1, le=ROW_ID_MAX)]

T = TypeVar("T")

# SQLite allows 32766 bound parameters per statement (3.32+); asyncpg 32767. Stay well below both.
MAX_PARAMS = 30000

_PG_TYPES = {
    "Varchar": "text",
    "Text": "text",
    "Integer": "bigint",
    "BigInt": "bigint",
    "Serial": "bigint",
    "Timestamptz": "timestamptz",
    "Boolean": "boolean",
    "Real": "float8",
    "DoublePrecision": "float8",
}


def app_config(name: str, module_file: str, *table_modules: str) -> AppConfig:
    """A domain's Piccolo app: its ``piccolo_migrations/`` beside ``module_file``, its tables in ``<name>.tables``
    (or ``table_modules``)."""
    return AppConfig(
        app_name=name,
        migrations_folder_path=os.path.join(os.path.dirname(os.path.abspath(module_file)), "piccolo_migrations"),
        table_classes=table_finder(modules=list(table_modules or [f"{name}.tables"]), exclude_imported=True),
        migration_dependencies=[],
        commands=[],
    )


def engine() -> Engine:
    """The configured engine (piccolo_conf's DB): every table of the platform lives in one database."""
    eng = engine_finder()
    if eng is None:
        raise RuntimeError("no Piccolo engine is configured (PICCOLO_CONF)")
    return eng


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


def transaction() -> Any:
    """A write transaction: IMMEDIATE on SQLite (serialises writers), READ COMMITTED on PostgreSQL."""
    return engine().transaction()


def in_transaction() -> bool:
    return engine().current_transaction.get() is not None


def _native(sql: str, pg: bool) -> str:
    """``{}`` placeholders to the driver's own ($1… for asyncpg, ? for sqlite3)."""
    if not pg:
        return sql.replace("{}", "?")
    parts = sql.split("{}")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))


async def raw(sql: str, *args: Any) -> list[dict[str, Any]]:
    """A statement with ``{}`` placeholders, straight to the driver, in the caller's transaction if any."""
    eng = engine()
    pg = eng.engine_type == "postgres"
    txn = eng.current_transaction.get()
    if pg:
        native = _native(sql, True)
        if txn is not None:
            return [dict(r) for r in await txn.connection.fetch(native, *args)]
        pool = getattr(eng, "pool", None)
        if pool is not None:
            async with pool.acquire() as conn:
                return [dict(r) for r in await conn.fetch(native, *args)]
        conn = await eng.get_new_connection()  # type: ignore[attr-defined]  # PostgresEngine has it, the Engine base does not
        try:
            return [dict(r) for r in await conn.fetch(native, *args)]
        finally:
            await conn.close()
    if txn is not None:
        async with txn.connection.execute(_native(sql, False), args) as cursor:
            return list(await cursor.fetchall())
    return list(await eng.run_querystring(QueryString(sql, *args)) or [])


def from_row(kind: type[T], row: Any, **computed: Any) -> T:
    """A ``kind`` (a pydantic model or a dataclass) read from a row (a dict, a sqlite3.Row): each field takes the
    column of its name; ``computed`` gives the fields that are not a column as stored (yuan from fen, a masked
    account, a renamed column) and wins over a column of the same name."""
    fields = getattr(kind, "model_fields", None)
    names = fields if fields is not None else [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
    columns = row.keys()
    return kind(**{n: row[n] for n in names if n in columns and n not in computed}, **computed)


async def rows_of_subject(table: type[Table], subject_kind: str, subject_id: str, order_by: str = "id") -> list[Any]:
    """The rows of ``table`` that belong to one subject (its ``subject_kind`` and ``subject_id`` columns), in
    ``order_by`` order: what the portal lists of a subject's own records."""
    column = table._meta.get_column_by_name
    return await (
        table.select()
        .where((column("subject_kind") == subject_kind) & (column("subject_id") == subject_id))
        .order_by(column(order_by))
    )


def codes(text: str) -> list[str]:
    """A ``;``-joined list of codes as stored (``a;b``, ``;a;b;``) to the list, empty parts dropped."""
    return [c for c in text.split(";") if c]


def placeholders(n: int) -> str:
    return ", ".join("{}" for _ in range(n))


def sql_literals(values: Iterable[str]) -> str:
    """Constants as SQL string literals for an ``IN (…)`` written into the statement: ``'created', 'submitted'``.

    For fixed vocabularies (kit.vocab) only, never for input: a literal list keeps the statement text the same on
    every call, and the planner sees the values (a bound array hides them)."""
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def sql_types(table: type[Table], columns: Sequence[str]) -> list[str]:
    """PostgreSQL array element types of ``columns`` (for ``unnest``)."""
    return [_PG_TYPES[type(table._meta.get_column_by_name(c)).__name__] for c in columns]


async def bulk_insert(
    table: type[Table] | str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    types: Sequence[str] | None = None,
    suffix: str = "",
) -> list[dict[str, Any]]:
    """INSERT many rows; ``suffix`` (ON CONFLICT …, RETURNING …) is added and what it returns is given back.

    On PostgreSQL the rows go as one array per column (``INSERT … SELECT * FROM unnest(…)``): a short statement that
    asyncpg prepares once. Elsewhere multi-row VALUES in slices below the parameter limit. ``types`` (the columns'
    PostgreSQL types) is needed only when ``table`` is given by name."""
    rows = list(rows)
    if not rows:
        return []
    if isinstance(table, str):
        name = table
        if types is None and is_postgres():
            raise ValueError("bulk_insert by table name needs the columns' types")
    else:
        name = table._meta.tablename
        types = types or sql_types(table, columns)
    cols = ", ".join(columns)
    tail = (" " + suffix) if suffix else ""
    if is_postgres():
        assert types is not None
        arrays = ", ".join(f"{{}}::{t}[]" for t in types)
        return await raw(
            f"INSERT INTO {name} ({cols}) SELECT * FROM unnest({arrays}){tail}", *(list(c) for c in zip(*rows))
        )
    out: list[dict[str, Any]] = []
    per = max(1, MAX_PARAMS // len(columns))
    one = "(" + placeholders(len(columns)) + ")"
    for i in range(0, len(rows), per):
        chunk = rows[i : i + per]
        sql = f"INSERT INTO {name} ({cols}) VALUES " + ", ".join(one for _ in chunk) + tail
        out += await raw(sql, *(v for row in chunk for v in row))
    return out


def in_list(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """The condition after a column that it is one of ``values``, and its arguments: ``f"WHERE id {marks}"``.

    On PostgreSQL ``= ANY(array)`` with one argument (the same short statement whatever the length, prepared once,
    planned as an index scan), elsewhere ``IN (?, ?, …)``."""
    if is_postgres():
        kind = "bigint" if all(isinstance(v, int) for v in values) else "text"
        return f"= ANY({{}}::{kind}[])", [list(values)]
    return "IN (" + placeholders(len(values)) + ")", list(values)


def values_cte(rows: list[tuple[Any, ...]], names: str) -> tuple[str, list[Any]]:
    """``WITH v(...) AS (…)`` for per-row values in a set-based UPDATE (SQLite 3.33+ and PostgreSQL).

    On PostgreSQL one array per column through unnest, elsewhere a VALUES list. Columns are typed from the first
    row (int → BIGINT, else TEXT)."""
    if is_postgres():
        arrays = ", ".join("{}::bigint[]" if isinstance(x, int) else "{}::text[]" for x in rows[0])
        return f"WITH v({names}) AS (SELECT * FROM unnest({arrays}))", [list(c) for c in zip(*rows)]
    one = "(" + ", ".join("CAST({} AS BIGINT)" if isinstance(x, int) else "CAST({} AS TEXT)" for x in rows[0]) + ")"
    return f"WITH v({names}) AS (VALUES " + ", ".join(one for _ in rows) + ")", [x for r in rows for x in r]
