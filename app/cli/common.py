"""What every command shares: running a coroutine against the database, refusing in words, exit codes."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import click

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3


class Refused(click.ClickException):
    """Exit 1 with the reason on stderr, no traceback."""

    exit_code = EXIT_REFUSED

    def show(self, file=None) -> None:
        click.echo(f"zhida: {self.format_message()}", err=True)


def refuse(message: str) -> NoReturn:
    raise Refused(message)


def _is_domain_error(exc: BaseException) -> bool:
    # Every domain's error base carries a message written for a person and an HTTP status.
    return hasattr(exc, "message") and hasattr(exc, "status")


def run(coro_fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Run ``coro_fn`` with the database open; domain errors become exit 1 with their message."""

    async def _main():
        from app.db import close_database, open_database

        await open_database()
        try:
            return await coro_fn(*args, **kwargs)
        finally:
            await close_database()

    try:
        return asyncio.run(_main())
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - the operator gets words, not a traceback
        if _is_domain_error(exc):
            refuse(exc.message)
        if exc.__class__.__name__ in {
            "OperationalError",
            "ConnectionRefusedError",
            "InvalidCatalogNameError",
        } or isinstance(exc, OSError):
            refuse(f"cannot reach the database or a service: {exc}")
        raise


def cli_operator():
    """Who ran a command that names no user (the contract's `profiles import`, `batch run` without --actor): the
    operating-system account, or ZHIDA_ACTOR when a wrapper sets it; recorded in the audit trail as cli:<name>."""
    from app.audit import AuditActor

    user = os.environ.get("ZHIDA_ACTOR") or os.environ.get("USER") or "operator"
    return AuditActor(f"cli:{user}", "operator")


async def actor_of(name: str, roles: tuple[str, ...] = (), what: str = ""):
    """The AuditActor of user NAME (an --actor option); refused unless the user exists and, when ``roles`` are
    given, holds one of them."""
    from app.audit import AuditActor
    from app.auth.service import get_user

    user = await get_user(name)
    if user is None:
        refuse(f"no active user named {name!r} (create one with `zhida users create {name} --role ...`)")
    if roles and user["role"] not in roles:
        refuse(f"{what} needs the role {' or '.join(roles)}; {name} is {user['role']}")
    return AuditActor(user["username"], user["role"])


def not_built(what: str) -> NoReturn:
    refuse(f"`zhida {what}` is not built yet in this version")


def progress_enabled(flag: bool) -> bool:
    """Progress on a terminal; on a pipe only with --progress."""
    return flag or sys.stderr.isatty()
