"""/healthz answers while the process lives; /readyz only while the platform can work, else 503 naming the failing
check: a database not migrated, a broken seal on the audit head, a database gone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx

from tests.conftest import ON_POSTGRES, pg_admin, zhida
from tests.web import asgi_client, live_server


async def test_readyz_is_ready_on_the_migrated_test_database(fresh_db):
    async with asgi_client() as client:
        r = await client.get("/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ready" and body["failing"] == []
        assert set(body["checks"]) == {"database", "redis", "migrations", "audit_head"}
        assert (await client.get("/healthz")).json() == {"status": "ok"}


def test_readyz_fails_naming_the_check_when_not_migrated_sealed_or_the_database_is_gone(empty_database_url, tmp_dir):
    env = {"ZHIDA_DATABASE_URL": empty_database_url, "ZHIDA_DATA_DIR": str(tmp_dir / "data")}
    with live_server(env) as base:
        r = httpx.get(base + "/readyz", timeout=10)
        assert r.status_code == 503 and r.json()["failing"][0] == "migrations", r.text
        assert "zhida db migrate" in r.json()["checks"]["migrations"]["detail"]
    zhida("db", "migrate", env=env, check=True)
    zhida(
        "users",
        "create",
        "ops_admin",
        "--role",
        "admin",
        "--password-stdin",
        input="Ops-admin-pass-2025\n",
        env=env,
        check=True,
    )
    with live_server(env) as base:
        assert httpx.get(base + "/readyz", timeout=10).status_code == 200
        # The audit head's seal made with another key: the trail cannot be trusted as it stands.
        other = {**env, "ZHIDA_AUDIT_KEY": "another-audit-key-0123456789abcdef"}
        with live_server(other) as other_base:
            r = httpx.get(other_base + "/readyz", timeout=10)
            assert r.status_code == 503 and r.json()["failing"] == ["audit_head"], r.text

        # The database goes away under the running server.
        if ON_POSTGRES:
            pg_admin(f'DROP DATABASE IF EXISTS "{empty_database_url.rpartition("/")[2]}" WITH (FORCE)')
        else:
            path = Path(empty_database_url.removeprefix("sqlite:///"))
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{path}{suffix}").exists():
                    os.remove(f"{path}{suffix}")
            path.mkdir()  # nothing can open it as a database now
        r = httpx.get(base + "/readyz", timeout=15)
        assert r.status_code == 503, r.text
        assert r.json()["failing"][0] == "database" and r.json()["checks"]["database"]["ok"] is False
        assert httpx.get(base + "/healthz", timeout=10).status_code == 200  # alive all the same
    if not ON_POSTGRES:
        shutil.rmtree(path)


def test_readyz_names_redis_when_the_configured_redis_does_not_answer():
    from tests.web import free_port

    with live_server({"ZHIDA_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}) as base:
        r = httpx.get(base + "/readyz", timeout=15)
        assert r.status_code == 503 and r.json()["failing"] == ["redis"], r.text
        assert r.json()["checks"]["database"]["ok"] is True
