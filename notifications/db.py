"""Statements of notifications/ that go below the ORM: notices are written by the thousand (payment notices of a
large batch), where Piccolo's query builder and row objects cost more than the notices themselves."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifications.tables import Notice

# Stay below the drivers' bound-parameter limits (SQLite 32766, asyncpg 32767).
_MAX_PARAMS = 30000


async def raw(sql: str, *args: Any) -> list[dict]:
    """A statement with ``{}`` placeholders, straight to the driver, in the caller's transaction if any."""
    eng = Notice._meta.db
    txn = eng.current_transaction.get()
    if eng.engine_type == "postgres":
        parts = sql.split("{}")
        native = "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        if txn is not None:
            return [dict(r) for r in await txn.connection.fetch(native, *args)]
        async with eng.pool.acquire() if eng.pool is not None else _Connection(eng) as conn:
            return [dict(r) for r in await conn.fetch(native, *args)]
    if txn is not None:
        async with txn.connection.execute(sql.replace("{}", "?"), args) as cursor:
            return list(await cursor.fetchall())
    return await Notice.raw(sql, *args)


class _Connection:
    """A one-off PostgreSQL connection when no pool is open (scripts)."""

    def __init__(self, eng) -> None:
        self.eng = eng

    async def __aenter__(self):
        self.conn = await self.eng.get_new_connection()
        return self.conn

    async def __aexit__(self, *exc) -> None:
        await self.conn.close()


def one_of(values: Sequence[str]) -> tuple[str, list]:
    """The condition after a column that it is one of ``values`` (text), and its arguments: ``= ANY(array)`` on
    PostgreSQL (one short statement prepared once, an index scan), ``IN (?, …)`` elsewhere."""
    if Notice._meta.db.engine_type == "postgres":
        return "= ANY({}::text[])", [list(values)]
    return "IN (" + ", ".join("{}" for _ in values) + ")", list(values)


async def insert(
    table: str, columns: Sequence[str], types: Sequence[str], rows: Sequence[Sequence[Any]], suffix: str = ""
) -> list[dict]:
    """Multi-row INSERT; ``suffix`` (ON CONFLICT …, RETURNING …) is added and what it returns is given back.
    On PostgreSQL one array per column (``types``: the columns' SQL types) through unnest: a short statement
    prepared once; elsewhere multi-row VALUES in slices below the parameter limit."""
    out: list[dict] = []
    if not rows:
        return out
    if Notice._meta.db.engine_type == "postgres":
        arrays = ", ".join(f"{{}}::{t}[]" for t in types)
        return await raw(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
            + (" " + suffix if suffix else ""),
            *(list(c) for c in zip(*rows)),
        )
    per = max(1, _MAX_PARAMS // len(columns))
    one = "(" + ", ".join("{}" for _ in columns) + ")"
    for i in range(0, len(rows), per):
        part = rows[i : i + per]
        out += await raw(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            + ", ".join(one for _ in part)
            + (" " + suffix if suffix else ""),
            *(v for r in part for v in r),
        )
    return out
