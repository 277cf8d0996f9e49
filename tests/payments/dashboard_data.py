"""A small world for the finance dashboard: two policies, subjects in three districts (and one with no profile),
payments settled in two months, one returned (退汇), a batch approved but not run (pending), and a shared-account
risk flag. Used by the HTTP test and the browser test of /oversight/dashboard."""

from __future__ import annotations

from pathlib import Path

from kit.db import raw
from payments import service as payments
from payments.adapters import get_adapter
from tests.payments import risk_data as d
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, bank_settings, run_all

REGIONS = ("360102", "360103", "360111")


async def build(tmp_dir: Path) -> dict[str, str]:
    """The world; its policy codes {"talent": …, "enterprise": …}."""
    f_t = d.facts(subject="talent")
    f_e = d.facts(subject="enterprise")
    for i in range(1, 7):
        sid = await d.talent(i)
        await raw("UPDATE eligibility_talent SET region_code = {} WHERE subject_id = {}", REGIONS[i % 3], sid)
        await d.entitle(f_t, "talent", sid, 100_000 * i + 37, d.account("talent", i))
    await d.entitle(f_t, "talent", d.id_number(50), 250_000, d.account("talent", 50))  # no profile stored
    for i in range(1, 4):
        await d.entitle(f_e, "enterprise", await d.enterprise(i), 1_000_000 * i + 5, d.account("enterprise", i))
    # a shared account: both held by the risk scan, never paid
    shared = d.account("talent", 100)
    await d.entitle(f_t, "talent", await d.talent(100), 500_000, shared)
    await d.entitle(f_e, "enterprise", await d.enterprise(100), 2_000_000, shared)
    await payments.risk_scan(actor=SYSTEM)

    made = await payments.create_batch(actor=MAKER, policy_code=f_t.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await payments.approve_batch(made.batch_id, actor=CHECKER)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await run_all(adapter, made.batch_id)
        rows = await raw("SELECT id, request_id FROM pay_payment WHERE batch_id = {} ORDER BY id", made.batch_id)
        adapter.simulator.reverse(rows[0]["request_id"])
        await payments.record_return(int(rows[0]["id"]), actor=CHECKER, adapter=adapter)
    finally:
        await adapter.aclose()
    # two of the settled payments settled in an earlier month
    ids = [int(r["id"]) for r in rows[1:3]]
    await raw("UPDATE pay_payment SET settled_on = '2026-10-15' WHERE id IN ({}, {})", *ids)
    # the enterprise batch is approved, not run: its payments are pending; one was made late on 30 November (UTC),
    # which is 1 December in Beijing
    made_e = await payments.create_batch(actor=MAKER, policy_code=f_e.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await payments.approve_batch(made_e.batch_id, actor=CHECKER)
    first_e = await raw("SELECT MIN(id) AS id FROM pay_payment WHERE batch_id = {}", made_e.batch_id)
    await raw(
        "UPDATE pay_payment SET created_at = {} WHERE id = {}", _utc("2026-11-30T17:30:00"), int(first_e[0]["id"])
    )
    return {"talent": f_t.code, "enterprise": f_e.code}


def _utc(text: str):
    import datetime as dt

    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
