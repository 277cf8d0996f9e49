"""The job queue: one arq code path, embedded (in-process fake Redis) or on the real Redis."""

from __future__ import annotations

import uuid

import pytest

from app import jobs


@pytest.fixture
def on_redis(redis_url, monkeypatch):
    monkeypatch.setenv("ZHIDA_REDIS_URL", redis_url)
    from app.config import get_settings

    get_settings.cache_clear()
    jobs._pools.clear()
    yield redis_url
    monkeypatch.delenv("ZHIDA_REDIS_URL")
    get_settings.cache_clear()
    jobs._pools.clear()


async def _enqueue_twice_and_run() -> tuple[object, object, int]:
    token = uuid.uuid4().hex
    first = await jobs.enqueue("app.ping", token, _job_id=f"ping:{token}")
    second = await jobs.enqueue("app.ping", token, _job_id=f"ping:{token}")
    await jobs.drain()
    third = await jobs.enqueue("app.ping", token, _job_id=f"ping:{token}")  # result kept: still refused
    await jobs.drain()
    queue = await jobs.get_queue()
    runs = int(await queue.get(f"zhida:ping:{token}") or 0)
    return first, second, runs, third


async def test_same_job_id_runs_once_embedded():
    assert jobs.embedded()
    first, second, runs, third = await _enqueue_twice_and_run()
    assert first is not None and second is None and third is None
    assert runs == 1


async def test_same_job_id_runs_once_on_redis(on_redis):
    assert not jobs.embedded()
    first, second, runs, third = await _enqueue_twice_and_run()
    assert first is not None and second is None and third is None
    assert runs == 1


async def test_distinct_job_ids_each_run():
    token = uuid.uuid4().hex
    for i in range(3):
        await jobs.enqueue("app.ping", token, _job_id=f"ping:{token}:{i}")
    await jobs.drain()
    queue = await jobs.get_queue()
    assert int(await queue.get(f"zhida:ping:{token}")) == 3
