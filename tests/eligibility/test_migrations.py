"""The migration that made a match unique by (rule set, subject, digest) keeps the stored matches, forwards and
backwards, on the database the suite runs on (SQLite rebuilds the table; PostgreSQL alters it)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

MIGRATION = "2026-11-22T10:55:00:000000"
BIN = Path(sys.executable).parent


def _run(url: str, *cmd: str) -> None:
    proc = subprocess.run(
        [str(BIN / cmd[0]), *cmd[1:]],
        env={**os.environ, "ZHIDA_DATABASE_URL": url},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _sql(url: str, query: str, *args):
    """Run one statement on the database at ``url``; returns the rows, or the error's class name."""
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            rows = conn.execute(query.replace("$", "?"), args).fetchall()
            conn.commit()
            return rows
        except sqlite3.IntegrityError as e:
            return type(e).__name__
        finally:
            conn.close()
    import asyncpg

    async def go():
        conn = await asyncpg.connect(url)
        try:
            return [tuple(r) for r in await conn.fetch(query, *args)]
        except asyncpg.UniqueViolationError:
            return "IntegrityError"
        finally:
            await conn.close()

    return asyncio.run(go())


def _insert(url: str, key: str, subject: str, digest: str):
    return _sql(
        url,
        "INSERT INTO eligibility_match (ruleset_key, subject_id, match_digest, as_of, created_at) "
        "VALUES ($1, $2, $3, '2025-06-30', '2026-01-01T00:00:00+00:00')",
        key,
        subject,
        digest,
    )


def _indexes(url: str) -> set[str]:
    if url.startswith("sqlite"):
        rows = _sql(url, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'eligibility_match'")
    else:
        rows = _sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'eligibility_match'")
    return {r[0] for r in rows}


def test_match_identity_migration_keeps_matches_both_ways(empty_database_url):
    _run(empty_database_url, "zhida", "db", "migrate")
    assert _insert(empty_database_url, "K@1", "S1", "d1") == [] and _insert(empty_database_url, "K@1", "S2", "d2") == []
    count = "SELECT COUNT(*) FROM eligibility_match"

    _run(empty_database_url, "piccolo", "migrations", "backwards", "eligibility", MIGRATION, "--auto_agree")
    assert _sql(empty_database_url, count) == [(2,)]
    assert _insert(empty_database_url, "K@2", "S1", "d1") == "IntegrityError"  # before: the digest alone was unique
    assert {
        "eligibility_match_ruleset_key",
        "eligibility_match_subject_id",
        "eligibility_match_version_id",
    } <= _indexes(empty_database_url)

    _run(empty_database_url, "piccolo", "migrations", "forwards", "eligibility")
    assert _sql(empty_database_url, count) == [(2,)]
    assert _insert(empty_database_url, "K@1", "S1", "d1") == "IntegrityError"
    assert _insert(empty_database_url, "K@2", "S1", "d1") == []  # the identity is (rule set, subject, digest)
    after = _indexes(empty_database_url)
    assert {"eligibility_match_subject_id", "eligibility_match_version_id"} <= after
    assert "eligibility_match_ruleset_key" not in after  # the identity index leads with the rule set
