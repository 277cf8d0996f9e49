"""create_app(): the Litestar application — JSON API under /api, OpenAPI at /schema, the web UI under /."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

import app  # noqa: F401  (sets PICCOLO_CONF)
from app.config import get_settings

HERE = Path(__file__).parent
log = logging.getLogger("zhida")


def _route_handlers() -> list:
    from app.controllers import (
        admin,
        applications,
        audit,
        core,
        eligibility,
        notifications,
        payments,
        policies,
        portal,
        portal_pages,
        receipts,
    )

    handlers: list = []
    for module in (
        core,
        audit,
        admin,
        policies,
        eligibility,
        notifications,
        payments,
        portal,
        portal_pages,
        applications,
        receipts,
    ):
        handlers.extend(module.route_handlers)
    return handlers


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


def _error_response(request: Request, status: int, message: str, detail: Any = None) -> Response:
    if _wants_html(request):
        return Template(
            "error.html",
            context={"status": status, "message": message, "detail": detail},
            status_code=status,
            media_type=MediaType.HTML,
        )
    return Response({"error": message, "detail": detail}, status_code=status)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, NotAuthorizedException) and _wants_html(request):
        from app.controllers.core import login_redirect

        return login_redirect(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    detail = getattr(exc, "extra", None)
    if isinstance(exc, ValidationException):
        return _error_response(request, exc.status_code, "the request is not valid: " + str(exc.detail), detail)
    return _error_response(request, exc.status_code, str(exc.detail), detail or None)


def domain_error_handler(request: Request, exc: Exception) -> Response:
    """Every domain's error base has .message (for a person) and .status; anything else is a 500."""
    if hasattr(exc, "message") and hasattr(exc, "status"):
        return _error_response(request, int(exc.status), exc.message, getattr(exc, "detail", None))
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error_response(request, 500, "internal error; it has been logged", None)


def _session_secret(secret_key: str) -> bytes:
    return hashlib.sha256(secret_key.encode()).digest()


def create_app() -> Litestar:
    settings = get_settings()
    background: dict[str, asyncio.Task] = {}

    async def on_startup() -> None:
        from app import jobs
        from app.db import open_database

        await open_database()
        if jobs.embedded():
            # Embedded mode: the same arq worker runs inside the web process.
            background["worker"] = asyncio.create_task(jobs.run_background_worker())

    async def on_shutdown() -> None:
        from app.db import close_database

        task = background.pop("worker", None)
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await close_database()

    def _jinja_setup(engine: JinjaTemplateEngine) -> None:
        from app import i18n

        i18n.register(engine.engine)
        engine.engine.globals["platform_name"] = settings.platform_name

    return Litestar(
        route_handlers=[
            *_route_handlers(),
            create_static_files_router(
                path="/static", directories=[HERE / "static"], opt={"public": True}, include_in_schema=False
            ),
        ],
        template_config=TemplateConfig(
            directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_jinja_setup
        ),
        middleware=[
            CookieBackendConfig(
                secret=_session_secret(settings.secret_key),
                max_age=8 * 3600,
                httponly=True,
                samesite="lax",
                key="zhida_session",
            ).middleware
        ],
        csrf_config=CSRFConfig(secret=settings.secret_key, cookie_samesite="lax", exclude=["/api/exchange"]),
        exception_handlers={HTTPException: http_error_handler, Exception: domain_error_handler},
        openapi_config=OpenAPIConfig(title="Zhida 政策直达 API", version="0.1.0", path="/schema"),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        debug=False,
    )
