"""create_app(): the Litestar application — JSON API under /api, OpenAPI at /schema, the web UI under /."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jinja2
from litestar import Litestar, MediaType, Request, Response, Router
from litestar.config.csrf import CSRFConfig
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

import app  # noqa: F401  (sets PICCOLO_CONF)
from app import health, i18n, jobs, logs, metrics, people
from app.allow import AllowHeaderMiddleware
from app.auth.guards import SessionCheckMiddleware, current_user, requires
from app.auth.sessions import SESSION_HOURS
from app.bounds import bounded_integers, declare_bounds
from app.breadcrumbs import page_breadcrumbs
from app.config import get_settings
from app.controllers import (
    admin,
    applications,
    audit,
    cockpit,
    core,
    dashboard,
    eligibility,
    evidence,
    hotline,
    identity,
    library,
    near,
    notifications,
    oversight,
    payments,
    policies,
    portal,
    portal_contacts,
    portal_pages,
    progress,
    publicity,
    receipts,
    service,
    staff_inbox,
    unpaid,
)
from app.controllers.core import login_redirect
from app.db import close_database, open_database
from app.flash import back_to_form, flash, pop_flashes, refusal_text
from app.security_headers import CspNonceMiddleware, csp_nonce, security_headers
from kit.errors import AppError, Invalid
from kit.i18n import RequestProblems, _l
from kit.masking import install_log_masking, scrub_text

HERE = Path(__file__).parent
log = logging.getLogger("zhida")


ROUTE_MODULES = (
    core,
    identity,
    audit,
    admin,
    policies,
    eligibility,
    notifications,
    payments,
    portal,
    portal_contacts,
    portal_pages,
    applications,
    receipts,
    progress,
    library,
    dashboard,
    cockpit,
    unpaid,
    near,
    service,
    oversight,
    evidence,
    publicity,
    hotline,
    staff_inbox,
)


def _route_handlers() -> list:
    return [handler for module in (*ROUTE_MODULES, health, metrics) for handler in module.route_handlers]


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api") and "text/html" in request.headers.get("accept", "")


# Litestar's own refusals carry the HTTP reason phrase ("Not Found"): a person reads a sentence instead.
_STATUS_SENTENCES = {
    400: _l("The request could not be understood."),
    401: _l("Please log in."),
    403: _l("You may not open this page."),
    404: _l("There is no such page, or it is no longer here."),
    405: _l("This page cannot be used this way."),
    409: _l("This conflicts with what is stored; reload the page and try again."),
    429: _l("Too many requests; wait a moment and try again."),
}


def _error_response(
    request: Request,
    status: int,
    message: str,
    detail: Any = None,
    headers: dict[str, str] | None = None,
    exc: AppError | None = None,
) -> Response:
    """The error page (in the visitor's language) or the API's ``{error, detail}`` (English unless the request asks
    for Chinese: app/i18n.api_lang_of)."""
    html = _wants_html(request)
    lang = i18n.lang_of(request) if html else i18n.api_lang_of(request)
    if exc is not None:
        # The API's English is the message itself, as the CLI prints it; a page names roles in words.
        message = exc.message if lang == "en" and not html else i18n.error_text(lang, exc)
    else:
        message = i18n.gettext(lang, message)
    back = back_to_form(request) if 400 <= status < 500 and current_user(request) else None
    if back and flash(request, refusal_text(request, status, message), "error"):
        # A refused form goes back to its page with the reason on it, not to a bare error page.
        return Redirect(back, status_code=303)
    if html:
        return Template(
            "error.html",
            context={"status": status, "message": message, "detail": detail},
            status_code=status,
            media_type=MediaType.HTML,
            headers=headers,
        )
    return Response({"error": message, "detail": detail}, status_code=status, headers=headers)


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    """Litestar's own refusals (guards, request validation, unknown routes) in the platform's error body."""
    if isinstance(exc, NotAuthorizedException) and _wants_html(request):
        return login_redirect(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    detail = getattr(exc, "extra", None)
    if isinstance(exc, ValidationException):
        # The API's English stays Litestar's sentence (the validators' messages are in ``detail``); a person reads
        # each validator's message (a catalog msgid, app/i18n.request_problems) in their language.
        english = Invalid(_l("the request is not valid: {problem}"), problem=str(exc.detail)).message
        invalid = Invalid(_l("the request is not valid: {problem}"), problem=_request_problems(detail, exc))
        invalid.message = english
        return _error_response(request, exc.status_code, english, detail, exc=invalid)
    message = str(exc.detail)
    if _wants_html(request) and exc.status_code in _STATUS_SENTENCES and message == HTTPStatus(exc.status_code).phrase:
        message = _STATUS_SENTENCES[exc.status_code]
    # Litestar's own headers stay (a 405's Allow, RFC 9110).
    return _error_response(request, exc.status_code, message, detail or None, headers=exc.headers or None)


def _request_problems(detail: Any, exc: HTTPException) -> RequestProblems | str:
    """Litestar's validation ``extra`` (``[{"key": …, "message": "Value error, …"}]``) as (field, message) pairs."""
    pairs = []
    for item in detail if isinstance(detail, list) else []:
        if isinstance(item, dict) and isinstance(item.get("message"), str):
            message = item["message"].removeprefix("Value error, ")
            pairs.append((str(item.get("key") or ""), message))
    return RequestProblems(pairs) if pairs else str(exc.detail)


def app_error_handler(request: Request, exc: AppError) -> Response:
    """Every domain's refusal (and a failed bank call, as 502/503): its message, status and detail."""
    return _error_response(request, exc.status, exc.message, exc.detail, exc=exc)


def too_deep_handler(request: Request, exc: RecursionError) -> Response:
    """A body nested past what the decoder can walk (JSON thousands of levels deep) is the sender's error, not ours."""
    return _error_response(request, 400, _l("the request body is nested too deeply to read"), None)


def internal_error_handler(request: Request, exc: Exception) -> Response:
    """Anything else is our bug: logged with its trace (the path's long numbers masked), answered 500 in words."""
    log.exception("unhandled error on %s %s", request.method, scrub_text(request.url.path))
    return _error_response(request, 500, _l("internal error; it has been logged"), None)


def _session_secret(secret_key: str) -> bytes:
    return hashlib.sha256(secret_key.encode()).digest()


def create_app() -> Litestar:
    settings = get_settings()
    settings.check_secrets()  # a deployment without its own secrets does not start (app/config.py)
    install_log_masking()  # no whole ID number or account in the server's log (kit/masking.py)
    if not logs.configured():
        logs.configure_logging()  # served by something other than `zhida serve`, which configured it already
    background: dict[str, asyncio.Task] = {}

    async def on_startup(application: Litestar) -> None:
        declare_bounds(application)  # the int bounds of app/bounds.py, stated in the OpenAPI schema
        await open_database()
        if jobs.embedded():
            # Embedded mode: the same arq worker runs inside the web process.
            background["worker"] = asyncio.create_task(jobs.run_background_worker())

    async def on_shutdown() -> None:
        task = background.pop("worker", None)
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await close_database()

    def _jinja_setup(engine: JinjaTemplateEngine) -> None:
        i18n.register(engine.engine)
        engine.engine.globals["platform_name"] = settings.platform_name
        engine.engine.globals["breadcrumbs"] = page_breadcrumbs
        engine.engine.globals["pop_flashes"] = pop_flashes
        engine.engine.globals["person"] = people.person  # a staff member by display name (app/people.py)
        engine.engine.globals["dashboards_of"] = service.dashboards_of  # the dashboards' shared nav, by role
        engine.engine.globals["csp_nonce"] = jinja2.pass_context(lambda ctx: csp_nonce(ctx.get("request")))

    async def _before_request(request: Request) -> None:
        bounded_integers(request)
        await people.load(request)  # staff named by their display names on pages (app/people.py)

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
            logs.RequestIdMiddleware,
            metrics.HTTP_METRICS.middleware,
            CspNonceMiddleware(),
            CookieBackendConfig(
                secret=_session_secret(settings.secret_key),
                max_age=SESSION_HOURS * 3600,
                httponly=True,
                secure=settings.secure_cookies,
                samesite="lax",
                key="zhida_session",
            ).middleware,
            SessionCheckMiddleware(),
            AllowHeaderMiddleware(),
        ],
        csrf_config=CSRFConfig(
            secret=settings.secret_key,
            cookie_samesite="lax",
            cookie_secure=settings.secure_cookies,
            exclude=["/api/exchange", "/api/public/"],  # the anonymous API (no session to ride on)
        ),
        # Litestar picks the handler of the nearest class in the exception's MRO: AppError before Exception.
        exception_handlers={
            HTTPException: http_error_handler,
            AppError: app_error_handler,
            RecursionError: too_deep_handler,
            Exception: internal_error_handler,
        },
        # The API's description is for logged-in users only.
        openapi_config=OpenAPIConfig(
            title="Zhida 政策直达 API",
            version="0.1.0",
            path="/schema",
            openapi_router=Router(path="/schema", route_handlers=[], guards=[requires()], include_in_schema=False),
        ),
        before_send=[security_headers(hsts=settings.secure_cookies)],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        # Every int path/query parameter within what the database holds (app/bounds.py): a 400, never a driver's 500.
        before_request=_before_request,
        debug=False,
        # Logging is app/logs.py's, configured once for the process: Litestar's default set-up would replace the
        # root handlers with its own plain-text ones.
        logging_config=None,
    )
