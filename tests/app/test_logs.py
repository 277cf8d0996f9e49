"""Structured logs: every line is a JSON object; the request id of an HTTP request (or of a command) is on the lines
of the jobs it queued and of the bank calls they made; no whole ID number, account or phone is anywhere in them."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3

from app import jobs, logs
from payments.service import approve_batch, create_batch
from tests.conftest import zhida
from tests.payments.factories import MAKER, THRESHOLD_FEN, entitled, payee, policy
from tests.web import acsrf, alogin, asgi_client, ensure_user

REQUEST_ID = "ops-trace-20261202-0001"


def _parsed(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line[:300]}") from None
    return parsed


async def test_the_request_id_of_an_http_request_is_on_its_jobs_and_bank_calls_lines(fresh_db):
    facts = policy(budget_fen=100_000_000)
    await entitled(facts, 3, amount_fen=500_00)
    batch = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await ensure_user("u_logs_checker", "finance_checker")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.json_formatter())
    root, level = logging.getLogger(), logging.getLogger().level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        async with asgi_client() as client:
            await alogin(client, "u_logs_checker")
            from app.audit import AuditActor

            await approve_batch(batch.batch_id, actor=AuditActor("u_logs_checker", "finance_checker"))
            r = await client.post(
                f"/api/finance/batches/{batch.batch_id}/run", headers={**acsrf(client), "X-Request-ID": REQUEST_ID}
            )
            assert r.status_code in (200, 201), r.text
            assert r.headers["x-request-id"] == REQUEST_ID
            other = await client.get("/api/me", headers={"X-Request-ID": "has spaces, so not used"})
            assert re.fullmatch(r"[0-9a-f]{32}", other.headers["x-request-id"])
        await jobs.drain()
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    lines = _parsed(stream.getvalue())
    assert all({"event", "level", "logger", "timestamp"} <= set(line) for line in lines)
    access = [x for x in lines if x["logger"] == "zhida.http" and x.get("request_id") == REQUEST_ID]
    assert access and "/api/finance/batches/{batch_id}/run" in access[0]["event"], access
    job_lines = [x for x in lines if x.get("job") == "payments.pay_chunk"]
    assert job_lines and all(x.get("request_id") == REQUEST_ID and x.get("job_id") for x in job_lines), job_lines
    bank_lines = [x for x in lines if x["logger"] == "zhida.bank"]
    assert bank_lines and all(x.get("request_id") == REQUEST_ID for x in bank_lines), bank_lines[:3]
    text = stream.getvalue()
    for i in range(3):
        p = payee(i)
        assert p.subject_id not in text and p.payee_account not in text


def test_a_demo_run_logs_json_lines_with_the_commands_request_id_and_no_personal_data(tmp_dir):
    env = {
        "ZHIDA_DATA_DIR": str(tmp_dir / "data"),
        "ZHIDA_DATABASE_URL": f"sqlite:///{tmp_dir / 'zhida.db'}",
        "ZHIDA_LOG_LEVEL": "INFO",
        "ZHIDA_LOG_FORMAT": "json",
        **{
            f"ZHIDA_{name.upper()}": ""
            for name in ("secret_key", "audit_key", "bank_secret", "sms_secret", "webhook_secret")
        },
    }
    run = zhida("demo", "--no-serve", "--profiles", "150", env=env, cwd=tmp_dir)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = _parsed(run.stderr)
    ids = {x.get("request_id") for x in lines if x.get("job")}
    assert len(ids) == 1 and next(iter(ids)).startswith("cli-"), ids  # the command's one request id, on its jobs
    assert any(x["logger"] == "zhida.bank" and x.get("request_id", "").startswith("cli-") for x in lines)
    with sqlite3.connect(tmp_dir / "zhida.db") as db:
        personal = {
            v
            for sql in (
                "SELECT subject_id FROM eligibility_talent",
                "SELECT bank_account FROM eligibility_talent",
                "SELECT bank_account FROM eligibility_enterprise",
                "SELECT payee_account FROM pay_payment",
                "SELECT phone FROM notifications_recipient",
            )
            for (v,) in db.execute(sql)
            if v and len(v) >= 11
        }
    assert len(personal) > 100
    leaked = [v for v in personal if v in run.stderr]
    assert not leaked, leaked[:5]
