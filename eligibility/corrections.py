"""Correction requests to the feed that owns a field (profiles.md, "Feeds that own fields"): the platform does not
overwrite data a feed owns; an objection upheld with a correction of such a field (payments.service.corrections)
asks the feed for it. A request stores the field, the value the profile has, the value proposed, the objection and
the officer; it is ``pending`` until

- the feed's next import (API upsert or `zhida profiles import --feed`) delivers the proposed value: ``accepted``
  (``settle_delivered``), after which the caller re-evaluates the subject; or
- the feed's refusal is recorded (`zhida profiles corrections reject ID --reason …`, or the API): ``rejected``,
  with the feed's reason.

Officers list them (``request_page``); the data exchange gets them as CSV (``csv_text``: the whole subject id, the
feed needs it to find its record; the export is audited by the caller).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from eligibility.errors import EligibilityError
from eligibility.feeds import fields_of_row
from eligibility.profiles import normalize_profile
from eligibility.tables import CorrectionRequest, Feed
from kit.audit import Actor
from kit.i18n import _l
from kit.paging import Page, PageRequest, Sorts, fetch_page, search

STATUSES = ("pending", "accepted", "rejected")
CSV_COLUMNS = (
    "id",
    "feed",
    "subject_kind",
    "subject_id",
    "field",
    "old_value",
    "proposed_value",
    "objection_id",
    "officer",
    "status",
    "reason",
    "created_at",
    "decided_at",
)


REQUEST_SORTS = Sorts(
    {"id": CorrectionRequest.id, "feed": CorrectionRequest.feed, "field": CorrectionRequest.field},
    default="-id",
)


def transaction():  # noqa: ANN201 - the engine's transaction (every table shares one database)
    return CorrectionRequest._meta.db.transaction()


def text_of(value: Any) -> str | None:
    """A profile value as the exchange writes it in a CSV cell (profiles.md): lists ;-joined, booleans true/false."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


async def owners(kind: str) -> dict[str, str]:
    """field → the name of the active feed of ``kind`` that owns it (the first by name when several do)."""
    out: dict[str, str] = {}
    rows = await Feed.select(Feed.name, Feed.fields, Feed.active).where(Feed.kind == kind).order_by(Feed.name)
    for r in rows:
        if not r["active"]:
            continue
        for f in fields_of_row(r) or ():
            out.setdefault(f, r["name"])
    return out


async def create(
    kind: str,
    subject_id: str,
    objection_id: int,
    changes: dict[str, tuple[Any, Any]],
    feed_of: dict[str, str],
    *,
    actor: Actor,
    now: dt.datetime,
) -> list[int]:
    """One pending request per changed field (old, proposed), addressed to the field's feed; audited. Returns ids."""
    ids = []
    for field, (old, new) in sorted(changes.items()):
        row = CorrectionRequest(
            feed=feed_of[field],
            subject_kind=kind,
            subject_id=subject_id,
            field=field,
            old_value=text_of(old),
            proposed_value=text_of(new),
            objection_id=objection_id,
            officer=actor.name,
            status="pending",
            reason="",
            created_at=now,
        )
        rid = (await CorrectionRequest.insert(row).returning(CorrectionRequest.id))[0]["id"]
        await actor.record(
            "correction.request",
            "correction_request",
            str(rid),
            None,
            {"status": "pending", "field": field},
            {"feed": feed_of[field], "objection": objection_id, "subject_kind": kind},
        )
        ids.append(rid)
    return ids


async def get_request(request_id: int) -> dict:
    r = await CorrectionRequest.select().where(CorrectionRequest.id == request_id).first()
    if r is None:
        raise EligibilityError(_l("no correction request {id}"), id=request_id, status=404)
    return r


async def requests(
    status: str | None = None, *, objection_id: int | None = None, feed: str | None = None, limit: int = 1000
) -> list[dict]:
    """Requests, the oldest first (filtered by status, objection, feed)."""
    if status and status not in STATUSES:
        raise EligibilityError(_l("status is one of {statuses}"), statuses=", ".join(STATUSES))
    q = CorrectionRequest.select()
    where = [
        CorrectionRequest.status == status if status else None,
        CorrectionRequest.objection_id == objection_id if objection_id is not None else None,
        CorrectionRequest.feed == feed if feed else None,
    ]
    for w in where:
        if w is not None:
            q = q.where(w)
    return await q.order_by(CorrectionRequest.id).limit(limit)


async def request_page(request: PageRequest, status: str | None = None) -> Page[dict[str, Any]]:
    """One page of the officers' list of requests, the newest first unless sorted otherwise, searched in the feed,
    the field and the subject id; counted and limited by the database."""
    if status and status not in STATUSES:
        raise EligibilityError(_l("status is one of {statuses}"), statuses=", ".join(STATUSES))
    where = [
        CorrectionRequest.status == status if status else None,
        search(request.q, CorrectionRequest.feed, CorrectionRequest.field, CorrectionRequest.subject_id),
    ]
    return await fetch_page(CorrectionRequest, where, request, REQUEST_SORTS)


async def decide(request_id: int, status: str, *, actor: Actor, reason: str = "", now: dt.datetime) -> dict:
    """Mark a pending request accepted or rejected (audited); another state is refused. Returns its row as before."""
    r = await get_request(request_id)
    if r["status"] != "pending":
        raise EligibilityError(
            _l("correction request {id} is already {state}"), id=request_id, state=r["status"], status=409
        )
    await CorrectionRequest.update(
        {
            CorrectionRequest.status: status,
            CorrectionRequest.reason: reason[:2000],
            CorrectionRequest.decided_at: now,
            CorrectionRequest.decided_by: actor.name,
        }
    ).where((CorrectionRequest.id == request_id) & (CorrectionRequest.status == "pending"))
    await actor.record(
        f"correction.{status}",
        "correction_request",
        str(request_id),
        {"status": "pending"},
        {"status": status, "reason": reason[:2000]},
        {"feed": r["feed"], "objection": r["objection_id"], "field": r["field"]},
    )
    return r


def delivered(kind: str, profile: dict, field: str, proposed: str | None) -> bool:
    """Whether the stored ``profile`` holds the ``proposed`` value of ``field`` (compared as the stored form, so
    "1000000" is 1000000.00 and 是 is true)."""
    names = {k: v for k, v in profile.items() if k != "birth_date"}
    try:
        wanted = normalize_profile(kind, {**names, field: proposed}).get(field)
        have = normalize_profile(kind, names).get(field)
    except Exception:  # noqa: BLE001 - a profile that no longer validates holds nothing proposed
        return False
    return bool(wanted == have)


def csv_text(rows: list[dict]) -> str:
    """The requests as CSV for the data exchange (UTF-8; the caller adds a BOM for spreadsheets if it wants)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(CSV_COLUMNS)
    for r in rows:
        w.writerow(
            [
                "" if r.get(c) is None else r[c].isoformat() if isinstance(r.get(c), dt.datetime) else r[c]
                for c in CSV_COLUMNS
            ]
        )
    return out.getvalue()
