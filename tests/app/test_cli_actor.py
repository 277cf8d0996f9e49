"""`--actor USER` authenticates USER (contracts/cli.md; issue 16, item 4): the password in ZHIDA_ACTOR_PASSWORD (or a
prompt on a terminal) or a personal token in ZHIDA_ACTOR_TOKEN; without a valid one the command is refused, exit 1,
in one line. The audit names both the OS user who ran the command and the user it acted as."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest

from app.tables import AuditEntry
from tests.conftest import zhida

SAMPLE = Path(__file__).parent.parent / "policies" / "sample_pack.yaml"
PASSWORD = "Actor-pass-2026"
NO_CREDENTIAL = {"ZHIDA_ACTOR_PASSWORD": "", "ZHIDA_ACTOR_TOKEN": ""}


def _env(**values: str) -> dict:
    """An environment with no credential but the ones given (the test runner's own are cleared)."""
    return {**NO_CREDENTIAL, **values}


@pytest.fixture
def users(fresh_db):
    for name, role in (("a_officer", "policy_officer"), ("a_reviewer", "policy_reviewer")):
        made = zhida("users", "create", name, "--role", role, "--password-stdin", input=PASSWORD + "\n")
        assert made.returncode == 0, made.stderr


def _refused(proc) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("zhida: ") and "Traceback" not in proc.stderr, proc.stderr


async def test_without_a_credential_or_with_a_wrong_one_the_actor_is_refused(users):
    load = ("policies", "load", str(SAMPLE), "--actor", "a_officer")
    # No password at all (and no terminal to ask on).
    proc = zhida(*load, env={**_env(), "ZHIDA_ACTOR_PASSWORD": ""})
    _refused(proc)
    env = _env()
    del env["ZHIDA_ACTOR_PASSWORD"]
    proc = zhida(*load, env=env)
    _refused(proc)
    assert "ZHIDA_ACTOR_PASSWORD" in proc.stderr and "ZHIDA_ACTOR_TOKEN" in proc.stderr
    # The wrong password, another user's password, a made-up token.
    _refused(zhida(*load, env=_env(ZHIDA_ACTOR_PASSWORD="not-" + PASSWORD)))
    _refused(zhida("batch", "approve", "1", "--actor", "a_reviewer", env=_env(ZHIDA_ACTOR_PASSWORD="guess")))
    _refused(zhida(*load, env=_env(ZHIDA_ACTOR_TOKEN="zt_forged")))
    # Nothing was done as the named user.
    assert not await AuditEntry.exists().where(AuditEntry.actor == "a_officer")


async def test_with_the_password_the_command_acts_and_the_audit_names_os_user_and_actor(users):
    proc = zhida("policies", "load", str(SAMPLE), "--actor", "a_officer", env=_env(ZHIDA_ACTOR_PASSWORD=PASSWORD))
    assert proc.returncode == 0, proc.stderr
    entries = await AuditEntry.select().where(AuditEntry.actor == "a_officer")
    assert entries
    me = getpass.getuser()
    for e in entries:
        assert e["role"] == "policy_officer" and json.loads(e["detail"])["os_user"] == me, e
    # `users create`, the bootstrap path, records the OS user who ran it.
    made = await AuditEntry.select().where((AuditEntry.action == "user.create") & (AuditEntry.entity_id == "a_officer"))
    assert made[0]["actor"].startswith("cli:") and json.loads(made[0]["detail"])["os_user"] == me


async def test_a_personal_token_authenticates_its_owner_only(users):
    # A token is issued only with the owner's password.
    _refused(zhida("users", "token", "a_reviewer", env=_env()))
    issued = zhida("users", "token", "a_reviewer", env=_env(ZHIDA_ACTOR_PASSWORD=PASSWORD))
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()
    assert token.startswith("zt_")
    assert not await AuditEntry.exists().where(AuditEntry.detail.like(f"%{token}%"))
    # The token is no one else's, and a token cannot mint another.
    _refused(zhida("policies", "load", str(SAMPLE), "--actor", "a_officer", env=_env(ZHIDA_ACTOR_TOKEN=token)))
    _refused(zhida("users", "token", "a_reviewer", env=_env(ZHIDA_ACTOR_TOKEN=token)))
    assert (
        zhida(
            "policies", "load", str(SAMPLE), "--actor", "a_officer", env=_env(ZHIDA_ACTOR_PASSWORD=PASSWORD)
        ).returncode
        == 0
    )
    published = zhida(
        "policies", "publish", "SAMPLE-POSTDOC", "--actor", "a_reviewer", env=_env(ZHIDA_ACTOR_TOKEN=token)
    )
    assert published.returncode == 0, published.stderr
    assert await AuditEntry.exists().where(AuditEntry.actor == "a_reviewer")
    # A newer token replaces it; revoking ends it.
    zhida("users", "token", "a_reviewer", "--revoke", env=_env(ZHIDA_ACTOR_PASSWORD=PASSWORD), check=True)
    _refused(
        zhida("policies", "publish", "SAMPLE-ABOVE-SCALE", "--actor", "a_reviewer", env=_env(ZHIDA_ACTOR_TOKEN=token))
    )


async def test_wrong_actor_passwords_are_throttled_like_logins(users, monkeypatch):
    """A script cannot guess an --actor password faster than the web login allows: after the failures the source
    (the OS account) may make, even the right password waits."""
    from app.cli.common import Refused, authenticated
    from app.config import get_settings

    monkeypatch.delenv("ZHIDA_ACTOR_TOKEN", raising=False)
    for _ in range(get_settings().login_max_failures):
        monkeypatch.setenv("ZHIDA_ACTOR_PASSWORD", "wrong-" + PASSWORD)
        with pytest.raises(Refused, match="with this password"):
            await authenticated("a_officer")
    monkeypatch.setenv("ZHIDA_ACTOR_PASSWORD", PASSWORD)
    with pytest.raises(Refused, match="too many failed attempts"):
        await authenticated("a_officer")
