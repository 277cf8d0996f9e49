"""Fixtures of the portal tests: a blank platform with the portal world built on it, and logged-in clients."""
from __future__ import annotations

import contextlib

import pytest
from litestar.testing import TestClient

from app.main import create_app
from tests.conftest import truncate_all
from tests.portal.fixtures import build_world
from tests.web import ensure_user, login


@pytest.fixture
async def world():
    await truncate_all()
    w = await build_world()
    await ensure_user("pt_auditor", "auditor")
    return w


@pytest.fixture
def client_as(world):
    """A factory of logged-in clients of one app (one client per user, closed at the end of the test)."""
    app = create_app()
    with contextlib.ExitStack() as stack:
        clients: dict[str, TestClient] = {}

        def get(name: str) -> TestClient:
            if name not in clients:
                clients[name] = login(stack.enter_context(TestClient(app)), name)
            return clients[name]

        yield get
