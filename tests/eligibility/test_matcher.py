"""Matching: the conformance expectations on both paths, idempotent storage, refusal outside the dates,
incremental matching of a changed profile, explanations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from eligibility.errors import NotInEffect
from eligibility.importer import import_file
from eligibility.matcher import match_ruleset
from eligibility.schemas import RuleClause
from eligibility.service import activate_ruleset, deactivate_ruleset, explain, matches_for, matches_of_subject
from tests.conftest import ON_POSTGRES
from tests.eligibility.helpers import ACTOR, CONFORMANCE, sample_rulesets

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture
async def conformance_profiles(fresh_db):
    await import_file(str(CONFORMANCE / "enterprises.csv"), "enterprise", actor=ACTOR)
    await import_file(str(CONFORMANCE / "talents.csv"), "talent", actor=ACTOR)


def _csv(run) -> str:
    return "subject_id,clauses,amount\n" + "".join(
        f"{r.subject_id},{';'.join(r.clauses)},{r.amount:.2f}\n" for r in run.results
    )


@pytest.mark.parametrize("code", ["SAMPLE-ABOVE-SCALE", "SAMPLE-EXPORT-INSURANCE", "SAMPLE-POSTDOC"])
async def test_sample_policies_match_expected_on_both_paths(conformance_profiles, code):
    rs = sample_rulesets()[code]
    want = (CONFORMANCE / f"expected_{code}.csv").read_text()
    sql = await match_ruleset(rs, AS_OF, store=True, actor=ACTOR)
    assert sql.path == "sql" and _csv(sql) == want
    python = await match_ruleset(rs, AS_OF, store=True, force_python=True)
    assert _csv(python) == want
    assert python.new == 0  # idempotent: same rule, same data
    stored = await matches_for(rs.key)
    assert [m.subject_id for m in stored] == [r.subject_id for r in sql.results]
    assert stored[0].amount_fen == int(sql.results[0].amount * 100) and stored[0].bank_account


async def test_preview_stores_nothing_and_division_falls_back_with_reason(conformance_profiles):
    rs = sample_rulesets()["SAMPLE-EXPORT-INSURANCE"]
    rs = rs.model_copy(
        update={"key": "X@1", "clauses": [RuleClause(code="r", when="tax_paid / revenue > 0.05", amount="1")]}
    )
    run = await match_ruleset(rs, AS_OF, store=False)
    assert run.path == "python" and "/" in run.fallback_reason
    assert await matches_for("X@1") == []


async def test_not_in_effect_is_refused(conformance_profiles):
    with pytest.raises(NotInEffect, match="not in effect on 2027-03-01"):
        await match_ruleset(sample_rulesets()["SAMPLE-EXPORT-INSURANCE"], dt.date(2027, 3, 1), store=True)


async def test_incremental_rematch_of_a_changed_profile(conformance_profiles):
    from eligibility.incremental import rematch_subject
    from eligibility.service import get_profile, upsert_profile

    rs = sample_rulesets()["SAMPLE-ABOVE-SCALE"]
    await activate_ruleset(rs)
    run = await match_ruleset(rs, AS_OF, store=False)
    sid = run.results[0].subject_id
    profile = await get_profile("enterprise", sid)
    raw = {k: (";".join(v) if isinstance(v, tuple) else v) for k, v in profile.items()}
    raw["revenue"] = "250000000.00"
    assert (await upsert_profile("enterprise", raw, actor=ACTOR))[1] == "updated"
    got = await rematch_subject("enterprise", sid, AS_OF)
    assert [(r.clauses, r.amount) for r in got] == [(["big"], Decimal("300000.00"))]
    assert [m.clauses for m in await matches_of_subject(sid)] == [["big"]]
    await deactivate_ruleset(rs.key)
    assert await rematch_subject("enterprise", sid, AS_OF) == []


async def test_rematch_job_runs_through_the_queue(conformance_profiles):
    from app.jobs import drain, enqueue

    rs = sample_rulesets()["SAMPLE-POSTDOC"]
    await activate_ruleset(rs)
    from eligibility.incremental import profile_ids_of

    sid = (await match_ruleset(rs, AS_OF, store=False)).results[0].subject_id
    # The job carries the profile's row id, not the ID number (arq logs job arguments).
    [profile_id] = await profile_ids_of("talent", [sid])
    await enqueue("eligibility.rematch_subject", "talent", profile_id, AS_OF.isoformat())
    await drain()
    assert [m.code for m in await matches_of_subject(sid)] == ["SAMPLE-POSTDOC"]
    await deactivate_ruleset(rs.key)


async def test_explanation_names_values_and_near_misses(conformance_profiles):
    rs = sample_rulesets()["SAMPLE-EXPORT-INSURANCE"]
    sid = (CONFORMANCE / "expected_SAMPLE-EXPORT-INSURANCE.csv").read_text().splitlines()[1].split(",")[0]
    ex = await explain(rs, sid, AS_OF)
    assert ex.eligible and ex.amount > 0
    premium = ex.clauses[0]
    assert premium.conditions[0].values["tax_paid"].endswith("元")
    rs2 = rs.model_copy(update={"clauses": [RuleClause(code="big", when="tax_paid >= 1000000000", amount="1")]})
    ex2 = await explain(rs2, sid, AS_OF)
    assert not ex2.eligible
    assert "纳税总额需 ≥ 1,000,000,000 元，当前" in ex2.clauses[0].conditions[0].distance
    en = await explain(rs2, sid, AS_OF, lang="en")
    assert "must be ≥ 1,000,000,000 yuan" in en.clauses[0].conditions[0].distance


async def test_batch_rematch_after_import_stores_what_the_full_match_stores(conformance_profiles):
    from app.jobs import drain, enqueue

    rs = sample_rulesets()["SAMPLE-EXPORT-INSURANCE"]
    await activate_ruleset(rs)
    full = await match_ruleset(rs, AS_OF, store=False)
    from eligibility.incremental import profile_ids_of

    ids = await profile_ids_of("enterprise", [r.subject_id for r in full.results]) + [2_000_000_000]  # unknown: skipped
    await enqueue("eligibility.rematch_subjects", "enterprise", ids, AS_OF.isoformat())
    await drain()
    stored = await matches_for(rs.key)
    assert [(m.subject_id, m.clauses, m.amount_fen) for m in stored] == [
        (r.subject_id, r.clauses, int(r.amount * 100)) for r in full.results
    ]
    again = await match_ruleset(rs, AS_OF, store=True)
    assert again.new == 0  # same digests whichever path stored them
    await deactivate_ruleset(rs.key)


@pytest.mark.parametrize("code", ["SAMPLE-ABOVE-SCALE", "SAMPLE-EXPORT-INSURANCE"])
async def test_counts_only_run_stores_what_a_full_run_stores(conformance_profiles, code):
    """collect=False (the publish job): no results in Python, same counts, same stored rows and digests."""
    rs = sample_rulesets()[code]
    quiet = await match_ruleset(rs, AS_OF, store=True, actor=ACTOR, collect=False)
    assert quiet.results == [] and quiet.new == quiet.matched > 0
    full = await match_ruleset(rs, AS_OF, store=True, actor=ACTOR)
    assert full.new == 0  # the full path computes the same match digests
    assert (quiet.matched, quiet.total_amount, quiet.profiles) == (full.matched, full.total_amount, full.profiles)
    assert quiet.total_amount == sum(r.amount for r in full.results)
    stored = await matches_for(rs.key)
    assert [(m.subject_id, m.clauses, m.amount_fen) for m in stored] == [
        (r.subject_id, r.clauses, int(r.amount * 100)) for r in full.results
    ]


@pytest.mark.skipif(
    not ON_POSTGRES, reason="PostgreSQL only: a second writer holding an uncommitted match (scripts/test runs it)"
)
async def test_a_match_committed_meanwhile_by_another_writer_is_skipped_not_an_error(conformance_profiles):
    """PostgreSQL stores with an anti-join (no ON CONFLICT); when another transaction commits one of the same
    matches meanwhile, the unique index refuses it and the statement is repeated with ON CONFLICT DO NOTHING."""
    import asyncio

    import asyncpg

    from app.db import engine
    from eligibility.matcher import match_digest, rule_digest

    rs = sample_rulesets()["SAMPLE-EXPORT-INSURANCE"]
    preview = await match_ruleset(rs, AS_OF, store=False)
    first = preview.results[0]
    amount_fen = int(first.amount * 100)
    other = await asyncpg.connect(engine().config["dsn"])
    try:
        pdigest = await other.fetchval(
            "SELECT digest FROM eligibility_enterprise WHERE subject_id = $1", first.subject_id
        )
        md = match_digest(rs.key, first.subject_id, first.clauses, amount_fen, pdigest, rule_digest(rs))
        tx = other.transaction()
        await tx.start()
        await other.execute(
            "INSERT INTO eligibility_match (ruleset_key, version_id, code, subject_kind, subject_id, clauses, amount_fen, "
            "as_of, profile_digest, rule_digest, match_digest, created_at) VALUES ($1, NULL, $2, 'enterprise', $3, $4, $5, "
            "$6, $7, $8, $9, now())",
            rs.key,
            rs.code,
            first.subject_id,
            ";".join(first.clauses),
            amount_fen,
            AS_OF,
            pdigest,
            rule_digest(rs),
            md,
        )
        run = asyncio.create_task(match_ruleset(rs, AS_OF, store=True, actor=ACTOR, collect=False))
        for _ in range(200):  # until the run waits on the uncommitted row's index entry
            if run.done():
                await run  # it cannot finish before the other writer ends: raise what it raised
                raise AssertionError("the run finished while the other writer held the same match")
            await other.execute("SELECT pg_stat_clear_snapshot()")  # a transaction caches the activity view
            if await other.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the run never waited on the other writer")
        await tx.commit()
        done = await run
    finally:
        await other.close()
    assert done.new == done.matched - 1 == preview.matched - 1
    stored = await matches_for(rs.key)
    assert sorted(m.subject_id for m in stored) == sorted(r.subject_id for r in preview.results)


@pytest.fixture
async def synthetic_enterprises(fresh_db, tmp_path):
    from eligibility.synthetic import generate, write_csv

    path = tmp_path / "e.csv"
    write_csv("enterprise", generate("enterprise", 3000, seed=3), str(path))
    await import_file(str(path), "enterprise", actor=ACTOR)


async def test_filter_terms_are_ordered_by_sampled_rejection_on_sqlite_and_as_written_on_postgresql(
    synthetic_enterprises,
):
    """The order of a filter's terms is SQLite's speed (it stops at the first false term). The term that rejects
    most profiles goes first there, whatever its place in the rule; the results do not depend on the order."""
    import itertools

    from app.db import engine
    from eligibility import store
    from eligibility.match_sql import filter_query, ordered_filter, read_connection
    from eligibility.rules.sql import compile_ruleset

    rs = sample_rulesets()["SAMPLE-ABOVE-SCALE"].model_copy(
        update={
            "key": "ORDER@1",
            "when": 'not blacklisted and region_code =~ "^36" and employees >= 0 and revenue >= 900000000',
            "clauses": [RuleClause(code="any", when="high_tech or employees >= 0", amount="1")],
        }
    )
    terms, _ = compile_ruleset(rs, AS_OF, ON_POSTGRES)
    # As written: the one clause (it is the whole of the clauses' OR), then the policy's terms, the rich one last.
    assert len(terms) == 5 and "high_tech" in terms[0][0] and "revenue_fen" in terms[-1][0]
    async with read_connection(engine()) as conn:
        cond = await ordered_filter(conn, "enterprise", terms, ON_POSTGRES)
        query = await filter_query(conn, "enterprise", terms, ON_POSTGRES, "COUNT(*) AS n")
        if not ON_POSTGRES:
            plan = str([dict(r) for r in await (await conn.execute(f"EXPLAIN QUERY PLAN {query}")).fetchall()])
    if ON_POSTGRES:
        assert cond == " AND ".join(sql for sql, _ in terms)
    else:
        assert cond.startswith(terms[-1][0])  # the revenue term rejects nearly all; the others reject few
        assert "eligibility_enterprise_rules" in plan  # the rule index, not the table, is scanned
    # Same matches whatever the order: the SQL path agrees with rule-engine on every profile, and every order of
    # the terms of a filter with missing values, a ternary and a regular expression keeps the same profiles.
    mixed = rs.model_copy(
        update={
            "when": 'not blacklisted and industry_code =~ "C[0-9]+3$" and rd_expense >= 0 and '
            "(high_tech ? employees >= 10 : employees >= 50)"
        }
    )
    mixed_terms, _ = compile_ruleset(mixed, AS_OF, ON_POSTGRES)
    assert len(mixed_terms) == 5
    async with read_connection(engine()) as conn:
        kept = set()
        for order in itertools.permutations(mixed_terms):
            cond = " AND ".join(sql for sql, _ in order)
            rows = await store.fetch(
                conn, f"SELECT subject_id FROM eligibility_enterprise WHERE {cond}", [], ON_POSTGRES
            )
            kept.add(tuple(sorted(r["subject_id"] for r in rows)))
    assert len(kept) == 1 and 0 < len(next(iter(kept))) < 3000
    sql = await match_ruleset(rs, AS_OF, store=False)
    python = await match_ruleset(rs, AS_OF, store=False, force_python=True)
    assert sql.path == "sql" and 0 < len(sql.results) < 3000
    assert [(r.subject_id, r.amount) for r in sql.results] == [(r.subject_id, r.amount) for r in python.results]


def test_sqlite_scans_the_rule_index_only_when_it_holds_every_column_the_filter_reads():
    from eligibility.match_sql import rule_source

    assert (
        rule_source("enterprise", "(employees >= 10) AND (instr(tags, ';外贸;') > 0)", False)
        == "eligibility_enterprise INDEXED BY eligibility_enterprise_rules"
    )
    assert rule_source("enterprise", "(employees >= 10) AND (name = 'x')", False) == "eligibility_enterprise"
    assert rule_source("talent", "(bank_account IS NULL)", False) == "eligibility_talent"
    assert rule_source("enterprise", "(employees >= 10)", True) == "eligibility_enterprise"  # PostgreSQL: no hint


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite only: PostgreSQL has no rule-column index (the SQLite run covers it)")
async def test_sqlite_rule_index_is_the_one_the_matcher_names_and_its_absence_is_no_error(synthetic_enterprises):
    from app.db import engine
    from eligibility import store
    from eligibility.match_sql import filter_query, read_connection
    from eligibility.rules.sql import compile_ruleset

    for kind, (index, columns) in store.RULE_INDEX.items():
        async with read_connection(engine()) as conn:
            info = await store.fetch(conn, f"PRAGMA index_info({index})", [], False)
        assert [r["name"] for r in sorted(info, key=lambda r: r["seqno"])] == columns, kind
    rs = sample_rulesets()["SAMPLE-ABOVE-SCALE"]
    want = await match_ruleset(rs, AS_OF, store=False)
    index, columns = store.RULE_INDEX["enterprise"]
    await engine().run_ddl(f"DROP INDEX {index}")
    try:  # a database migrated back, or made without the migrations: the matcher scans the table
        async with read_connection(engine()) as conn:
            terms, _ = compile_ruleset(rs, AS_OF, False)
            assert "INDEXED BY" not in await filter_query(conn, "enterprise", terms, False, "COUNT(*) AS n")
        got = await match_ruleset(rs, AS_OF, store=False)
    finally:
        await engine().run_ddl(f"CREATE INDEX {index} ON eligibility_enterprise ({', '.join(columns)})")
    assert [(r.subject_id, r.amount) for r in got.results] == [(r.subject_id, r.amount) for r in want.results]
    assert len(want.results) > 0


async def _only_enterprises_with_revenues(
    revenues: list[str], *, seed: int, key: str, code: str, when: str, amount: str
):
    """Replace the stored enterprises by synthetic ones with these revenues; a one-clause rule set (first match,
    no policy-level condition, no cap) to match them with."""
    from eligibility.synthetic import generate
    from tests.eligibility.helpers import clear_profiles, put_profiles

    profiles = list(generate("enterprise", len(revenues), seed=seed))
    for p, revenue in zip(profiles, revenues):
        p["revenue"] = Decimal(revenue)
    await clear_profiles("enterprise")
    await put_profiles("enterprise", profiles)
    return sample_rulesets()["SAMPLE-ABOVE-SCALE"].model_copy(
        update={
            "key": key,
            "when": None,
            "cap_per_subject": None,
            "combine": "first",
            "clauses": [RuleClause(code=code, when=when, amount=amount)],
        }
    )


async def test_amounts_beyond_64_bit_integers_in_sql_are_computed_exactly(fresh_db):
    """`revenue * 0.123456` is computed in SQL as revenue_fen * 123456 (then rounded): for a 10-billion-yuan revenue
    that fits, for a 10^15-yuan one it overflows the database's integers. Either way the matches, their amounts and
    what is stored equal rule-engine's, with and without collecting the results."""
    from eligibility.tables import Match

    rs = await _only_enterprises_with_revenues(
        ["10000000000.00", "1000000000000000.00", "1000.00"],
        seed=11,
        key="BIG@1",
        code="rate",
        when="revenue > 0",
        amount="revenue * 0.123456",
    )
    python = await match_ruleset(rs, AS_OF, store=False, force_python=True)
    want = sorted((r.subject_id, r.amount) for r in python.results)
    assert Decimal("123456000000000.00") in {a for _, a in want}  # 10^15 yuan x 0.123456
    sql = await match_ruleset(rs, AS_OF, store=True, actor=ACTOR)
    assert sql.path == "sql" and sorted((r.subject_id, r.amount) for r in sql.results) == want
    stored = await Match.select(Match.subject_id, Match.amount_fen).where(Match.ruleset_key == "BIG@1")
    assert sorted((m["subject_id"], Decimal(m["amount_fen"]) / 100) for m in stored) == want
    assert all(type(m["amount_fen"]) is int for m in stored)
    quiet = await match_ruleset(rs.model_copy(update={"key": "BIG@2"}), AS_OF, store=True, actor=ACTOR, collect=False)
    assert (quiet.matched, quiet.total_amount) == (len(want), sum(a for _, a in want))


async def test_conditions_on_the_largest_storable_amounts_agree_with_rule_engine(fresh_db):
    """A revenue of 5 x 10^16 yuan (5 x 10^18 fen, near the 64-bit limit) against a literal with six decimals:
    the SQL condition compares the fen column with a decimal literal (nothing is scaled up, nothing overflows),
    and the matches equal rule-engine's on both databases."""
    rs = await _only_enterprises_with_revenues(
        ["50000000000000000.00", "1000000.00", "2000000.00"],
        seed=12,
        key="HUGE@1",
        code="big",
        when="revenue >= 1000000.000001",
        amount="1000",
    )
    python = await match_ruleset(rs, AS_OF, store=False, force_python=True)
    assert len(python.results) == 2
    run = await match_ruleset(rs, AS_OF, store=True, actor=ACTOR)
    assert run.path == "sql"
    assert [(r.subject_id, r.amount) for r in run.results] == [(r.subject_id, r.amount) for r in python.results]
