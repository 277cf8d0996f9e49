"""Configuration from ZHIDA_* environment variables (and an optional .env), with the embedded defaults.

No secret has a default in the source. The embedded mode (SQLite, no Redis, no bank URL) generates the secrets it
is not given on first use into ``data_dir/secrets.json`` (mode 0600) and reuses them; with PostgreSQL, a Redis URL or
a bank URL configured, the processes must share secrets of their own, so a missing, short or published one refuses
to start with a one-line reason naming the variable (``Settings.check_secrets``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets as _random
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kit.errors import AppError
from kit.i18n import _l
from kit.money import yuan_to_fen

MIN_SECRET_BYTES = 32
SECRETS_FILE = "secrets.json"
# Values that were printed in this project's source as defaults, once: never a deployment's own secret.
PUBLISHED_SECRETS = frozenset(
    {
        "zhida-demo-secret-key-change-me!",
        "zhida-demo-bank-secret",
        "zhida-demo-sms-secret",
        "zhida-demo-webhook-secret",
        "change-me",
        "changeme",
    }
)
SECRET_NAMES = ("secret_key", "audit_key", "bank_secret", "sms_secret", "webhook_secret")


class SecretRefused(AppError):
    """A secret of the configuration is missing, too short or published: the process does not start."""

    status = 500


def _secret_field(name: str, description: str):
    # Read from ZHIDA_<NAME>; the attribute of that name is the resolved secret (Settings.secret).
    return Field(default=None, validation_alias=f"zhida_{name}", description=description)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIDA_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./zhida.db"
    redis_url: str | None = None
    bank_url: str | None = None
    bank_secret_setting: str | None = _secret_field(
        "bank_secret", "signs requests to the bank gateway (ZHIDA_BANK_SECRET); required with ZHIDA_BANK_URL"
    )
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
    secret_key_setting: str | None = _secret_field(
        "secret_key", "encrypts session cookies and signs CSRF tokens (ZHIDA_SECRET_KEY)"
    )
    audit_key_setting: str | None = _secret_field(
        "audit_key",
        "seals the audit trail's head (HMAC), so cutting or rewriting the trail needs a key the database "
        "does not hold (ZHIDA_AUDIT_KEY). Keep it stable: verifying needs the same key",
    )
    base_url: str = "http://127.0.0.1:8000"
    platform_name: str = "政策直达平台 Zhida"
    # The login throttle (app/auth/throttle.py): per (source, name) this many attempts, then a wait of
    # login_backoff_seconds doubling up to login_lockout_minutes; a name is locked (until an admin unlocks it) after
    # login_name_lock_failures failures from at least login_name_lock_sources sources within a day.
    login_max_failures: int = 5
    login_backoff_seconds: int = 60
    login_lockout_minutes: int = 15
    login_name_lock_failures: int = 100
    login_name_lock_sources: int = 10
    # 公示 objections without a login (app/controllers/publicity.py): at most this many an hour from one source, so
    # that nobody can hold a whole publicity list by objecting to every entry (each objection holds its entry).
    public_objections_per_hour: int = 5
    second_checker_threshold: str = "1000000.00"
    application_four_eyes_threshold: str = "50000.00"
    # 风险拦截 (docs/oversight.md): the risk rules' thresholds, amounts in yuan.
    risk_shared_account_subjects: int = 2
    risk_account_change_days: int = 7
    risk_new_enterprise_months: int = 6
    risk_new_enterprise_min: str = "50000.00"
    risk_employer_max_benefits: int = 20
    risk_year_total_max: str = "1000000.00"
    risk_year_total_tax_multiple: int = 2
    risk_no_insured_min: str = "100000.00"
    risk_below_threshold_percent: int = 5
    risk_below_threshold_min_count: int = 3
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_sender: str = "noreply@zhida.local"
    sms_url: str | None = None
    sms_secret_setting: str | None = _secret_field(
        "sms_secret", "signs requests to the SMS gateway (ZHIDA_SMS_SECRET); required with ZHIDA_SMS_URL"
    )
    webhook_secret_setting: str | None = _secret_field(
        "webhook_secret", "signs webhooks of recipients that registered no secret of their own (ZHIDA_WEBHOOK_SECRET)"
    )
    webhook_allow_hosts: str = Field(
        default="",
        description="host names, addresses or networks (comma-separated, e.g. 127.0.0.1,10.8.0.0/16) a subject's "
        "webhook may target although they are internal; empty in production (docs/security.md, SSRF)",
    )
    # 统一身份认证: login through the province's OpenID Connect provider (app/auth/oidc.py), on when the issuer, the
    # client id and its secret are set. The claims named here carry the subject's USCC or ID number.
    oidc_issuer: str | None = Field(default=None, description="the provider's issuer URL (discovery is read below it)")
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = Field(default=None, description="the client secret the provider issued")
    oidc_scopes: str = "openid profile"
    oidc_uscc_claim: str = "uscc"
    oidc_id_number_claim: str = "id_number"
    oidc_timeout_seconds: float = 10.0
    seal_cert_path: Path | None = None
    seal_key_path: Path | None = None
    log_level: str = Field(
        default="WARNING",
        description="stderr log level of the commands; DEBUG adds where an unexpected error happened (no values)",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="log lines as JSON (json), for a person (console), or JSON unless stderr is a terminal (auto)",
    )
    metrics_token: str | None = Field(
        default=None,
        description="with it set, /metrics (and a worker's metrics port) needs `Authorization: Bearer <token>`; "
        "unset, only loopback clients may read them (ZHIDA_METRICS_TOKEN)",
    )
    worker_metrics_port: int | None = Field(
        default=None, description="each `zhida worker` serves its own /metrics on this port (unset: none)"
    )
    worker_metrics_host: str = Field(default="127.0.0.1", description="the address a worker's metrics port binds")
    pg_bin_dir: Path | None = Field(
        default=None,
        description="where pg_dump and pg_restore are (unset: the newest /usr/lib/postgresql/N/bin, else PATH)",
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
        "worker_metrics_port",
        "metrics_token",
        "pg_bin_dir",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # ZHIDA_PAYMENTS_CLAIM_SIZE= (set but empty, as compose files write it) keeps the runner's default.
        return None if value == "" else value

    _secrets: dict[str, str] = PrivateAttr(default_factory=dict)

    # The secrets, read as attributes (the bank adapter and the delivery configuration take any object with them).
    @property
    def secret_key(self) -> str:
        return self.secret("secret_key")

    @property
    def audit_key(self) -> str:
        return self.secret("audit_key")

    @property
    def bank_secret(self) -> str:
        return self.secret("bank_secret")

    @property
    def sms_secret(self) -> str:
        return self.secret("sms_secret")

    @property
    def webhook_secret(self) -> str:
        return self.secret("webhook_secret")

    @property
    def shared_deployment(self) -> bool:
        """PostgreSQL, Redis or a bank gateway: several processes (or the bank) must hold the same secrets, so they
        come from the configuration and are never generated."""
        return self.is_postgres or bool(self.redis_url) or bool(self.bank_url)

    def required_secrets(self) -> tuple[str, ...]:
        """The secrets this configuration must be given (the others may be generated into the data dir)."""
        if not self.shared_deployment:
            return ()
        needed = ["secret_key", "audit_key", "webhook_secret"]
        if self.bank_url:
            needed.append("bank_secret")
        if self.sms_url:
            needed.append("sms_secret")
        return tuple(needed)

    def secret(self, name: str) -> str:
        """The secret ``name`` (one of SECRET_NAMES): configured, else generated in the data dir when that is allowed;
        SecretRefused names the variable when it is missing, short or published."""
        if name not in self._secrets:
            variable = f"ZHIDA_{name.upper()}"
            value = getattr(self, f"{name}_setting")
            if value is None or value == "":
                if name in self.required_secrets():
                    raise SecretRefused(
                        f"{variable} is not set: with {self._shared_reason()} configured every process needs the "
                        f"deployment's own secret; set it to {MIN_SECRET_BYTES}+ random bytes, e.g. the output of "
                        "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
                    )
                value = generated_secrets(self.data_dir)[name]
            elif value in PUBLISHED_SECRETS:
                raise SecretRefused(
                    _l("{variable} is a published demo value: set a random secret of your own"), variable=variable
                )
            elif len(value.encode()) < MIN_SECRET_BYTES:
                raise SecretRefused(
                    _l("{variable} is shorter than {MIN_SECRET_BYTES} bytes: set a longer random secret"),
                    variable=variable,
                    MIN_SECRET_BYTES=MIN_SECRET_BYTES,
                )
            self._secrets[name] = value
        return self._secrets[name]

    def check_secrets(self) -> None:
        """Refuse to start (SecretRefused) unless every secret is usable: a process calls this before serving."""
        for name in SECRET_NAMES:
            self.secret(name)
        self.check_oidc()

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer or self.oidc_client_id or self.oidc_client_secret)

    def check_oidc(self) -> None:
        """Refuse to start with a half-configured unified-identity login, a published client secret, or an issuer
        reached over plain http anywhere but loopback."""
        if not self.oidc_enabled:
            return
        missing = [
            f"ZHIDA_{name.upper()}"
            for name in ("oidc_issuer", "oidc_client_id", "oidc_client_secret")
            if not getattr(self, name)
        ]
        if missing:
            raise SecretRefused(f"unified-identity login (OIDC) is half configured: set {' and '.join(missing)} too")
        issuer = (self.oidc_issuer or "").lower()
        loopback = issuer.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if not issuer.startswith("https://") and not loopback:
            raise SecretRefused("ZHIDA_OIDC_ISSUER must be an https:// URL (plain http only on loopback, for tests)")
        if self.oidc_client_secret and self.oidc_client_secret.get_secret_value() in PUBLISHED_SECRETS:
            raise SecretRefused("ZHIDA_OIDC_CLIENT_SECRET is a published demo value: set the provider's own")

    def _shared_reason(self) -> str:
        return " and ".join(
            what
            for what, on in (
                ("PostgreSQL", self.is_postgres),
                ("ZHIDA_REDIS_URL", bool(self.redis_url)),
                ("ZHIDA_BANK_URL", bool(self.bank_url)),
            )
            if on
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry Secure (and pages HSTS) when the platform is served over https."""
        return self.base_url.lower().startswith("https://")

    @property
    def second_checker_threshold_fen(self) -> int:
        """A batch above this total needs a second, different checker."""
        return yuan_to_fen(self.second_checker_threshold)

    @property
    def application_four_eyes_threshold_fen(self) -> int:
        """An application above this amount needs a second officer's approval."""
        return yuan_to_fen(self.application_four_eyes_threshold)

    def risk_settings(self):  # -> payments.service.risk.RiskSettings
        """The risk rules' thresholds from ZHIDA_RISK_*; the band below the second approval is the application
        four-eyes threshold's."""
        from payments.service.risk import RiskSettings

        return RiskSettings(
            shared_account_subjects=self.risk_shared_account_subjects,
            account_change_days=self.risk_account_change_days,
            new_enterprise_months=self.risk_new_enterprise_months,
            new_enterprise_min_fen=yuan_to_fen(self.risk_new_enterprise_min),
            employer_max_benefits=self.risk_employer_max_benefits,
            year_total_max_fen=yuan_to_fen(self.risk_year_total_max),
            year_total_tax_multiple=self.risk_year_total_tax_multiple,
            no_insured_min_fen=yuan_to_fen(self.risk_no_insured_min),
            below_threshold_fen=self.application_four_eyes_threshold_fen,
            below_threshold_percent=self.risk_below_threshold_percent,
            below_threshold_min_count=self.risk_below_threshold_min_count,
        )

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


def generated_secrets(data_dir: Path | str) -> dict[str, str]:
    """The embedded mode's secrets, generated once into ``data_dir/secrets.json`` (0600) and reused by every process
    on that data dir; a secret name the file lacks is added. The lock keeps two first processes from each writing
    their own."""
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRETS_FILE
    with open(folder / ".secrets.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known: dict[str, str] = {}
        with contextlib.suppress(FileNotFoundError):
            known = json.loads(path.read_text(encoding="utf-8"))
        missing = [n for n in SECRET_NAMES if not known.get(n)]
        if missing:
            known.update({n: _random.token_urlsafe(32) for n in missing})
            tmp = folder / f".{SECRETS_FILE}.{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(known, out, indent=1)
            os.replace(tmp, path)
        os.chmod(path, 0o600)
    return known


@lru_cache
def get_settings() -> Settings:
    return Settings()
