"""Objection deadlines as messages to staff (issue 21): the hourly job sends the reminder three working days before
to the officers and the escalation when overdue to the reviewers, in the staff inbox (unread count on the staff
home), each once per objection, kind and user — under re-runs and under concurrent runs — and audited."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

from app import jobs, staff_messages
from app.audit import AuditActor
from kit.db import raw
from kit.time import CHINA, FixedClock, use_clock
from policies.applications import objections
from policies.applications.schemas import ObjectionCreate
from tests.web import alogin, asgi_client, ensure_user

SYSTEM = AuditActor("system", "system")
START = dt.datetime(2026, 9, 18, 10, 0, tzinfo=CHINA)  # due Friday 2026-10-16 00:00 (15 working days)
REMIND_AT = dt.datetime(2026, 10, 12, 9, 0, tzinfo=CHINA)  # three working days left
OVERDUE_AT = dt.datetime(2026, 10, 16, 9, 0, tzinfo=CHINA)


async def _objections(n: int) -> list[int]:
    made = []
    for i in range(n):
        o = await objections.raise_objection(
            "talent",
            f"36010219880101{i:04d}",
            ObjectionCreate(target="policy", target_id=1, text=f"异议 {i}"),
            actor=SYSTEM,
            policy=("STAFF-MSG", "测试政策"),
            now=START,
        )
        made.append(o.id)
    return made


async def _messages() -> list[dict]:
    return await raw("SELECT username, kind, entity_id FROM app_staff_message ORDER BY username, kind, entity_id")


async def _audited(action: str) -> int:
    return (await raw("SELECT COUNT(*) AS n FROM app_audit_entry WHERE action = {}", action))[0]["n"]


async def test_reminders_to_officers_escalations_to_reviewers_once_even_concurrently(fresh_db):
    for name, role in [("m_off1", "policy_officer"), ("m_off2", "policy_officer"), ("m_rev", "policy_reviewer"),
                       ("m_fin", "finance_maker")]:  # fmt: skip
        await ensure_user(name, role)
    clock = FixedClock(START)
    with use_clock(clock):
        ids = await _objections(2)
        assert await staff_messages.deadline_messages(actor=SYSTEM) == {"reminded": 0, "escalated": 0, "messages": 0}

        # three working days left: four runs at once (PostgreSQL: four connections) → each objection reminded once,
        # one message per officer and objection
        clock.at = REMIND_AT
        runs = await asyncio.gather(*(staff_messages.deadline_messages(actor=SYSTEM) for _ in range(4)))
        assert sum(r["reminded"] for r in runs) == 2 and sum(r["messages"] for r in runs) == 4
        want = [(u, "objection_reminder", str(i)) for u in ("m_off1", "m_off2") for i in sorted(ids)]
        assert [(m["username"], m["kind"], m["entity_id"]) for m in await _messages()] == want
        # the job itself, through the queue (in-process or arq on Redis), adds nothing
        await jobs.enqueue("app.objection_deadlines", _job_id="deadlines-test-1")
        await jobs.drain()
        assert len(await _messages()) == 4

        # overdue: escalated once, to the reviewer only
        clock.at = OVERDUE_AT
        runs = await asyncio.gather(*(staff_messages.deadline_messages(actor=SYSTEM) for _ in range(4)))
        assert sum(r["escalated"] for r in runs) == 2 and sum(r["messages"] for r in runs) == 2
        await jobs.enqueue("app.objection_deadlines", _job_id="deadlines-test-2")
        await jobs.drain()
        rows = await _messages()
        assert [(m["username"], m["entity_id"]) for m in rows if m["kind"] == "objection_escalation"] == [
            ("m_rev", str(i)) for i in sorted(ids)
        ]
        assert len(rows) == 6 and not any(m["username"] == "m_fin" for m in rows)
        assert await _audited("staff_message.create") == 6
        assert await _audited("objection.remind") == 2 and await _audited("objection.escalate") == 2

    # the staff home shows the unread count; the inbox lists them; opening one marks it read; others' are 404
    async with asgi_client() as client:
        await alogin(client, "m_off1")
        home = (await client.get("/")).text
        assert re.search(r'data-testid="count-staff_messages">2<', home)
        page = await client.get("/staff/inbox")
        assert page.status_code == 200 and page.text.count('data-testid="staff-message"') == 2
        assert "3 个工作日" in page.text or "3个工作日" in page.text
        api = (await client.get("/api/staff/messages")).json()
        assert api["unread"] == 2 and api["total"] == 2
        first = api["messages"][0]["id"]
        opened = await client.get(f"/staff/inbox/{first}")
        assert opened.status_code == 200 and "北京时间" in opened.text
        assert (await client.get("/api/staff/messages")).json()["unread"] == 1
        assert re.search(r'data-testid="count-staff_messages">1<', (await client.get("/")).text)
        theirs = (await raw("SELECT id FROM app_staff_message WHERE username = 'm_rev' ORDER BY id"))[0]["id"]
        assert (await client.get(f"/staff/inbox/{theirs}")).status_code == 404
        await alogin(client, "m_rev")
        page = await client.get("/staff/inbox")
        assert page.text.count('data-testid="staff-message"') == 2 and "逾期" in page.text
    assert await _audited("staff_message.read") == 1
