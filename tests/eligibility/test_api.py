"""The data-exchange upsert API (an API key per feed) and the JSON profile endpoint, through HTTP."""

from __future__ import annotations

import pytest

from eligibility.feeds import create_feed_key
from eligibility.synthetic import generate
from tests.eligibility.helpers import ACTOR
from tests.web import alogin, ensure_user, own_loop_client


@pytest.fixture
async def feed(fresh_db):
    await ensure_user("u_officer", "policy_officer")
    return await create_feed_key("tax-bureau", "enterprise", actor=ACTOR)


@pytest.fixture
async def client(feed):
    async with own_loop_client() as c:
        yield c


def _json_profile(p: dict) -> dict:
    return {
        k: (list(v) if isinstance(v, tuple) else v if v is None or isinstance(v, (bool, int)) else str(v))
        for k, v in p.items()
    }


async def test_exchange_upsert_needs_the_feed_key_and_validates(client, feed):
    good = [_json_profile(p) for p in generate("enterprise", 3, seed=11)]
    bad = {**good[0], "uscc": "913601000000000000"}
    url = "/api/exchange/enterprise/profiles"
    assert (await client.post(url, json=good)).status_code == 401
    assert (await client.post(url, json=good, headers={"x-api-key": "zfeed_wrong"})).status_code == 401
    assert (
        await client.post("/api/exchange/talent/profiles", json=good, headers={"x-api-key": feed})
    ).status_code == 403
    r = await client.post(url, json=good + [bad], headers={"x-api-key": feed})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["inserted"], body["rejected"]) == (3, 1)
    assert body["rejects"][0]["index"] == 3 and body["rejects"][0]["field"] == "uscc"
    again = (await client.post(url, json=good, headers={"x-api-key": feed})).json()
    assert again["unchanged"] == 3

    sid = good[0]["uscc"]
    assert (await client.get(f"/api/profiles/enterprise/{sid}")).status_code == 401
    await alogin(client, "u_officer")
    shown = (await client.get(f"/api/profiles/enterprise/{sid}")).json()
    assert shown["name"] == good[0]["name"] and "*" in shown["bank_account"]
    assert (await client.get("/api/profiles/enterprise/91360100000000000M")).status_code == 404
