"""/metrics: each named metric is exposed and moves when its thing happens (a payment settles → the counter rises, a
bank call times out → the error of its kind rises…); reading it needs the token, or a loopback client without one."""

from __future__ import annotations

import datetime as dt
import socket

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app import jobs
from app.config import get_settings
from payments.adapters import get_adapter
from payments.adapters.http_bank import HttpBankAdapter
from payments.service import approve_batch, create_batch, reconcile
from payments.service.budget import ensure_budget, usage
from policies.tables import PolicyVersion
from tests.app.test_no_whole_numbers import _arrives_while_a_policy_is_live
from tests.payments.factories import CHECKER, MAKER, THRESHOLD_FEN, bank_settings, entitled, policy
from tests.payments.test_flow import run_all
from tests.web import asgi_client

AMOUNT_FEN = 1_234_00


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


def total(metrics: dict, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


async def test_each_metric_moves_when_its_thing_happens(fresh_db, tmp_dir):
    async with asgi_client() as client:
        before = await scrape(client)

        # A live policy, a profile from the feed, its re-match job: feed rows, match runs, jobs.
        await _arrives_while_a_policy_is_live()
        bad = await client.post(
            "/api/exchange/talent/profiles", json={"id_number": "x"}, headers={"x-api-key": "not-a-key"}
        )
        assert bad.status_code in (401, 403)
        await jobs.drain()
        after_feed = await scrape(client)
        assert value(after_feed, "zhida_feed_rows_total", kind="talent", outcome="imported") == 1 + value(
            before, "zhida_feed_rows_total", kind="talent", outcome="imported"
        )
        assert total(after_feed, "zhida_match_runs_total") > total(before, "zhida_match_runs_total")
        assert total(after_feed, "zhida_jobs_total", outcome="success") > total(before, "zhida_jobs_total")
        assert total(after_feed, "zhida_job_duration_seconds_count") > total(before, "zhida_job_duration_seconds_count")
        assert total(after_feed, "zhida_audit_entries") > 0
        assert value(after_feed, "zhida_audit_head_sealed") == 1
        # HTTP by route template (the plugin), never by the path itself.
        assert total(after_feed, "zhida_http_requests_total", path="/api/exchange/{kind}/profiles") >= 2

        # The live policy's fund is on the budget gauge (what the finance pages show); a policy not live is not.
        version = await PolicyVersion.select().where(PolicyVersion.code == "T-HOUSING").first()
        await ensure_budget(version["id"], "T-HOUSING", version["number"], 50_000_000, {})
        (fund,) = await usage(version["id"])
        live = await scrape(client)
        assert value(live, "zhida_policy_budget_fen", policy="T-HOUSING") == fund.budget_fen == 50_000_000
        assert value(live, "zhida_policy_budget_used_fen", policy="T-HOUSING") == fund.used_fen
        assert value(live, "zhida_policy_budget_used_ratio", policy="T-HOUSING") == fund.used_fen / fund.budget_fen

        # A batch of five settles: the counter, the status gauge, the bank's latency.
        facts = policy(budget_fen=100_000_000)
        await entitled(facts, 5, amount_fen=AMOUNT_FEN)
        batch = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
        n, fen = batch.payment_count, batch.total_fen
        assert n == 5
        await approve_batch(batch.batch_id, actor=CHECKER)
        adapter = get_adapter(bank_settings(tmp_dir))
        try:
            await run_all(adapter, batch.batch_id)
            day = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
            await reconcile(adapter, day, actor=CHECKER)
        finally:
            await adapter.aclose()
        settled = await scrape(client)
        assert value(settled, "zhida_payment_outcomes_total", status="settled") == n + value(
            after_feed, "zhida_payment_outcomes_total", status="settled"
        )
        assert value(settled, "zhida_payments", status="settled") == n
        assert value(settled, "zhida_payments_amount_fen", status="settled") == fen
        assert value(settled, "zhida_policy_budget_fen", policy=facts.code) == 0  # not a live policy
        assert value(settled, "zhida_batches", status="completed") == 1
        assert value(settled, "zhida_batches_running") == 0
        assert value(settled, "zhida_bank_call_duration_seconds_count", operation="submit") >= n + value(
            after_feed, "zhida_bank_call_duration_seconds_count", operation="submit"
        )
        assert value(settled, "zhida_reconciliation_differences") == 0
        assert value(settled, "zhida_reconciliation_last_run_timestamp_seconds") > 0
        assert value(settled, "zhida_payments_unknown") == 0
        assert value(settled, "zhida_state_metrics_ok") == 1

        # The bank takes a transfer and never answers: an unknown outcome pending, an error of its kind.
        slow = policy(budget_fen=100_000_000)
        await entitled(slow, 1, amount_fen=AMOUNT_FEN, start=100)
        batch2 = await create_batch(actor=MAKER, policy_code=slow.code, second_checker_threshold_fen=THRESHOLD_FEN)
        await approve_batch(batch2.batch_id, actor=CHECKER)
        # A bank that takes the connection and never answers: the transfer may have been taken, its query too hangs.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(64)
            adapter = HttpBankAdapter(f"http://127.0.0.1:{silent.getsockname()[1]}", "test-bank-secret", timeout=0.2)
            try:
                await run_all(adapter, batch2.batch_id, time_budget_seconds=1.0, max_backoff_seconds=0.05)
            finally:
                await adapter.aclose()
        unknown = await scrape(client)
        assert value(unknown, "zhida_payments_unknown") == 1
        assert value(unknown, "zhida_payments_unknown_oldest_seconds") >= 0
        assert value(unknown, "zhida_bank_call_errors_total", operation="submit", kind="outcome_unknown") > value(
            settled, "zhida_bank_call_errors_total", operation="submit", kind="outcome_unknown"
        )
        assert value(unknown, "zhida_batches_running") == 1

        # A job waiting in the queue is the backlog.
        await jobs.enqueue("app.ping", "metrics-backlog", _defer_by=0)
        backlog = await scrape(client)
        assert value(backlog, "zhida_queue_jobs") >= 1
        await jobs.drain()
        assert value(await scrape(client), "zhida_jobs_total", job="app.ping", outcome="success") >= 1


async def test_metrics_need_the_token_or_a_loopback_client(monkeypatch):
    from app.main import create_app

    app = create_app()
    remote = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
    async with httpx.AsyncClient(transport=remote, base_url="http://testserver") as client:
        assert (await client.get("/metrics")).status_code == 403
    async with asgi_client(app) as client:
        assert (await client.get("/metrics")).status_code == 200

    monkeypatch.setenv("ZHIDA_METRICS_TOKEN", "metrics-token-0123456789abcdef")
    get_settings.cache_clear()
    try:
        app = create_app()
        remote = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
        async with httpx.AsyncClient(transport=remote, base_url="http://testserver") as client:
            refused = await client.get("/metrics")
            assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
            assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
            ok = await client.get("/metrics", headers={"Authorization": "Bearer metrics-token-0123456789abcdef"})
            assert ok.status_code == 200 and "zhida_payments" in ok.text
        async with asgi_client(app) as client:  # a loopback client needs the token too once one is set
            assert (await client.get("/metrics")).status_code == 401
    finally:
        monkeypatch.delenv("ZHIDA_METRICS_TOKEN")
        get_settings.cache_clear()


def test_a_worker_serves_its_own_job_counts_on_its_metrics_port(redis_url):
    """Per-process exposition: a `zhida worker` process counts the jobs it ran and serves them on its port."""
    import asyncio
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from arq import create_pool
    from arq.connections import RedisSettings

    from tests.web import free_port

    port = free_port()
    env = {**os.environ, "ZHIDA_REDIS_URL": redis_url, "ZHIDA_WORKER_METRICS_PORT": str(port)}
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "zhida"), "worker"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    async def enqueue() -> None:
        pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=jobs.QUEUE)
        try:
            await pool.enqueue_job("app.ping", "worker-metrics", _queue_name=jobs.QUEUE)
        finally:
            await pool.aclose()

    def ran(text: str) -> float:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "zhida_jobs_total" and s.labels == {"job": "app.ping", "outcome": "success"}:
                    return s.value
        return 0.0

    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                first = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except httpx.HTTPError:
                assert worker.poll() is None, worker.stdout.read().decode(errors="replace")[-2000:]
                assert time.monotonic() < deadline, "the worker's metrics port did not come up"
                time.sleep(0.3)
        assert first.status_code == 200
        before = ran(first.text)
        asyncio.run(enqueue())
        while ran(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text) < before + 1:
            assert time.monotonic() < deadline, "the worker did not count the job"
            time.sleep(0.3)
    finally:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
