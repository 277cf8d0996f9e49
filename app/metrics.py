"""/metrics for Prometheus: HTTP rates and latency by route (Litestar's Prometheus plugin), what this process counted
(kit/metrics.py: jobs, bank calls, payment outcomes, feed rows, match runs), and gauges of the stored state computed
from SQL when scraped (a handful of aggregate queries over indexed columns): payments by status, unknown outcomes and
the oldest of them, batches by status, deliveries by channel and status, budget used per live policy, the audit
trail's size and seal, the latest reconciliation's differences, the job queue's backlog.

Reading them needs ``Authorization: Bearer <ZHIDA_METRICS_TOKEN>``; without a token configured, only loopback clients
may. Each `zhida worker` serves its own process's counters on ZHIDA_WORKER_METRICS_PORT, under the same rule
(per-process exposition: Prometheus scrapes every instance; see docs/operations.md).
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import logging
import threading
import time
from typing import Any

from litestar import Request, Response, get
from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily

from app.auth.guards import PUBLIC
from app.config import get_settings
from kit.db import raw
from kit.vocab import BatchStatus, PaymentStatus, VersionStatus

log = logging.getLogger("zhida.metrics")

HTTP_METRICS = PrometheusConfig(
    app_name="zhida",
    prefix="zhida_http",
    group_path=True,  # the route's template, never the path: a path can carry a subject id
    exclude=["^/metrics", "^/static"],
    exclude_unhandled_paths=True,
)


def allowed(authorization: str | None, client_host: str | None) -> bool:
    """Bearer ZHIDA_METRICS_TOKEN when one is configured; else a loopback client only."""
    token = get_settings().metrics_token
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    try:
        return ipaddress.ip_address((client_host or "").split("%")[0]).is_loopback
    except ValueError:
        return False


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def state_families() -> list[GaugeMetricFamily]:
    """The gauges of stored state, from SQL (and Redis) now."""
    now = dt.datetime.now(dt.UTC)
    out: list[GaugeMetricFamily] = []

    payments = GaugeMetricFamily("zhida_payments", "Payments by status", labels=["status"])
    amounts = GaugeMetricFamily(
        "zhida_payments_amount_fen", "Amount of the payments by status, in fen", labels=["status"]
    )
    seen = {
        r["status"]: r
        for r in await raw("SELECT status, COUNT(*) AS n, SUM(amount_fen) AS fen FROM pay_payment GROUP BY status")
    }
    for status in PaymentStatus:
        row = seen.get(status.value, {})
        payments.add_metric([status.value], int(row.get("n") or 0))
        amounts.add_metric([status.value], int(row.get("fen") or 0))
    out += [payments, amounts]

    (unknown,) = await raw(
        "SELECT COUNT(*) AS n, MIN(COALESCE(submitted_at, created_at)) AS oldest FROM pay_payment WHERE status = {}",
        PaymentStatus.UNKNOWN.value,
    )
    oldest = _aware(unknown["oldest"])
    out.append(
        GaugeMetricFamily(
            "zhida_payments_unknown",
            "Payments whose outcome at the bank is unknown, pending a query",
            value=int(unknown["n"] or 0),
        )
    )
    out.append(
        GaugeMetricFamily(
            "zhida_payments_unknown_oldest_seconds",
            "Age of the oldest payment with an unknown outcome (since it was sent); 0 when none",
            value=(now - oldest).total_seconds() if oldest else 0,
        )
    )

    batches = GaugeMetricFamily("zhida_batches", "Disbursement batches by status", labels=["status"])
    by_status = {
        r["status"]: int(r["n"]) for r in await raw("SELECT status, COUNT(*) AS n FROM pay_batch GROUP BY status")
    }
    for status in BatchStatus:
        batches.add_metric([status.value], by_status.get(status.value, 0))
    out.append(batches)
    out.append(
        GaugeMetricFamily(
            "zhida_batches_running", "Batches being paid now", value=by_status.get(BatchStatus.RUNNING.value, 0)
        )
    )

    deliveries = GaugeMetricFamily(
        "zhida_notice_deliveries", "Notice deliveries by channel and status", labels=["channel", "status"]
    )
    for r in await raw("SELECT channel, status, COUNT(*) AS n FROM notifications_delivery GROUP BY channel, status"):
        deliveries.add_metric([r["channel"], r["status"]], int(r["n"]))
    out.append(deliveries)

    used = GaugeMetricFamily(
        "zhida_policy_budget_used_ratio",
        "Share of a live policy's fund committed (reserved, in transit, paid)",
        labels=["policy"],
    )
    used_fen = GaugeMetricFamily(
        "zhida_policy_budget_used_fen",
        "What a live policy's versions committed against its fund, in fen",
        labels=["policy"],
    )
    fund = GaugeMetricFamily(
        "zhida_policy_budget_fen", "A live policy's fund (its latest version's budget), in fen", labels=["policy"]
    )
    for r in await raw(
        "SELECT b.policy_code AS code, b.budget_fen AS budget_fen, "
        "(SELECT COALESCE(SUM(l.amount_fen), 0) FROM pay_ledger_entry l WHERE l.account = 'budget' AND l.version_id IN "
        " (SELECT x.version_id FROM pay_budget x WHERE x.policy_code = b.policy_code)) AS balance "
        "FROM pay_budget b WHERE b.policy_version = (SELECT MAX(y.policy_version) FROM pay_budget y WHERE y.policy_code = b.policy_code) "
        "AND b.policy_code IN (SELECT v.code FROM policies_version v WHERE v.status = {})",
        VersionStatus.PUBLISHED.value,
    ):
        committed = -int(r["balance"] or 0)
        budget = int(r["budget_fen"] or 0)
        used.add_metric([r["code"]], committed / budget if budget else 0.0)
        used_fen.add_metric([r["code"]], committed)
        fund.add_metric([r["code"]], budget)
    out += [used, used_fen, fund]

    (audit_row,) = await raw("SELECT MAX(seq) AS n FROM app_audit_entry")
    out.append(
        GaugeMetricFamily(
            "zhida_audit_entries",
            "Entries in the audit trail (its last sequence number)",
            value=int(audit_row["n"] or 0),
        )
    )
    from app import audit

    out.append(
        GaugeMetricFamily(
            "zhida_audit_head_sealed",
            "1 when the audit trail's head is sealed under this key and is its last entry (the cheap check; "
            "zhida_audit_verify_ok is the full walk's)",
            value=1 if await audit.head_sealed() is None else 0,
        )
    )

    latest = await raw("SELECT differences, created_at FROM pay_reconciliation_run ORDER BY id DESC LIMIT 1")
    out.append(
        GaugeMetricFamily(
            "zhida_reconciliation_differences",
            "Differences found by the latest reconciliation with the bank statement",
            value=int(latest[0]["differences"]) if latest else 0,
        )
    )
    ran = _aware(latest[0]["created_at"]) if latest else None
    out.append(
        GaugeMetricFamily(
            "zhida_reconciliation_last_run_timestamp_seconds",
            "When the latest reconciliation ran (0: never)",
            value=ran.timestamp() if ran else 0,
        )
    )
    out += await _queue_families()
    return out


async def _queue_families() -> list[GaugeMetricFamily]:
    from app import jobs

    queue = await jobs.get_queue()
    depth = await queue.zcard(jobs.QUEUE)
    first = await queue.zrange(jobs.QUEUE, 0, 0, withscores=True)
    oldest_ms = first[0][1] if first else None
    lag = max(0.0, time.time() - oldest_ms / 1000) if oldest_ms else 0.0
    return [
        GaugeMetricFamily(
            "zhida_queue_jobs", "Jobs queued (due or deferred) and not yet taken by a worker", value=depth
        ),
        GaugeMetricFamily(
            "zhida_queue_oldest_due_seconds", "How long the longest-waiting due job has waited (0: none)", value=lag
        ),
    ]


def exposition(families: list[GaugeMetricFamily]) -> bytes:
    class _State:
        def collect(self):
            return families

    state = CollectorRegistry(auto_describe=False)
    state.register(_State())
    return generate_latest(REGISTRY) + generate_latest(state)


@get("/metrics", opt={PUBLIC: True}, include_in_schema=False)
async def metrics(request: Request) -> Response:
    if not allowed(request.headers.get("authorization"), request.client.host if request.client else None):
        if get_settings().metrics_token:
            return Response(
                {"error": "metrics need Authorization: Bearer <ZHIDA_METRICS_TOKEN>", "detail": None},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return Response(
            {"error": "metrics are for loopback clients unless ZHIDA_METRICS_TOKEN is set", "detail": None},
            status_code=403,
        )
    try:
        families = await state_families()
    except Exception:  # noqa: BLE001 - the process's own counters still answer when the database does not
        log.warning("metrics: the stored-state gauges failed", exc_info=True)
        families = [
            GaugeMetricFamily("zhida_state_metrics_ok", "1 when the stored-state gauges could be read", value=0)
        ]
    else:
        families.append(
            GaugeMetricFamily("zhida_state_metrics_ok", "1 when the stored-state gauges could be read", value=1)
        )
    return Response(exposition(families), media_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics() -> threading.Thread | None:
    """`zhida worker`: this process's counters (jobs, bank calls, payment outcomes…) on ZHIDA_WORKER_METRICS_PORT,
    in a daemon thread, under the same token-or-loopback rule. None when no port is configured."""
    settings = get_settings()
    if not settings.worker_metrics_port:
        return None
    from wsgiref.simple_server import make_server

    from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

    inner = make_wsgi_app(REGISTRY)

    def guarded(environ: dict, start_response: Any) -> Any:
        if not allowed(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"metrics need Authorization: Bearer <ZHIDA_METRICS_TOKEN> (or a loopback client without one)\n"]
        return inner(environ, start_response)

    server = make_server(
        settings.worker_metrics_host,
        settings.worker_metrics_port,
        guarded,
        ThreadingWSGIServer,
        handler_class=_SilentHandler,
    )
    thread = threading.Thread(target=server.serve_forever, name="zhida-worker-metrics", daemon=True)
    thread.start()
    log.info("worker metrics on %s:%s", settings.worker_metrics_host, settings.worker_metrics_port)
    return thread


route_handlers = [metrics]
