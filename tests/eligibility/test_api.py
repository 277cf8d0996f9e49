"""The data-exchange upsert API (an API key per feed) and the JSON profile endpoint, through HTTP."""
from __future__ import annotations

import pytest
from litestar.testing import TestClient

from app.main import create_app
from eligibility.feeds import create_feed_key
from eligibility.synthetic import generate
from tests.eligibility.helpers import ACTOR
from tests.web import ensure_user, login


@pytest.fixture
async def feed(fresh_db):
    await ensure_user("u_officer", "policy_officer")
    await ensure_user("u_maker", "finance_maker")
    return await create_feed_key("tax-bureau", "enterprise", actor=ACTOR)


def _json_profile(p: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v if v is None or isinstance(v, (bool, int)) else str(v))
            for k, v in p.items()}


def test_exchange_upsert_needs_the_feed_key_and_validates(feed):
    good = [_json_profile(p) for p in generate("enterprise", 3, seed=11)]
    bad = {**good[0], "uscc": "913601000000000000"}
    with TestClient(create_app()) as client:
        assert client.post("/api/exchange/enterprise/profiles", json=good).status_code == 401
        assert client.post("/api/exchange/enterprise/profiles", json=good,
                           headers={"x-api-key": "zfeed_wrong"}).status_code == 401
        assert client.post("/api/exchange/talent/profiles", json=good, headers={"x-api-key": feed}).status_code == 403
        r = client.post("/api/exchange/enterprise/profiles", json=good + [bad], headers={"x-api-key": feed})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["inserted"], body["rejected"]) == (3, 1)
        assert body["rejects"][0]["index"] == 3 and body["rejects"][0]["field"] == "uscc"
        again = client.post("/api/exchange/enterprise/profiles", json=good, headers={"x-api-key": feed}).json()
        assert again["unchanged"] == 3

        sid = good[0]["uscc"]
        assert client.get(f"/api/profiles/enterprise/{sid}").status_code == 401
        login(client, "u_officer")
        shown = client.get(f"/api/profiles/enterprise/{sid}").json()
        assert shown["name"] == good[0]["name"] and "*" in shown["bank_account"]
        assert client.get("/api/profiles/enterprise/91360100000000000M").status_code == 404
