"""`zhida policies ...` (cli.md): roles, exit codes, refusals in words, export that loads back unchanged."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import zhida as _zhida

PASSWORD = "Cli-pass-2025"


def zhida(*args: str, **kw):
    """`zhida` with the password of the users made here: `--actor USER` authenticates USER (contracts/cli.md)."""
    return _zhida(*args, **{**kw, "env": {"ZHIDA_ACTOR_PASSWORD": PASSWORD, **(kw.get("env") or {})}})


SAMPLE = Path(__file__).parent / "sample_pack.yaml"
BAD = """\
code: CONF-BAD
title: 坏
issuer: x
subject: talent
mode: auto
effective_from: 2025-01-01
budget: 1
clauses:
  - code: c1
    when: educaton == "doctor"
    amount: 1
"""


def _users():
    for name, role in (
        ("cli_officer", "policy_officer"),
        ("cli_reviewer", "policy_reviewer"),
        ("cli_maker", "finance_maker"),
    ):
        zhida("users", "create", name, "--role", role, "--password-stdin", input=PASSWORD + "\n")


def test_load_publish_export_through_the_cli(fresh_db, tmp_dir):
    _users()
    r = zhida("policies", "load", str(SAMPLE), "--actor", "cli_maker")
    assert r.returncode == 1 and "policy_officer" in r.stderr and "Traceback" not in r.stderr
    r = zhida("policies", "load", str(SAMPLE), "--actor", "cli_officer", check=True)
    assert "SAMPLE-POSTDOC version 1 created" in r.stdout
    r = zhida("policies", "publish", "SAMPLE-POSTDOC", "--actor", "cli_officer")
    assert r.returncode == 1 and "policy_reviewer" in r.stderr
    r = zhida("policies", "publish", "SAMPLE-POSTDOC", "--actor", "cli_reviewer", check=True)
    assert "published SAMPLE-POSTDOC version 1" in r.stdout and "impact on" in r.stdout
    r = zhida("policies", "publish", "SAMPLE-POSTDOC", "--actor", "cli_reviewer")
    assert r.returncode == 1 and "no draft to publish" in r.stderr
    out = tmp_dir / "postdoc.yaml"
    zhida("policies", "export", "SAMPLE-POSTDOC", "--out", str(out), check=True)
    r = zhida("policies", "load", str(out), "--actor", "cli_officer", check=True)
    assert "SAMPLE-POSTDOC version 1 unchanged (published)" in r.stdout
    # Changing the published policy through the CLI makes version 2 and leaves version 1 alone.
    out.write_text(out.read_text(encoding="utf-8").replace("amount: 50000", "amount: 60000"), encoding="utf-8")
    r = zhida("policies", "load", str(out), "--actor", "cli_officer", check=True)
    assert "SAMPLE-POSTDOC version 2 created (in_review)" in r.stdout  # a pack that covers its clauses is submitted
    r = zhida("policies", "export", "SAMPLE-POSTDOC", "--version", "1", check=True)
    assert "amount: 50000" in r.stdout and "60000" not in r.stdout
    r = zhida("policies", "list", check=True)
    assert "SAMPLE-POSTDOC" in r.stdout and "published v1" in r.stdout


def test_refused_pack_lists_problems_stores_nothing(fresh_db, tmp_dir):
    _users()
    bad = tmp_dir / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    good_and_bad = tmp_dir / "mixed.yaml"
    good_and_bad.write_text(
        "policies:\n"
        + "".join(
            "  " + line + "\n"
            for line in (
                SAMPLE.read_text(encoding="utf-8").split("policies:\n", 1)[1]
                + BAD.replace("code: CONF-BAD", "- code: CONF-BAD")
            ).splitlines()
            if line.strip()
        ).replace("    - code: CONF-BAD", "  - code: CONF-BAD"),
        encoding="utf-8",
    )
    r = zhida("policies", "load", str(bad), "--actor", "cli_officer")
    assert r.returncode == 1
    assert "education" in r.stderr and "CONF-BAD" in r.stderr and "c1" in r.stderr and "Traceback" not in r.stderr
    r = zhida("policies", "list", check=True)
    assert "CONF-BAD" not in r.stdout
    r = zhida("policies", "publish", "CONF-BAD", "--actor", "cli_reviewer")
    assert r.returncode == 1 and "does not exist" in r.stderr


def test_unknown_user_and_usage_errors(fresh_db):
    r = zhida("policies", "load", str(SAMPLE), "--actor", "nobody")
    assert r.returncode == 1 and "no active user named 'nobody'" in r.stderr
    r = zhida("policies", "load", str(SAMPLE))
    assert r.returncode == 2
