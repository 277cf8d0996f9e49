"""The email channel: a plain-text message (title as the subject) sent over SMTP with aiosmtplib."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from kit.i18n import _l
from notifications.channels.base import DeliveryConfig, OutgoingMessage
from notifications.errors import ChannelError


def build_email(msg: OutgoingMessage, config: DeliveryConfig) -> EmailMessage:
    email = EmailMessage()
    email["Subject"] = msg.title
    email["From"] = config.smtp_sender
    email["To"] = msg.address
    email["Date"] = formatdate(msg.created_at.timestamp(), localtime=False)
    email["Message-ID"] = make_msgid(
        idstring=f"notice-{msg.notice_id}", domain=config.smtp_sender.partition("@")[2] or None
    )
    email["X-Zhida-Notice"] = str(msg.notice_id)
    email.set_content(msg.body + (f"\n\n{msg.link}" if msg.link and msg.link not in msg.body else ""))
    return email


async def send_email(msg: OutgoingMessage, config: DeliveryConfig) -> str:
    """Send; returns the server's reply. A 5xx refusal is permanent, anything else is worth retrying."""
    if not config.smtp_host:
        raise ChannelError(_l("email is not configured (ZHIDA_SMTP_HOST is unset)"), permanent=True)
    try:
        _, reply = await aiosmtplib.send(
            build_email(msg, config),
            hostname=config.smtp_host,
            port=config.smtp_port,
            username=config.smtp_username,
            password=config.smtp_password,
            start_tls=True if config.smtp_starttls else False,
            timeout=config.http_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as e:
        raise ChannelError(_l("the mail server refused the recipient: {code}"), permanent=True, code=_code_of(e)) from e
    except aiosmtplib.SMTPResponseException as e:
        permanent = 500 <= e.code < 600
        if not e.message.strip():
            raise ChannelError(_l("the mail server answered {code}"), permanent=permanent, code=e.code) from e
        raise ChannelError(
            _l("the mail server answered {code} {reply}"), permanent=permanent, code=e.code, reply=e.message.strip()
        ) from e
    except (aiosmtplib.SMTPException, OSError) as e:
        raise ChannelError(
            _l("the mail server could not be reached: {error}: {why}"), error=type(e).__name__, why=str(e)
        ) from e
    return reply


def _code_of(e: aiosmtplib.SMTPRecipientsRefused) -> str:
    return "; ".join(f"{r.code} {r.message}" for r in e.recipients) or "refused"
