"""The platform's Prometheus metrics that code counts as things happen (prometheus-client), one registry per process.

Each process exposes its own (per-process exposition, docs/operations.md): `zhida serve` at /metrics, every
`zhida worker` on ZHIDA_WORKER_METRICS_PORT; Prometheus scrapes each and sums. Gauges of stored state (payments by
status, budgets, the audit trail…) are not here: app/metrics.py computes them from SQL when /metrics is scraped.
Label values are kinds and names, never a subject, an account or an amount.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

JOBS = Counter("zhida_jobs", "Jobs run, by job name and outcome (success, failure, retry)", ["job", "outcome"])
JOB_SECONDS = Histogram(
    "zhida_job_duration_seconds",
    "How long a job ran, by job name",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
BANK_SECONDS = Histogram(
    "zhida_bank_call_duration_seconds",
    "Latency of calls to the bank gateway, by operation (submit, query, statement)",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BANK_CALLS = Counter("zhida_bank_calls", "Calls to the bank gateway, by operation", ["operation"])
BANK_ERRORS = Counter(
    "zhida_bank_call_errors",
    "Bank calls that ended in no answer, by operation and kind (transient, rate_limited, outcome_unknown, conflict, "
    "auth, bad_request, other)",
    ["operation", "kind"],
)
PAYMENT_OUTCOMES = Counter(
    "zhida_payment_outcomes",
    "Payments moved to a status by the payment runner (settled, accepted, rejected, returned, unknown)",
    ["status"],
)
FEED_ROWS = Counter(
    "zhida_feed_rows",
    "Profile rows from feeds and imports, by kind and outcome (imported, rejected)",
    ["kind", "outcome"],
)
MATCH_RUNS = Counter(
    "zhida_match_runs", "Match runs of a policy version against the profiles, by subject kind", ["kind"]
)
AUDIT_VERIFY_OK = Gauge(
    "zhida_audit_verify_ok",
    "1 when the last full `audit verify` in this process found the chain intact, 0 when it found it broken",
    multiprocess_mode="min",
)
AUDIT_VERIFY_TIME = Gauge(
    "zhida_audit_verify_timestamp_seconds", "When this process last verified the audit trail end to end"
)

_BANK_ERROR_KINDS = {
    "BankRateLimited": "rate_limited",
    "BankTransient": "transient",
    "BankOutcomeUnknown": "outcome_unknown",
    "BankConflict": "conflict",
    "BankAuthError": "auth",
    "BankBadRequest": "bad_request",
}


def bank_error_kind(exc: BaseException) -> str:
    """The kind label of a failed bank call: the nearest bank error class in the exception's MRO."""
    for cls in type(exc).__mro__:
        if cls.__name__ in _BANK_ERROR_KINDS:
            return _BANK_ERROR_KINDS[cls.__name__]
    return "other"


@contextmanager
def bank_call(operation: str) -> Iterator[None]:
    """Count and time one bank call; a call that raises counts as an error of its kind."""
    BANK_CALLS.labels(operation).inc()
    start = time.perf_counter()
    try:
        yield
    except Exception as exc:
        BANK_ERRORS.labels(operation, bank_error_kind(exc)).inc()
        raise
    finally:
        BANK_SECONDS.labels(operation).observe(time.perf_counter() - start)


def audit_verified(ok: bool) -> None:
    AUDIT_VERIFY_OK.set(1 if ok else 0)
    AUDIT_VERIFY_TIME.set_to_current_time()
