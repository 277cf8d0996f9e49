"""Pydantic models of notifications/: recipients, preferences, notices and deliveries as others see them."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kit.db import from_row
from kit.i18n import _l
from kit.masking import mask_phone

RecipientKind = Literal["enterprise", "talent"]
Channel = Literal["email", "sms", "webhook"]
CHANNELS: tuple[str, ...] = ("email", "sms", "webhook")

# Delivery statuses. queued → sending → sent; a failed attempt goes back to retrying until the last one,
# then failed (with the reason). deferred waits for due_at (quiet hours, daily limit); skipped means the
# recipient opted out or the channel is not configured after the notice was written.
DeliveryStatus = Literal["queued", "sending", "retrying", "deferred", "sent", "failed", "skipped"]


class ChannelPreferences(BaseModel):
    """Opt-outs per outside channel; the inbox is always on. true or false only: 0 or "no" is refused, not read."""

    email: bool = True
    sms: bool = True
    webhook: bool = True

    @field_validator("email", "sms", "webhook", mode="before")
    @classmethod
    def _true_or_false(cls, value: object) -> object:
        # A field validator, not StrictBool: Litestar validates bodies with strict=False, which overrides StrictBool.
        if not isinstance(value, bool):
            raise ValueError(_l("true or false"))
        return value


class RecipientUpsert(BaseModel):
    """Contact points of a subject; ``None`` leaves a stored value as it is, "" clears it."""

    model_config = ConfigDict(str_strip_whitespace=True)

    kind: RecipientKind
    subject_id: str = Field(min_length=1, max_length=40)
    display_name: str | None = Field(default=None, max_length=200)
    locale: str | None = None
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    webhook_url: str | None = Field(default=None, max_length=2000)
    webhook_secret: str | None = Field(default=None, max_length=200)
    preferences: ChannelPreferences | None = None
    readings: bool | None = None  # the 政策解读 opt-in for near misses; None leaves it as stored

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        if v and ("@" not in v or v.startswith("@") or v.endswith("@") or " " in v):
            raise ValueError(_l("not an e-mail address"))
        return v

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v:
            digits = v.replace(" ", "").replace("-", "")
            if digits.startswith("+"):
                digits = digits[1:]
            if not digits.isdigit() or not 5 <= len(digits) <= 15:
                raise ValueError(_l("not a phone number"))
        return v

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v and not v.startswith(("http://", "https://")):
            raise ValueError(_l("a webhook URL starts with http:// or https://"))
        return v


class RecipientRead(BaseModel):
    """A recipient as shown to its owner and officers: the phone masked, the webhook secret never shown."""

    kind: str
    subject_id: str
    display_name: str
    locale: str
    email: str | None
    phone_masked: str
    webhook_url: str | None
    has_webhook_secret: bool
    preferences: ChannelPreferences
    readings: bool = Field(False, description="opted in to 政策解读 of new policies not yet met (near misses)")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RecipientRead:
        return from_row(
            cls,
            row,
            display_name=row["display_name"] or "",
            phone_masked=mask_phone(row["phone"]),
            has_webhook_secret=bool(row["webhook_secret"]),
            preferences=ChannelPreferences(
                email=bool(row["email_enabled"]), sms=bool(row["sms_enabled"]), webhook=bool(row["webhook_enabled"])
            ),
            readings=bool(row.get("readings_enabled")),
        )


class NoticeRequest(BaseModel):
    """One notice for ``notify_many``: the same arguments as ``notify``."""

    recipient_kind: RecipientKind
    subject_id: str = Field(min_length=1, max_length=40)
    kind: str
    key: str = Field(min_length=1, max_length=200)
    context: dict[str, Any] = Field(default_factory=dict)


class NoticeRead(BaseModel):
    id: int
    recipient_kind: str
    subject_id: str
    kind: str
    locale: str
    title: str
    body: str
    link: str | None = None
    created_at: dt.datetime
    read_at: dt.datetime | None = None
    # True when notify() found the notice already there (same key) and did nothing.
    existing: bool = False

    @property
    def unread(self) -> bool:
        return self.read_at is None

    @classmethod
    def from_row(cls, row: dict[str, Any], existing: bool = False) -> NoticeRead:
        import json

        ctx = json.loads(row["context"] or "{}")
        link = ctx.get("link") or ctx.get("receipt_link")
        return cls(
            id=row["id"],
            recipient_kind=row["recipient_kind"],
            subject_id=row["subject_id"],
            kind=row["kind"],
            locale=row["locale"],
            title=row["title"],
            body=row["body"],
            link=link if isinstance(link, str) else None,
            created_at=row["created_at"],
            read_at=row["read_at"],
            existing=existing,
        )


class DeliveryRead(BaseModel):
    channel: str  # email, sms, webhook, or inbox
    status: str  # a DeliveryStatus; for the inbox "sent" (unread) or "read"
    attempts: int = 0
    reason: str = ""
    due_at: dt.datetime | None = None
    sent_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
