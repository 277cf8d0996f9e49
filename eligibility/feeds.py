"""Data-exchange feeds: one API key per feed (only its SHA-256 is stored), checked on every upsert."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from eligibility.errors import FeedRefused
from eligibility.tables import Feed
from kit.audit import Actor


def _sha(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_feed_key(name: str, kind: str, *, actor: Actor) -> str:
    """Create the feed or rotate its key; returns the new key (shown once, never stored)."""
    key = f"zfeed_{secrets.token_urlsafe(32)}"
    async with Feed._meta.db.transaction():
        existing = await Feed.select(Feed.id).where(Feed.name == name).first()
        if existing:
            await Feed.update({Feed.key_sha256: _sha(key), Feed.kind: kind, Feed.active: True}).where(Feed.name == name)
        else:
            await Feed.insert(
                Feed(name=name, kind=kind, key_sha256=_sha(key), active=True, created_at=dt.datetime.now(dt.UTC))
            )
        await actor.record("eligibility.feed_key", "feed", name, detail={"kind": kind, "rotated": bool(existing)})
    return key


async def feed_for_key(key: str | None) -> dict:
    """The active feed whose key this is, or FeedRefused."""
    if not key:
        raise FeedRefused("an API key is required (header X-API-Key)")
    row = await Feed.select().where(Feed.key_sha256 == _sha(key)).first()
    if row is None or not row["active"] or not hmac.compare_digest(row["key_sha256"], _sha(key)):
        raise FeedRefused("unknown or revoked API key")
    return row
