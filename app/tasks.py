"""Jobs owned by app/ itself: the ping that checks the queue; after a publication, matching, notices and entitlements;
the auditor's evidence pack (app/evidence.py); and the scheduled switch that makes a version published ahead of its
effective_from take effect on that day."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from arq import ArqRedis
from arq.cron import cron
from arq.worker import func

from app import audit, evidence, staff_messages
from app.audit import SYSTEM
from app.flows import notify_all_published, notify_near_misses
from app.flows import notify_matches as notify
from eligibility.errors import NotInEffect
from eligibility.matcher import match_ruleset
from kit.time import china_today
from kit.vocab import VersionStatus
from payments import service as payments
from policies import service as policies

log = logging.getLogger("zhida")


async def ping(ctx: dict[str, Any], token: str) -> int:
    """A no-op job that counts its runs in Redis: checks the queue end to end, and that a job id deduplicates."""
    return await ctx["redis"].incr(f"zhida:ping:{token}")


async def notify_matches(ctx: dict[str, Any], version_id: int) -> int:
    """Notices for the stored matches of one published version (idempotent by notice key)."""
    return await notify(version_id, actor=SYSTEM, queue=ctx["redis"])


async def notify_all_matches(ctx: dict[str, Any]) -> int:
    """The safety net behind incremental matching: every stored match of every published version has its notice."""
    return await notify_all_published(actor=SYSTEM, queue=ctx["redis"])


async def match_published(ctx: dict[str, Any], version_id: int, as_of: str | None = None) -> int:
    """After publication (服务找人): match the version against every profile of its kind, store the matches, write
    their notices and refresh the policy's entitlements (免申即享). A version not in effect on the date is left alone
    (it matches on a later run); one no longer the published version of its code is not matched at all."""
    version = await policies.get_version(version_id)
    if version.status != VersionStatus.PUBLISHED:
        log.info("version %s is %s: not matched", version_id, version.status)
        return 0
    day = dt.date.fromisoformat(as_of) if as_of else china_today()
    try:
        run = await match_ruleset(await policies.ruleset_of(version_id), day, store=True, actor=SYSTEM, collect=False)
    except NotInEffect as exc:
        log.info("version %s not matched: %s", version_id, exc.message)
        return 0
    if run.withdrawn:  # matched before: those who no longer qualify lose their payable entitlement (资格复核)
        await payments.withdraw_unqualified(version_id, actor=SYSTEM)
    written = await notify(version_id, actor=SYSTEM, queue=ctx["redis"])
    # 政策解读 to near misses who opted in (once per version and subject, by notice key)
    written += await notify_near_misses(version_id, actor=SYSTEM, queue=ctx["redis"], as_of=day)
    await payments.refresh_entitlements(version.code, actor=SYSTEM)
    return written


async def take_effect(ctx: dict[str, Any]) -> int:
    """Scheduled (and at every in-process drain): versions whose effective_from has come take effect, superseding
    the version in effect, and their matching is queued. Idempotent; returns how many took effect."""
    switched = await policies.activate_due(SYSTEM)
    for v in switched:
        await enqueue_match_published(ctx["redis"], v.id)
    return len(switched)


async def verify_audit(ctx: dict[str, Any]) -> bool:
    """The full walk of the audit trail, hourly in a worker: its outcome is that process's zhida_audit_verify_ok
    (the alert "audit verify failing"); /metrics' zhida_audit_head_sealed is the cheap check between walks."""
    result = await audit.verify()
    if not result.ok:
        log.error("audit trail BROKEN at entry %s: %s", result.broken_seq, result.reason)
    return result.ok


async def risk_scan(ctx: dict[str, Any]) -> int:
    """风险拦截: every risk rule over every entitlement about to be paid; hits become open flags (idempotent).
    Returns how many new flags it raised."""
    from app.config import get_settings

    result = await payments.risk_scan(actor=SYSTEM, settings=get_settings().risk_settings())
    return result.created


async def objection_deadlines(ctx: dict[str, Any]) -> dict[str, int]:
    """Hourly: objections due within three working days are marked reminded and the officers get a message in the
    staff inbox; overdue ones are escalated with a message to the reviewers (app.staff_messages; each once per item,
    kind and user, audited, also under concurrent runs)."""
    return await staff_messages.deadline_messages(actor=SYSTEM)


async def enqueue_match_published(queue: ArqRedis, version_id: int, as_of: dt.date | None = None) -> None:
    """Queue the match-and-notify job of a just-published version (once per version and date)."""
    day = as_of.isoformat() if as_of else None
    await queue.enqueue_job(
        "app.match_published", version_id, day, _job_id=f"match-published:{version_id}:{day or 'today'}"
    )


functions = [
    func(ping, name="app.ping"),
    func(match_published, name="app.match_published"),
    func(notify_matches, name="app.notify_matches"),
    func(notify_all_matches, name="app.notify_all_matches"),
    func(take_effect, name="app.take_effect"),
    func(verify_audit, name="app.verify_audit"),
    func(risk_scan, name="app.risk_scan"),
    func(objection_deadlines, name="app.objection_deadlines"),
    *evidence.functions,
]
# Idempotent jobs that a drain of the in-process queue runs too: a command in the embedded mode has no long-running
# worker whose cron would run them (app/jobs.py).
drain_jobs = ["app.take_effect"]
cron_jobs = [
    cron(verify_audit, name="app.verify_audit.cron", minute=7, second=0, unique=True),
    # Every half hour: flags raised before the next batch is made (batch creation leaves flagged ones out).
    cron(risk_scan, name="app.risk_scan.cron", minute={20, 50}, second=0, unique=True),
    cron(objection_deadlines, name="app.objection_deadlines.cron", minute=40, second=0, unique=True),
    cron(
        notify_all_matches,
        name="app.notify_all_matches.cron",
        minute={0, 15, 30, 45},
        second=30,
        unique=True,
        run_at_startup=True,
    ),
    # Every five minutes: a version dated from today takes effect within minutes of midnight (China time).
    cron(
        take_effect,
        name="app.take_effect.cron",
        minute=set(range(0, 60, 5)),
        second=10,
        unique=True,
        run_at_startup=True,
    ),
]
