"""The job queue as services see it: anything with arq's ``enqueue_job`` (an ArqRedis pool, or a test's fake).

Services enqueue after commit and never run a worker; typing the queue by this Protocol keeps them free of arq's
connection classes and lets the embedded mode and tests hand in their own.
"""

from __future__ import annotations

from typing import Any, Protocol

from kit import correlation
from kit.correlation import REQUEST_ID_KWARG


class JobQueue(Protocol):
    async def enqueue_job(self, function: str, *args: Any, _job_id: str | None = None, **kwargs: Any) -> Any:
        """Queue ``function`` with ``args``; returns the job, or None when a job of that ``_job_id`` exists."""
        ...


class CarryingQueue:
    """The queue as requests, commands and jobs use it: a job queued in a context with a request id (an HTTP
    request, a command, a job) carries that id (REQUEST_ID_KWARG, taken off again by app/worker.py's job wrapper), so
    the job's log lines name the request that caused it. Everything else is the pool's."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pool, name)

    async def enqueue_job(self, function: str, *args: Any, **kwargs: Any) -> Any:
        rid = correlation.request_id()
        if rid and REQUEST_ID_KWARG not in kwargs:
            kwargs[REQUEST_ID_KWARG] = rid
        return await self.pool.enqueue_job(function, *args, **kwargs)


def carrying(pool: Any) -> Any:
    return pool if isinstance(pool, CarryingQueue) else CarryingQueue(pool)
