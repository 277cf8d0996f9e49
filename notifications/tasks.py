"""Jobs of notifications/: ``notifications.deliver`` (one notice on one channel, retried with backoff)
and ``notifications.release_due`` (deferred deliveries back on the queue; run it every minute)."""

from __future__ import annotations

from typing import Any

from arq.cron import cron
from arq.worker import Retry, func

from notifications import delivery
from notifications.channels import DeliveryConfig


async def deliver(ctx: dict[str, Any], notice_id: int, channel: str) -> str:
    config = DeliveryConfig.from_settings(ctx.get("settings"))
    outcome = await delivery.attempt(notice_id, channel, config)
    if outcome.retry_in is not None:
        raise Retry(defer=outcome.retry_in)
    return outcome.status


async def release_due(ctx: dict[str, Any]) -> int:
    return await delivery.release_due(ctx["redis"])


# Attempts are counted on the delivery row (DeliveryConfig.max_attempts); arq's own bound is only a backstop.
functions = [
    func(deliver, name="notifications.deliver", max_tries=100),
    func(release_due, name="notifications.release_due"),
]
cron_jobs = [cron(release_due, name="notifications.release_due.cron", second=0, run_at_startup=True)]
