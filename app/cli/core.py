"""Commands of the platform itself: db migrate, serve, worker, users create, audit verify."""

from __future__ import annotations

import sys

import click
import uvicorn
from arq.worker import run_worker

from app import audit, logs
from app.auth import accounts
from app.auth.service import create_user, unlock_user
from app.cli.common import EXIT_REFUSED, actor_of, cli_operator, refuse, run
from app.config import get_settings
from app.db import migrate
from app.metrics import serve_worker_metrics
from app.worker import WorkerSettings, install_fast_loop
from kit.vocab import Role


@click.group("db")
def db_group() -> None:
    """The database."""


@db_group.command("migrate")
def db_migrate() -> None:
    """Apply Piccolo migrations to the configured database."""
    report = run(migrate)
    applied = report.count("forwards]... ok")
    click.echo(f"migrations applied: {applied}")


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """The web UI and the JSON API (OpenAPI at /schema)."""
    logs.configure_logging()  # the server's lines, uvicorn's among them: JSON or for a person (app/logs.py)
    # log_config=None: uvicorn keeps its hands off logging; its records reach the one root handler.
    uvicorn.run("app.main:create_app", factory=True, host=host, port=port, log_config=None, access_log=False)


@click.command()
def worker() -> None:
    """An arq worker for the configured Redis. Any number may run at once."""
    if not get_settings().redis_url:
        refuse("ZHIDA_REDIS_URL is not set: in the embedded mode jobs run inside each command, no worker is needed")
    logs.configure_logging()
    serve_worker_metrics()
    install_fast_loop()
    run_worker(WorkerSettings)


@click.group("users")
def users_group() -> None:
    """Users and roles."""


@users_group.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--display-name", default="", help="the name shown in the UI")
def users_create(name: str, role: str, password_stdin: bool, display_name: str) -> None:
    """Create a user. Enterprise and talent users are named by their subject id.

    The bootstrap path, as trusted as access to the database: the audit records the OS account that ran it. In the
    web UI an admin opens accounts with an activation code instead, and a second admin confirms policy, finance
    and admin roles."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    user = run(create_user, name, role, password, display_name=display_name, actor=cli_operator())
    click.echo(f"created {user['username']} ({user['role']})")


@users_group.command("token")
@click.argument("name")
@click.option("--revoke", is_flag=True, help="revoke NAME's token instead of issuing one")
def users_token(name: str, revoke: bool) -> None:
    """Issue a personal CLI token for NAME (printed once; the previous one stops working), after NAME's password
    (ZHIDA_ACTOR_PASSWORD or the prompt). Scripts then pass `--actor NAME` with ZHIDA_ACTOR_TOKEN=<token>."""

    async def _main() -> str | None:
        who = await actor_of(name, token_ok=False)
        if revoke:
            await accounts.revoke_token(name, who)
            return None
        return await accounts.issue_token(name, who)

    token = run(_main)
    click.echo(f"token of {name} revoked" if token is None else token)


@users_group.command("unlock")
@click.argument("name")
def users_unlock(name: str) -> None:
    """Lift the lock a user name got from failed logins from many sources (and each source's back-off for it)."""
    was_locked = run(unlock_user, name, cli_operator())
    click.echo(f"{name}: {'unlocked' if was_locked else 'was not locked; back-off cleared'}")


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check the audit trail's hash chain end to end; exit 1 naming the first broken entry."""
    result = run(audit.verify)
    if result.ok:
        click.echo(f"audit trail intact: {result.checked} entries verified")
        return
    where = f" at entry {result.broken_seq}" if result.broken_seq is not None else ""
    click.echo(f"audit trail BROKEN{where}: {result.reason} ({result.checked} entries before it verified)", err=True)
    sys.exit(EXIT_REFUSED)


@audit_group.command("reseal")
@click.option("--actor", required=True, help="an admin (recorded in the trail)")
@click.option("--reason", required=True, help="why: e.g. the audit key was changed on purpose")
def audit_reseal(actor: str, reason: str) -> None:
    """Seal the trail's head afresh under the configured key, after the key was changed or an upgrade ran with old
    processes still writing. Refused when any entry's hash or link is broken; recorded as audit.reseal with the head
    it found."""

    async def _main():
        return await audit.reseal(await actor_of(actor, (Role.ADMIN,), "reseal the audit trail"), reason)

    done = run(_main)
    found = done["found_head"]
    click.echo(
        f"audit trail resealed at entry {done['entries'] + 1} (audit.reseal); the head found was "
        + (
            f"entry {found['seq']}, {'sealed' if found['sealed'] else 'NOT sealed with this key'}"
            if found
            else "missing"
        )
    )


def register(main: click.Group) -> None:
    for cmd in (db_group, serve, worker, users_group, audit_group):
        main.add_command(cmd)
