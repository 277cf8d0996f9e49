"""Staff named by their display names on pages (issue 17): a batch's maker and checker, a policy's author and
reviewer, an application's deciding officer, an objection's answerer, an audit entry's actor are user names in the
database; a page shows the person's name instead. The user name stays where an admin needs it (the user list).

Before a page is handled (``load``), the staff's names are read once (staff accounts are few: one small query) into
the request's state; the template callable ``person(username)`` reads them there. A name that is not a staff
account's (a portal account, whose user name is its ID number or USCC, or a system actor such as ``cli:ops`` or
``data-exchange``) is shown masked by kit.masking's user-name rule.
"""

from __future__ import annotations

from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar import Request

from app.tables import User
from kit.masking import mask_username

_NOT_PAGES = ("/api/", "/static/", "/healthz", "/readyz", "/metrics", "/schema")


async def load(request: Request) -> None:
    """The staff's display names into ``request.state.staff_names`` for a page's templates."""
    if request.url.path.startswith(_NOT_PAGES):
        return
    rows = await User.select(User.username, User.display_name).where(User.subject_kind.is_null())
    request.state.staff_names = {r["username"]: r["display_name"] or r["username"] for r in rows}


def name_of(names: dict[str, str], username: str | None) -> str:
    if not username:
        return ""
    return names.get(username) or mask_username(username)


@pass_context
def person(ctx: Context, username: Any) -> str:
    """{{ person(batch.maker) }}: the display name of a staff account, else the user name masked."""
    request = ctx.get("request")
    names = getattr(getattr(request, "state", None), "staff_names", None) or {}
    return name_of(names, None if username is None else str(username))
