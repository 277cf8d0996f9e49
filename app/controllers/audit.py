"""The auditor's view of the audit trail: browse, filter, verify."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from litestar import Request, get
from litestar.di import Provide
from litestar.response import Stream, Template

from app.audit import verify
from app.audit_view import AUDIT_COLUMNS, masked_entry
from app.auth.guards import requires
from app.errors import AppError
from app.exports import export
from app.paging import pager_of, paging
from app.schemas.errors import errors
from app.schemas.platform import AuditEntryRead, AuditVerifyRead
from app.tables import AuditEntry
from kit.i18n import _l
from kit.paging import PageRequest, Sorts, chunks, fetch_page
from kit.time import CHINA
from kit.vocab import Role

READERS = requires(Role.AUDITOR, Role.ADMIN)
# Neither reader sees ID numbers or accounts whole anywhere else (profiles, batches and receipts show them masked to
# every role but finance, eligibility.WHOLE_NUMBERS), so the trail shows them masked too: the actor (a talent's user
# name is its ID number), the entity id and the detail. Filtering by a whole number still finds its entries; the
# hash chain is verified on the stored text (/api/audit/verify, `zhida audit verify`).

PAGE = 50
AUDIT_SORTS = Sorts({"seq": AuditEntry.seq, "action": AuditEntry.action, "actor": AuditEntry.actor}, default="-seq")


@dataclass(frozen=True)
class AuditFilter:
    """What the trail is filtered by, on the page, in the API and in the download alike."""

    actor: str | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    before_seq: int | None = None

    def where(self) -> list[Any]:
        return [
            AuditEntry.actor == self.actor if self.actor else None,
            AuditEntry.action.like(f"{self.action.replace('%', '')}%") if self.action else None,
            AuditEntry.entity == self.entity if self.entity else None,
            AuditEntry.entity_id == self.entity_id if self.entity_id else None,
            AuditEntry.at >= dt.datetime.combine(self.since, dt.time(), CHINA) if self.since else None,
            AuditEntry.at < dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time(), CHINA)
            if self.until
            else None,
            AuditEntry.seq < self.before_seq if self.before_seq else None,
        ]

    def params(self) -> dict[str, str]:
        """The filters as the page's form sends them ("" for an empty field)."""
        return {
            "actor": self.actor or "",
            "action": self.action or "",
            "entity": self.entity or "",
            "entity_id": self.entity_id or "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }


def _date(name: str, value: str | None) -> dt.date | None:
    """A date field of the filter form: empty (the form's default) is no filter; anything else is YYYY-MM-DD."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        what = {"since": _l("the start date"), "until": _l("the end date")}.get(name, name)
        raise AppError(_l("{what} is a date YYYY-MM-DD, not “{value}”"), what=what, value=value[:20]) from None


def _form_filter(
    actor: str | None,
    action: str | None,
    entity: str | None,
    entity_id: str | None,
    since: str | None,
    until: str | None,
) -> AuditFilter:
    """The page's and the download's filter: every field may come empty, as the form sends it."""
    return AuditFilter(
        (actor or "").strip() or None,
        (action or "").strip() or None,
        (entity or "").strip() or None,
        (entity_id or "").strip() or None,
        _date("since", since),
        _date("until", until),
    )


async def _query(f: AuditFilter) -> list[dict]:
    q = AuditEntry.select().order_by(AuditEntry.seq, ascending=False).limit(PAGE)
    where = [w for w in f.where() if w is not None]
    if where:
        q = q.where(*where)
    return [masked_entry(r) for r in await q]


@get("/api/audit", guards=[READERS], tags=["audit"], responses=errors())
async def audit_api(
    actor: str | None = None,
    action: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    before_seq: int | None = None,
) -> list[AuditEntryRead]:
    """Audit entries, newest first, 50 a page (page on with before_seq)."""
    return [
        AuditEntryRead.model_validate(r)
        for r in await _query(AuditFilter(actor, action, entity, entity_id, since, until, before_seq))
    ]


@get("/api/audit/verify", guards=[READERS], tags=["audit"], responses=errors())
async def audit_verify_api() -> AuditVerifyRead:
    """Walk the hash chain end to end."""
    r = await verify()
    return AuditVerifyRead(ok=r.ok, checked=r.checked, broken_seq=r.broken_seq, reason=r.reason)


FORM_FILTER = Provide(_form_filter, sync_to_thread=False)


@get(
    "/audit",
    guards=[READERS],
    include_in_schema=False,
    dependencies={"paging": paging(AUDIT_SORTS), "f": FORM_FILTER},
)
async def audit_page(request: Request, paging: PageRequest, f: AuditFilter) -> Template:
    """The trail, newest first, a page at a time with its total; the form's empty fields filter nothing."""
    page = (await fetch_page(AuditEntry, f.where(), paging, AUDIT_SORTS)).map(masked_entry)
    return Template(
        "audit.html",
        context={
            "rows": page.items,
            "filters": f.params(),
            "pager": pager_of(request, page, ("条", "entries"), **f.params()),
        },
    )


async def _masked_chunks(f: AuditFilter) -> AsyncIterator[list[dict]]:
    async for rows in chunks(AuditEntry, f.where()):
        yield [masked_entry(r) for r in rows]


@get("/audit/export", guards=[READERS], include_in_schema=False, dependencies={"f": FORM_FILTER})
async def audit_export(request: Request, f: AuditFilter, format: str = "csv") -> Stream:
    """The trail filtered as on the page, oldest first, masked as the page masks it; CSV or Excel."""
    return export(request, format, "audit-trail", AUDIT_COLUMNS, _masked_chunks(f), sheet="审计日志")


route_handlers = [audit_api, audit_verify_api, audit_page, audit_export]
