"""Logging, configured once per process (command, server, worker): every record — ours, arq's, uvicorn's,
httpx's — goes through one root handler that writes JSON lines (structlog's ProcessorFormatter) or, on a terminal,
lines for a person. Each line carries the request id and the job of its context (kit/correlation.py); long numbers
(ID numbers, accounts, phones) are masked where records are made (kit/masking.py) and again in every rendered value.

ZHIDA_LOG_FORMAT: ``auto`` (JSON unless stderr is a terminal), ``json`` or ``console``; ZHIDA_LOG_LEVEL the level.
"""

from __future__ import annotations

import logging
import sys
import time
import traceback
from typing import IO, Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kit import correlation
from kit.masking import install_log_masking, scrub_text

REQUEST_ID_HEADER = "x-request-id"
access_log = logging.getLogger("zhida.http")


class _Handler(logging.StreamHandler):
    """The one root handler this module installs (found again by its class when logging is configured again)."""


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v) for v in value]
    return value


def _scrubbed(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: _scrub(v) for k, v in event.items()}


def _exception(traces: bool):
    """The trace of a record's exception as text (masked by _scrubbed after it), or, for the commands below debug
    level, only its type: an operator's log holds words, not values (app/cli/common.py)."""

    def render(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
        exc_info = event.pop("exc_info", None)
        if exc_info is True:
            exc_info = sys.exc_info()
        if exc_info and exc_info[1] is not None:
            if traces:
                event["exception"] = "".join(traceback.format_exception(*exc_info)).rstrip("\n")
            else:
                event["exception_type"] = f"{type(exc_info[1]).__module__}.{type(exc_info[1]).__qualname__}"
        return event

    return render


def wants_json(fmt: str, stream: IO[str]) -> bool:
    if fmt == "json":
        return True
    if fmt == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (isatty and isatty())


def _formatter(renderer: Any, stamp: structlog.processors.TimeStamper, traces: bool) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            stamp,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _exception(traces),
            _scrubbed,
            renderer,
        ],
    )


def json_formatter(traces: bool = True) -> logging.Formatter:
    """One JSON object per line: timestamp (UTC), level, logger, event, the context's request_id / job_id / job."""
    return _formatter(
        structlog.processors.JSONRenderer(ensure_ascii=False),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        traces,
    )


def console_formatter() -> logging.Formatter:
    return _formatter(
        structlog.dev.ConsoleRenderer(colors=False),
        structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
        True,
    )


def configured() -> bool:
    return any(isinstance(h, _Handler) for h in logging.getLogger().handlers)


def configure_logging(
    *, level: str | None = None, fmt: str | None = None, console: logging.Formatter | None = None
) -> logging.Handler:
    """Install (or re-point at this process's stderr) the root handler. ``console`` replaces the console formatter
    (the commands keep their operator's lines). Returns the handler."""
    from app.config import get_settings

    settings = get_settings()
    install_log_masking()
    number = logging.getLevelName((level or settings.log_level).upper())
    if not isinstance(number, int):
        number = logging.WARNING
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _Handler)), None)
    if handler is None:
        handler = _Handler(sys.stderr)
        root.addHandler(handler)
    handler.setStream(sys.stderr)  # this command's stderr (a test runner swaps it per invocation)
    handler.setLevel(number)
    debug = number <= logging.DEBUG
    if wants_json(fmt or settings.log_format, sys.stderr):
        handler.setFormatter(json_formatter(traces=console is None or debug))
    else:
        handler.setFormatter(console or console_formatter())
    root.setLevel(min(root.level or logging.WARNING, number))
    return handler


class RequestIdMiddleware:
    """Every HTTP request runs with a request id (the caller's X-Request-ID when it is a plain token, else a new
    one), answered in X-Request-ID; jobs it queues carry it (app/jobs.py). One access line per request: method, the
    route's template (never the path, which can hold a subject id), status and time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), None)
        rid = correlation.usable_request_id(given)
        status = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        with correlation.bound(request_id=rid):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                access_log.info(
                    "%s %s %s %.1fms",
                    scope.get("method", ""),
                    scope.get("path_template") or "(unrouted)",
                    status["code"],
                    (time.perf_counter() - started) * 1000,
                )
