"""One error handler: every refusal (kit.errors.AppError, a failed bank call included) is one line and exit 1 on the
CLI and ``{"error", "detail"}`` with its status on the API; an unexpected error shows no traceback either."""

from __future__ import annotations

import contextlib
import http.server
import logging
import threading
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from app.cli import main
from app.config import get_settings
from tests.conftest import zhida
from tests.web import acsrf, alogin, asgi_client, ensure_user, free_port

DAY = "2025-01-01"
ID_NUMBER = "360102199207081233"


@contextlib.contextmanager
def bank_answering_404() -> Iterator[str]:
    """A loopback HTTP server that answers 404 to everything: a bank URL that points at the wrong place."""

    class NotHere(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"not found"
            self.send_response(404)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotHere)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _refusal_of(proc) -> str:
    """The one refusal line a failed command ends with; nothing on stderr looks like a trace."""
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and 'File "' not in proc.stderr, proc.stderr
    refusals = [line for line in proc.stderr.splitlines() if line.startswith("zhida: ")]
    assert len(refusals) == 1 and proc.stderr.rstrip("\n").endswith(refusals[0]), proc.stderr
    return refusals[0]


def test_reconcile_with_the_bank_down_is_one_line_and_exit_1():
    proc = zhida("reconcile", "--date", DAY, env={"ZHIDA_BANK_URL": f"http://127.0.0.1:{free_port()}"})
    assert "bank" in _refusal_of(proc)


def test_reconcile_against_a_url_answering_404_is_one_line_and_exit_1():
    with bank_answering_404() as url:
        proc = zhida("reconcile", "--date", DAY, env={"ZHIDA_BANK_URL": url})
    assert "404" in _refusal_of(proc)


def test_an_unexpected_error_on_the_cli_is_one_line_and_exit_1():
    proc = zhida("audit", "verify", env={"ZHIDA_DATABASE_URL": "mysql://nowhere/zhida"})
    assert "unsupported database URL" in _refusal_of(proc)


@pytest.fixture
def failing_command():
    """A command that fails the way nobody planned, with a talent's ID number in the error's message."""

    @click.command("fail-test")
    def fail_test() -> None:
        raise RuntimeError(f"no profile {ID_NUMBER} in the cache")

    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    main.add_command(fail_test)
    yield
    main.commands.pop("fail-test")
    root.setLevel(level)
    root.handlers[:] = handlers  # the command's stderr handler leaves with it
    get_settings.cache_clear()


def test_an_unexpected_error_names_no_personal_data_and_traces_only_at_debug(failing_command, monkeypatch):
    result = CliRunner().invoke(main, ["fail-test"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "RuntimeError" in result.stderr and "360***********1233" in result.stderr
    assert ID_NUMBER not in result.stderr

    monkeypatch.setenv("ZHIDA_LOG_LEVEL", "DEBUG")
    get_settings.cache_clear()
    result = CliRunner().invoke(main, ["fail-test"])
    assert result.exit_code == 1
    assert "in fail_test" in result.stderr  # where it happened, at debug level
    assert ID_NUMBER not in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def bank_url(monkeypatch):
    """``set_bank(url)``: the web app's configured bank for the rest of the test."""

    def set_bank(url: str) -> None:
        monkeypatch.setenv("ZHIDA_BANK_URL", url)
        get_settings.cache_clear()

    yield set_bank
    monkeypatch.delenv("ZHIDA_BANK_URL", raising=False)
    get_settings.cache_clear()


async def _reconcile_through_the_api() -> tuple[int, dict]:
    await ensure_user("u_errors_checker", "finance_checker")
    async with asgi_client() as client:
        await alogin(client, "u_errors_checker")
        r = await client.post("/api/finance/reconciliations", json={"date": DAY}, headers=acsrf(client))
        return r.status_code, r.json()


async def test_api_reconcile_with_the_bank_down_is_503_with_the_error_body(fresh_db, bank_url):
    bank_url(f"http://127.0.0.1:{free_port()}")
    status, body = await _reconcile_through_the_api()
    assert status == 503 and set(body) == {"error", "detail"}
    assert "bank" in body["error"]


async def test_api_reconcile_against_a_url_answering_404_is_502_with_the_error_body(fresh_db, bank_url):
    with bank_answering_404() as url:
        bank_url(url)
        status, body = await _reconcile_through_the_api()
    assert status == 502 and set(body) == {"error", "detail"}
    assert "404" in body["error"]


async def test_a_json_body_nested_too_deeply_is_400_not_500(fresh_db):
    """JSON nested 100,000 levels makes the body decoder recurse past Python's limit: the sender's error, a 400."""
    await ensure_user("u_errors_officer", "policy_officer")
    deep = "[" * 100_000 + "]" * 100_000
    async with asgi_client() as client:
        await alogin(client, "u_errors_officer")
        headers = {**acsrf(client), "content-type": "application/json"}
        r = await client.post("/api/policies/check", content=deep, headers=headers)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error", "detail"} and "nested too deeply" in r.json()["error"]
