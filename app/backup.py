"""Backups that restore: the database (PostgreSQL: pg_dump's custom format; SQLite: the online backup API), then the
data dir (receipt cache, the receipt seal, attachments, the embedded bank simulator's state — its SQLite files
through the backup API too), and a manifest with the SHA-256 of every file. The secrets are named in the manifest
and never written: the audit key (ZHIDA_AUDIT_KEY, or secrets.json in the embedded mode) lives in the operator's key
store, and a restore needs the very key that sealed the trail (docs/operations.md).

The database is copied first, the data dir after it: the simulator's record may then be ahead of the database
(transfers sent after the snapshot), which a re-run resolves by asking the bank about each request id, never the
other way round (a ledger that knows of settlements the bank does not).

A restore goes into the configured database only when it is empty (no table at all), and into a data dir that does
not hold any of the backup's files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from app.config import SECRETS_FILE, Settings
from kit.errors import AppError

FORMAT = "zhida-backup/1"
MANIFEST = "manifest.json"
PG_DUMP_FILE = "database.pgdump"
SQLITE_FILE = "database.sqlite"
DATA = "data"
# Never written into a backup: the deployment's secrets, and files that only make sense while a process runs.
SKIPPED_NAMES = {SECRETS_FILE, ".secrets.lock"}
SKIPPED_SUFFIXES = ("-wal", "-shm", "-journal", ".lock")
NOT_INCLUDED = {
    "ZHIDA_AUDIT_KEY": "seals the audit trail's head: restore with the same key, or `zhida audit verify` fails "
    "(after a deliberate change: `zhida audit reseal`)",
    "ZHIDA_SECRET_KEY, ZHIDA_BANK_SECRET, ZHIDA_SMS_SECRET, ZHIDA_WEBHOOK_SECRET": "from the deployment's "
    "configuration or key store, as before",
    SECRETS_FILE: "the embedded mode's generated secrets (the audit key among them): copy it back into the data dir "
    "from where you keep it before `zhida restore`, or set ZHIDA_AUDIT_KEY to its audit_key",
}


class BackupRefused(AppError):
    status = 409


@dataclass
class BackupDone:
    path: Path
    database: str
    files: int
    bytes: int


@dataclass
class RestoreDone:
    database: str
    files: int
    audit_entries: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def postgres_tool(name: str, settings: Settings) -> str:
    """pg_dump / pg_restore: ZHIDA_PG_BIN_DIR when set, else the newest /usr/lib/postgresql/N/bin (Debian's layout;
    a newer client reads an older server), else the one on PATH."""
    if settings.pg_bin_dir:
        candidate = Path(settings.pg_bin_dir) / name
        if not os.access(candidate, os.X_OK):
            raise BackupRefused(f"ZHIDA_PG_BIN_DIR={settings.pg_bin_dir} holds no executable {name}")
        return str(candidate)
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path:
        return on_path
    raise BackupRefused(f"{name} is not installed: install PostgreSQL's client tools or set ZHIDA_PG_BIN_DIR")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password (which goes in PGPASSWORD, not on a command line others can read)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        host = parts.hostname or ""
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        parts = parts._replace(netloc=f"{user}{host}{port}")
    return urlunsplit(parts), env


def _run_tool(args: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        # The tool's own words (object names, not data); the password is never on its command line.
        raise BackupRefused(f"{what} failed: {' '.join(done.stderr.split())[:500]}")


def _sqlite_copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database being written (the online backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _data_files(data_dir: Path, exclude: set[Path]) -> list[Path]:
    out = []
    if not data_dir.is_dir():
        return out
    for path in sorted(data_dir.rglob("*")):
        if not path.is_file() or path.name in SKIPPED_NAMES or path.name.endswith(SKIPPED_SUFFIXES):
            continue
        if path.name.startswith(f".{SECRETS_FILE}."):
            continue
        resolved = path.resolve()
        if any(resolved == e or e in resolved.parents for e in exclude):
            continue
        out.append(path)
    return out


async def _facts(settings: Settings) -> dict[str, Any]:
    """What the manifest states about the database backed up (counts, not data)."""
    from kit.db import raw

    (audit,) = await raw("SELECT MAX(seq) AS n FROM app_audit_entry")
    payments = await raw("SELECT status, COUNT(*) AS n FROM pay_payment GROUP BY status")
    migrations = await raw("SELECT app_name, name FROM migration ORDER BY app_name, name")
    return {
        "audit_entries": int(audit["n"] or 0),
        "payments": {r["status"]: int(r["n"]) for r in payments},
        "migrations": [f"{r['app_name']}:{r['name']}" for r in migrations],
    }


async def backup(settings: Settings, out: Path) -> BackupDone:
    """Write a backup into the directory ``out`` (new or empty)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BackupRefused(f"{out} is not empty: back up into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    facts = await _facts(settings)
    started = dt.datetime.now(dt.UTC)
    if settings.is_postgres:
        url, env = _libpq(settings.database_url)
        db_file = out / PG_DUMP_FILE
        # One snapshot of the whole database (pg_dump runs in a single repeatable-read transaction).
        await asyncio.to_thread(
            _run_tool,
            [
                postgres_tool("pg_dump", settings),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={db_file}",
                f"--dbname={url}",
            ],
            env,
            "pg_dump",
        )
        kind = "postgresql"
    else:
        db_file = out / SQLITE_FILE
        await asyncio.to_thread(_sqlite_copy, Path(settings.sqlite_path), db_file)
        kind = "sqlite"

    data_dir = Path(settings.data_dir)
    exclude = {out.resolve()}
    if not settings.is_postgres:
        exclude.add(Path(settings.sqlite_path).resolve())
    files = []
    for path in _data_files(data_dir, exclude):
        rel = path.relative_to(data_dir)
        target = out / DATA / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if _is_sqlite(path):
            await asyncio.to_thread(_sqlite_copy, path, target)
        else:
            shutil.copy2(path, target)
        files.append({"path": rel.as_posix(), "sha256": _sha256(target), "size": target.stat().st_size})

    manifest = {
        "format": FORMAT,
        "created_at": started.isoformat(),
        "database": {
            "kind": kind,
            "file": db_file.name,
            "sha256": _sha256(db_file),
            "size": db_file.stat().st_size,
            **facts,
        },
        "data_dir": str(data_dir),
        "files": files,
        "not_included": NOT_INCLUDED,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return BackupDone(out, kind, len(files), db_file.stat().st_size + sum(f["size"] for f in files))


def read_manifest(source: Path) -> dict[str, Any]:
    """The backup's manifest, once every file it lists matches its checksum."""
    path = Path(source) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupRefused(f"{path} is not a readable backup manifest ({type(exc).__name__})") from None
    if manifest.get("format") != FORMAT:
        raise BackupRefused(f"{source} is not a {FORMAT} backup (format {manifest.get('format')!r})")
    listed = [(manifest["database"]["file"], manifest["database"]["sha256"])] + [
        (f"{DATA}/{f['path']}", f["sha256"]) for f in manifest["files"]
    ]
    for rel, digest in listed:
        file = Path(source) / rel
        if not file.is_file():
            raise BackupRefused(f"the backup lacks {rel}, which its manifest lists")
        if _sha256(file) != digest:
            raise BackupRefused(f"{rel} does not match its checksum in the manifest: the backup is damaged")
    return manifest


async def _pg_tables(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
        )
    finally:
        await conn.close()


def _sqlite_tables(path: Path) -> int:
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])


async def restore(settings: Settings, source: Path) -> RestoreDone:
    """Restore ``source`` into the configured database (refused unless it has no table) and data dir."""
    source = Path(source)
    manifest = read_manifest(source)
    kind = manifest["database"]["kind"]
    if kind != ("postgresql" if settings.is_postgres else "sqlite"):
        raise BackupRefused(
            f"the backup is of a {kind} database; ZHIDA_DATABASE_URL names a "
            f"{'postgresql' if settings.is_postgres else 'sqlite'} one"
        )
    if settings.is_postgres:
        tables = await _pg_tables(settings.database_url)
    else:
        tables = _sqlite_tables(Path(settings.sqlite_path))
    if tables:
        raise BackupRefused(
            f"the configured database is not empty ({tables} tables): restore only into a new, empty database"
        )
    data_dir = Path(settings.data_dir)
    clashes = [f["path"] for f in manifest["files"] if (data_dir / f["path"]).exists()]
    if clashes:
        raise BackupRefused(
            f"the data dir {data_dir} holds {len(clashes)} of the backup's files already ({clashes[0]}, …): restore "
            "into an empty data dir"
        )

    db_file = source / manifest["database"]["file"]
    if settings.is_postgres:
        url, env = _libpq(settings.database_url)
        await asyncio.to_thread(
            _run_tool,
            [
                postgres_tool("pg_restore", settings),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={url}",
                str(db_file),
            ],
            env,
            "pg_restore",
        )
    else:
        target = Path(settings.sqlite_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_sqlite_copy, db_file, target)
        with sqlite3.connect(target) as db:
            db.execute("PRAGMA journal_mode=WAL")

    for f in manifest["files"]:
        target = data_dir / f["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / DATA / f["path"], target)
    return RestoreDone(kind, len(manifest["files"]), int(manifest["database"].get("audit_entries") or 0))
