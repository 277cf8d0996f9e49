"""The job queue: arq on Redis in production, the same arq on an in-process fake Redis when embedded.

Both modes enqueue through ``ArqRedis.enqueue_job`` and run the very same job functions (app/worker.py's registry)
in an arq ``Worker``; only the connection differs, so job ids, deduplication and retries behave alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import arq.worker
import fakeredis
from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.jobs import Job
from arq.worker import Worker
from fakeredis.aioredis import FakeAsyncRedisConnection
from redis.asyncio import ConnectionPool

from app import worker as registry
from app.config import get_settings
from kit.jobs import carrying

QUEUE = registry.QUEUE
_fake_server: fakeredis.FakeServer | None = None
_pools: dict[int, ArqRedis] = {}


def embedded() -> bool:
    return not get_settings().redis_url


async def get_queue() -> Any:
    """The queue for the running event loop (one pool per loop; arq pools are loop-bound), carrying the request id
    into the jobs queued (CarryingQueue)."""
    return carrying(await _pool())


async def _pool() -> ArqRedis:
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
    if _fake_server is None:
        _fake_server = fakeredis.FakeServer()
    pool = ConnectionPool(connection_class=FakeAsyncRedisConnection, server=_fake_server)
    return ArqRedis(connection_pool=pool, default_queue_name=QUEUE)


async def enqueue(
    function: str, *args: Any, _job_id: str | None = None, _defer_by: float | None = None, **kwargs: Any
) -> Job | None:
    """Enqueue a job; returns None when a job with that id is already queued, running or kept."""
    queue = await get_queue()
    return await queue.enqueue_job(function, *args, _job_id=_job_id, _queue_name=QUEUE, _defer_by=_defer_by, **kwargs)


def make_worker(*, burst: bool, max_jobs: int = 20, pool: ArqRedis | None = None) -> Worker:
    """A worker of the registry's jobs in this process, on ``pool`` (the in-process queue's) or the configured Redis."""
    return Worker(
        functions=registry.FUNCTIONS,
        # Scheduled jobs belong to long-running workers; a burst drain must end when the queue is empty.
        cron_jobs=None if burst else registry.CRON_JOBS,
        queue_name=QUEUE,
        redis_pool=pool,
        redis_settings=None if pool is not None else RedisSettings.from_dsn(get_settings().redis_url),
        burst=burst,
        max_jobs=max_jobs,
        job_timeout=registry.JOB_TIMEOUT,
        max_tries=registry.MAX_TRIES,
        keep_result=registry.KEEP_RESULT,
        poll_delay=0.05 if embedded() else 0.5,
        handle_signals=not embedded() and not burst,
        # This process opened the database and closes it: the worker only gives its jobs their context.
        on_startup=registry.embedded_startup,
        ctx={},
    )


@contextlib.contextmanager
def _no_redis_info() -> Iterator[None]:
    """fakeredis has no INFO command, which arq's Worker.main() logs at start."""
    original = arq.worker.log_redis_info

    async def _quiet(*_a: Any, **_k: Any) -> None:
        return None

    arq.worker.log_redis_info = _quiet
    try:
        yield
    finally:
        arq.worker.log_redis_info = original


async def drain(max_jobs: int = 20) -> None:
    """Run every queued (and newly queued) job to completion in this process, then return.

    In the embedded mode, where no long-running worker runs cron jobs for a command, the registry's DRAIN_JOBS (the
    idempotent switch of scheduled policy versions) are queued first, so they run on every drain."""
    pool = await _pool()
    if embedded():
        for name in registry.DRAIN_JOBS:
            await pool.enqueue_job(name, _queue_name=QUEUE)
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
    pool = await _pool()
    worker = make_worker(burst=False, pool=pool)
    try:
        with _no_redis_info():
            await worker.main()
    finally:
        await worker.close()
