"""The job queue as services see it: anything with arq's ``enqueue_job`` (an ArqRedis pool, or a test's fake).

Services enqueue after commit and never run a worker; typing the queue by this Protocol keeps them free of arq's
connection classes and lets the embedded mode and tests hand in their own.
"""

from __future__ import annotations

from typing import Any, Protocol


class JobQueue(Protocol):
    async def enqueue_job(self, function: str, *args: Any, _job_id: str | None = None, **kwargs: Any) -> Any:
        """Queue ``function`` with ``args``; returns the job, or None when a job of that ``_job_id`` exists."""
        ...
