"""Jobs owned by app/ itself."""
from __future__ import annotations

from arq.cron import cron
from arq.worker import func


async def ping(ctx: dict, token: str) -> int:
    """A no-op job that counts its runs in Redis: checks the queue end to end, and that a job id deduplicates."""
    return await ctx["redis"].incr(f"zhida:ping:{token}")


async def notify_matches(ctx: dict, version_id: int) -> int:
    """Notices for the stored matches of one published version (idempotent by notice key)."""
    from app.audit import SYSTEM
    from app.flows import notify_matches as notify

    return await notify(version_id, actor=SYSTEM, queue=ctx["redis"])


async def notify_all_matches(ctx: dict) -> int:
    """The safety net behind incremental matching: every stored match of every published version has its notice."""
    from app.audit import SYSTEM
    from app.flows import notify_all_published

    return await notify_all_published(actor=SYSTEM, queue=ctx["redis"])


functions = [func(ping, name="app.ping"), func(notify_matches, name="app.notify_matches"),
             func(notify_all_matches, name="app.notify_all_matches")]
cron_jobs = [cron(notify_all_matches, name="app.notify_all_matches.cron", minute={0, 15, 30, 45}, second=30,
                  unique=True, run_at_startup=True)]
