"""The embedded engine's transactions against a locked database: the refusal is an error the caller sees (and the
rematch job retries), and no connection is left open behind it — each leaked aiosqlite connection is a non-daemon
thread, and a process with one never exits (a 200,000-profile feed hung in threading._shutdown until killed)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest

from app.piccolo_conf import ZhidaSQLiteEngine


async def test_a_transaction_refused_by_a_locked_database_leaves_no_thread_behind(tmp_path):
    path = tmp_path / "locked.db"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.commit()
    setup.close()
    engine = ZhidaSQLiteEngine(path=str(path), timeout=0.2)
    holder = sqlite3.connect(path, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
    before = set(threading.enumerate())
    try:
        for _ in range(3):
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                async with engine.transaction() as tx:
                    await tx.connection.execute("INSERT INTO t VALUES (1)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    for _ in range(50):
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            break
        await asyncio.sleep(0.05)
    assert leaked == [], f"{len(leaked)} connection thread(s) left open: {leaked}"
    # And once the lock is gone the same engine writes normally.
    async with engine.transaction() as tx:
        await tx.connection.execute("INSERT INTO t VALUES (2)")
    check = sqlite3.connect(path)
    assert check.execute("SELECT x FROM t").fetchall() == [(2,)]
    check.close()
