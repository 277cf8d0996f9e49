"""One arq WorkerSettings gathering the job functions of every domain's tasks.py; `zhida worker` runs it."""

from __future__ import annotations

from arq.connections import RedisSettings

from app import tasks as app_tasks
from app.config import get_settings


def _cron_jobs() -> list:
    from notifications import tasks as notification_tasks
    from payments import tasks as payment_tasks

    return [*app_tasks.cron_jobs, *notification_tasks.cron_jobs, *payment_tasks.cron_jobs]


def _functions() -> list:
    from eligibility import tasks as eligibility_tasks
    from notifications import tasks as notification_tasks
    from payments import tasks as payment_tasks
    from payments.receipts import tasks as receipt_tasks

    return [
        *app_tasks.functions,
        *eligibility_tasks.functions,
        *notification_tasks.functions,
        *payment_tasks.functions,
        *receipt_tasks.functions,
    ]


def install_fast_loop() -> None:
    """Run the worker on uvloop when it is installed (it comes with uvicorn[standard], which `zhida bank-sim` and
    `zhida serve` already run on): the payment jobs are network-bound asyncio code (bank calls, PostgreSQL, Redis),
    where uvloop's event loop and transports cost a fraction of the stdlib's CPU."""
    try:
        import uvloop
    except ImportError:  # the stdlib loop works the same, only slower
        return
    import asyncio

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


async def startup(ctx: dict) -> None:
    from app.audit import SYSTEM
    from app.db import open_database

    await open_database()
    ctx["settings"] = get_settings()
    ctx["system_actor"] = SYSTEM


async def shutdown(ctx: dict) -> None:
    from app.db import close_database

    await close_database()


class WorkerSettings:
    functions = _functions()
    cron_jobs = _cron_jobs()
    queue_name = "zhida:queue"
    on_startup = startup
    on_shutdown = shutdown
    job_timeout = 600
    max_tries = 5
    keep_result = 3600
    redis_settings = RedisSettings.from_dsn(get_settings().redis_url) if get_settings().redis_url else None
