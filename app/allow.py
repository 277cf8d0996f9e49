"""The ``Allow`` header of an OPTIONS answer: every method of the path, whichever handler registered it first.

Litestar answers OPTIONS from the first route object registered for a path, so a path whose GET and POST are two
handler functions (``/api/finance/batches``) answered ``Allow: GET, OPTIONS`` (RFC 9110: the methods the resource
supports; schemathesis's allow_header_conformance). This middleware sets it from the app's routes.
"""

from __future__ import annotations

from litestar.middleware import ASGIMiddleware
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send


class AllowHeaderMiddleware(ASGIMiddleware):
    scopes = ("http",)  # type: ignore[assignment]

    def __init__(self) -> None:
        self._methods: dict[str, str] | None = None

    def _allow(self, scope: Scope, template: str) -> str | None:
        if self._methods is None:
            found: dict[str, set[str]] = {}
            for route in scope["litestar_app"].routes:
                if isinstance(route, HTTPRoute):
                    found.setdefault(route.path_format, set()).update(route.methods)
            self._methods = {path: ", ".join(sorted(m)) for path, m in found.items()}
        return self._methods.get(template)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        allow = self._allow(scope, scope.get("path_template", "")) if scope.get("method") == "OPTIONS" else None
        if allow is None:
            await next_app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
                message = {**message, "headers": [*headers, (b"allow", allow.encode())]}
            await send(message)

        await next_app(scope, receive, send_with_allow)
