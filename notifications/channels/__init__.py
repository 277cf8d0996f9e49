"""The outside channels a notice is delivered through: email (SMTP), SMS (HTTP gateway), webhook (HTTP)."""

from __future__ import annotations

from notifications.channels.base import DeliveryConfig, OutgoingMessage, sign
from notifications.channels.email import send_email
from notifications.channels.sms import send_sms
from notifications.channels.webhook import send_webhook

SENDERS = {"email": send_email, "sms": send_sms, "webhook": send_webhook}

__all__ = ["DeliveryConfig", "OutgoingMessage", "SENDERS", "sign", "send_email", "send_sms", "send_webhook"]
