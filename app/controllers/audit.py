"""The auditor's view of the audit trail: browse, filter, verify."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from litestar import Request, get
from litestar.response import Template

from app.audit import verify
from app.auth.guards import requires
from app.schemas.errors import errors
from app.schemas.platform import AuditEntryRead, AuditVerifyRead
from app.tables import AuditEntry
from kit.masking import masker_for, scrub_text
from kit.time import CHINA
from kit.vocab import Role

READERS = requires(Role.AUDITOR, Role.ADMIN)
# Neither reader sees ID numbers or accounts whole anywhere else (profiles, batches and receipts show them masked to
# every role but finance, eligibility.WHOLE_NUMBERS), so the trail shows them masked too: the actor (a talent's user
# name is its ID number), the entity id and the detail. Filtering by a whole number still finds its entries; the
# hash chain is verified on the stored text (/api/audit/verify, `zhida audit verify`).

PAGE = 50


async def _query(
    actor: str | None,
    action: str | None,
    entity: str | None,
    entity_id: str | None,
    since: dt.date | None,
    until: dt.date | None,
    before_seq: int | None,
) -> list[dict]:
    q = AuditEntry.select().order_by(AuditEntry.seq, ascending=False).limit(PAGE)
    where = []
    if actor:
        where.append(AuditEntry.actor == actor)
    if action:
        where.append(AuditEntry.action.like(f"{action}%"))
    if entity:
        where.append(AuditEntry.entity == entity)
    if entity_id:
        where.append(AuditEntry.entity_id == entity_id)
    if since:
        where.append(AuditEntry.at >= dt.datetime.combine(since, dt.time(), CHINA))
    if until:
        where.append(AuditEntry.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), CHINA))
    if before_seq:
        where.append(AuditEntry.seq < before_seq)
    if where:
        q = q.where(*where)
    return [_masked(r) for r in await q]


def _mask_value(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
        fn = masker_for(key)
        if fn is not None:
            return fn(str(value))
        return scrub_text(value) if isinstance(value, str) else value
    return value


def _masked_detail(detail: str) -> str:
    """The detail with personal numbers masked: by key where it is JSON (an account under "payee_account"), and any
    long number in its text."""
    try:
        data = json.loads(detail)
    except ValueError:
        return scrub_text(detail)
    if not isinstance(data, (dict, list)):
        return scrub_text(detail)
    return json.dumps(_mask_value("", data), ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _masked(row: dict) -> dict:
    return {
        **row,
        "actor": scrub_text(row["actor"]),
        "entity_id": scrub_text(row["entity_id"]),
        "detail": _masked_detail(row["detail"] or ""),
    }


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
        for r in await _query(actor, action, entity, entity_id, since, until, before_seq)
    ]


@get("/api/audit/verify", guards=[READERS], tags=["audit"], responses=errors())
async def audit_verify_api() -> AuditVerifyRead:
    """Walk the hash chain end to end."""
    r = await verify()
    return AuditVerifyRead(ok=r.ok, checked=r.checked, broken_seq=r.broken_seq, reason=r.reason)


@get("/audit", guards=[READERS], include_in_schema=False)
async def audit_page(
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    entity: str | None = None,
    entity_id: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    before_seq: int | None = None,
) -> Template:
    rows = await _query(actor, action, entity, entity_id, since, until, before_seq)
    filters = {
        "actor": actor or "",
        "action": action or "",
        "entity": entity or "",
        "entity_id": entity_id or "",
        "since": since.isoformat() if since else "",
        "until": until.isoformat() if until else "",
    }
    return Template(
        "audit.html",
        context={"rows": rows, "filters": filters, "next_seq": rows[-1]["seq"] if len(rows) == PAGE else None},
    )


route_handlers = [audit_api, audit_verify_api, audit_page]
