"""Database helpers of payments/: the dialect, transactions, and bulk writes below the ORM."""
from __future__ import annotations

import datetime as dt
import time
from typing import Any, Iterable, Sequence

from piccolo.table import Table

from payments.tables import Payment

# SQLite allows 32766 bound parameters per statement (3.32+); asyncpg 32767. Stay well below both.
_MAX_PARAMS = 30000


def engine():
    return Payment._meta.db


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


def transaction():
    """A write transaction: IMMEDIATE on SQLite (serialises writers), READ COMMITTED on PostgreSQL."""
    return engine().transaction()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def now_ms() -> int:
    return int(time.time() * 1000)


async def raw(sql: str, *args: Any) -> list[dict]:
    """A raw statement with Piccolo's ``{}`` placeholders, in the caller's transaction if any."""
    return await Payment.raw(sql, *args)


def placeholders(n: int) -> str:
    return ", ".join("{}" for _ in range(n))


async def bulk_insert(table: type[Table], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """INSERT many rows with multi-row VALUES (about 20x faster than ORM objects); returns the row count."""
    rows = list(rows)
    if not rows:
        return 0
    name = table._meta.tablename
    per = max(1, _MAX_PARAMS // len(columns))
    cols = ", ".join(columns)
    one = "(" + placeholders(len(columns)) + ")"
    for i in range(0, len(rows), per):
        chunk = rows[i:i + per]
        sql = f"INSERT INTO {name} ({cols}) VALUES " + ", ".join(one for _ in chunk)
        args = [v for row in chunk for v in row]
        await table.raw(sql, *args)
    return len(rows)


def in_list(values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``IN (...)`` placeholders and arguments for a list of values."""
    return "(" + placeholders(len(values)) + ")", list(values)
