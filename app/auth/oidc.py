"""统一身份认证: the OpenID Connect relying party — authorization code with PKCE, state and nonce, the ID token checked
against the provider's JWKS (signature, iss, aud, exp, iat, nonce), and RP-initiated logout.

The provider is found by discovery below ZHIDA_OIDC_ISSUER (its metadata and keys are cached for an hour; an unknown
key id reloads the keys once, for a provider that rotated them). What a login has promised the browser (state, nonce,
PKCE verifier, where to go next) travels in the encrypted session cookie and is used once: the callback takes it out.
Which account a login opens is app/auth/identities.py's business.
"""

from __future__ import annotations

import hmac
import time
import warnings
from typing import Any
from urllib.parse import urlencode

import authlib.deprecate  # installs authlib's own "always" filter now, so the "ignore" below comes before it
import httpx
from authlib.common.security import generate_token
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from app.auth.guards import PENDING_LOGIN_KEY
from app.config import Settings, get_settings
from app.errors import AppError
from kit.i18n import _l

with warnings.catch_warnings():
    # authlib 1.9 warns that it prefers the httpx2 fork; the client works on httpx, which the project uses throughout.
    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

PENDING_KEY = PENDING_LOGIN_KEY  # session key of a login under way (kept by SessionCheckMiddleware)
LOGOUT_KEY = "oidc_id_token"  # session key of an OIDC login's ID token, the hint of RP-initiated logout
PENDING_SECONDS = 600  # a login not completed at the provider within this is refused
CACHE_SECONDS = 3600
LEEWAY_SECONDS = 60  # clock skew allowed on exp/iat
_SYMMETRIC = ("HS256", "HS384", "HS512")
_cache: dict[str, tuple[float, Any]] = {}


class OidcRefused(AppError):
    """A callback that does not complete the login this browser started, or an ID token that does not hold."""

    status = 400


class OidcUnavailable(AppError):
    """The provider could not be reached or answered nonsense."""

    status = 502


def callback_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/login/oidc/callback"


def logout_return_url(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/login"


def _issuer(settings: Settings) -> str:
    if not settings.oidc_enabled:
        raise AppError(_l("统一身份认证未启用 / unified-identity login is not configured"), status=404)
    return (settings.oidc_issuer or "").rstrip("/")


async def _get_json(url: str, settings: Settings, **kwargs: Any) -> dict:
    try:
        async with httpx.AsyncClient(timeout=settings.oidc_timeout_seconds) as http:
            response = await http.get(url, **kwargs)
        response.raise_for_status()
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcUnavailable(
            f"统一身份认证服务暂时无法访问，请稍后再试 / the identity provider could not be reached ({type(exc).__name__})"
        )
    if not isinstance(body, dict):
        raise OidcUnavailable("the identity provider answered something other than a JSON object")
    return body


async def metadata(settings: Settings | None = None) -> dict:
    """The provider's discovery document; its ``issuer`` must be the configured one, exactly (OIDC Discovery §4.3)."""
    settings = settings or get_settings()
    issuer = _issuer(settings)
    hit = _cache.get("meta:" + issuer)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    meta = await _get_json(issuer + "/.well-known/openid-configuration", settings)
    if (meta.get("issuer") or "").rstrip("/") != issuer:
        raise OidcUnavailable("the identity provider's discovery document names another issuer: refusing it")
    for needed in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(meta.get(needed), str):
            raise OidcUnavailable(f"the identity provider's discovery document has no {needed}")
    _cache["meta:" + issuer] = (time.monotonic() + CACHE_SECONDS, meta)
    return meta


async def _keys(meta: dict, settings: Settings, *, reload: bool = False) -> KeySet:
    key = "jwks:" + meta["jwks_uri"]
    hit = _cache.get(key)
    if hit and hit[0] > time.monotonic() and not reload:
        return hit[1]
    keys = KeySet.import_key_set(await _get_json(meta["jwks_uri"], settings))  # type: ignore[arg-type]
    _cache[key] = (time.monotonic() + CACHE_SECONDS, keys)
    return keys


def _client(settings: Settings) -> AsyncOAuth2Client:
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id,
        client_secret=secret,
        scope=settings.oidc_scopes,
        redirect_uri=callback_url(settings),
        code_challenge_method="S256",
        timeout=settings.oidc_timeout_seconds,
    )


async def begin_login(next_path: str, settings: Settings | None = None) -> tuple[str, dict]:
    """The provider's authorization URL for a new login, and what the session must remember of it."""
    settings = settings or get_settings()
    meta = await metadata(settings)
    pending = {
        "state": generate_token(32),
        "nonce": generate_token(32),
        "verifier": generate_token(64),
        "next": next_path,
        "at": int(time.time()),
    }
    async with _client(settings) as client:
        url, _ = client.create_authorization_url(
            meta["authorization_endpoint"],
            state=pending["state"],
            nonce=pending["nonce"],
            code_verifier=pending["verifier"],
        )
    return url, pending


def _refused(zh: str, en: str) -> OidcRefused:
    return OidcRefused(f"统一身份认证登录失败：{zh} / unified-identity login failed: {en}")


async def finish_login(pending: Any, params: dict[str, str], settings: Settings | None = None) -> dict:
    """The claims of the person the provider logged in, given the callback's query and the session's pending login:
    the state must be this browser's, the code is exchanged with the PKCE verifier, and the ID token must hold
    (verify_id_token). The claims carry ``id_token`` itself too (for the logout hint)."""
    settings = settings or get_settings()
    meta = await metadata(settings)
    issuer = _issuer(settings)
    if not isinstance(pending, dict) or not all(
        isinstance(pending.get(k), str) for k in ("state", "nonce", "verifier")
    ):
        raise _refused("登录请求已失效，请重新登录", "no login of this browser is under way; start again")
    if not hmac.compare_digest(str(params.get("state", "")), pending["state"]):
        raise _refused("状态参数不符（state）", "the state does not match the login this browser started")
    if int(time.time()) - int(pending.get("at", 0)) > PENDING_SECONDS:
        raise _refused("登录超时，请重新登录", "the login took too long; start again")
    if params.get("error"):
        raise _refused("认证服务拒绝了登录", f"the provider answered {str(params['error'])[:64]!r}")
    # RFC 9207: the provider names itself in the response, so a response from another provider is not taken for its.
    if "iss" in params or meta.get("authorization_response_iss_parameter_supported"):
        if (params.get("iss") or "").rstrip("/") != issuer:
            raise _refused("认证响应来自其他签发方", "the response names another issuer")
    if not params.get("code"):
        raise _refused("缺少授权码", "the callback carries no authorization code")
    async with _client(settings) as client:
        try:
            token = await client.fetch_token(
                meta["token_endpoint"],
                grant_type="authorization_code",
                code=params["code"],
                code_verifier=pending["verifier"],
            )
        except (OAuthError, httpx.HTTPError, ValueError) as exc:
            raise _refused("授权码兑换令牌失败", f"the token endpoint refused the code ({type(exc).__name__})")
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise _refused("认证服务未返回身份令牌", "the token response has no ID token")
    claims = await verify_id_token(id_token, nonce=pending["nonce"], settings=settings)
    if meta.get("userinfo_endpoint") and token.get("access_token"):
        # Many providers (node-oidc-provider by default) put the profile claims in userinfo only.
        info = await _get_json(
            meta["userinfo_endpoint"], settings, headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        if info.get("sub") != claims["sub"]:
            raise _refused("用户信息与身份令牌不符", "userinfo names another subject than the ID token")
        claims = {**info, **claims}
    return {**claims, "id_token": id_token}


async def verify_id_token(id_token: str, *, nonce: str, settings: Settings | None = None) -> dict:
    """The claims of an ID token signed by one of the provider's keys, issued by it to this client, not expired, and
    carrying this login's nonce; OidcRefused otherwise."""
    settings = settings or get_settings()
    meta = await metadata(settings)
    allowed = [a for a in meta.get("id_token_signing_alg_values_supported") or ["RS256"] if a not in _SYMMETRIC]
    allowed = [a for a in allowed if a != "none"]
    try:
        try:
            token = jwt.decode(id_token, await _keys(meta, settings), algorithms=allowed)
        except InvalidKeyIdError:
            token = jwt.decode(id_token, await _keys(meta, settings, reload=True), algorithms=allowed)
    except (JoseError, ValueError) as exc:
        raise _refused("身份令牌签名无效", f"the ID token's signature does not verify ({type(exc).__name__})")
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": _issuer(settings)},
        sub={"essential": True},
        aud={"essential": True},  # checked below: one of its values must be this client
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        what = getattr(exc, "claim", "") or type(exc).__name__
        raise _refused(f"身份令牌无效（{what}）", f"the ID token does not hold: {what}")
    audience = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if settings.oidc_client_id not in audience or (len(audience) > 1 and claims.get("azp") != settings.oidc_client_id):
        raise _refused("身份令牌签发给了其他应用（aud）", "the ID token was issued to another client (aud)")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _refused("身份令牌缺少 sub", "the ID token names no subject")
    return dict(claims)


async def end_session_url(id_token: str | None, settings: Settings | None = None) -> str | None:
    """Where to send the browser to end its session at the provider too (RP-initiated logout), or None when the
    provider has no end_session_endpoint (or cannot be reached: the local logout has happened either way)."""
    settings = settings or get_settings()
    try:
        meta = await metadata(settings)
    except AppError:
        return None
    endpoint = meta.get("end_session_endpoint")
    if not isinstance(endpoint, str):
        return None
    query = {"client_id": settings.oidc_client_id, "post_logout_redirect_uri": logout_return_url(settings)}
    if id_token:
        query["id_token_hint"] = id_token
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query)
