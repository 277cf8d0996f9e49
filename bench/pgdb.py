"""A throw-away PostgreSQL database for one bench run: created on the server of an admin DSN, dropped (FORCE) after,
whatever happened. Imported by the bench scripts (run as `python bench/NAME.py`, so bench/ is on the path)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator


async def _execute(dsn: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.contextmanager
def database(admin: str, prefix: str) -> Iterator[str]:
    """The DSN of a new database ``<prefix>_<pid>`` on ``admin``'s server, for the ``with`` block only."""
    name = f"{prefix}_{os.getpid()}"
    asyncio.run(_execute(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(_execute(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def throwaway_secrets(env: dict[str, str]) -> dict[str, str]:
    """``env`` with a throw-away deployment's own audit and session keys where it has none: with PostgreSQL
    configured every process refuses to start without them (app.config)."""
    import secrets

    for var in ("ZHIDA_AUDIT_KEY", "ZHIDA_SECRET_KEY", "ZHIDA_WEBHOOK_SECRET"):
        env.setdefault(var, secrets.token_urlsafe(32))
    return env
