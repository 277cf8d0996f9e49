"""The webhook channel: the notice as signed JSON POSTed to the recipient's own URL.

Signed like the SMS interface (X-Zhida-Timestamp, X-Zhida-Signature), with the recipient's own webhook
secret when it registered one, else the platform's ``webhook_secret``. The URL is checked again before each send
(channels.urlguard: no internal, loopback, private or reserved address unless ``webhook_allow_hosts`` lists it);
a refused one fails for good with the reason.
"""

from __future__ import annotations

from kit.i18n import _l
from kit.masking import mask_id_number
from notifications.channels import urlguard
from notifications.channels.base import DeliveryConfig, OutgoingMessage
from notifications.channels.sms import post_signed
from notifications.errors import ChannelError


def webhook_payload(msg: OutgoingMessage) -> dict:
    return {
        "event": "notice",
        "notice_id": msg.notice_id,
        "delivery_id": msg.delivery_id,
        "kind": msg.kind,
        "locale": msg.locale,
        "title": msg.title,
        "body": msg.body,
        "link": msg.link,
        "created_at": msg.created_at.isoformat(),
        "recipient": {"kind": msg.recipient_kind, "subject_id": mask_id_number(msg.subject_id)},
    }


async def send_webhook(msg: OutgoingMessage, config: DeliveryConfig) -> str:
    if not msg.address:
        raise ChannelError(_l("no webhook URL registered"), permanent=True)
    try:  # again at each send: the name may resolve elsewhere now than when the subject set it
        await urlguard.check_url(msg.address, config.webhook_allow)
    except urlguard.UrlRefused as e:
        raise ChannelError(e.template, permanent=not e.temporary, **e.params) from e
    secret = msg.webhook_secret or config.webhook_secret
    status = await post_signed(
        msg.address, webhook_payload(msg), secret, config.http_timeout_seconds, _l("webhook endpoint")
    )
    return f"HTTP {status}"
