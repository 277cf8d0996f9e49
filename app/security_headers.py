"""The security headers on every response: CSP (scripts only from here or with the request's nonce), no framing,
no MIME sniffing, no referrer to other sites, and HSTS when the platform is served over https."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

NONCE_SCOPE_KEY = "zhida.csp_nonce"
# The Swagger/ReDoc pages (behind a login) load their scripts from a CDN: no script rule there, still no framing.
_DOCS_CSP = "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"


def content_security_policy(nonce: str) -> str:
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def csp_nonce(request: Any) -> str:
    """The nonce an inline <script> of this request's page carries: ``<script nonce="{{ csp_nonce() }}">``."""
    return request.scope.get(NONCE_SCOPE_KEY, "") if request is not None else ""


class CspNonceMiddleware(ASGIMiddleware):
    """Gives each request the nonce its page's inline scripts carry (before any handler renders a template)."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope[NONCE_SCOPE_KEY] = secrets.token_urlsafe(16)  # type: ignore[literal-required]
        await next_app(scope, receive, send)


def security_headers(hsts: bool) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook: it sees every response, those of unknown routes and of refusals too."""

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        docs = scope.get("path", "").startswith("/schema")
        nonce = scope.get(NONCE_SCOPE_KEY) or secrets.token_urlsafe(16)
        headers["Content-Security-Policy"] = _DOCS_CSP if docs else content_security_policy(nonce)
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"

    return before_send
