"""Flash messages: a line the next page shows once (a refusal, a confirmation), kept in the signed session cookie.

A form's refusal (a 4xx from a service or a guard) goes back to the page the form was on, with the reason on it,
instead of a bare error page; that page's template shows what ``pop_flashes`` returns (base.html does, for all).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from app.i18n import lang_of

FLASH_KEY = "flash"
MAX_FLASHES = 3  # the cookie stays small whatever happens

# The first words of a refusal, by status, in the reader's language; the service's reason follows them.
REFUSALS: dict[int, tuple[str, str]] = {
    400: ("未能完成：填写的内容有误", "Not done: the form is not filled in correctly"),
    403: ("未能完成：您无权执行此操作", "Not done: you may not do this"),
    404: ("未能完成：没有找到要操作的对象", "Not done: there is nothing to do this on"),
    409: ("未能完成：当前状态不允许此操作", "Not done: this is not possible in the current state"),
    422: ("未能完成：填写的内容不被接受", "Not done: the values were refused"),
}


def flash(request: Any, text: str, level: str = "ok") -> bool:
    """Keep ``text`` for the next page of this session; False when there is no session to keep it in."""
    session = request.scope.get("session")
    if not isinstance(session, dict) or not session:
        return False
    kept = [*session.get(FLASH_KEY, []), [level, text]][-MAX_FLASHES:]
    session[FLASH_KEY] = kept
    return True


def pop_flashes(request: Any) -> list[dict[str, str]]:
    """The kept lines, removed from the session as the page that shows them is rendered."""
    session = request.scope.get("session") if request is not None else None
    if not isinstance(session, dict) or FLASH_KEY not in session:
        return []
    return [{"level": level, "text": text} for level, text in session.pop(FLASH_KEY)]


def refusal_text(request: Any, status: int, message: str) -> str:
    zh, en = REFUSALS.get(status, REFUSALS[400])
    return f"{en}: {message}" if lang_of(request) == "en" else f"{zh}：{message}"


def back_to_form(request: Any) -> str | None:
    """The page a browser's form was posted from (its Referer, same origin only), or None: not a form post."""
    if request.method != "POST" or request.url.path.startswith("/api"):
        return None
    if "text/html" not in request.headers.get("accept", ""):
        return None
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not referer.path.startswith("/"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")
