"""A small world for the finance dashboard: two policies, subjects in three districts (and one with no profile),
payments settled in two months, one returned (退汇), a batch approved but not run (pending), and a shared-account
risk flag. Used by the HTTP test and the browser test of /oversight/dashboard."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from eligibility.tables import Match
from kit.db import raw
from kit.time import now
from notifications.tables import Notice
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
    # a third policy, settled: enterprises of two more industries (manufacturing, research) in 360111 and 360106
    f_m = d.facts(subject="enterprise")
    for i, (industry, region) in enumerate((("C3911", "360111"), ("M7320", "360106"), ("C2710", "360106")), start=11):
        sid = await d.enterprise(i)
        await raw(
            "UPDATE eligibility_enterprise SET industry_code = {}, region_code = {} WHERE subject_id = {}",
            industry,
            region,
            sid,
        )
        await d.entitle(f_m, "enterprise", sid, 300_000 * i, d.account("enterprise", i))
    made_m = await payments.create_batch(actor=MAKER, policy_code=f_m.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await payments.approve_batch(made_m.batch_id, actor=CHECKER)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await run_all(adapter, made_m.batch_id)
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
    # 秒到账: the settled payments settled 20 s, 40 s … after their batch's approval (the clock of a test run
    # would make them all a few milliseconds)
    step = 0
    for batch_id in (made.batch_id, made_m.batch_id):
        approved = (await raw("SELECT checked_at FROM pay_batch WHERE id = {}", batch_id))[0]["checked_at"]
        settled = await raw(
            "SELECT id FROM pay_payment WHERE batch_id = {} AND settled_at IS NOT NULL ORDER BY id", batch_id
        )
        for r in settled:
            step += 1
            await raw(
                "UPDATE pay_payment SET settled_at = {} WHERE id = {}", _at(approved) + SETTLE_STEP * step, int(r["id"])
            )
    await _matches_and_notices(f_t, f_e, f_m)
    return {"talent": f_t.code, "enterprise": f_e.code}


SETTLE_STEP = dt.timedelta(seconds=20)


def _at(value) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def _matches_and_notices(f_t, f_e, f_m) -> None:
    """The top of the funnel: every entitled talent matched (and two more who are not entitled), one match
    withdrawn (not counted), notices for all but two of the current talent matches; the enterprises are matched,
    none notified."""
    ents = await raw("SELECT subject_kind, subject_id, amount_fen, version_id FROM pay_entitlement ORDER BY id")
    rows = [(r["subject_kind"], r["subject_id"], int(r["amount_fen"]), int(r["version_id"])) for r in ents]
    rows += [("talent", d.id_number(60 + i), 90_000, f_t.version_id) for i in range(2)]
    codes = {f.version_id: f.code for f in (f_t, f_e, f_m)}
    stamp = now()
    for n, (kind, sid, fen, vid) in enumerate(rows):
        await Match.insert(
            Match(
                ruleset_key=f"{codes[vid]}@{vid}", version_id=vid, code=codes[vid], subject_kind=kind, subject_id=sid,
                clauses="main", amount_fen=fen, as_of=dt.date(2026, 10, 1), profile_digest=f"p{n}", rule_digest="r",
                match_digest=f"m{n}", created_at=stamp,
            )
        )  # fmt: skip
        if kind == "talent" and n not in (1, 2):
            await Notice.insert(
                Notice(
                    key=f"matched:{vid}:{sid}", recipient_key=f"{kind}:{sid}", recipient_kind=kind, subject_id=sid,
                    kind="matched_auto", locale="zh-CN", title="t", body="b", context="{}", created_at=stamp,
                )
            )  # fmt: skip
    await Match.insert(
        Match(
            ruleset_key=f"{f_t.code}@{f_t.version_id}", version_id=f_t.version_id, code=f_t.code, subject_kind="talent",
            subject_id=d.id_number(70), clauses="main", amount_fen=1, as_of=dt.date(2026, 10, 1), profile_digest="pw",
            rule_digest="r", match_digest="mw", created_at=stamp, state="withdrawn", withdrawn_reason="gone",
        )
    )  # fmt: skip


def _utc(text: str):
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
