"""Entitlements: payable only with a verified account; the exclusive group (就高) keeps one per subject with its
reason; a batched entitlement never changes; several runners on one batch pay each payment once."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from payments.adapters import get_adapter
from payments.service import (
    account_verified,
    check_balances,
    create_batch,
    entitlements_of_subject,
    pay_range,
    progress,
    record_entitlements,
    start_batch,
)
from payments.service.transfer import RunnerOptions
from tests.conftest import ON_POSTGRES
from tests.payments.factories import (
    MAKER,
    SYSTEM,
    THRESHOLD_FEN,
    approved_batch,
    bank_settings,
    entitled,
    payee,
    policy,
)


async def test_waiting_for_a_verified_account(fresh_db):
    facts = policy()
    await record_entitlements(facts, [payee(1, verified=False), payee(2)], actor=SYSTEM)
    (one,) = await entitlements_of_subject("talent", payee(1).subject_id)
    assert one.state == "waiting_account" and "账户" in one.reason
    made = await create_batch(actor=MAKER, policy_code=facts.code, second_checker_threshold_fen=THRESHOLD_FEN)
    assert made.payment_count == 1
    await account_verified(
        "talent", payee(1).subject_id, payee_name="张1", bank_name="b", payee_account="62221234567", actor=SYSTEM
    )
    assert (await entitlements_of_subject("talent", payee(1).subject_id))[0].state == "payable"


async def test_exclusive_group_takes_the_highest_then_earliest_then_smallest_code(fresh_db):
    a = policy("HOUSING-A", group="NC-HOUSING", effective_from=dt.date(2025, 3, 1))
    b = policy("HOUSING-B", group="NC-HOUSING", effective_from=dt.date(2025, 1, 1))
    c = policy("HOUSING-C", group="NC-HOUSING", effective_from=dt.date(2025, 1, 1))
    await record_entitlements(a, [payee(1, 500_000), payee(2, 300_000)], actor=SYSTEM)
    await record_entitlements(b, [payee(1, 400_000), payee(2, 300_000)], actor=SYSTEM)
    await record_entitlements(c, [payee(2, 300_000)], actor=SYSTEM)
    states = {e.policy_code: e for e in await entitlements_of_subject("talent", payee(1).subject_id)}
    assert states["HOUSING-A"].state == "payable" and states["HOUSING-B"].state == "excluded"
    assert "HOUSING-A" in states["HOUSING-B"].reason and "就高" in states["HOUSING-A"].reason
    # A tie: the earlier effective_from (B, C on 2025-01-01) and then the smaller code (B).
    states = {e.policy_code: e.state for e in await entitlements_of_subject("talent", payee(2).subject_id)}
    assert states == {"HOUSING-A": "excluded", "HOUSING-B": "payable", "HOUSING-C": "excluded"}
    # Once batched, a later (higher) entitlement in the group is excluded: paid at most once per group.
    await create_batch(actor=MAKER, policy_code="HOUSING-B", second_checker_threshold_fen=THRESHOLD_FEN)
    d = policy("HOUSING-D", group="NC-HOUSING")
    await record_entitlements(d, [payee(2, 900_000)], actor=SYSTEM)
    states = {e.policy_code: e.state for e in await entitlements_of_subject("talent", payee(2).subject_id)}
    assert states["HOUSING-D"] == "excluded" and states["HOUSING-B"] == "batched"
    # A re-match does not change what was batched.
    counts = await record_entitlements(b, [payee(2, 1)], actor=SYSTEM)
    assert counts["locked"] == 1


async def test_two_runners_on_one_batch_pay_each_payment_once(fresh_db, tmp_dir):
    facts = policy(budget_fen=10**12)
    await entitled(facts, 300, amount_fen=10_001)
    made = await approved_batch(facts)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        (chunk,) = await start_batch(made.batch_id, actor=SYSTEM)
        opts = [RunnerOptions(payer_account="360100000000000001", claim_size=37, worker=f"w{i}") for i in range(3)]
        await asyncio.gather(
            *(pay_range(adapter, made.batch_id, chunk.first_id, chunk.last_id, opts=o, actor=SYSTEM) for o in opts)
        )
        assert (await progress(made.batch_id)).counts == {"settled": 300}
        assert set(adapter.simulator.moves_per_request().values()) == {1}
        assert max(adapter.simulator.posts_per_request().values()) == 1
        assert (await check_balances()).ok
    finally:
        await adapter.aclose()


@pytest.mark.skipif(
    not ON_POSTGRES,
    reason="PostgreSQL only: SQLite's one writer cannot interleave these (scripts/test runs it on PostgreSQL)",
)
async def test_an_entitlement_batched_meanwhile_is_not_excluded_behind_the_batch(fresh_db):
    """同一事项不重复享受 under concurrency: while the group rule is being applied for a higher new entitlement, a batch
    takes the subject's existing one (its UPDATE … WHERE state = 'payable', committed after the rule read the group).
    The batched one must win; excluding it behind the batch would pay the subject under both policies."""
    import asyncpg

    from app.db import engine

    a = policy("HOUSING-A", group="NC-HOUSING")
    b = policy("HOUSING-B", group="NC-HOUSING")
    await record_entitlements(b, [payee(1, 300_000)], actor=SYSTEM)
    (held,) = await entitlements_of_subject("talent", payee(1).subject_id)
    other = await asyncpg.connect(engine().config["dsn"])
    try:
        tx = other.transaction()
        await tx.start()
        taken = await other.fetch(
            "UPDATE pay_entitlement SET state = 'batched', batch_id = 4242 WHERE id = $1 "
            "AND state = 'payable' AND batch_id IS NULL RETURNING id",
            held.id,
        )
        assert len(taken) == 1
        rule = asyncio.create_task(record_entitlements(a, [payee(1, 500_000)], actor=SYSTEM))
        await asyncio.sleep(1.0)
        assert not rule.done()  # waiting on the batch's row lock: the interleaving under test did happen
        await tx.commit()
        await asyncio.wait_for(rule, 30)
    finally:
        await other.close()
    states = {e.policy_code: e.state for e in await entitlements_of_subject("talent", payee(1).subject_id)}
    assert states == {"HOUSING-B": "batched", "HOUSING-A": "excluded"}
