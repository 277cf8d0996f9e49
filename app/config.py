"""Configuration from ZHIDA_* environment variables (and an optional .env), with the embedded defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.money import yuan_to_fen


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIDA_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./zhida.db"
    redis_url: str | None = None
    bank_url: str | None = None
    bank_secret: str = "zhida-demo-bank-secret"
    payer_account: str = "360100000000000001"
    payer_name: str = "南昌市财政局国库集中支付专户"
    bank_timeout_seconds: float = 5.0
    bank_sim_options: str = (
        ""  # faults of the in-process simulator, as `zhida bank-sim` options: "fail-rate=0.05 seed=1"
    )
    # The payment runner's knobs (payments.tasks.runner_options); unset keeps the runner's own default.
    payments_concurrency: int | None = Field(default=None, description="bank calls in flight per runner")
    payments_claim_size: int | None = Field(default=None, description="payments per claim")
    payments_lease_seconds: float | None = Field(
        default=None, description="a claim not released by then may be taken by another worker"
    )
    payments_poll_seconds: float | None = Field(
        default=None, description="first wait before asking again about an accepted payment"
    )
    payments_time_budget_seconds: float | None = Field(
        default=None, description="a chunk job hands over to a continuation job after this"
    )
    payments_max_backoff_seconds: float | None = None
    data_dir: Path = Path("./zhida-data")
    secret_key: str = Field(
        default="zhida-demo-secret-key-change-me!",
        description="signs session cookies and CSRF tokens; set a long random value in production",
    )
    audit_key: str | None = Field(
        default=None,
        description="seals the audit trail's head (HMAC), so cutting or rewriting the trail needs a key the database "
        "does not hold; default: derived from secret_key. Keep it stable: verifying needs the same key",
    )
    base_url: str = "http://127.0.0.1:8000"
    platform_name: str = "政策直达平台 Zhida"
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    second_checker_threshold: str = "1000000.00"
    application_four_eyes_threshold: str = "50000.00"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "noreply@zhida.local"
    sms_url: str | None = None
    sms_secret: str = "zhida-demo-sms-secret"
    webhook_secret: str = "zhida-demo-webhook-secret"
    seal_cert_path: Path | None = None
    seal_key_path: Path | None = None
    log_level: str = Field(
        default="WARNING",
        description="stderr log level of the commands; DEBUG adds where an unexpected error happened (no values)",
    )
    actor: str | None = Field(
        default=None,
        description="who runs commands that name no --actor, when a wrapper knows better than $USER (ZHIDA_ACTOR)",
    )

    @field_validator(
        "payments_concurrency",
        "payments_claim_size",
        "payments_lease_seconds",
        "payments_poll_seconds",
        "payments_time_budget_seconds",
        "payments_max_backoff_seconds",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # ZHIDA_PAYMENTS_CLAIM_SIZE= (set but empty, as compose files write it) keeps the runner's default.
        return None if value == "" else value

    @property
    def second_checker_threshold_fen(self) -> int:
        """A batch above this total needs a second, different checker."""
        return yuan_to_fen(self.second_checker_threshold)

    @property
    def application_four_eyes_threshold_fen(self) -> int:
        """An application above this amount needs a second officer's approval."""
        return yuan_to_fen(self.application_four_eyes_threshold)

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def sqlite_path(self) -> str:
        if self.is_postgres:
            raise ValueError("not a SQLite database URL")
        url = self.database_url
        for prefix in ("sqlite:///", "sqlite://"):
            if url.startswith(prefix):
                return url[len(prefix) :] or "zhida.db"
        raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


@lru_cache
def get_settings() -> Settings:
    return Settings()
