"""The database: open and close the engine's pool and apply migrations (the engine itself is kit.db's)."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.engine.postgres import PostgresEngine

from kit.db import engine, is_postgres  # noqa: F401  (re-exported: app's callers know them from here)


async def open_database(max_size: int = 8) -> None:
    from app import wiring

    wiring.wire()  # every process (web, worker, CLI, tests) opens the database first
    eng = engine()
    if isinstance(eng, PostgresEngine) and eng.pool is None:
        await eng.start_connection_pool(min_size=1, max_size=max_size)


async def close_database() -> None:
    eng = engine()
    if isinstance(eng, PostgresEngine) and eng.pool is not None:
        await eng.close_connection_pool()


async def migrate(verbose: bool = False) -> str:
    """Apply every app's pending Piccolo migrations, in dependency order. Returns Piccolo's report."""
    eng = engine()
    if eng.engine_type == "sqlite":
        # WAL lets readers work while one writer commits; the setting persists in the file.
        await eng.run_ddl("PRAGMA journal_mode=WAL")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{out.getvalue()}")
    return out.getvalue()
