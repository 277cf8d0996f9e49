"""Jobs owned by app/ itself."""
from __future__ import annotations

from arq.worker import func


async def ping(ctx: dict, token: str) -> int:
    """A no-op job that counts its runs in Redis: checks the queue end to end, and that a job id deduplicates."""
    return await ctx["redis"].incr(f"zhida:ping:{token}")


functions = [func(ping, name="app.ping")]
