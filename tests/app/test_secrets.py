"""No published secret (issue 16, item 1): the embedded mode generates its secrets into the data dir (0600) and reuses
them; a shared deployment (PostgreSQL, Redis, a bank URL) with a missing, short or published secret does not start."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import stat

import pytest
from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

from app.config import SECRET_NAMES, SECRETS_FILE, SecretRefused, Settings, get_settings
from tests.conftest import ON_POSTGRES, zhida
from tests.web import asgi_client, ensure_user

# The values the source printed as defaults before this change: anyone could read them.
PUBLISHED_SESSION_KEY = "zhida-demo-secret-key-change-me!"
NO_SECRETS = {f"ZHIDA_{name.upper()}": "" for name in SECRET_NAMES}  # empty counts as unset
GOOD = "a-deployment-secret-of-its-own-0123456789"


@pytest.fixture
def embedded(monkeypatch, tmp_path):
    """The settings of an embedded deployment that was given no secret, with a data dir of its own."""
    for name in SECRET_NAMES:
        monkeypatch.delenv(f"ZHIDA_{name.upper()}", raising=False)
    monkeypatch.setenv("ZHIDA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def _forged_session(key: str, data: dict) -> str:
    backend = ClientSideSessionBackend(CookieBackendConfig(secret=hashlib.sha256(key.encode()).digest()))
    return backend.dump_data(data)[0].decode()


@pytest.fixture
async def no_session_key(monkeypatch, tmp_path):
    """A server that was given no session key (on PostgreSQL, where one is required: a fresh one). The audit key
    stays the run's, so that the trail written meanwhile stays sealed with it."""
    await ensure_user("u_forged_checker", "finance_checker")
    if ON_POSTGRES:
        monkeypatch.setenv("ZHIDA_SECRET_KEY", secrets.token_urlsafe(32))
    else:
        monkeypatch.delenv("ZHIDA_SECRET_KEY", raising=False)
    monkeypatch.setenv("ZHIDA_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_a_cookie_forged_with_the_published_key_is_refused(no_session_key):
    checker = {
        "username": "u_forged_checker",
        "role": "finance_checker",
        "display_name": "x",
        "subject_kind": None,
        "subject_id": None,
    }
    async with asgi_client() as client:
        # The session as the code before this change wrote it, and as it writes it now (a token), both forged.
        for data in ({"user": checker}, {"sid": "guessed-token"}):
            client.cookies.set("zhida_session", _forged_session(PUBLISHED_SESSION_KEY, data))
            r = await client.get("/api/me")
            assert r.status_code == 401, r.text


def test_the_audit_head_cannot_be_sealed_with_a_key_from_the_source(embedded):
    from app.audit import head_mac

    if ON_POSTGRES:
        pytest.skip("a shared deployment is given its audit key (test_shared_deployment_refuses_…)")
    derived_from_published = hmac.new(PUBLISHED_SESSION_KEY.encode(), b"zhida audit head", hashlib.sha256).hexdigest()
    forged = hmac.new(derived_from_published.encode(), b"7|abc", hashlib.sha256).hexdigest()
    assert head_mac(7, "abc") != forged


def test_the_embedded_mode_generates_its_secrets_0600_and_reuses_them(embedded):
    settings = Settings(database_url="sqlite:///x.db")
    assert not (embedded / SECRETS_FILE).exists()  # nothing is written until a secret is used
    settings.check_secrets()
    path = embedded / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = {name: settings.secret(name) for name in SECRET_NAMES}
    assert len(set(first.values())) == len(SECRET_NAMES)
    assert all(len(v.encode()) >= 32 for v in first.values())
    assert PUBLISHED_SESSION_KEY not in first.values()
    again = Settings(database_url="sqlite:///x.db")
    assert {name: again.secret(name) for name in SECRET_NAMES} == first
    # A configured secret wins over the generated one.
    assert Settings(database_url="sqlite:///x.db", zhida_secret_key=GOOD).secret_key == GOOD


def test_another_data_dir_gets_other_secrets(embedded, tmp_path):
    one = Settings(database_url="sqlite:///x.db").secret_key
    other = Settings(database_url="sqlite:///x.db", data_dir=tmp_path / "elsewhere").secret_key
    assert one != other


async def test_the_in_process_bank_simulator_shares_the_generated_bank_secret(embedded):
    from payments.adapters import get_adapter

    settings = Settings(database_url="sqlite:///x.db")
    bank = get_adapter(settings)
    try:
        assert bank.simulator.config.secret == settings.bank_secret
        assert settings.bank_secret == Settings(database_url="sqlite:///x.db").bank_secret  # from the data dir
        assert await bank.query("no-such-request") is None  # signed with the generated secret, accepted
    finally:
        await bank.aclose()


SHARED = {
    "PostgreSQL": {"ZHIDA_DATABASE_URL": "postgresql://zhida@127.0.0.1:1/nowhere"},
    "Redis": {"ZHIDA_REDIS_URL": "redis://127.0.0.1:1/0"},
    "bank URL": {"ZHIDA_BANK_URL": "http://127.0.0.1:1"},
}


@pytest.mark.parametrize("shape", SHARED)
@pytest.mark.parametrize(
    ("value", "reason"),
    [("", "is not set"), ("short-secret", "is shorter than 32 bytes"), (PUBLISHED_SESSION_KEY, "is a published")],
)
def test_a_shared_deployment_refuses_a_missing_short_or_published_secret(embedded, monkeypatch, shape, value, reason):
    for name, url in SHARED[shape].items():
        monkeypatch.setenv(name, url)
    for name in SECRET_NAMES:
        monkeypatch.setenv(f"ZHIDA_{name.upper()}", GOOD)
    monkeypatch.setenv("ZHIDA_SECRET_KEY", value)
    with pytest.raises(SecretRefused, match=f"ZHIDA_SECRET_KEY {reason}"):
        Settings().check_secrets()
    monkeypatch.setenv("ZHIDA_SECRET_KEY", GOOD)
    Settings().check_secrets()  # every secret its own: it starts
    assert not (embedded / SECRETS_FILE).exists()  # and nothing was generated


@pytest.mark.parametrize(
    ("variable", "extra"),
    [
        ("ZHIDA_AUDIT_KEY", {}),
        ("ZHIDA_WEBHOOK_SECRET", {}),
        ("ZHIDA_BANK_SECRET", {"ZHIDA_BANK_URL": "http://127.0.0.1:1"}),
        ("ZHIDA_SMS_SECRET", {"ZHIDA_SMS_URL": "http://127.0.0.1:1/sms"}),
    ],
)
def test_each_secret_a_shared_deployment_uses_is_required(embedded, monkeypatch, variable, extra):
    monkeypatch.setenv("ZHIDA_REDIS_URL", "redis://127.0.0.1:1/0")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    for name in SECRET_NAMES:
        monkeypatch.setenv(f"ZHIDA_{name.upper()}", GOOD)
    monkeypatch.setenv(variable, "")
    with pytest.raises(SecretRefused, match=f"{variable} is not set"):
        Settings().check_secrets()


def test_the_embedded_mode_refuses_a_published_or_short_secret_it_is_given(embedded, monkeypatch):
    for value in ("zhida-demo-bank-secret", "short"):
        monkeypatch.setenv("ZHIDA_BANK_SECRET", value)
        with pytest.raises(SecretRefused, match="ZHIDA_BANK_SECRET"):
            Settings(database_url="sqlite:///x.db").check_secrets()


@pytest.mark.parametrize("command", [("serve", "--port", "1"), ("worker",), ("audit", "verify"), ("match", "X")])
def test_commands_refuse_to_start_in_one_line_naming_the_variable(command):
    env = {**NO_SECRETS, "ZHIDA_REDIS_URL": "redis://127.0.0.1:1/0", "ZHIDA_SECRET_KEY": "too-short"}
    proc = zhida(*command, env=env)
    assert proc.returncode == 1, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "ZHIDA_SECRET_KEY is shorter than 32 bytes" in lines[0], proc.stderr
    missing = zhida(*command, env={**NO_SECRETS, "ZHIDA_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert missing.returncode == 1 and "ZHIDA_SECRET_KEY is not set" in missing.stderr, missing.stderr


def test_migrating_needs_no_secret(empty_database_url):
    proc = zhida("db", "migrate", env={**NO_SECRETS, "ZHIDA_DATABASE_URL": empty_database_url})
    assert proc.returncode == 0, proc.stderr
