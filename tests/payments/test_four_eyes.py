"""Invariant 4: maker ≠ checker, refused on every path — the CLI, the JSON API and the finance pages — including a
user whose role changed from maker to checker, and the second checker of a batch above the threshold."""

from __future__ import annotations

import httpx
import pytest

from app.audit import AuditActor
from app.main import create_app
from app.tables import User
from payments.service import create_batch, get_batch
from payments.tables import Entitlement
from tests.conftest import zhida
from tests.payments.factories import THRESHOLD_FEN, entitled, policy
from tests.web import ACTOR_ENV, alogin, ensure_user


async def _batch_by(maker: str, amount_fen: int = 100_000, n: int = 2) -> int:
    facts = policy(budget_fen=10**12)
    await entitled(facts, n, amount_fen=amount_fen)
    ids = [r["id"] for r in await Entitlement.select(Entitlement.id).where(Entitlement.version_id == facts.version_id)]
    made = await create_batch(
        actor=AuditActor(maker, "finance_maker"), entitlement_ids=ids, second_checker_threshold_fen=THRESHOLD_FEN
    )
    return made.batch_id


async def _becomes_checker(name: str) -> None:
    # A maker later given the checker role must still not approve their own batch.
    await User.update({User.role: "finance_checker"}).where(User.username == name)


@pytest.fixture
async def setup(fresh_db):
    for name, role in (
        ("alice", "finance_maker"),
        ("dave", "finance_maker"),
        ("bob", "finance_checker"),
        ("carol", "finance_checker"),
    ):
        await ensure_user(name, role)
    batches = {
        "cli": await _batch_by("alice"),
        "api": await _batch_by("dave"),
        "ui": await _batch_by("dave"),
        "big": await _batch_by("alice", amount_fen=60_000_000),
    }
    return batches


async def test_cli_refuses_the_maker(setup):
    batch = setup["cli"]
    proc = zhida("batch", "approve", str(batch), "--actor", "alice", env=ACTOR_ENV)
    assert proc.returncode == 1 and "finance_checker" in proc.stderr and "Traceback" not in proc.stderr
    await _becomes_checker("alice")
    proc = zhida("batch", "approve", str(batch), "--actor", "alice", env=ACTOR_ENV)
    assert proc.returncode == 1 and "maker" in proc.stderr
    assert (await get_batch(batch)).status == "created"
    proc = zhida("batch", "approve", str(batch), "--actor", "bob", env=ACTOR_ENV)
    assert proc.returncode == 0, proc.stderr
    assert (await get_batch(batch)).status == "approved"


async def test_cli_second_checker_must_be_another_person(setup):
    batch = setup["big"]
    assert zhida("batch", "approve", str(batch), "--actor", "bob", env=ACTOR_ENV).returncode == 0
    proc = zhida("batch", "approve", str(batch), "--actor", "bob", env=ACTOR_ENV)
    assert proc.returncode == 1 and "second" in proc.stderr
    assert (await get_batch(batch)).status == "checked"
    assert zhida("batch", "approve", str(batch), "--actor", "carol", env=ACTOR_ENV).returncode == 0
    assert (await get_batch(batch)).status == "approved"


@pytest.fixture
async def dave_is_checker(setup):
    await _becomes_checker("dave")
    return setup


def _client() -> httpx.AsyncClient:
    # The app runs on the test's own event loop, where the database pool lives (a portal thread would not do).
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://testserver")


def _csrf(client) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken")}


async def test_api_refuses_the_maker(dave_is_checker):
    batch = dave_is_checker["api"]
    async with _client() as client:
        await alogin(client, "dave")
        r = await client.post(f"/api/finance/batches/{batch}/approve", headers=_csrf(client))
        assert r.status_code == 403 and "maker" in r.json()["error"]
        assert (await client.get(f"/api/finance/batches/{batch}")).json()["status"] == "created"
    async with _client() as client:
        await alogin(client, "bob")
        r = await client.post(f"/api/finance/batches/{batch}/approve", headers=_csrf(client))
        assert r.status_code == 200 and r.json()["status"] == "approved"


async def test_ui_refuses_the_maker(dave_is_checker):
    batch = dave_is_checker["ui"]
    async with _client() as client:
        await alogin(client, "dave")
        page = await client.get(f"/finance/batches/{batch}", headers={"accept": "text/html"})
        assert page.status_code == 200
        r = await client.post(
            f"/finance/batches/{batch}/approve",
            headers={**_csrf(client), "accept": "text/html"},
            follow_redirects=False,
        )
        assert r.status_code == 403 and "制单与复核须为不同的人" in r.text  # the page speaks Chinese
        assert (await client.get(f"/api/finance/batches/{batch}")).json()["status"] == "created"


async def test_ui_pages_render_for_finance(setup):
    async with _client() as client:
        await alogin(client, "bob")
        for path in ("/finance", f"/finance/batches/{setup['cli']}", "/finance/exceptions", "/finance/reconciliation"):
            r = await client.get(path, headers={"accept": "text/html"})
            assert r.status_code == 200, (path, r.text[:300])
        assert "batches" in (await client.get("/finance", headers={"accept": "text/html"})).text
        r = await client.get("/api/finance/budgets")
        assert r.status_code == 200 and r.json()
