"""Data-exchange feeds: one API key per feed (only its SHA-256 is stored), checked on every upsert, and the fields
a feed owns (stored on its row; none declared: a full-record feed)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from eligibility.errors import EligibilityError, FeedRefused
from eligibility.fields import FIELDS, SUBJECT_ID
from eligibility.tables import Feed
from kit.audit import Actor
from kit.i18n import _l


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def owned_fields_of(kind: str, names: Iterable[str]) -> tuple[str, ...]:
    """``names`` checked as the fields a feed of ``kind`` may own, in contract order: every one a field of the kind,
    the subject id not among them (every row carries it: it says which profile the row changes)."""
    wanted = [n.strip() for n in names if n.strip()]
    known = [f.name for f in FIELDS[kind]]
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise EligibilityError(
            _l("{unknown} is not a field of {kind} profiles (profiles.md): the fields are {known}"),
            unknown=", ".join(map(repr, unknown)),
            kind=kind,
            known=", ".join(known),
        )
    if SUBJECT_ID[kind] in wanted:
        raise EligibilityError(
            _l("{field} is the subject id, which every row carries: a feed does not own it"), field=SUBJECT_ID[kind]
        )
    if not wanted:
        raise EligibilityError(_l("name at least one field the feed owns (or make it a full-record feed)"))
    return tuple(n for n in known if n in wanted)


def _fields_text(fields: tuple[str, ...] | None) -> str | None:
    return None if fields is None else ";".join(fields)


def fields_of_row(row: dict) -> tuple[str, ...] | None:
    """The fields a stored feed row owns, or None for a full-record feed."""
    text = row.get("fields")
    return tuple(f for f in text.split(";") if f) if text else None


async def create_feed_key(
    name: str, kind: str, *, actor: Actor, owns: Iterable[str] | None = None, full_record: bool = False
) -> str:
    """Create the feed or rotate its key; returns the new key (shown once, never stored). ``owns``: the fields the
    feed owns; ``full_record``: it sends whole profiles; neither: a new feed is full-record, a rotated one keeps
    what it owned."""
    fields = owned_fields_of(kind, owns) if owns is not None else None
    key = f"zfeed_{secrets.token_urlsafe(32)}"
    async with Feed._meta.db.transaction():
        existing = await Feed.select(Feed.id, Feed.fields).where(Feed.name == name).first()
        values = {Feed.key_sha256: _sha(key), Feed.kind: kind, Feed.active: True}
        if owns is not None or full_record:
            values[Feed.fields] = _fields_text(fields)
        if existing:
            await Feed.update(values).where(Feed.name == name)
            kept = fields if (owns is not None or full_record) else fields_of_row(existing)
        else:
            await Feed.insert(
                Feed(
                    name=name,
                    kind=kind,
                    key_sha256=_sha(key),
                    active=True,
                    created_at=dt.datetime.now(dt.UTC),
                    fields=_fields_text(fields),
                )
            )
            kept = fields
        await actor.record(
            "eligibility.feed_key",
            "feed",
            name,
            detail={"kind": kind, "rotated": bool(existing), "owns": list(kept) if kept else None},
        )
    return key


async def set_feed_fields(name: str, owns: Iterable[str] | None, *, actor: Actor) -> tuple[str, ...] | None:
    """Declare the fields feed ``name`` owns (None: it becomes a full-record feed), its key unchanged; audited."""
    row = await Feed.select(Feed.kind, Feed.fields).where(Feed.name == name).first()
    if row is None:
        raise EligibilityError(
            _l("no feed named {name!r}: create it with `zhida profiles feed-key`"), name=name, status=404
        )
    fields = None if owns is None else owned_fields_of(row["kind"], owns)
    async with Feed._meta.db.transaction():
        await Feed.update({Feed.fields: _fields_text(fields)}).where(Feed.name == name)
        await actor.record(
            "eligibility.feed_fields",
            "feed",
            name,
            before={"owns": list(fields_of_row(row) or []) or None},
            after={"owns": list(fields) if fields else None},
        )
    return fields


async def feed_named(name: str) -> dict | None:
    """The stored feed ``name`` (with ``owns``: its fields, or None for a full-record feed), or None."""
    row = await Feed.select(Feed.name, Feed.kind, Feed.active, Feed.fields).where(Feed.name == name).first()
    if row is None:
        return None
    return {**row, "owns": fields_of_row(row)}


async def feed_for_key(key: str | None) -> dict:
    """The active feed whose key this is, or FeedRefused."""
    if not key:
        raise FeedRefused(_l("an API key is required (header X-API-Key)"))
    row = await Feed.select().where(Feed.key_sha256 == _sha(key)).first()
    if row is None or not row["active"] or not hmac.compare_digest(row["key_sha256"], _sha(key)):
        raise FeedRefused(_l("unknown or revoked API key"))
    return row
