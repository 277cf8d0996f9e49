"""The operator CLI of the platform: migrations on an empty database, users, exit codes, every command listed."""

from __future__ import annotations

import re

from tests.conftest import zhida

CONTRACT_COMMANDS = [
    "demo",
    "db",
    "serve",
    "worker",
    "bank-sim",
    "users",
    "policies",
    "profiles",
    "match",
    "explain",
    "batch",
    "reconcile",
    "audit",
]


def test_help_lists_every_contract_command():
    out = zhida("--help").stdout
    for cmd in CONTRACT_COMMANDS:
        assert f"  {cmd} " in out, cmd


def test_unknown_option_is_usage_error():
    assert zhida("users", "create", "--no-such").returncode == 2


def test_migrations_apply_to_an_empty_database_and_are_idempotent(empty_database_url):
    env = {"ZHIDA_DATABASE_URL": empty_database_url}
    first = zhida("db", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "migrations applied" in first.stdout
    again = zhida("db", "migrate", env=env)
    assert again.returncode == 0 and "migrations applied: 0" in again.stdout
    made = zhida(
        "users", "create", "cli_admin", "--role", "admin", "--password-stdin", input="Long-enough-1\n", env=env
    )
    assert made.returncode == 0, made.stderr
    dup = zhida("users", "create", "cli_admin", "--role", "admin", "--password-stdin", input="Long-enough-1\n", env=env)
    assert dup.returncode == 1 and "exists already" in dup.stderr and "Traceback" not in dup.stderr
    short = zhida("users", "create", "cli_x", "--role", "admin", "--password-stdin", input="short\n", env=env)
    assert short.returncode == 1 and "12 characters" in short.stderr  # the staff password policy
    assert zhida("audit", "verify", env=env).returncode == 0


def test_demo_runs_the_main_job_end_to_end_on_the_embedded_default(tmp_dir):
    """`zhida demo` as the README's quick start runs it (SQLite, in-process jobs and bank simulator), small."""
    # Its own SQLite file whichever database this test run uses; no ZHIDA_REDIS_URL: the embedded queue. No secrets
    # either (empty counts as unset): the demo needs no configuration, it generates them into its data dir.
    env = {
        "ZHIDA_DATA_DIR": str(tmp_dir / "data"),
        "ZHIDA_DATABASE_URL": f"sqlite:///{tmp_dir / 'zhida.db'}",
        **{
            f"ZHIDA_{name.upper()}": ""
            for name in ("secret_key", "audit_key", "bank_secret", "sms_secret", "webhook_secret")
        },
    }
    run = zhida("demo", "--no-serve", "--profiles", "200", env=env, cwd=tmp_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    settled = re.search(r"(\d+) of (\d+) payments settled", out)
    assert settled and settled.group(1) == settled.group(2) and int(settled.group(1)) > 0, out
    assert re.search(r"reconciliation \S+: (\d+) bank statement lines, \1 matched, 0 differences", out), out
    assert "hash chain intact" in out and "Zhida-demo-2025" in out
    assert list((tmp_dir / "data" / "demo-receipts").glob("*.pdf"))
    # A 退汇 is recorded only when the bank (here the demo's simulator) reports the transfer reversed.
    refused = zhida(
        "payments",
        "return",
        "1",
        "--actor",
        "checker",
        env={**env, "ZHIDA_ACTOR_PASSWORD": "Zhida-demo-2025"},
        cwd=tmp_dir,
    )
    assert refused.returncode == 1 and "not reversed" in refused.stderr and "Traceback" not in refused.stderr, refused
    # A command run without --actor is recorded under the operator who ran it, not as "system".
    import datetime as dt
    import sqlite3
    from zoneinfo import ZoneInfo

    day = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    done = zhida("reconcile", "--date", day, env={**env, "ZHIDA_ACTOR": "ops-anna"}, cwd=tmp_dir)
    assert done.returncode in (0, 3), done.stderr
    with sqlite3.connect(tmp_dir / "zhida.db") as db:
        (who,) = db.execute(
            "SELECT actor FROM app_audit_entry WHERE action = 'reconciliation.run' ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    assert who == "cli:ops-anna"
