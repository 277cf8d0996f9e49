"""Recipients of notices (通知对象): their contact points and channel opt-outs (the inbox is always on), audited.

Knows nothing of policies or money: a recipient is a subject kind and id with addresses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from kit.audit import Actor, Change
from kit.db import in_list, raw
from notifications.rendering import normalise_locale
from notifications.schemas import CHANNELS, ChannelPreferences, RecipientRead, RecipientUpsert
from notifications.tables import Recipient

_CHUNK = 500


def as_utc(now: dt.datetime | None) -> dt.datetime:
    """``now`` (the current instant when None) in UTC; a naive datetime is a caller's mistake."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(dt.UTC)


def recipient_key(kind: str, subject_id: str) -> str:
    return f"{kind}:{subject_id}"


def _recipient_state(row: dict) -> dict:
    """What the audit digests of a recipient: everything but the secret itself."""
    return {
        k: row.get(k)
        for k in (
            "display_name",
            "locale",
            "email",
            "phone",
            "webhook_url",
            "email_enabled",
            "sms_enabled",
            "webhook_enabled",
            "readings_enabled",
        )
    } | {"webhook_secret_set": bool(row.get("webhook_secret"))}


async def get_recipient(kind: str, subject_id: str) -> RecipientRead | None:
    row = await Recipient.select().where(Recipient.recipient_key == recipient_key(kind, subject_id)).first()
    return RecipientRead.from_row(row) if row else None


async def preferences_of(kind: str, subject_id: str) -> RecipientRead:
    """The subject's recipient record, or the defaults (every channel on, no contact points) when none."""
    found = await get_recipient(kind, subject_id)
    return found or RecipientRead(
        kind=kind,
        subject_id=subject_id,
        display_name="",
        locale="zh-CN",
        email=None,
        phone_masked="",
        webhook_url=None,
        has_webhook_secret=False,
        preferences=ChannelPreferences(),
    )


async def upsert_recipient(data: RecipientUpsert, *, actor: Actor, now: dt.datetime | None = None) -> RecipientRead:
    """Create or update a subject's contact points (and preferences when given); audited."""
    now = as_utc(now)
    key = recipient_key(data.kind, data.subject_id)
    changes: dict[str, Any] = {}
    for name in ("display_name", "email", "phone", "webhook_url", "webhook_secret"):
        value = getattr(data, name)
        if value is not None:
            changes[name] = value or None if name != "display_name" else value
    if data.locale is not None:
        changes["locale"] = normalise_locale(data.locale)
    if data.preferences is not None:
        changes.update(
            email_enabled=data.preferences.email,
            sms_enabled=data.preferences.sms,
            webhook_enabled=data.preferences.webhook,
        )
    if data.readings is not None:
        changes["readings_enabled"] = data.readings
    async with Recipient._meta.db.transaction():
        before = await Recipient.select().where(Recipient.recipient_key == key).first()
        if before is None:
            row = {
                "recipient_key": key,
                "kind": data.kind,
                "subject_id": data.subject_id,
                "display_name": "",
                "locale": "zh-CN",
                "email": None,
                "phone": None,
                "webhook_url": None,
                "webhook_secret": None,
                "email_enabled": True,
                "sms_enabled": True,
                "webhook_enabled": True,
                "readings_enabled": False,
            } | changes
            await Recipient.insert(Recipient(**row, updated_at=now)).on_conflict(
                target=Recipient.recipient_key, action="DO NOTHING"
            )
        elif changes:
            await Recipient.update(
                {**{getattr(Recipient, k): v for k, v in changes.items()}, Recipient.updated_at: now}
            ).where(Recipient.recipient_key == key)
        after = await Recipient.select().where(Recipient.recipient_key == key).first()
        await actor.record(
            "recipient.upsert",
            "recipient",
            key,
            before=_recipient_state(before) if before else None,
            after=_recipient_state(after),
            detail={"kind": data.kind, "changed": sorted(changes)},
        )
    return RecipientRead.from_row(after)


async def upsert_recipients(items: Iterable[RecipientUpsert], *, actor: Actor, now: dt.datetime | None = None) -> int:
    """Many recipients at once (the demo, a contact feed): new ones inserted in batches, known ones updated;
    one audit entry per recipient. Returns how many were written."""
    now = as_utc(now)
    items = list({recipient_key(i.kind, i.subject_id): i for i in items}.values())
    if not items:
        return 0
    async with Recipient._meta.db.transaction():
        known = await recipients_by_key(recipient_key(i.kind, i.subject_id) for i in items)
        fresh, changes = [], []
        for i in items:
            key = recipient_key(i.kind, i.subject_id)
            if key in known:
                await upsert_recipient(i, actor=actor, now=now)
                continue
            prefs = i.preferences or ChannelPreferences()
            row = {
                "recipient_key": key,
                "kind": i.kind,
                "subject_id": i.subject_id,
                "display_name": i.display_name or "",
                "locale": normalise_locale(i.locale),
                "email": i.email or None,
                "phone": i.phone or None,
                "webhook_url": i.webhook_url or None,
                "webhook_secret": i.webhook_secret or None,
                "email_enabled": prefs.email,
                "sms_enabled": prefs.sms,
                "webhook_enabled": prefs.webhook,
            }
            fresh.append(Recipient(**row, updated_at=now))
            changes.append(
                Change(
                    "recipient.upsert",
                    "recipient",
                    key,
                    before=None,
                    after=_recipient_state(row),
                    detail={"kind": i.kind, "changed": ["created"]},
                )
            )
        for j in range(0, len(fresh), _CHUNK):
            await Recipient.insert(*fresh[j : j + _CHUNK]).on_conflict(
                target=Recipient.recipient_key, action="DO NOTHING"
            )
        if changes:
            await actor.record_many(changes)
    return len(items)


async def set_preferences(
    kind: str, subject_id: str, preferences: ChannelPreferences, *, actor: Actor, now: dt.datetime | None = None
) -> RecipientRead:
    """Opt in or out of email, SMS and webhook (the inbox cannot be switched off)."""
    return await upsert_recipient(
        RecipientUpsert(kind=kind, subject_id=subject_id, preferences=preferences), actor=actor, now=now
    )


async def set_readings(
    kind: str, subject_id: str, enabled: bool, *, actor: Actor, now: dt.datetime | None = None
) -> RecipientRead:
    """Opt in to (or out of) 政策解读 of new policies the subject does not yet meet (near misses); audited as
    ``recipient.upsert`` with ``changed: ["readings_enabled"]``. Default off."""
    return await upsert_recipient(
        RecipientUpsert(kind=kind, subject_id=subject_id, readings=enabled), actor=actor, now=now
    )


async def reading_subscribers(kind: str) -> list[str]:
    """Subject ids of this kind that opted in to 政策解读 for near misses, in order."""
    rows = (
        await Recipient.select(Recipient.subject_id)
        .where(
            (Recipient.kind == kind) & (Recipient.readings_enabled == True)  # noqa: E712
        )
        .order_by(Recipient.subject_id)
    )
    return [r["subject_id"] for r in rows]


async def recipients_by_key(keys: Iterable[str]) -> dict[str, dict]:
    """The stored recipients of these recipient keys, by key (a key with none is absent)."""
    keys = sorted(set(keys))
    found: dict[str, dict] = {}
    for i in range(0, len(keys), _CHUNK):
        cond, args = in_list(keys[i : i + _CHUNK])
        for row in await raw(f"SELECT * FROM notifications_recipient WHERE recipient_key {cond}", *args):
            found[row["recipient_key"]] = row
    return found


def enabled_channels(recipient: dict | None) -> list[str]:
    """The outside channels a recipient has switched on and given an address for."""
    if recipient is None:
        return []
    address = {"email": recipient["email"], "sms": recipient["phone"], "webhook": recipient["webhook_url"]}
    return [c for c in CHANNELS if recipient[f"{c}_enabled"] and address[c]]
