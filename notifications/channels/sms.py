"""The SMS channel: a small HTTP interface a real SMS gateway is wired to (see docs/notifications.md).

POST ``sms_url`` with JSON ``{"id", "to", "text"}``, headers X-Zhida-Timestamp and
X-Zhida-Signature = ``sha256=`` HMAC-SHA256(sms_secret, timestamp + "." + body). 2xx = accepted;
4xx (but 408/429) = refused for good; anything else (5xx, timeouts, connection errors) is retried.
"""

from __future__ import annotations

import json
import time

import httpx

from kit.i18n import _l
from notifications.channels.base import SIGNATURE_HEADER, TIMESTAMP_HEADER, DeliveryConfig, OutgoingMessage, sign
from notifications.errors import ChannelError


async def post_signed(url: str, payload: dict, secret: str, timeout: float, what: str) -> int:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    ts = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign(secret, ts, body),
    }
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            resp = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as e:
        raise ChannelError(_l("the {what} could not be reached: {error}"), what=what, error=type(e).__name__) from e
    if 200 <= resp.status_code < 300:
        return resp.status_code
    permanent = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
    raise ChannelError(
        _l("the {what} answered HTTP {http_status}"), permanent=permanent, what=what, http_status=resp.status_code
    )


async def send_sms(msg: OutgoingMessage, config: DeliveryConfig) -> str:
    if not config.sms_url:
        raise ChannelError(_l("SMS is not configured (ZHIDA_SMS_URL is unset)"), permanent=True)
    payload = {"id": f"zhida-{msg.delivery_id}", "to": msg.address, "text": msg.sms_text}
    status = await post_signed(
        config.sms_url, payload, config.sms_secret, config.http_timeout_seconds, _l("SMS gateway")
    )
    return f"HTTP {status}"
