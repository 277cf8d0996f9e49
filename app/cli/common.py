"""What every command shares: running a coroutine against the database, refusing in words, exit codes."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from typing import IO, Any, NoReturn

import click

from app import logs
from app.audit import AuditActor
from app.auth import throttle
from app.auth.accounts import verify_password, verify_token
from app.config import get_settings
from app.db import close_database, open_database
from kit.errors import AppError
from kit.masking import scrub_text

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
log = logging.getLogger("zhida.cli")


class Refused(click.ClickException):
    """Exit 1 with the reason on stderr, no traceback."""

    exit_code = EXIT_REFUSED

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"zhida: {self.format_message()}", err=True)


def refuse(message: str) -> NoReturn:
    raise Refused(message)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _trace_without_data(exc: BaseException) -> str:
    """Where an error happened (files, lines, the code there) and its type: not its message or any value, which may
    carry personal data."""
    lines = []
    for frame in traceback.extract_tb(exc.__traceback__):
        lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n    {frame.line or ""}')
    cause = exc.__cause__ or exc.__context__
    tail = f" (from {type(cause).__module__}.{type(cause).__qualname__})" if cause is not None else ""
    return "\n".join(lines) + f"\n{type(exc).__module__}.{type(exc).__qualname__}{tail}"


def unexpected(exc: Exception) -> Refused:
    """An error nobody wrote a message for, as one line for the operator; its trace goes to the debug log only."""
    log.debug("unexpected error, trace without values:\n%s", _trace_without_data(exc))
    what = scrub_text(_one_line(str(exc)))[:300]
    return Refused(
        f"failed on an unexpected error ({type(exc).__name__}{': ' + what if what else ''}); "
        "run again with ZHIDA_LOG_LEVEL=DEBUG to log where it happened"
    )


def _is_unreachable(exc: Exception) -> bool:
    return isinstance(exc, OSError) or exc.__class__.__name__ in {
        "OperationalError",
        "ConnectionRefusedError",
        "InvalidCatalogNameError",
    }


def run(coro_fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Run ``coro_fn`` with the database open; a refusal (any AppError) becomes exit 1 with its message."""

    async def _main() -> Any:
        await open_database()
        try:
            return await coro_fn(*args, **kwargs)
        finally:
            await close_database()

    try:
        return asyncio.run(_main())
    except click.ClickException:
        raise
    except AppError as exc:
        refuse(_one_line(exc.message))
    except Exception as exc:  # noqa: BLE001 - the operator gets words, not a traceback
        if _is_unreachable(exc):
            refuse(f"cannot reach the database or a service: {scrub_text(_one_line(str(exc)))}")
        raise unexpected(exc) from None


def run_as(actor: str, step: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """``run`` a service step as the ``--actor`` user (authenticated by ``actor_of``): ``step(*args, actor=…,
    **kwargs)``."""

    async def _main() -> Any:
        return await step(*args, actor=await actor_of(actor), **kwargs)

    return run(_main)


class Commands(click.Group):
    """The `zhida` group: whatever a command raises ends as one line on stderr and exit 1, never a traceback
    (contracts/cli.md)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except AppError as exc:
            raise Refused(_one_line(exc.message)) from None
        except Exception as exc:  # noqa: BLE001 - see the class docstring
            raise unexpected(exc) from None


class _CliFormatter(logging.Formatter):
    """Log lines for an operator (contracts/cli.md: words, no traceback). A trace a library attached (``exc_info``) is
    dropped, or at DEBUG shown as where it happened without its message, whose values may be personal data."""

    def __init__(self, debug: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s" if debug else "%(message)s")
        self.debug = debug

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return _trace_without_data(ei[1]) if self.debug and ei[1] is not None else ""

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 - logging's name
        return stack_info if self.debug else ""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached the full trace on the record: never reuse it here.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record).rstrip("\n")
        finally:
            record.exc_text = cached


def configure_logging() -> None:
    """Log lines on stderr at ZHIDA_LOG_LEVEL (WARNING by default: a command's output stays its own): an operator's
    words on a terminal, JSON lines on a pipe or with ZHIDA_LOG_FORMAT=json (app/logs.py)."""
    level = logging.getLevelName(get_settings().log_level.upper())
    debug = isinstance(level, int) and level <= logging.DEBUG
    logs.configure_logging(console=_CliFormatter(debug=debug))


def os_user() -> str:
    """The operating-system account running this command (recorded beside the user it acts as)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no name for this uid in the environment nor the password database
        return f"uid:{os.getuid()}"


def cli_operator() -> AuditActor:
    """Who ran a command that names no user (the contract's `profiles import`, `batch run` without --actor): the
    operating-system account, or ZHIDA_ACTOR when a wrapper sets it; recorded in the audit trail as cli:<name>, with
    the OS account in the entry's detail (``os_user``)."""
    user = get_settings().actor or os.environ.get("USER") or "operator"
    return AuditActor(f"cli:{user}", "operator", os_user=os_user())


ACTOR_PASSWORD_ENV, ACTOR_TOKEN_ENV = "ZHIDA_ACTOR_PASSWORD", "ZHIDA_ACTOR_TOKEN"


async def authenticated(name: str, *, token_ok: bool = True) -> dict:
    """User NAME, once the command has proved to be run by them (contracts/cli.md): their personal token in
    ZHIDA_ACTOR_TOKEN, else their password in ZHIDA_ACTOR_PASSWORD, else a password prompt on a terminal. Refused
    (exit 1) otherwise, in one line; an unknown user and a wrong password read the same. ``token_ok=False``: the
    password only (issuing a token)."""
    token = os.environ.get(ACTOR_TOKEN_ENV) if token_ok else None
    if token:
        user = await verify_token(name, token.strip())
        if user is None:
            refuse(
                f"{ACTOR_TOKEN_ENV} is not a valid token of an active user {name!r} "
                f"(issue one with `zhida users token {name}`)"
            )
        return user
    password = os.environ.get(ACTOR_PASSWORD_ENV)
    if password is None:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            refuse(
                f"--actor {name} needs {name}'s password: set {ACTOR_PASSWORD_ENV}, run on a terminal to be asked, "
                f"or set {ACTOR_TOKEN_ENV} to a token from `zhida users token {name}`"
            )
        password = getpass.getpass(f"password of {name}: ")
    # Counted like a web login, with the OS account as the source: a script cannot guess a password faster.
    source = f"cli:{os_user()}"
    refusal = await throttle.reserve_attempt(source, name)
    if refusal is not None:
        refuse(
            f"--actor {name}: too many failed attempts; "
            + ("the account is locked (zhida users unlock)" if refusal.locked else f"wait {refusal.seconds} s")
        )
    user = await verify_password(name, password)
    if user is None:
        await throttle.attempt_failed(source, name)
        refuse(f"--actor {name}: no active user named {name!r} with this password ({ACTOR_PASSWORD_ENV} or the prompt)")
    await throttle.attempt_succeeded(source, name)
    return user


async def actor_of(name: str, roles: Sequence[str] = (), what: str = "", *, token_ok: bool = True) -> AuditActor:
    """The AuditActor of user NAME (an --actor option), authenticated (``authenticated``); refused unless, when
    ``roles`` are given, the user holds one of them. Its entries record the OS account too (``os_user``)."""
    user = await authenticated(name, token_ok=token_ok)
    if roles and user["role"] not in roles:
        refuse(f"{what} needs the role {' or '.join(roles)}; {name} is {user['role']}")
    return AuditActor(user["username"], user["role"], os_user=os_user())


def not_built(what: str) -> NoReturn:
    refuse(f"`zhida {what}` is not built yet in this version")


def progress_enabled(flag: bool) -> bool:
    """Progress on a terminal; on a pipe only with --progress."""
    return flag or sys.stderr.isatty()
