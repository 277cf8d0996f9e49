"""Commands of backups: backup (the database, the data dir and a manifest of checksums) and restore (into an empty
database). See app/backup.py and docs/operations.md."""

from __future__ import annotations

from pathlib import Path

import click

from app import backup as backups
from app.cli.common import run
from app.config import get_settings


@click.command("backup")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="a new or empty directory")
def backup_cmd(out: Path) -> None:
    """Back up the database (PostgreSQL: pg_dump custom format; SQLite: the online backup API) and the data dir,
    with a manifest of checksums. The secrets (the audit key, secrets.json) are named in the manifest, never written:
    keep them in your key store."""
    done = run(backups.backup, get_settings(), out)
    click.echo(f"backup written to {done.path}: {done.database} database, {done.files} data files, {done.bytes} bytes")
    click.echo(
        "not included: the audit key and the other secrets (ZHIDA_AUDIT_KEY…, secrets.json); a restore needs them",
        err=True,
    )


@click.command("restore")
@click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore_cmd(source: Path) -> None:
    """Restore a backup into the configured database, which must be empty (no table), and the data dir. Checks every
    file against the manifest first. Afterwards: `zhida db migrate` (a newer version's migrations), then `zhida audit
    verify` with the audit key that sealed the trail."""
    done = run(backups.restore, get_settings(), source)
    click.echo(
        f"restored a {done.database} database ({done.audit_entries} audit entries) and {done.files} data files; "
        "next: zhida db migrate, then zhida audit verify with the same ZHIDA_AUDIT_KEY (or secrets.json)"
    )


def register(main: click.Group) -> None:
    for cmd in (backup_cmd, restore_cmd):
        main.add_command(cmd)
