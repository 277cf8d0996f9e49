"""The risk-flag API (/api/oversight/flags): auditors and finance staff only; filters by state, severity and rule;
paged as the other lists (page, size, sort; X-Total-Count); one flag with its evidence; personal numbers masked."""

from __future__ import annotations

from kit.masking import mask_id_number
from payments import service as payments
from tests.payments import risk_data as d
from tests.payments.factories import SYSTEM
from tests.web import alogin, asgi_client, ensure_user


async def _planted() -> None:
    shared = d.account("talent", 100)
    f_t = d.facts(subject="talent")
    await d.entitle(f_t, "talent", await d.talent(100), 500_000, shared)
    await d.entitle(d.facts(subject="enterprise"), "enterprise", await d.enterprise(100), 2_000_000, shared)
    await d.entitle(f_t, "talent", await d.talent(101), 500_000, d.account("talent", 101))
    await payments.risk_scan(actor=SYSTEM)


async def test_the_flags_api_filters_pages_masks_and_guards(fresh_db):
    await _planted()
    flags = await payments.list_flags()
    assert len(flags) >= 2
    for name, role in (
        ("auditor1", "auditor"),
        ("checker1", "finance_checker"),
        ("maker1", "finance_maker"),
        ("officer1", "policy_officer"),
        ("admin1", "admin"),
    ):
        await ensure_user(name, role)
    some_id = int(flags[0]["id"])
    for name in ("officer1", "admin1"):
        async with asgi_client() as client:
            await alogin(client, name)
            assert (await client.get("/api/oversight/flags")).status_code == 403, name
            assert (await client.get(f"/api/oversight/flags/{some_id}")).status_code == 403, name
    async with asgi_client() as client:
        assert (await client.get("/api/oversight/flags")).status_code in (401, 403)
    for name in ("auditor1", "checker1", "maker1"):
        async with asgi_client() as client:
            await alogin(client, name)
            r = await client.get("/api/oversight/flags")
            assert r.status_code == 200, name
            body = r.json()
            assert int(r.headers["x-total-count"]) == len(flags) == len(body)
            assert [f["id"] for f in body] == sorted((int(f["id"]) for f in flags), reverse=True)  # newest first
            assert d.id_number(100) not in r.text and d.account("talent", 100) not in r.text
            talent = next(f for f in body if f["subject_kind"] == "talent")
            assert talent["subject_id"] == mask_id_number(d.id_number(100))
            assert talent["evidence"]["figures"] and talent["amount"] == "5,000.00"
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        page1 = await client.get("/api/oversight/flags", params={"size": 1, "sort": "id"})
        page2 = await client.get("/api/oversight/flags", params={"size": 1, "page": 2, "sort": "id"})
        assert int(page1.headers["x-total-count"]) == len(flags)
        assert [f["id"] for f in page1.json() + page2.json()] == sorted(int(f["id"]) for f in flags)[:2]
        for params, want in (
            ({"rule": "shared_account"}, [f for f in flags if f["rule"] == "shared_account"]),
            ({"severity": "high"}, [f for f in flags if f["severity"] == "high"]),
            ({"state": "cleared"}, []),
            ({"state": "open", "rule": "shared_account"}, [f for f in flags if f["rule"] == "shared_account"]),
        ):
            got = (await client.get("/api/oversight/flags", params=params)).json()
            assert sorted(f["id"] for f in got) == sorted(int(f["id"]) for f in want), params
        one = await client.get(f"/api/oversight/flags/{some_id}")
        assert one.status_code == 200 and one.json()["id"] == some_id and one.json()["state"] == "open"
        assert d.account("talent", 100) not in one.text
        assert (await client.get("/api/oversight/flags/999999")).status_code == 404
        assert (await client.get("/api/oversight/flags", params={"sort": "nope"})).status_code == 400
