"""Objection deadlines in working days: the reminder three working days before, escalation once overdue, the
officers' page marking overdue ones, and the SLA report (page and CSV) whose figures equal SQL counts."""

from __future__ import annotations

import csv
import datetime as dt
import io

from app.audit import AuditActor
from kit.db import raw
from kit.time import CHINA, FixedClock, use_clock
from policies.applications import objections
from policies.applications.schemas import ObjectionCreate
from tests.web import alogin, asgi_client, ensure_user

OFFICER = AuditActor("sla_officer", "policy_officer")
SYSTEM = AuditActor("system", "system")
# Friday 2026-09-18, 10:00 Beijing time: 15 working days end with Thursday 10/15 (中秋 and 国庆 do not count)
START = dt.datetime(2026, 9, 18, 10, 0, tzinfo=CHINA)
DUE = dt.datetime(2026, 10, 16, 0, 0, tzinfo=CHINA)


async def _raise(n: int, code: str, at: dt.datetime, version_id: int) -> list[int]:
    out = []
    for i in range(n):
        made = await objections.raise_objection(
            "talent",
            f"36010219880101{i:04d}",
            ObjectionCreate(target="policy", target_id=version_id, text=f"异议 {i}"),
            actor=SYSTEM,
            policy=(code, f"政策 {code}"),
            now=at,
        )
        out.append(made.id)
    return out


async def _answer(ids: list[int]) -> None:
    for oid in ids:
        await objections.answer_objection(oid, actor=OFFICER, answer="已核实", base_url="http://x")


async def test_reminders_escalation_and_the_sla_report_equal_sql_counts(fresh_db):
    await ensure_user("sla_officer", "policy_officer")
    clock = FixedClock(START)
    with use_clock(clock):
        a = await _raise(5, "SLA-A", START, 1)
        b = await _raise(3, "SLA-B", START + dt.timedelta(days=14), 2)  # Friday 10/2 (国庆): due later
        assert (await objections.get_objection(a[0])).due_at == DUE
        await _answer(a[:2])  # on time
        # Monday 10/12: three working days left (10/13, 10/14, 10/15): A is reminded, B (due 10/23) is not
        clock.at = dt.datetime(2026, 10, 12, 9, 0, tzinfo=CHINA)
        assert await objections.sweep_deadlines(actor=SYSTEM) == {"reminded": 3, "escalated": 0}
        assert await objections.sweep_deadlines(actor=SYSTEM) == {"reminded": 0, "escalated": 0}
        clock.at = DUE - dt.timedelta(seconds=1)  # the last second of the due day: not overdue yet
        assert (await objections.sweep_deadlines(actor=SYSTEM))["escalated"] == 0
        clock.at = DUE + dt.timedelta(hours=9)  # Friday 10/16 09:00: overdue
        assert await objections.sweep_deadlines(actor=SYSTEM) == {"reminded": 0, "escalated": 3}
        assert await objections.sweep_deadlines(actor=SYSTEM) == {"reminded": 0, "escalated": 0}
        await _answer(a[2:3])  # late
        await _answer(b[:1])  # on time
        at = clock.at
        report = await objections.sla_report()
        assert report["total"] == {"on_time": 3, "late": 1, "open_overdue": 2, "open_in_time": 2, "total": 8}
        # the same figures counted by plain SQL, one COUNT each
        sql = {
            "on_time": "status = 'answered' AND answered_at <= due_at",
            "late": "status = 'answered' AND answered_at > due_at",
            "open_overdue": "status = 'open' AND due_at < {}",
            "open_in_time": "status = 'open' AND due_at >= {}",
        }
        for key, where in sql.items():
            args = [at] if "{}" in where else []
            n = (await raw(f"SELECT COUNT(*) AS n FROM policies_objection WHERE {where}", *args))[0]["n"]
            assert report["total"][key] == int(n), key
        per = {p["policy_code"]: p for p in report["policies"]}
        assert (per["SLA-A"]["on_time"], per["SLA-A"]["late"], per["SLA-A"]["open_overdue"]) == (2, 1, 2)
        assert (per["SLA-B"]["on_time"], per["SLA-B"]["open_in_time"]) == (1, 2)
        assert [o.id for o in report["overdue"]] == a[3:]
        assert all(o.escalated_at is not None for o in report["overdue"])

        async with asgi_client() as client:
            await alogin(client, "sla_officer")
            page = await client.get("/applications/objections", params={"status": "overdue"})
            assert page.status_code == 200
            assert page.text.count('data-testid="overdue"') == 2 and "SLA-B" not in page.text
            everything = await client.get("/applications/objections", params={"status": "open"})
            assert everything.text.count('data-testid="overdue"') == 2
            sla = await client.get("/applications/objections/sla")
            assert sla.status_code == 200 and sla.text.count('data-testid="overdue-row"') == 2
            assert 'data-testid="open-overdue"><span class="badge red">2<' in sla.text
            got = await client.get("/applications/objections/sla.csv")
            assert got.status_code == 200
            rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
            assert rows[0][:3] == ["政策编号", "政策名称", "按期答复"]
            by_code = {r[0]: r for r in rows[1:]}
            assert by_code["SLA-A"][2:] == ["2", "1", "2", "0", "5"]
            assert by_code[""][2:] == ["3", "1", "2", "2", "8"]
