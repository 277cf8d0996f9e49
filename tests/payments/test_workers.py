"""Production shape: Redis, two `zhida worker` processes and `zhida bank-sim`; `zhida batch run --wait` enqueues the
chunk jobs and waits until every payment is final. Each payment moves money once."""

from __future__ import annotations

import os
import subprocess

import pytest
import redis.asyncio as aioredis

from payments.adapters import simulator_store
from payments.service import approve_batch, check_balances, create_batch, progress
from tests.payments.factories import CHECKER, MAKER, entitled, policy
from tests.payments.test_chaos import _bank_sim, _free_port, _wait_for_port, _zhida

pytestmark = pytest.mark.redis


async def test_two_workers_on_redis_pay_a_batch_once(fresh_db, tmp_dir, redis_url):
    # A fresh database numbers its batches from 1 again, and a chunk job's id derives from its batch: the result of an
    # earlier run's job (arq keeps it an hour) would make this run's job a duplicate, never queued.
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    await client.aclose()
    port = _free_port()
    bank_db = tmp_dir / "bank.db"
    env = {
        **os.environ,
        "ZHIDA_REDIS_URL": redis_url,
        "ZHIDA_BANK_URL": f"http://127.0.0.1:{port}",
        "ZHIDA_BANK_SECRET": "workers-bank-secret-0123456789abcd",
        "ZHIDA_PAYMENTS_CLAIM_SIZE": "50",
    }
    procs = [_bank_sim(port, bank_db, env, "--fail-rate", "0.05")]
    try:
        _wait_for_port(port)
        procs += [
            subprocess.Popen([_zhida(), "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(2)
        ]
        facts = policy(budget_fen=10**12)
        await entitled(facts, 400, amount_fen=12_345)
        made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=10**15)
        await approve_batch(made.batch_id, actor=CHECKER)
        run = subprocess.run(
            [_zhida(), "batch", "run", str(made.batch_id), "--wait"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_dir,
        )
        assert run.returncode == 0, run.stderr
        assert "settled\t400\t49,380.00" in run.stdout
        assert (await progress(made.batch_id)).counts == {"settled": 400}
        assert set(simulator_store.moves_per_request(bank_db).values()) == {1}
        assert len(simulator_store.moves_per_request(bank_db)) == 400
        assert (await check_balances()).ok
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
