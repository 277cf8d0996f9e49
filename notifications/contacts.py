"""Contact points a subject sets itself (portal): an e-mail address, a mobile number or a webhook URL becomes the
recipient's only after the code sent to it through that very channel comes back.

The code (6 digits) is stored as a salted PBKDF2 hash, expires after ``CODE_MINUTES``, allows ``MAX_ATTEMPTS``
wrong entries, and a new one for the same channel is sent at most every ``RESEND_SECONDS`` and ``MAX_PER_DAY``
times a day. A pending address is never used for notices: delivery reads only the recipient's own fields
(recipients.enabled_channels). Every step is audited, the address masked. Opt-outs per channel stay as they are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from kit.audit import Actor
from kit.errors import Conflict, Invalid
from kit.i18n import _l
from kit.masking import mask_phone
from notifications.channels import urlguard
from notifications.channels.base import DeliveryConfig, OutgoingMessage
from notifications.channels.email import send_email
from notifications.channels.sms import send_sms
from notifications.channels.webhook import send_webhook
from notifications.errors import RecipientInvalid
from notifications.recipients import as_utc, preferences_of, recipient_key, upsert_recipient
from notifications.rendering import _templates, normalise_locale
from notifications.schemas import CHANNELS, RecipientRead, RecipientUpsert
from notifications.tables import ContactCode

CODE_MINUTES = 10
MAX_ATTEMPTS = 5
RESEND_SECONDS = 60
MAX_PER_DAY = 10
_ITERATIONS = 60_000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_FIELD = {"email": "email", "sms": "phone", "webhook": "webhook_url"}
CHANNEL_NAMES = {
    "email": ("邮箱", "e-mail address"),
    "sms": ("手机号", "mobile number"),
    "webhook": ("回调地址", "webhook"),
}
Sender = Callable[[OutgoingMessage, DeliveryConfig], Awaitable[str]]
SENDERS: dict[str, Sender] = {"email": send_email, "sms": send_sms, "webhook": send_webhook}


class CodeRefused(Invalid):
    """A wrong, expired or exhausted code."""


class TooSoon(Conflict):
    status = 429


@dataclass(frozen=True)
class Pending:
    channel: str
    address_masked: str
    expires_at: dt.datetime


def normalise_address(channel: str, address: str) -> str:
    """The address as stored, or RecipientInvalid saying what is wrong with it."""
    text = (address or "").strip()
    if channel == "email":
        if len(text) > 254 or not _EMAIL.match(text):
            raise RecipientInvalid(_l("not an e-mail address"))
        return text.lower()
    if channel == "sms":
        digits = re.sub(r"[\s-]", "", text)
        digits = digits[3:] if digits.startswith("+86") else digits
        if not _MOBILE.match(digits):
            raise RecipientInvalid(_l("a mobile number is 11 digits starting with 1"))
        return digits
    if channel == "webhook":
        if len(text) > 2000 or not re.match(r"^https?://[^\s/@]+(/\S*)?$", text):
            raise RecipientInvalid(_l("a webhook URL starts with http:// or https://"))
        return text
    raise RecipientInvalid(_l("unknown channel {channel}"), channel=channel)


def masked(channel: str, address: str) -> str:
    if channel == "sms":
        return mask_phone(address)
    if channel == "email":
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return re.sub(r"^(https?://[^/]+).*$", r"\1/…", address)


def _hash(code: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", code.encode(), bytes.fromhex(salt), _ITERATIONS).hex()


def _message(channel: str, address: str, code: str, locale: str, key: str, now: dt.datetime) -> OutgoingMessage:
    loc = normalise_locale(locale)
    name = CHANNEL_NAMES[channel][0 if loc == "zh-CN" else 1]
    ctx = {"code": code, "minutes": CODE_MINUTES, "channel_name": name}
    tpl = _templates("contact_code", loc)
    title, body, sms = (tpl[n].render(ctx).strip() for n in ("title", "body", "sms"))
    kind, _, subject_id = key.partition(":")
    return OutgoingMessage(
        notice_id=0,
        delivery_id=0,
        kind="contact_code",
        locale=loc,
        address=address,
        title=" ".join(title.split()),
        body=body,
        sms_text=" ".join(sms.split()),
        link=None,
        created_at=now,
        recipient_kind=kind,
        subject_id=subject_id,
    )


async def start(
    kind: str,
    subject_id: str,
    channel: str,
    address: str,
    *,
    actor: Actor,
    config: DeliveryConfig,
    locale: str = "zh-CN",
    now: dt.datetime | None = None,
    code: str | None = None,
) -> Pending:
    """Send a code to ``address`` through ``channel``; the address waits in notifications_contact_code until
    ``confirm``. A code still fresh for the channel is replaced (superseded). ``code`` is for tests only."""
    if channel not in CHANNELS:
        raise RecipientInvalid(_l("unknown channel {channel}"), channel=channel)
    now = as_utc(now)
    address = normalise_address(channel, address)
    if channel == "webhook":
        await urlguard.check_url(address, config.webhook_allow)  # no internal address (SSRF); again at each send
    key = recipient_key(kind, subject_id)
    recent = await ContactCode.select(ContactCode.created_at).where(
        (ContactCode.recipient_key == key)
        & (ContactCode.channel == channel)
        & (ContactCode.created_at > now - dt.timedelta(days=1))
    )
    if any(as_utc(r["created_at"]) > now - dt.timedelta(seconds=RESEND_SECONDS) for r in recent):
        raise TooSoon(_l("a code was sent less than {seconds} seconds ago; wait a moment"), seconds=RESEND_SECONDS)
    if len(recent) >= MAX_PER_DAY:
        raise TooSoon(_l("at most {n} codes a day per channel; try again tomorrow"), n=MAX_PER_DAY)
    code = code or f"{secrets.randbelow(1_000_000):06d}"
    salt = secrets.token_hex(16)
    await SENDERS[channel](_message(channel, address, code, locale, key, now), config)  # ChannelError: nothing kept
    async with ContactCode._meta.db.transaction():
        await ContactCode.update({ContactCode.status: "superseded", ContactCode.closed_at: now}).where(
            (ContactCode.recipient_key == key) & (ContactCode.channel == channel) & (ContactCode.status == "pending")
        )
        expires = now + dt.timedelta(minutes=CODE_MINUTES)
        await ContactCode.insert(
            ContactCode(
                recipient_key=key,
                channel=channel,
                address=address,
                code_hash=_hash(code, salt),
                salt=salt,
                attempts=0,
                status="pending",
                created_at=now,
                expires_at=expires,
            )
        )
        await actor.record(
            "contact.code_sent", "recipient", key, detail={"channel": channel, "address": masked(channel, address)}
        )
    return Pending(channel=channel, address_masked=masked(channel, address), expires_at=expires)


async def pending(kind: str, subject_id: str, now: dt.datetime | None = None) -> dict[str, Pending]:
    """The channels with a code still valid, by channel."""
    now = as_utc(now)
    rows = await ContactCode.select().where(
        (ContactCode.recipient_key == recipient_key(kind, subject_id)) & (ContactCode.status == "pending")
    )
    return {
        r["channel"]: Pending(r["channel"], masked(r["channel"], r["address"]), as_utc(r["expires_at"]))
        for r in rows
        if as_utc(r["expires_at"]) > now and r["attempts"] < MAX_ATTEMPTS
    }


async def confirm(
    kind: str, subject_id: str, channel: str, code: str, *, actor: Actor, now: dt.datetime | None = None
) -> RecipientRead:
    """The code sent to the pending address of ``channel``: right, the address becomes the recipient's (audited);
    wrong, one attempt used (audited); expired or out of attempts, a new code is needed."""
    now = as_utc(now)
    key = recipient_key(kind, subject_id)
    refusal: CodeRefused | None = None
    async with ContactCode._meta.db.transaction():  # a refusal is raised after it commits: its attempt counts
        row = (
            await ContactCode.select()
            .where(
                (ContactCode.recipient_key == key)
                & (ContactCode.channel == channel)
                & (ContactCode.status == "pending")
            )
            .order_by(ContactCode.id, ascending=False)
            .first()
        )
        if row is None:
            raise CodeRefused(_l("no code is waiting for this channel; ask for one first"))
        given = re.sub(r"\s", "", code or "")
        if as_utc(row["expires_at"]) <= now or row["attempts"] >= MAX_ATTEMPTS:
            await ContactCode.update({ContactCode.status: "failed", ContactCode.closed_at: now}).where(
                ContactCode.id == row["id"]
            )
            await actor.record("contact.code_expired", "recipient", key, detail={"channel": channel})
            refusal = CodeRefused(_l("the code has expired or was entered wrong too often; ask for a new one"))
        elif not (given.isdigit() and hmac.compare_digest(_hash(given, row["salt"]), row["code_hash"])):
            left = MAX_ATTEMPTS - row["attempts"] - 1
            await ContactCode.update(
                {ContactCode.attempts: row["attempts"] + 1}
                | ({ContactCode.status: "failed", ContactCode.closed_at: now} if left <= 0 else {})
            ).where(ContactCode.id == row["id"])
            await actor.record("contact.code_wrong", "recipient", key, detail={"channel": channel, "left": left})
            refusal = CodeRefused(_l("the code is wrong; {left} attempts left"), left=max(left, 0))
        else:
            await ContactCode.update({ContactCode.status: "verified", ContactCode.closed_at: now}).where(
                ContactCode.id == row["id"]
            )
            await actor.record(
                "contact.verified",
                "recipient",
                key,
                detail={"channel": channel, "address": masked(channel, row["address"])},
            )
            return await upsert_recipient(
                RecipientUpsert(kind=kind, subject_id=subject_id, **{_FIELD[channel]: row["address"]}),
                actor=actor,
                now=now,
            )
    raise refusal


async def remove(
    kind: str, subject_id: str, channel: str, *, actor: Actor, now: dt.datetime | None = None
) -> RecipientRead:
    """Forget the channel's address (the opt-out stays as it was)."""
    if channel not in CHANNELS:
        raise RecipientInvalid(_l("unknown channel {channel}"), channel=channel)
    await preferences_of(kind, subject_id)
    return await upsert_recipient(
        RecipientUpsert(kind=kind, subject_id=subject_id, **{_FIELD[channel]: ""}), actor=actor, now=now
    )
