"""Routes of the platform itself: login/logout, language switch, each role's home page."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from litestar import Request, get, post
from litestar.enums import MediaType, RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import BaseModel

from app import todo
from app.auth import oidc
from app.auth.guards import PUBLIC, SESSION_KEY, current_user, requires, session_token
from app.auth.service import LoginRefused, TooManyAttempts, authenticate
from app.auth.sessions import close_session, open_session
from app.config import get_settings
from app.i18n import ROLE_LABELS, error_text, lang_of
from app.schemas.errors import errors
from app.schemas.platform import SessionUserRead
from kit.vocab import Role

# What each role is shown first: (path, zh, en) — pages other modules serve.
ROLE_LINKS: dict[Role, list[tuple[str, str, str]]] = {
    Role.POLICY_OFFICER: [
        ("/policies", "政策管理", "Policies"),
        ("/policies/new", "新建政策", "New policy"),
        ("/applications", "申请审核", "Applications"),
        ("/applications/objections", "异议处理", "Objections"),
        ("/oversight/service", "服务看板", "Service dashboard"),
    ],
    Role.POLICY_REVIEWER: [
        ("/policies", "政策管理", "Policies"),
        ("/policies?status=in_review", "待审核", "Awaiting review"),
        ("/applications", "申请审核", "Applications"),
        ("/applications/objections", "异议处理", "Objections"),
        ("/oversight/service", "服务看板", "Service dashboard"),
    ],
    Role.FINANCE_MAKER: [
        ("/finance", "资金拨付", "Disbursement"),
        ("/finance/exceptions", "异常处理", "Exceptions"),
        ("/applications/accounts", "账户核验", "Account verification"),
        ("/oversight/cockpit", "驾驶舱", "Leaders' overview"),
        ("/oversight/funnel", "政策漏斗", "Policy funnel"),
        ("/oversight/dashboard", "资金监管看板", "Funds dashboard"),
    ],
    Role.FINANCE_CHECKER: [
        ("/finance", "资金拨付", "Disbursement"),
        ("/finance/reconciliation", "对账", "Reconciliation"),
        ("/applications/accounts", "账户核验", "Account verification"),
        ("/oversight/cockpit", "驾驶舱", "Leaders' overview"),
        ("/oversight/funnel", "政策漏斗", "Policy funnel"),
        ("/oversight/dashboard", "资金监管看板", "Funds dashboard"),
    ],
    Role.AUDITOR: [
        ("/oversight", "风险拦截", "Risk flags"),
        ("/oversight/cockpit", "驾驶舱", "Leaders' overview"),
        ("/oversight/funnel", "政策漏斗", "Policy funnel"),
        ("/oversight/dashboard", "资金监管看板", "Funds dashboard"),
        ("/oversight/service", "服务看板", "Service dashboard"),
        ("/audit", "审计日志", "Audit trail"),
        ("/finance", "资金拨付", "Disbursement"),
    ],
    Role.ADMIN: [
        ("/admin/users", "用户管理", "Users"),
        ("/audit", "审计日志", "Audit trail"),
        ("/oversight/service", "服务看板", "Service dashboard"),
    ],
    Role.HOTLINE: [("/hotline", "12345热线", "Hotline")],
    Role.ENTERPRISE: [
        ("/portal", "我的政策", "My policies"),
        ("/portal/inbox", "消息", "Inbox"),
        ("/portal/hotline", "热线授权码", "Hotline code"),
    ],
    Role.TALENT: [
        ("/portal", "我的政策", "My policies"),
        ("/portal/inbox", "消息", "Inbox"),
        ("/portal/hotline", "热线授权码", "Hotline code"),
    ],
}


class LoginForm(BaseModel):
    username: str
    password: str
    next: str = "/"


@get("/login", opt={PUBLIC: True}, include_in_schema=False)
async def login_page(request: Request, next: str = "/") -> Template:
    return Template("login.html", context={"next": next, "error": None, "oidc": get_settings().oidc_enabled})


def safe_next(target: str) -> str:
    return target if target.startswith("/") and not target.startswith("//") else "/"


@post("/login", opt={PUBLIC: True}, include_in_schema=False)
async def login(request: Request, data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)]) -> Any:
    try:
        user = await authenticate(data.username.strip(), data.password, source=client_source(request))
    except (LoginRefused, TooManyAttempts) as exc:
        return Template(
            "login.html",
            context={
                "next": data.next,
                "error": error_text(lang_of(request), exc),
                "oidc": get_settings().oidc_enabled,
            },
            status_code=exc.status,
            media_type=MediaType.HTML,
        )
    # A new token each login: a session id planted before the login is worth nothing after it.
    request.set_session({SESSION_KEY: await open_session(user["username"])})
    return Redirect(safe_next(data.next))


def client_source(request: Request) -> str:
    """Where a login comes from, for the throttle: the client's address (uvicorn takes it from X-Forwarded-For only
    when the proxy is in --forwarded-allow-ips)."""
    return (request.client.host if request.client else "") or "unknown"


@post("/logout", guards=[requires()], include_in_schema=False)
async def logout(request: Request) -> Redirect | Template:
    id_token = request.session.get(oidc.LOGOUT_KEY) if isinstance(request.session, dict) else None
    await close_session(session_token(request))
    request.clear_session()
    # A unified-identity login ends at the provider too (RP-initiated logout), which sends the browser back to /login.
    # A page that moves on by itself, not a redirect: the CSP's form-action 'self' stops a form's redirect elsewhere.
    at_provider = await oidc.end_session_url(id_token) if id_token and get_settings().oidc_enabled else None
    if at_provider:
        return Template(
            "logout_provider.html", context={"end_session_url": at_provider}, status_code=200, media_type=MediaType.HTML
        )
    return Redirect("/login")


def _back_to(request: Request) -> str:
    """The page the switch was clicked on: the referer's path and query when it is this site, else home."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc != request.url.netloc:
        return "/"
    return safe_next(referer.path + (f"?{referer.query}" if referer.query else "") or "/")


@get("/lang/{lang:str}", opt={PUBLIC: True}, include_in_schema=False)
async def switch_language(request: Request, lang: str) -> Redirect:
    response = Redirect(_back_to(request))
    response.set_cookie(
        "lang",
        "en" if lang == "en" else "zh",
        max_age=365 * 86400,
        samesite="lax",
        secure=get_settings().secure_cookies,
    )
    return response


@get("/", guards=[requires()], include_in_schema=False)
async def home(request: Request) -> Template:
    user = current_user(request)
    return Template(
        "home.html",
        context={
            "user": user,
            "cards": await todo.cards_for(user["username"], user["role"]),
            "links": ROLE_LINKS.get(user["role"], []),
            "role_names": ROLE_LABELS,
        },
    )


@get("/api/me", guards=[requires()], tags=["platform"], responses=errors())
async def me(request: Request) -> SessionUserRead:
    """The logged-in user."""
    return SessionUserRead.model_validate(current_user(request))


def login_redirect(path: str) -> Redirect:
    return Redirect(f"/login?next={quote(path)}")


route_handlers = [login_page, login, logout, switch_language, home, me]
