"""Invariants 2 and 3 across versions: a subject is paid under a policy (code) as often as its `once` allows, whatever
versions are published (就高补差 with `top_up`), and the policy has one fund for all its versions, never exceeded
under concurrency."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit.db import raw
from payments.errors import BudgetExceeded
from payments.service import budget_usage, cancel_batch, check_balances, create_batch, record_entitlements
from payments.tables import Entitlement
from tests.conftest import truncate_all
from tests.payments.factories import MAKER, SYSTEM, THRESHOLD_FEN, payee, policy

HELD = ("batched", "paid", "abandoned")
_codes = itertools.count(1)


def versions(code: str, *amounts_budget: int, **kw):
    """Published versions 1, 2… of one policy code (each its own version id), with the given budgets."""
    return [policy(code, budget_fen=b, version=n, **kw) for n, b in enumerate(amounts_budget, start=1)]


async def batch(code: str | None = None, ids: list[int] | None = None):
    return await create_batch(
        actor=MAKER, policy_code=code, entitlement_ids=ids, second_checker_threshold_fen=THRESHOLD_FEN
    )


async def payable(code: str) -> list[dict]:
    return await Entitlement.select().where((Entitlement.policy_code == code) & (Entitlement.state == "payable"))


async def test_a_new_version_does_not_pay_again_what_an_earlier_one_paid(fresh_db):
    """Issue 15, reproduction 2: v2 published outside any exclusive group made subjects paid under v1 payable again."""
    v1, v2 = versions("NC-ONCE-LIFETIME", 10**10, 10**10)
    await record_entitlements(v1, [payee(i, 120_000_00) for i in range(3)], actor=SYSTEM)
    first = await batch(v1.code)
    assert first.payment_count == 3
    counts = await record_entitlements(v2, [payee(i, 120_000_00) for i in range(4)], actor=SYSTEM)
    assert counts["locked"] == 3 and counts["inserted"] == 1
    (new,) = await payable(v1.code)
    assert new["subject_id"] == payee(3).subject_id and new["policy_version"] == 2
    second = await batch(v1.code)
    assert second.payment_count == 1 and second.total_fen == 120_000_00


async def test_an_unpaid_entitlement_is_taken_over_by_the_later_version(fresh_db):
    v1, v2 = versions("NC-ONCE-TAKEOVER", 10**10, 10**10)
    await record_entitlements(v1, [payee(1, 100_000)], actor=SYSTEM)
    await record_entitlements(v2, [payee(1, 80_000)], actor=SYSTEM)
    (row,) = await Entitlement.select().where(Entitlement.policy_code == v1.code)
    assert (row["policy_version"], row["amount_fen"], row["state"]) == (2, 80_000, "payable")


async def test_per_version_pays_again_under_each_version(fresh_db):
    v1, v2 = versions("NC-ONCE-PER-VERSION", 10**10, 10**10, once="per_version")
    await record_entitlements(v1, [payee(i) for i in range(3)], actor=SYSTEM)
    await batch(v1.code)
    counts = await record_entitlements(v2, [payee(i) for i in range(3)], actor=SYSTEM)
    assert counts["inserted"] == 3
    assert (await batch(v1.code)).payment_count == 3
    # …but once per version: a re-match of v2 pays nothing more.
    assert (await record_entitlements(v2, [payee(i) for i in range(3)], actor=SYSTEM))["locked"] == 3


async def test_per_year_pays_again_in_another_year_only(fresh_db):
    v1, v2 = versions("NC-ONCE-PER-YEAR", 10**10, 10**10, once="per_year")
    y2025, y2026 = dt.date(2025, 6, 30), dt.date(2026, 6, 30)
    await record_entitlements(v1, [payee(i, as_of=y2025) for i in range(2)], actor=SYSTEM)
    await batch(v1.code)
    # The same year under a new version: already paid.
    assert (await record_entitlements(v2, [payee(i, as_of=y2025) for i in range(2)], actor=SYSTEM))["locked"] == 2
    # Another year (a re-match of the same version as of 2026): paid again, once.
    counts = await record_entitlements(v2, [payee(i, as_of=y2026) for i in range(2)], actor=SYSTEM)
    assert counts["inserted"] == 2
    assert {r["period"] for r in await payable(v1.code)} == {"2026"}
    assert (await batch(v1.code)).payment_count == 2
    assert (await record_entitlements(v1, [payee(i, as_of=y2026) for i in range(2)], actor=SYSTEM))["locked"] == 2


async def test_top_up_pays_the_difference_only(fresh_db):
    v1, v2, v3, v4 = versions("NC-TOP-UP", 10**10, 10**10, 10**10, 10**10, top_up=True)
    await record_entitlements(v1, [payee(1, 100_000)], actor=SYSTEM)
    await batch(v1.code)
    # v2 is higher: pays the difference.
    assert (await record_entitlements(v2, [payee(1, 150_000)], actor=SYSTEM))["inserted"] == 1
    (top,) = await payable(v1.code)
    assert top["amount_fen"] == 50_000 and top["policy_version"] == 2 and "就高补差" in top["reason"]
    # v3 is lower than what v2 would bring, while v2's top-up is still unpaid: the top-up is superseded.
    await record_entitlements(v3, [payee(1, 90_000)], actor=SYSTEM)
    assert await payable(v1.code) == []
    # v4 higher again: the difference over what was received (100,000).
    await record_entitlements(v4, [payee(1, 180_000)], actor=SYSTEM)
    (top,) = await payable(v1.code)
    assert top["amount_fen"] == 80_000 and top["policy_version"] == 4
    await batch(v1.code)
    rows = await Entitlement.select().where(Entitlement.policy_code == v1.code)
    assert sum(r["amount_fen"] for r in rows if r["state"] in HELD) == 180_000
    # Equal: nothing.
    assert (await record_entitlements(v4, [payee(1, 180_000)], actor=SYSTEM))["locked"] == 1


async def test_without_top_up_a_higher_version_pays_nothing_more(fresh_db):
    v1, v2 = versions("NC-NO-TOP-UP", 10**10, 10**10)
    await record_entitlements(v1, [payee(1, 100_000)], actor=SYSTEM)
    await batch(v1.code)
    assert (await record_entitlements(v2, [payee(1, 150_000)], actor=SYSTEM))["locked"] == 1
    assert await payable(v1.code) == []


async def test_two_versions_share_one_fund(fresh_db):
    """Issue 15, reproduction 3: v1 and v2 each held the whole budget."""
    v1, v2 = versions("NC-ONE-FUND", 1_000_000, 1_000_000)
    await record_entitlements(v1, [payee(i, 100_000) for i in range(6)], actor=SYSTEM)
    assert (await batch(v1.code)).total_fen == 600_000
    await record_entitlements(v2, [payee(i, 100_000) for i in range(6, 12)], actor=SYSTEM)
    made = await batch(v1.code)  # v1's 600,000 counts against the fund v2 restates
    assert made.total_fen == 400_000 and made.left_for_budget == 2
    (usage,) = await budget_usage(v1.version_id)
    assert (usage.budget_fen, usage.used_fen, usage.policy_version) == (1_000_000, 1_000_000, 2)
    assert await budget_usage(v2.version_id) == [usage]
    assert (await check_balances()).ok


async def test_a_new_version_restates_the_fund(fresh_db):
    v1, v2 = versions("NC-RESTATED", 1_000_000, 700_000)
    await record_entitlements(v1, [payee(i, 100_000) for i in range(6)], actor=SYSTEM)
    await batch(v1.code)
    await record_entitlements(v2, [payee(i, 100_000) for i in range(6, 12)], actor=SYSTEM)
    assert (await batch(v1.code)).total_fen == 100_000  # 700,000 restated, 600,000 committed by v1
    try:
        await batch(v1.code)
        raise AssertionError("the fund is used up")
    except BudgetExceeded:
        pass


async def test_batches_of_two_versions_racing_never_exceed_the_fund(fresh_db):
    """Six makers at once, three with v1 entitlements and three with v2 ones; either version alone fits the fund,
    both do not. On PostgreSQL the transactions run at the same time on their own connections."""
    v1, v2 = versions("NC-FUND-RACE", 1_000_000, 1_000_000)
    await record_entitlements(v1, [payee(i, 50_000) for i in range(20)], actor=SYSTEM)
    await record_entitlements(v2, [payee(i, 50_000) for i in range(20, 40)], actor=SYSTEM)
    rows = await Entitlement.select(Entitlement.id, Entitlement.version_id).where(Entitlement.policy_code == v1.code)
    ids = {v: [r["id"] for r in rows if r["version_id"] == v] for v in (v1.version_id, v2.version_id)}
    selections = [ids[v1.version_id][i::3] for i in range(3)] + [ids[v2.version_id][i::3] for i in range(3)]

    async def make(sel):
        try:
            return await batch(ids=sel)
        except BudgetExceeded:
            return None

    made = [m for m in await asyncio.gather(*(make(s) for s in selections)) if m is not None]
    (usage,) = await budget_usage(v2.version_id)
    assert sum(m.total_fen for m in made) == usage.used_fen == 1_000_000
    assert (await check_balances()).ok


# --- the rule as a property --------------------------------------------------------------------------------------

_step = st.tuples(
    st.integers(min_value=1, max_value=5),  # amount in 1,000 yuan
    st.sampled_from(["batch", "cancel", "none"]),  # what finance does after this version's entitlements
    st.booleans(),  # whether the re-match is in 2026 rather than 2025 (per_year)
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["lifetime", "per_year", "per_version"]),
    st.booleans(),
    st.lists(_step, min_size=1, max_size=6),
)
async def test_no_subject_is_paid_more_than_the_rule_allows(once, top_up, steps):
    await truncate_all()
    code = f"NC-PROP-{next(_codes)}"
    allowed: dict[str, int] = {}  # period -> the highest amount any version granted for it
    period_of: dict[int, str] = {}  # version number -> the period its match counts for
    for n, (thousands, action, later_year) in enumerate(steps, start=1):
        facts = policy(code, budget_fen=10**12, version=n, once=once, top_up=top_up)
        as_of = dt.date(2026 if later_year else 2025, 6, 30)
        amount = thousands * 100_000
        await record_entitlements(facts, [payee(1, amount, as_of=as_of)], actor=SYSTEM)
        period_of[n] = {"lifetime": "", "per_year": str(as_of.year), "per_version": str(n)}[once]
        allowed[period_of[n]] = max(allowed.get(period_of[n], 0), amount)
        if action in ("batch", "cancel") and await payable(code):
            made = await batch(code)
            if action == "cancel":
                await cancel_batch(made.batch_id, actor=MAKER, reason="改")
    # A row belongs to the period of the version that last decided it (only a version of the same period does).
    rows = await raw("SELECT policy_version, state, amount_fen FROM pay_entitlement WHERE policy_code = {}", code)
    owed: dict[str, int] = {}
    held: dict[str, int] = {}
    for r in rows:
        period = period_of[int(r["policy_version"])]
        if r["state"] in (*HELD, "payable", "waiting_account"):
            owed[period] = owed.get(period, 0) + int(r["amount_fen"])
        if r["state"] in HELD:
            held[period] = held.get(period, 0) + 1
    if not top_up:  # without top_up a right is one payment at most
        assert all(n <= 1 for n in held.values()), rows
    for period, total in owed.items():
        # What is committed or still payable for a period never exceeds the best any version granted it.
        assert total <= allowed[period], (period, total, allowed, rows)
    paid = await raw(
        "SELECT COALESCE(SUM(p.amount_fen), 0) AS total FROM pay_payment p WHERE p.policy_code = {} "
        "AND p.status <> 'void'",
        code,
    )
    assert int(paid[0]["total"]) <= sum(allowed.values())
    assert (await check_balances()).ok


async def test_the_migration_rekeys_existing_entitlements_by_policy_code(fresh_db):
    """Rows stored under the old keys ("{version_id}:{kind}:{subject}") get the lifetime right of their code; a
    second row of one right (paid under v1 and v2 before the fix) is numbered #1 in id order. Runs the migration's
    data step on a database holding rows, on SQLite and PostgreSQL."""
    import importlib

    from kit.time import now

    step = importlib.import_module("payments.piccolo_migrations.payments_2026_12_02t00_57_00_000000")
    at = now()
    for version_id, version, subject in ((11, 1, "S1"), (12, 2, "S1"), (11, 1, "S2")):
        await Entitlement.insert(
            Entitlement(
                key=f"{version_id}:talent:{subject}",
                right_key="",
                period="",
                version_id=version_id,
                policy_code="NC-OLD",
                policy_version=version,
                subject_kind="talent",
                subject_id=subject,
                source="auto",
                amount_fen=100,
                state="paid",
                created_at=at,
                updated_at=at,
            )
        )
    await step.forwards_sql()
    rows = await Entitlement.select(Entitlement.key, Entitlement.right_key, Entitlement.version_id).order_by(
        Entitlement.id
    )
    assert [(r["key"], r["right_key"]) for r in rows] == [
        ("NC-OLD||talent|S1", "NC-OLD||talent|S1"),
        ("NC-OLD||talent|S1#1", "NC-OLD||talent|S1"),
        ("NC-OLD||talent|S2", "NC-OLD||talent|S2"),
    ]
    # A v3 of the code now finds the right held: nothing more to pay.
    s1 = payee(1).model_copy(update={"subject_id": "S1"})
    assert (await record_entitlements(policy("NC-OLD", version=3), [s1], actor=SYSTEM))["locked"] == 1
    await step.forwards_sql()  # and running it again on rekeyed rows gives the same keys
    again = await Entitlement.select(Entitlement.key).order_by(Entitlement.id)
    assert [r["key"] for r in again] == [r["key"] for r in rows]


async def test_publication_preview_tells_who_was_paid_before_and_v2_pays_only_the_top_up(fresh_db):
    """The real path: a published auto policy, its matches batched; v2 (higher amount, top_up) is previewed — "2
    subjects already paid under earlier versions", what v2 adds — then published and matched: it pays the differences."""
    from eligibility.matcher import match_ruleset
    from policies import service as policies
    from tests.portal.fixtures import AUTO_ENT, OFFICER, PACK, REVIEWER, build_world

    world = await build_world(dt.date(2025, 6, 30))
    first = await batch(AUTO_ENT)
    assert (first.payment_count, first.total_fen) == (2, 4_000_000)
    head, _, _ = PACK.partition("  - code: PT-YOUNG-DOCTOR")
    v2_pack = head.replace("amount: 20000", "amount: 25000").replace(
        "budget: 1000000.00", "budget: 1000000.00\n    top_up: true"
    )
    from app.audit import AuditActor

    ((v2, _),) = await policies.load_pack_text(v2_pack, AuditActor(OFFICER, "policy_officer"))
    assert v2.number == 2 and v2.content.top_up
    preview = await policies.impact_preview(v2.id, dt.date(2025, 6, 30), small_counts=True)  # the reviewer's view
    assert preview.prior is not None
    assert (preview.prior.paid_before, preview.prior.new_subjects, preview.prior.top_up_subjects) == (2, 0, 2)
    assert str(preview.prior.top_up_total) == "10000.00"
    published = await policies.publish(AUTO_ENT, AuditActor(REVIEWER, "policy_reviewer"), as_of=dt.date(2025, 6, 30))
    assert published.id == v2.id and published.id != world.versions[AUTO_ENT]
    stored = await policies.stored_impact(v2.id)
    assert stored is not None and stored.prior is not None and stored.prior.paid_before == 2
    await match_ruleset(await policies.ruleset_of(v2.id), dt.date(2025, 6, 30), store=True, actor=SYSTEM)
    from payments.service import refresh_entitlements

    await refresh_entitlements(AUTO_ENT, actor=SYSTEM)
    second = await batch(AUTO_ENT)
    assert (second.payment_count, second.total_fen) == (2, 1_000_000)  # 2 × ¥5,000, not 2 × ¥25,000
