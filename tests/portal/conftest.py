"""Fixtures of the portal tests: a blank platform with the portal world built on it, and logged-in clients
(httpx over ASGI in the test's own event loop, where the PostgreSQL pool lives; no lifespan, so no embedded
worker: deliveries stay queued)."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from app.main import create_app
from tests.conftest import truncate_all
from tests.portal.fixtures import build_world
from tests.web import alogin, ensure_user


def csrf(client) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken")}


@pytest.fixture
async def world():
    await truncate_all()
    w = await build_world()
    await ensure_user("pt_auditor", "auditor")
    return w


@pytest.fixture
async def client_as(world):
    """``await client_as(name)``: a logged-in client of one app per user, closed at the end of the test."""
    app = create_app()
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}

        async def get(name: str) -> httpx.AsyncClient:
            if name not in clients:
                c = await stack.enter_async_context(
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
                )
                clients[name] = await alogin(c, name)
            return clients[name]

        yield get
