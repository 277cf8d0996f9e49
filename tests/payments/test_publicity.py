"""公示 before paying: entitlements of a policy with publicity_days are payable only after that many Chinese working
days; a batch leaves them out (and says so); an objection during the period holds an entry until it is decided
(dismissed: released; revoked: never paid, by no version). Through the services, under a fixed clock."""

from __future__ import annotations

import datetime as dt

import pytest

from app.audit import AuditActor
from kit.time import CHINA, FixedClock, use_clock
from payments.errors import InvalidState, NotFound
from payments.service import create_batch, left_out_of, payable_by_policy, publicity, record_entitlements
from payments.tables import Entitlement
from tests.payments.factories import MAKER, SYSTEM, THRESHOLD_FEN, payee, policy

REVIEWER = AuditActor("reviewer1", "policy_reviewer")
PUBLIC = AuditActor("public", "public")
# Friday 2026-09-18, 10:00 Beijing time: 5 working days are 9/20 (Sunday, swapped), 9/21, 9/22, 9/23, 9/24;
# the period ends at midnight at the end of 9/24 (中秋 9/25–9/27 does not count, and is not needed).
START = dt.datetime(2026, 9, 18, 10, 0, tzinfo=CHINA)
ENDS = dt.datetime(2026, 9, 25, 0, 0, tzinfo=CHINA)


async def _batch(code):
    return await create_batch(actor=MAKER, policy_code=code, second_checker_threshold_fen=THRESHOLD_FEN)


async def _rows(code):
    return {r["subject_id"]: r for r in await Entitlement.select().where(Entitlement.policy_code == code)}


async def test_batch_create_refuses_entries_still_in_their_publicity_period(fresh_db):
    pol = policy("NC-PUB-1", publicity_days=5)
    plain = policy("NC-PUB-0")
    clock = FixedClock(START)
    with use_clock(clock):
        await record_entitlements(pol, [payee(i) for i in range(3)], actor=SYSTEM)
        await record_entitlements(plain, [payee(9)], actor=SYSTEM)
        rows = await _rows(pol.code)
        assert {r["publicity_until"].astimezone(CHINA) for r in rows.values()} == {ENDS}
        assert all(r["state"] == "payable" for r in rows.values())
        with pytest.raises(NotFound) as refused:
            await _batch(pol.code)
        assert "3 still in their publicity period" in str(refused.value)
        # the batch page's "left out and why"
        assert [(g["state"], g["count"]) for g in await left_out_of(pol.code)] == [("in_publicity", 3)]
        # the maker's page offers no batch for it while in publicity (create_batch would refuse it)
        assert pol.code not in await payable_by_policy() and plain.code in await payable_by_policy()
        listed = await publicity.publicity_list(pol.code)
        assert len(listed) == 3 and listed[0].id_masked.startswith("360") and "*" in listed[0].id_masked
        assert payee(0).subject_id not in {e.id_masked for e in listed}
        # a policy without publicity_days is payable at once
        assert (await _batch(plain.code)).payment_count == 1
        clock.at = ENDS - dt.timedelta(seconds=1)  # the last second of the period (Thursday 9/24, 23:59:59)
        with pytest.raises(NotFound):
            await _batch(pol.code)
        clock.at = ENDS
        assert (await payable_by_policy())[pol.code][0] == 3
        made = await _batch(pol.code)
        assert made.payment_count == 3 and made.in_publicity == 0
        assert await publicity.publicity_list(pol.code) == []


async def test_an_objection_holds_an_entry_until_it_is_dismissed(fresh_db):
    pol = policy("NC-PUB-2", publicity_days=5)
    clock = FixedClock(START)
    with use_clock(clock):
        await record_entitlements(pol, [payee(1), payee(2), payee(3, verified=False)], actor=SYSTEM)
        target = (await _rows(pol.code))[payee(1).subject_id]
        with pytest.raises(InvalidState):
            await publicity.object_during_publicity(target["id"], reason="", contact="13800000000", actor=PUBLIC)
        made = await publicity.object_during_publicity(
            target["id"], reason="该企业已迁出本市", contact="13800000000", actor=PUBLIC
        )
        assert made.origin == "public" and made.status == "open"
        # 15 working days from Friday 9/18: 9/20 (Sunday, swapped), 9/21–9/24, 9/28–9/30, 10/8, 10/9, 10/10
        # (Saturday, swapped), 10/12–10/15 (中秋 9/25–27 and 国庆 10/1–7 do not count), ending at midnight
        assert made.due_at.astimezone(CHINA) == dt.datetime(2026, 10, 16, 0, 0, tzinfo=CHINA)
        assert [e.held for e in await publicity.publicity_list(pol.code) if e.entitlement_id == target["id"]] == [True]
        clock.at = ENDS + dt.timedelta(days=3)  # the period is over: the other entry is paid, the held one is not
        first = await _batch(pol.code)
        assert first.payment_count == 1 and first.in_publicity == 1
        assert (await _rows(pol.code))[payee(1).subject_id]["batch_id"] is None
        with pytest.raises(NotFound) as refused:
            await _batch(pol.code)
        assert "held by an objection" in str(refused.value)
        assert [g["state"] for g in await left_out_of(pol.code)] == ["waiting_account", "held_by_objection"]
        # after the period nobody can object any more (here: to the entry still waiting for its account)
        with pytest.raises(InvalidState):
            await publicity.object_during_publicity(
                (await _rows(pol.code))[payee(3).subject_id]["id"], reason="x", contact="y", actor=PUBLIC
            )
        decided = await publicity.decide(
            made.id, outcome="dismissed", answer="经核查该企业仍在本市纳税", actor=REVIEWER, base_url="http://x"
        )
        assert decided.status == "answered" and decided.outcome == "dismissed"
        assert (await _rows(pol.code))[payee(1).subject_id]["held_by"] is None
        assert (await _batch(pol.code)).payment_count == 1


async def test_an_objection_upheld_with_revocation_is_never_paid_by_any_version(fresh_db):
    v1 = policy("NC-PUB-3", publicity_days=3)
    clock = FixedClock(START)
    with use_clock(clock):
        await record_entitlements(v1, [payee(1)], actor=SYSTEM)
        ent = (await _rows(v1.code))[payee(1).subject_id]
        made = await publicity.object_during_publicity(ent["id"], reason="冒名", contact="a@b.cn", actor=PUBLIC)
        await publicity.decide(made.id, outcome="revoked", answer="经核实冒名申领", actor=REVIEWER, base_url="x")
        row = (await _rows(v1.code))[payee(1).subject_id]
        assert row["state"] == "revoked" and row["held_by"] is None and "冒名" in row["reason"]
        clock.at = ENDS + dt.timedelta(days=30)
        with pytest.raises(NotFound):
            await _batch(v1.code)
        # a later version of the same policy does not pay the revoked right again
        v2 = policy("NC-PUB-3", version=2, publicity_days=3)
        counts = await record_entitlements(v2, [payee(1)], actor=SYSTEM)
        assert counts["locked"] == 1 and counts["inserted"] == 0
        with pytest.raises(NotFound):
            await _batch(v1.code)


async def test_the_public_list_and_objections_without_login(fresh_db):
    import httpx

    from app.main import create_app

    pol = policy("NC-PUB-WEB", publicity_days=5)
    await record_entitlements(pol, [payee(1), payee(2)], actor=SYSTEM)
    rows = await _rows(pol.code)
    full_id = payee(1).subject_id
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://t") as c:
        page = await c.get(f"/publicity/{pol.code}")
        assert page.status_code == 200 and 'data-testid="publicity-entry"' in page.text
        assert full_id not in page.text and "360***********0001" in page.text
        assert "张1" not in page.text  # a person's name is masked
        listed = (await c.get("/api/public/publicity", params={"policy": pol.code})).json()
        assert sorted(e["entitlement_id"] for e in listed) == sorted(r["id"] for r in rows.values())
        assert all(full_id not in str(e) and not e["held"] for e in listed)
        # a 12345 agent (or any API client) objects: no login, no CSRF token
        target = rows[full_id]["id"]
        r = await c.post(
            f"/api/public/publicity/{target}/objections", json={"contact": "12345", "reason": "来电反映已离职"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["held"] is True
        assert [e["held"] for e in (await c.get("/api/public/publicity")).json() if e["entitlement_id"] == target] == [
            True
        ]
        assert (
            await c.post(f"/api/public/publicity/{target}/objections", json={"contact": "x", "reason": "y"})
        ).status_code == 409
        # the page's form (with the CSRF token its GET set)
        other = rows[payee(2).subject_id]["id"]
        form = await c.post(
            f"/publicity/{other}/object?policy={pol.code}",
            data={"contact": "138 0000 0000", "reason": "金额有误"},
            headers={"x-csrftoken": c.cookies.get("csrftoken")},
        )
        assert form.status_code == 200 and 'data-testid="objection-done"' in form.text
    assert (await _rows(pol.code))[payee(2).subject_id]["held_by"] is not None


async def test_one_address_cannot_hold_a_whole_publicity_list(fresh_db, monkeypatch):
    """Each anonymous objection holds its entry until an officer decides it: one address gets
    public_objections_per_hour of them (form and API together), then 429 with the reason, in Chinese on the page;
    what was refused holds nothing; another address is not affected; an hour later the address may object again."""
    import time

    import httpx

    from app.auth import throttle
    from app.config import get_settings
    from app.main import create_app

    monkeypatch.setattr(get_settings(), "public_objections_per_hour", 2)
    pol = policy("NC-PUB-FLOOD", publicity_days=5)
    await record_entitlements(pol, [payee(i) for i in range(5)], actor=SYSTEM)
    ids = sorted(r["id"] for r in (await _rows(pol.code)).values())
    app = create_app()

    def client(ip: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1234)), base_url="http://t")

    body = {"contact": "13800000000", "reason": "批量异议"}
    async with client("198.51.100.9") as flood, client("203.0.113.5") as other:
        codes = [(await flood.post(f"/api/public/publicity/{i}/objections", json=body)).status_code for i in ids[:3]]
        assert codes == [201, 201, 429], codes
        await flood.get(f"/publicity/{pol.code}")  # the form's CSRF cookie
        flood.cookies.set("lang", "zh")
        page = await flood.post(
            f"/publicity/{ids[3]}/object?policy={pol.code}",
            data=body,
            headers={"x-csrftoken": flood.cookies.get("csrftoken")},
        )
        assert page.status_code == 429 and "异议过多" in page.text, page.text[-800:]
        assert (await other.post(f"/api/public/publicity/{ids[3]}/objections", json=body)).status_code == 201
    held = {r["id"]: r["held_by"] for r in (await _rows(pol.code)).values()}
    assert [held[i] is not None for i in ids] == [True, True, False, True, False]
    # an hour later the window starts again
    later = time.time() + 3601
    monkeypatch.setattr(throttle.time, "time", lambda: later)
    async with client("198.51.100.9") as flood:
        assert (await flood.post(f"/api/public/publicity/{ids[4]}/objections", json=body)).status_code == 201
