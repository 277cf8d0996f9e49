"""How the payment runner works (RunnerOptions): the payer, and the knobs that tests and the benchmark tune."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field


@dataclass
class RunnerOptions:
    """How a runner works; every knob has a safe default (tests and the benchmark tune some)."""

    payer_account: str
    payer_name: str = ""
    concurrency: int = 64  # bank calls in flight per runner
    claim_size: int = 400  # payments per claim
    lease_seconds: float = 30.0  # a claim not released by then may be taken by another worker
    poll_seconds: float = 0.2  # first wait before asking again about an accepted payment
    max_backoff_seconds: float = 30.0
    time_budget_seconds: float = 120.0  # a job hands over to a continuation job after this
    worker: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
