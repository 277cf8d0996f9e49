"""The job queue: arq on Redis in production, the same arq on an in-process fake Redis when embedded.

Both modes enqueue through ``ArqRedis.enqueue_job`` and run the very same job functions in an arq
``Worker``; only the connection differs, so job ids, deduplication and retries behave alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.worker import Worker

from app.config import get_settings

QUEUE = "zhida:queue"
_fake_server = None
_pools: dict[int, ArqRedis] = {}


def embedded() -> bool:
    return not get_settings().redis_url


async def get_queue() -> ArqRedis:
    """The queue for the running event loop (one pool per loop; arq pools are loop-bound)."""
    loop_id = id(asyncio.get_running_loop())
    pool = _pools.get(loop_id)
    if pool is None:
        if embedded():
            pool = _fake_pool()
        else:
            pool = await create_pool(RedisSettings.from_dsn(get_settings().redis_url), default_queue_name=QUEUE)
        _pools[loop_id] = pool
    return pool


def _fake_pool() -> ArqRedis:
    global _fake_server
    import fakeredis
    from fakeredis.aioredis import FakeAsyncRedisConnection
    from redis.asyncio import ConnectionPool

    if _fake_server is None:
        _fake_server = fakeredis.FakeServer()
    pool = ConnectionPool(connection_class=FakeAsyncRedisConnection, server=_fake_server)
    return ArqRedis(connection_pool=pool, default_queue_name=QUEUE)


async def enqueue(function: str, *args: Any, _job_id: str | None = None, _defer_by: float | None = None, **kwargs: Any):
    """Enqueue a job; returns None when a job with that id is already queued, running or kept."""
    queue = await get_queue()
    return await queue.enqueue_job(function, *args, _job_id=_job_id, _queue_name=QUEUE, _defer_by=_defer_by, **kwargs)


def make_worker(*, burst: bool, max_jobs: int = 20, pool: ArqRedis | None = None) -> Worker:
    from app.worker import WorkerSettings

    return Worker(
        functions=WorkerSettings.functions,
        # Scheduled jobs belong to long-running workers; a burst drain must end when the queue is empty.
        cron_jobs=None if burst else WorkerSettings.cron_jobs,
        queue_name=QUEUE,
        redis_pool=pool,
        redis_settings=None if pool is not None else RedisSettings.from_dsn(get_settings().redis_url),
        burst=burst,
        max_jobs=max_jobs,
        job_timeout=WorkerSettings.job_timeout,
        max_tries=WorkerSettings.max_tries,
        keep_result=WorkerSettings.keep_result,
        poll_delay=0.05 if embedded() else 0.5,
        handle_signals=not embedded() and not burst,
        on_startup=WorkerSettings.on_startup,
        on_shutdown=WorkerSettings.on_shutdown,
        ctx={},
    )


@contextlib.contextmanager
def _no_redis_info():
    """fakeredis has no INFO command, which arq's Worker.main() logs at start."""
    import arq.worker as aw

    original = aw.log_redis_info

    async def _quiet(*_a, **_k):
        return None

    aw.log_redis_info = _quiet
    try:
        yield
    finally:
        aw.log_redis_info = original


async def drain(max_jobs: int = 20) -> None:
    """Run every queued (and newly queued) job to completion in this process, then return."""
    pool = await get_queue()
    worker = make_worker(burst=True, max_jobs=max_jobs, pool=pool)
    try:
        if embedded():
            with _no_redis_info():
                await worker.main()
        else:
            await worker.main()
    finally:
        await worker.close()


async def run_background_worker() -> None:
    """The embedded server's in-process worker: runs until cancelled."""
    pool = await get_queue()
    worker = make_worker(burst=False, pool=pool)
    try:
        with _no_redis_info():
            await worker.main()
    finally:
        await worker.close()
