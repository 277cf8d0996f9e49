"""The same delivery job on the real Redis of the CI run (scripts/test), with an arq Worker as `zhida worker`
runs it; the job id keeps a delivery from being queued twice."""

from __future__ import annotations

import uuid

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from notifications import tasks
from notifications.service import deliveries, enqueue_deliveries, notify
from tests.notifications.conftest import CTX, make_recipient

pytestmark = pytest.mark.redis

ENT = "91360100MA35ABCDE1"


async def test_delivery_on_real_redis(fresh_db, redis_url, actor, channel_settings, smtp_sink):
    queue_name = f"zhida:test:{uuid.uuid4().hex[:8]}"
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue_name)
    try:
        await make_recipient(actor, ENT, phone=None)
        n = await notify("enterprise", ENT, "matched_auto", "redis:1", CTX, actor=actor, queue=pool)
        assert await enqueue_deliveries(pool, [(n.id, "email")]) == 0  # same job id: not queued twice

        async def startup(ctx):
            ctx["settings"] = channel_settings.view

        worker = Worker(
            functions=tasks.functions,
            redis_pool=pool,
            queue_name=queue_name,
            burst=True,
            poll_delay=0.05,
            handle_signals=False,
            on_startup=startup,
        )
        await worker.main()
        await worker.close()
        assert {d.channel: d.status for d in await deliveries(n.id)} == {"inbox": "sent", "email": "sent"}
        assert len(smtp_sink.messages) == 1
    finally:
        # Only this test's keys: the Redis is shared with the rest of the run.
        keys = [k async for k in pool.scan_iter(match="arq:*deliver:*")]
        await pool.delete(queue_name, *keys)
        await pool.aclose()
