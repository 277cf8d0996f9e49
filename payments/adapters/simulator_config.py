"""How the bank simulator behaves: fault rates, settlement, account rules; from Python or from option text."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal

REASONS = ("ACCOUNT_NOT_FOUND", "ACCOUNT_CLOSED", "NAME_MISMATCH", "INSUFFICIENT_FUNDS", "INVALID_AMOUNT")
DEFAULT_ACCOUNT_RULES = {"0004": "ACCOUNT_NOT_FOUND", "0005": "ACCOUNT_CLOSED", "0006": "NAME_MISMATCH"}


@dataclass
class SimulatorConfig:
    """How the simulated bank behaves. Rates are shares of POST /transfers (0..1, summing to at most 1)."""

    # No published default: a simulator nobody gave a secret accepts nothing signed with a guess (get_adapter and
    # `zhida bank-sim` hand it the configured or generated ZHIDA_BANK_SECRET).
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    fail_rate: float = 0.0  # 503 before taking anything
    rate_limit_rate: float = 0.0  # 429 with Retry-After before taking anything
    timeout_rate: float = 0.0  # taken, then no answer until the client gives up (or hang_seconds)
    drop_rate: float = 0.0  # taken, then the connection drops in the middle of the answer
    slow_rate: float = 0.0  # taken and answered, after slow_seconds
    slow_seconds: float = 1.0
    hang_seconds: float = 120.0
    retry_after: int = 1
    fault_queries: bool = False  # also answer 503/429 to GETs, at fail_rate / rate_limit_rate
    settle_delay: float = 0.0  # seconds from accepted to settled; 0 settles at once
    answer_accepted: bool = False  # answer "accepted" even when settle_delay is 0 (settles on the next request)
    account_rules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_ACCOUNT_RULES))  # suffix -> reason
    payer_balance: Decimal | None = None  # None: unlimited; else INSUFFICIENT_FUNDS beyond it
    seed: int | None = None  # with a seed, the faults of (request_id, attempt n) are reproducible

    def __post_init__(self) -> None:
        rates = (self.fail_rate, self.rate_limit_rate, self.timeout_rate, self.drop_rate, self.slow_rate)
        if any(r < 0 or r > 1 for r in rates) or sum(rates) > 1 + 1e-9:
            raise ValueError("fault rates must be within 0..1 and sum to at most 1")
        for suffix, reason in self.account_rules.items():
            if reason not in REASONS or not suffix:
                raise ValueError(f"bad account rule {suffix}={reason}; reasons: {', '.join(REASONS)}")


OPTION_TYPES = {
    "fail-rate": float,
    "rate-limit-rate": float,
    "timeout-rate": float,
    "drop-rate": float,
    "slow-rate": float,
    "slow-seconds": float,
    "hang-seconds": float,
    "retry-after": int,
    "settle-delay": float,
    "seed": int,
    "payer-balance": Decimal,
}
OPTION_FLAGS = ("fault-queries", "answer-accepted")


def config_from_options(text: str, **overrides) -> SimulatorConfig:
    """A SimulatorConfig from `zhida bank-sim`'s option names, space-separated, e.g. (ZHIDA_BANK_SIM_OPTIONS)
    ``fail-rate=0.05 drop-rate=0.05 timeout-rate=0.01 seed=7 reject-accounts=0004=ACCOUNT_NOT_FOUND``."""
    kwargs: dict = {}
    for token in text.split():
        name, _, value = token.lstrip("-").partition("=")
        if name in OPTION_FLAGS:
            kwargs[name.replace("-", "_")] = value.lower() not in ("0", "false", "no")
        elif name == "reject-accounts":
            kwargs["account_rules"] = parse_account_rules(value)
        elif name in OPTION_TYPES:
            try:
                kwargs[name.replace("-", "_")] = OPTION_TYPES[name](value)
            except (ValueError, ArithmeticError):
                raise ValueError(f"bank simulator option {name}: {value!r} is not a number") from None
        else:
            raise ValueError(f"unknown bank simulator option {name!r}")
    return SimulatorConfig(**(kwargs | overrides))


def parse_account_rules(text: str) -> dict[str, str]:
    """`0004=ACCOUNT_NOT_FOUND,0005=ACCOUNT_CLOSED` (suffix=reason); an empty text means no rules."""
    rules = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        suffix, _, reason = part.partition("=")
        rules[suffix.strip()] = reason.strip().upper()
    return rules
