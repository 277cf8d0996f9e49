"""The database: open and close the engine's pool, apply migrations, and a few dialect facts."""

from __future__ import annotations

import contextlib
import io

from piccolo.engine.finder import engine_finder


def engine():
    return engine_finder()


def is_postgres() -> bool:
    return engine().engine_type == "postgres"


async def open_database(max_size: int = 8) -> None:
    eng = engine()
    if eng.engine_type == "postgres" and eng.pool is None:
        await eng.start_connection_pool(min_size=1, max_size=max_size)


async def close_database() -> None:
    eng = engine()
    if eng.engine_type == "postgres" and eng.pool is not None:
        await eng.close_connection_pool()


async def migrate(verbose: bool = False) -> str:
    """Apply every app's pending Piccolo migrations, in dependency order. Returns Piccolo's report."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

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
