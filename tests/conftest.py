"""Test set-up: a fresh database per test run (PostgreSQL when ZHIDA_TEST_POSTGRES_DSN is set, else SQLite),
migrated with the committed migrations, and the real Redis when ZHIDA_TEST_REDIS_URL is set."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_TMP = Path(tempfile.mkdtemp(prefix="zhida-tests-"))
PG_ADMIN_DSN = os.environ.get("ZHIDA_TEST_POSTGRES_DSN")
REDIS_URL = os.environ.get("ZHIDA_TEST_REDIS_URL")
ON_POSTGRES = bool(PG_ADMIN_DSN)
TEST_DB_NAME = f"zhida_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


def _pg_admin(sql: str) -> None:
    """One statement on the PostgreSQL server's admin database (creating or dropping the test database)."""
    import asyncpg

    async def _run():
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(_run())


def _create_pg_database() -> str:
    _pg_admin(f'CREATE DATABASE "{TEST_DB_NAME}"')
    base, _, _ = PG_ADMIN_DSN.rpartition("/")
    return f"{base}/{TEST_DB_NAME}"


# Configuration must be in the environment before app (and its Piccolo engine) is imported.
if ON_POSTGRES:
    os.environ["ZHIDA_DATABASE_URL"] = _create_pg_database()
else:
    os.environ["ZHIDA_DATABASE_URL"] = f"sqlite:///{_TMP / 'zhida-test.db'}"
os.environ.pop("ZHIDA_REDIS_URL", None)  # tests that want Redis ask for it (redis_url fixture)
os.environ.pop("ZHIDA_BANK_URL", None)
os.environ["ZHIDA_DATA_DIR"] = str(_TMP / "data")
# Secrets the shared-deployment shape (PostgreSQL, Redis, a bank URL) requires; the embedded mode would generate them
# into the data dir (tests/app/test_secrets.py covers that). The SMS secret is left to be generated.
os.environ.setdefault("ZHIDA_SECRET_KEY", "test-secret-key-0123456789abcdef")
os.environ.setdefault("ZHIDA_AUDIT_KEY", "test-audit-key-0123456789abcdef0")
os.environ.setdefault("ZHIDA_WEBHOOK_SECRET", "test-webhook-secret-0123456789ab")
os.environ.setdefault("ZHIDA_BANK_SECRET", "test-bank-secret-0123456789abcdef")

import app  # noqa: E402,F401


def pytest_report_header(config):
    return f"zhida database: {'PostgreSQL ' + TEST_DB_NAME if ON_POSTGRES else 'SQLite'}; redis: {REDIS_URL or 'embedded only'}"


@pytest.fixture(scope="session", autouse=True)
async def database():
    """The migrated test database, open for the whole run."""
    from app.db import close_database, migrate, open_database

    await migrate()
    await open_database()
    yield
    await close_database()


@pytest.fixture(scope="session", autouse=True)
def _drop_pg_database():
    yield
    if ON_POSTGRES:
        _pg_admin(f'DROP DATABASE IF EXISTS "{TEST_DB_NAME}" WITH (FORCE)')


async def truncate_all() -> None:
    """Empty every table of every app (for tests that need a blank platform)."""
    from piccolo.conf.apps import Finder

    from app.db import engine

    tables = [t for t in Finder().get_table_classes() if await t.table_exists()]
    if engine().engine_type == "postgres":
        names = ", ".join(f'"{t._meta.tablename}"' for t in tables)
        await tables[0].raw(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:
        for t in tables:
            await t.delete(force=True)
    from app import jobs

    if jobs.embedded():  # queued jobs name rows of the emptied tables: drop them too
        await (await jobs.get_queue()).flushall()


@pytest.fixture
async def fresh_db():
    await truncate_all()
    yield


@pytest.fixture
def redis_url():
    """The real Redis of the CI run; skipped only when the run was started without one (never in scripts/test)."""
    if not REDIS_URL:
        pytest.skip("ZHIDA_TEST_REDIS_URL not set (scripts/test always sets it)")
    return REDIS_URL


def zhida(*args: str, input: str | None = None, env: dict | None = None, check: bool = False, cwd=None):
    """Run the installed `zhida` command against the test database; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    exe = Path(sys.executable).parent / "zhida"
    proc = subprocess.run(
        [str(exe), *args], input=input, capture_output=True, text=True, env=full_env, cwd=cwd or _TMP, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"zhida {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def tmp_dir():
    d = _TMP / uuid.uuid4().hex[:8]
    d.mkdir(parents=True)
    return d


@pytest.fixture
def empty_database_url(tmp_dir):
    """The URL of a database of its own, empty (a SQLite file, or a PostgreSQL database dropped afterwards)."""
    if not ON_POSTGRES:
        yield f"sqlite:///{tmp_dir / 'empty.db'}"
        return
    name = f"zhida_empty_{uuid.uuid4().hex[:8]}"
    pg_admin(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_DSN.rpartition("/")[0]
    yield f"{base}/{name}"
    pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_admin(sql: str) -> None:
    """One statement as the PostgreSQL admin of the test run (CREATE / DROP DATABASE)."""
    import asyncpg

    async def _run() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(_run())
