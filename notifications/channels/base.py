"""What every channel shares: the delivery configuration (duck-typed from settings), the message handed to
a channel, and the HMAC signature used by the SMS and webhook HTTP interfaces."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from kit.time import CHINA

SIGNATURE_HEADER = "X-Zhida-Signature"
TIMESTAMP_HEADER = "X-Zhida-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body): what the receiver recomputes."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature or "")


def _parse_hours(text: str | None) -> tuple[dt.time, dt.time] | None:
    """ "22:00-08:00" → (22:00, 08:00); "" or None → no quiet hours."""
    if not text:
        return None
    start, _, end = str(text).partition("-")
    return dt.time.fromisoformat(start.strip()), dt.time.fromisoformat(end.strip())


def _allow_list(value: Any) -> tuple[str, ...]:
    """ "127.0.0.1, localhost" (or a list) → ("127.0.0.1", "localhost")."""
    if not value:
        return ()
    items = value.replace(";", ",").split(",") if isinstance(value, str) else list(value)
    return tuple(str(i).strip() for i in items if str(i).strip())


@dataclass(frozen=True)
class DeliveryConfig:
    """How deliveries go out. Built from the platform settings (any object with these attribute names);
    an attribute the settings lack takes the default here."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "noreply@zhida.local"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    sms_url: str | None = None
    # No published defaults: the platform's settings always hand over its own (configured or generated) secrets.
    sms_secret: str = ""
    webhook_secret: str = ""
    # Hosts, addresses or networks a webhook may target although they are internal (urlguard): tests, the demo.
    webhook_allow: tuple[str, ...] = ()
    http_timeout_seconds: float = 10.0
    # Attempts per delivery (first try included) and the backoff between them: base × 4^(n-1) seconds.
    max_attempts: int = 4
    retry_base_seconds: float = 30.0
    # Deliveries on outside channels per subject per local day; the excess waits for the next day.
    daily_limit: int = 20
    sms_quiet_hours: tuple[dt.time, dt.time] | None = (dt.time(22, 0), dt.time(8, 0))
    timezone: str = CHINA.key  # the platform's zone; a deployment may set another (notify_timezone)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Any) -> DeliveryConfig:
        def get(name: str, default: Any) -> Any:
            value = getattr(settings, name, None)
            return default if value is None else value

        d = cls()
        quiet = getattr(settings, "notify_sms_quiet_hours", None)
        return cls(
            smtp_host=getattr(settings, "smtp_host", None) or None,
            smtp_port=int(get("smtp_port", d.smtp_port)),
            smtp_sender=get("smtp_sender", d.smtp_sender),
            smtp_username=getattr(settings, "smtp_username", None) or None,
            smtp_password=getattr(settings, "smtp_password", None) or None,
            smtp_starttls=bool(get("smtp_starttls", d.smtp_starttls)),
            sms_url=getattr(settings, "sms_url", None) or None,
            sms_secret=get("sms_secret", d.sms_secret),
            webhook_secret=get("webhook_secret", d.webhook_secret),
            webhook_allow=_allow_list(getattr(settings, "webhook_allow_hosts", None)),
            http_timeout_seconds=float(get("notify_http_timeout_seconds", d.http_timeout_seconds)),
            max_attempts=max(1, int(get("notify_max_attempts", d.max_attempts))),
            retry_base_seconds=float(get("notify_retry_base_seconds", d.retry_base_seconds)),
            daily_limit=int(get("notify_daily_limit", d.daily_limit)),
            sms_quiet_hours=d.sms_quiet_hours if quiet is None else _parse_hours(quiet),
            timezone=get("notify_timezone", d.timezone),
        )

    @property
    def tz(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.retry_base_seconds * (4 ** (attempt - 1))

    def channel_configured(self, channel: str) -> bool:
        if channel == "email":
            return bool(self.smtp_host)
        if channel == "sms":
            return bool(self.sms_url)
        return True  # webhooks go to the recipient's own URL


@dataclass(frozen=True)
class OutgoingMessage:
    """One notice on its way out on one channel; ``address`` is the e-mail, phone or webhook URL."""

    notice_id: int
    delivery_id: int
    kind: str
    locale: str
    address: str
    title: str
    body: str
    sms_text: str
    link: str | None
    created_at: dt.datetime
    recipient_kind: str
    subject_id: str
    webhook_secret: str | None = None
