"""The job side of the platform: every domain's arq job functions and cron jobs in one registry, the start-up that
gives jobs their context, and the WorkerSettings that `zhida worker` runs. The in-process queue (app/jobs.py) runs
the same registry; nothing here knows how jobs are enqueued."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from typing import Any

from arq.connections import RedisSettings
from arq.cron import CronJob
from arq.worker import Function, Retry

from app import tasks as app_tasks
from app.audit import SYSTEM
from app.config import get_settings
from app.db import close_database, open_database
from app.flows import matches_withdrawn
from eligibility import tasks as eligibility_tasks
from kit.correlation import REQUEST_ID_KWARG, bound
from kit.jobs import carrying
from kit.masking import install_log_masking
from kit.metrics import JOB_SECONDS, JOBS
from notifications import tasks as notification_tasks
from payments import receipt_tasks
from payments import tasks as payment_tasks

QUEUE = "zhida:queue"
JOB_TIMEOUT = 600
MAX_TRIES = 5
KEEP_RESULT = 3600

log = logging.getLogger("zhida.jobs")


def instrumented(name: str, coroutine: Any) -> Any:
    """``coroutine`` as a job: its lines carry the request id it was queued under (the REQUEST_ID_KWARG its
    enqueuer added, app/jobs.py), its job id and name; the jobs it queues carry the same request id; it is counted
    and timed on the job metrics by name and outcome."""

    @functools.wraps(coroutine)
    async def job(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        request_id = kwargs.pop(REQUEST_ID_KWARG, None)
        if ctx.get("redis") is not None:
            ctx["redis"] = carrying(ctx["redis"])
        started = time.perf_counter()
        with bound(request_id=request_id, job_id=ctx.get("job_id"), job=name):
            log.info("job started (try %s)", ctx.get("job_try", 1))
            try:
                result = await coroutine(ctx, *args, **kwargs)
            except Retry:
                JOBS.labels(name, "retry").inc()
                log.info("job to be retried")
                raise
            except Exception as exc:
                JOBS.labels(name, "failure").inc()
                log.warning("job failed: %s", type(exc).__name__)
                raise
            finally:
                JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
            JOBS.labels(name, "success").inc()
            log.info("job done in %.3fs", time.perf_counter() - started)
            return result

    return job


def _instrument(jobs: list) -> list:
    return [dataclasses.replace(j, coroutine=instrumented(j.name, j.coroutine)) for j in jobs]


FUNCTIONS: list[Function] = _instrument(
    [
        *app_tasks.functions,
        *eligibility_tasks.functions,
        *notification_tasks.functions,
        *payment_tasks.functions,
        *receipt_tasks.functions,
    ]
)
CRON_JOBS: list[CronJob] = _instrument([*app_tasks.cron_jobs, *notification_tasks.cron_jobs, *payment_tasks.cron_jobs])
# Scheduled jobs that must also run where no cron does: every drain of the in-process queue queues them first.
DRAIN_JOBS: list[str] = [*app_tasks.drain_jobs]


def job_context(ctx: dict[str, Any]) -> None:
    """What every job may take from its ctx: the platform settings and the actor jobs record as. Domain jobs get
    them here rather than importing app/ (payments/tasks.py, notifications/tasks.py, receipts)."""
    ctx["settings"] = get_settings()
    ctx["settings"].check_secrets()  # a worker of a deployment without its own secrets does not start
    ctx["system_actor"] = SYSTEM
    install_log_masking()  # arq logs each job's arguments and result: long numbers in them are masked
    ctx["eligibility.on_withdrawn"] = _matches_withdrawn


async def _matches_withdrawn(withdrawn: list, queue: Any = None) -> None:
    await matches_withdrawn(withdrawn, actor=SYSTEM, queue=queue)


async def startup(ctx: dict[str, Any]) -> None:
    """A worker process of its own (`zhida worker`): it opens the database it runs jobs against."""
    await open_database()
    job_context(ctx)


async def shutdown(ctx: dict[str, Any]) -> None:
    await close_database()


async def embedded_startup(ctx: dict[str, Any]) -> None:
    """The in-process queue's worker runs inside a command or the web process, which has the database open already
    and closes it itself."""
    job_context(ctx)


def install_fast_loop() -> None:
    """Run the worker on uvloop when it is installed (it comes with uvicorn[standard], which `zhida bank-sim` and
    `zhida serve` already run on): the payment jobs are network-bound asyncio code (bank calls, PostgreSQL, Redis),
    where uvloop's event loop and transports cost a fraction of the stdlib's CPU."""
    try:
        import uvloop  # an optional extra: absent, the stdlib loop does the same, only slower
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class WorkerSettings:
    functions = FUNCTIONS
    cron_jobs = CRON_JOBS
    queue_name = QUEUE
    on_startup = startup
    on_shutdown = shutdown
    job_timeout = JOB_TIMEOUT
    max_tries = MAX_TRIES
    keep_result = KEEP_RESULT
    redis_settings = RedisSettings.from_dsn(get_settings().redis_url) if get_settings().redis_url else None
