"""Liveness and readiness for load balancers and compose/k8s probes: /healthz answers while the process runs (it
touches nothing), /readyz only when the platform can do its work — the database answers, Redis answers (when
configured), every committed migration is applied, and the audit trail's head is sealed under this key. A failing
check answers 503 and names itself."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from litestar import Response, get

from app.auth.guards import PUBLIC
from app.config import get_settings
from kit.db import raw

CHECK_TIMEOUT = 3.0
_known_migrations: set[tuple[str, str]] | None = None


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


def committed_migrations() -> set[tuple[str, str]]:
    """(app, migration id) of every migration file of every app (read once per process)."""
    global _known_migrations
    if _known_migrations is None:
        from piccolo.apps.migrations.commands.base import BaseMigrationManager

        manager = BaseMigrationManager()
        found: set[tuple[str, str]] = set()
        for module in manager.get_app_modules():
            config = module.APP_CONFIG
            modules = manager.get_migration_modules(config.resolved_migrations_folder_path)
            found |= {(config.app_name, mid) for mid in manager.get_migration_ids(modules)}
        _known_migrations = found
    return _known_migrations


async def pending_migrations() -> list[str]:
    """The committed migrations the database has not applied (``app:id``), sorted."""
    try:
        rows = await raw("SELECT app_name, name FROM migration")
    except Exception:  # noqa: BLE001 - no migration table: nothing was ever applied
        rows = []
    applied = {(r["app_name"], r["name"]) for r in rows}
    return sorted(f"{a}:{m}" for a, m in committed_migrations() - applied)


async def _database() -> Check:
    await raw("SELECT 1 AS one")
    return Check("database", True)


async def _redis() -> Check:
    from app import jobs

    if jobs.embedded():
        return Check("redis", True, "not configured: jobs run in-process")
    queue = await jobs.get_queue()
    await queue.ping()
    return Check("redis", True)


async def _migrations() -> Check:
    pending = await pending_migrations()
    if pending:
        return Check("migrations", False, f"{len(pending)} not applied (zhida db migrate): {', '.join(pending[:5])}")
    return Check("migrations", True)


async def _audit_head() -> Check:
    from app import audit

    problem = await audit.head_sealed()
    return Check("audit_head", problem is None, problem or "")


async def _run(name: str, check: Any) -> Check:
    try:
        return await asyncio.wait_for(check(), CHECK_TIMEOUT)
    except TimeoutError:
        return Check(name, False, f"no answer within {CHECK_TIMEOUT:g} s")
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
        return Check(name, False, f"{type(exc).__name__}: unreachable or failing")


async def readiness() -> list[Check]:
    """Every check, in order; a later check that needs the database is skipped (failed) when it is unreachable."""
    db = await _run("database", _database)
    checks = [db, await _run("redis", _redis)]
    if db.ok:
        migrations = await _run("migrations", _migrations)
        checks.append(migrations)
        if migrations.ok:
            checks.append(await _run("audit_head", _audit_head))
        else:
            checks.append(Check("audit_head", False, "not checked until the migrations are applied"))
    else:
        checks += [
            Check("migrations", False, "database unreachable"),
            Check("audit_head", False, "database unreachable"),
        ]
    return checks


@get("/healthz", opt={PUBLIC: True}, include_in_schema=False)
async def healthz() -> dict[str, Any]:
    """Alive: the process answers (it reads nothing, so a slow database never gets a live process restarted)."""
    return {"status": "ok"}


@get("/readyz", opt={PUBLIC: True}, include_in_schema=False)
async def readyz() -> Response:
    checks = await readiness()
    failing = [c.name for c in checks if not c.ok]
    body = {
        "status": "ready" if not failing else "not ready",
        "failing": failing,
        "checks": {c.name: {"ok": c.ok, **({"detail": c.detail} if c.detail else {})} for c in checks},
        "mode": "postgresql" if get_settings().is_postgres else "sqlite",
    }
    return Response(body, status_code=200 if not failing else 503)


route_handlers = [healthz, readyz]
