"""Invariant 3: a version's committed total never exceeds its budget, whatever runs at the same time — asyncio tasks
in one process and several OS processes creating batches whose sum exceeds the budget; releases and alerts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.auth.service import create_user
from kit.db import raw
from payments.errors import BudgetExceeded
from payments.service import (
    approve_batch,
    budget_alerts,
    budget_usage,
    cancel_batch,
    check_balances,
    create_batch,
    reject_batch,
)
from payments.tables import Entitlement
from tests.payments.factories import CHECKER, MAKER, MAKER2, THRESHOLD_FEN, entitled, policy


async def _ids(version_id: int) -> list[int]:
    rows = await Entitlement.select(Entitlement.id).where(Entitlement.version_id == version_id).order_by(Entitlement.id)
    return [r["id"] for r in rows]


async def _used(version_id: int) -> int:
    (u,) = await budget_usage(version_id)
    return u.used_fen


async def test_concurrent_tasks_never_commit_more_than_the_budget(fresh_db):
    facts = policy(budget_fen=1_000_000)  # 10,000 yuan
    await entitled(facts, 60, amount_fen=50_000)  # 60 × 500 yuan = 30,000 yuan asked for
    ids = await _ids(facts.version_id)
    selections = [ids[i::6] for i in range(6)]  # six makers, ten payees each, 5,000 yuan each: 30,000 > 10,000

    async def make(sel):
        try:
            return await create_batch(actor=MAKER, entitlement_ids=sel, second_checker_threshold_fen=THRESHOLD_FEN)
        except BudgetExceeded:
            return None

    made = [m for m in await asyncio.gather(*(make(s) for s in selections)) if m is not None]
    assert sum(m.total_fen for m in made) == await _used(facts.version_id) == 1_000_000
    assert (await check_balances()).ok
    # Approvals change nothing in the reservation, whatever their order.
    await asyncio.gather(*(approve_batch(m.batch_id, actor=CHECKER) for m in made))
    assert await _used(facts.version_id) == 1_000_000


async def test_concurrent_processes_never_commit_more_than_the_budget(fresh_db, tmp_dir):
    facts = policy(budget_fen=2_000_000)  # 20,000 yuan
    await entitled(facts, 80, amount_fen=100_000)  # 80 × 1,000 yuan = 80,000 yuan asked for
    ids = await _ids(facts.version_id)
    for i in range(4):
        await create_user(f"maker-p{i}", "finance_maker", "Budget-maker-2025")  # a staff password: 12+, not common
    exe = str(Path(sys.executable).parent / "zhida")
    procs = []
    for i in range(4):
        args = [exe, "batch", "create", "--actor", f"maker-p{i}"]
        for e in ids[i::4]:
            args += ["--entitlement", str(e)]
        procs.append(
            subprocess.Popen(
                args,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_dir,
                env={**os.environ, "ZHIDA_ACTOR_PASSWORD": "Budget-maker-2025"},
            )
        )
    outs = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert set(codes) <= {0, 1}, outs
    assert any(c == 0 for c in codes)
    for code, (_, err) in zip(codes, outs):
        assert code == 0 or "budget" in err, err  # refused for the budget, not crashed
    totals = await raw("SELECT COALESCE(SUM(total_fen), 0) AS t FROM pay_batch WHERE status = 'created'")
    assert int(totals[0]["t"]) == await _used(facts.version_id) == 2_000_000
    assert (await check_balances()).ok


async def test_reject_and_cancel_release_the_reservation_and_alerts_are_raised(fresh_db):
    facts = policy(budget_fen=1_000_000)
    await entitled(facts, 10, amount_fen=100_000)
    first = await create_batch(
        actor=MAKER, entitlement_ids=(await _ids(facts.version_id))[:9], second_checker_threshold_fen=THRESHOLD_FEN
    )
    assert await _used(facts.version_id) == 900_000
    alerts = await budget_alerts()
    assert [a.alert_level for a in alerts] == [80]
    actions = await raw("SELECT detail FROM app_audit_entry WHERE action = 'budget.alert'")
    assert len(actions) == 1
    await reject_batch(first.batch_id, actor=CHECKER, reason="wrong period")
    assert await _used(facts.version_id) == 0
    second = await create_batch(actor=MAKER2, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert second.payment_count == 10 and await _used(facts.version_id) == 1_000_000
    assert (await budget_alerts())[0].alert_level == 95
    await cancel_batch(second.batch_id, actor=MAKER2, reason="not yet")
    assert await _used(facts.version_id) == 0
    assert (await check_balances()).ok


async def test_a_batch_takes_only_what_the_budget_has_left(fresh_db):
    facts = policy(budget_fen=250_000)
    await entitled(facts, 5, amount_fen=100_000)
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert (made.payment_count, made.left_for_budget) == (2, 3)
    with pytest.raises(BudgetExceeded):
        await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
