"""Feeds that own fields (profiles.md), profile history and the replay of a stored decision (issue 15, reproduction
4: a record sent without bank or R&D fields wiped the stored bank_account and rd_expense)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest

from eligibility.errors import EligibilityError
from eligibility.feeds import create_feed_key, set_feed_fields
from eligibility.importer import import_file, import_stream
from eligibility.matcher import match_ruleset
from eligibility.service import get_profile, profile_versions, replay_decision, replay_decisions, upsert_profile
from eligibility.synthetic import generate, write_csv
from eligibility.tables import Match
from kit.db import raw
from tests.conftest import ON_POSTGRES, zhida
from tests.eligibility.helpers import ACTOR
from tests.web import PASSWORD, ensure_user, own_loop_client

AS_OF = dt.date(2025, 6, 30)
TAX = ("revenue", "tax_paid", "credit_rating")
PACK = """
policies:
  - code: T-RD
    title: 研发费用补助
    issuer: 测试局
    subject: enterprise
    mode: auto
    effective_from: 2025-01-01
    budget: 100000000
    combine: first
    when: not blacklisted
    clauses:
      - code: rd
        title: 研发费用10万元以上
        when: rd_expense >= 100000
        amount: rd_expense * 0.1
    tests:
      - name: 研发费用20万元
        profile: {uscc: "91360100000000000M", name: 示例, region_code: "360111", industry_code: C3911, scale: small, founded_on: 2015-03-01, employees: 20, revenue: "3000000.00", tax_paid: "80000.00", rd_expense: "200000.00", high_tech: false, specialized: none, credit_rating: A, blacklisted: false}
        as_of: 2025-06-30
        expect: {eligible: true, clauses: [rd], amount: 20000}
      - name: 无研发费用
        profile: {uscc: "91360100000000000M", name: 示例, region_code: "360111", industry_code: C3911, scale: small, founded_on: 2015-03-01, employees: 20, revenue: "3000000.00", tax_paid: "80000.00", high_tech: false, specialized: none, credit_rating: A, blacklisted: false}
        as_of: 2025-06-30
        expect: {eligible: false}
"""


def _enterprises(n: int = 4, seed: int = 15) -> list[dict]:
    """Enterprises that all have an R&D expense and a bank account (the fields a partial feed must not wipe)."""
    out = []
    for i, p in enumerate(generate("enterprise", n, seed=seed)):
        out.append(
            {
                **p,
                "rd_expense": Decimal(f"{300000 + i * 1000}.00"),
                "bank_name": "江西银行",
                "bank_account": f"6222{i:012d}",
                "blacklisted": False,
            }
        )
    return out


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


async def _import(data: bytes, feed: str | None = None, fmt: str = "csv"):
    rejects: list = []
    report = await import_stream(
        "enterprise", io.BytesIO(data), fmt=fmt, actor=ACTOR, feed=feed, reject=lambda *r: rejects.append(r)
    )
    return report, rejects


async def _full(profiles: list[dict], tmp_dir):
    path = tmp_dir / "full.csv"
    write_csv("enterprise", profiles, str(path))
    report = await import_file(str(path), "enterprise", actor=ACTOR)
    assert report.rejected == 0
    return report


async def _history_count() -> int:
    return int((await raw("SELECT COUNT(*) AS n FROM eligibility_enterprise_version"))[0]["n"])


# -- the CLI ------------------------------------------------------------------------------------------------------


async def test_cli_tax_feed_file_keeps_bank_account_and_rd_expense(fresh_db, tmp_dir):
    """Reproduction 4 through `zhida profiles import --feed`: the tax feed's file has no bank or R&D columns."""
    ents = _enterprises()
    full = tmp_dir / "full.csv"
    write_csv("enterprise", ents, str(full))
    assert zhida("profiles", "import", str(full), "--kind", "enterprise", "--no-rematch").returncode == 0
    made = zhida("profiles", "feed-key", "tax", "--kind", "enterprise", "--owns", ",".join(TAX))
    assert made.returncode == 0, made.stderr
    tax = tmp_dir / "tax.csv"
    tax.write_bytes(_csv_bytes(["uscc", *TAX], [[p["uscc"], "123456.78", "2345.60", "A"] for p in ents]))
    run = zhida("profiles", "import", str(tax), "--kind", "enterprise", "--feed", "tax", "--no-rematch")
    assert run.returncode == 0, run.stderr
    assert f"updated {len(ents)}" in run.stdout
    for p in ents:
        now = await get_profile("enterprise", p["uscc"])
        assert now["revenue"] == Decimal("123456.78") and now["credit_rating"] == "A"
        assert now["bank_account"] == p["bank_account"] and now["rd_expense"] == p["rd_expense"]
        assert now["name"] == p["name"] and now["employees"] == p["employees"]
    # A column the tax feed does not own is refused, never dropped without a word (exit 3, the row not imported).
    bad = tmp_dir / "bad.csv"
    bad.write_bytes(_csv_bytes(["uscc", "revenue", "bank_account"], [[ents[0]["uscc"], "1.00", "62220000000000"]]))
    refused = zhida("profiles", "import", str(bad), "--kind", "enterprise", "--feed", "tax", "--no-rematch")
    assert refused.returncode == 3 and "does not own bank_account" in refused.stderr
    assert (await get_profile("enterprise", ents[0]["uscc"]))["revenue"] == Decimal("123456.78")
    unknown = zhida("profiles", "import", str(tax), "--kind", "enterprise", "--feed", "nosuch")
    assert unknown.returncode == 1 and "no feed named 'nosuch'" in unknown.stderr


async def test_owning_feed_empty_cell_clears_absent_column_keeps(fresh_db, tmp_dir):
    ents = _enterprises(3)
    await _full(ents, tmp_dir)
    await create_feed_key("rd", "enterprise", actor=ACTOR, owns=["rd_expense", "new_graduate_hires"])
    data = _csv_bytes(["uscc", "rd_expense"], [[ents[0]["uscc"], ""], [ents[1]["uscc"], "999.00"]])
    report, rejects = await _import(data, feed="rd")
    assert (report.updated, report.unchanged, report.rejected) == (2, 0, 0), rejects
    first, second, third = [await get_profile("enterprise", p["uscc"]) for p in ents]
    assert first["rd_expense"] is None and second["rd_expense"] == Decimal("999.00")
    assert third["rd_expense"] == ents[2]["rd_expense"]
    # NDJSON: an absent key keeps, an explicit null clears.
    hires = {"uscc": ents[2]["uscc"], "new_graduate_hires": 7}
    nd = (json.dumps(hires) + "\n" + json.dumps({"uscc": ents[1]["uscc"], "rd_expense": None}) + "\n").encode()
    report, rejects = await _import(nd, feed="rd", fmt="ndjson")
    assert (report.updated, report.rejected) == (2, 0), rejects
    assert (await get_profile("enterprise", ents[1]["uscc"]))["rd_expense"] is None
    third = await get_profile("enterprise", ents[2]["uscc"])
    assert third["new_graduate_hires"] == 7 and third["rd_expense"] == ents[2]["rd_expense"]


async def test_owning_feed_cannot_create_a_profile_or_clear_a_required_field(fresh_db, tmp_dir):
    ents = _enterprises(2)
    await _full(ents[:1], tmp_dir)
    await create_feed_key("tax", "enterprise", actor=ACTOR, owns=TAX)
    data = _csv_bytes(["uscc", *TAX], [[ents[0]["uscc"], "", "1.00", "B"], [ents[1]["uscc"], "5.00", "1.00", "B"]])
    report, rejects = await _import(data, feed="tax")
    assert (report.updated, report.inserted, report.rejected) == (0, 0, 2)
    reasons = {line: (field, reason) for line, field, reason in rejects}
    assert reasons[2][0] == "revenue" and "cannot be cleared" in reasons[2][1]
    assert "no stored profile" in reasons[3][1] and "full-record feed" in reasons[3][1]
    assert await get_profile("enterprise", ents[1]["uscc"]) is None
    assert (await get_profile("enterprise", ents[0]["uscc"]))["revenue"] == ents[0]["revenue"]
    with pytest.raises(EligibilityError, match="not a field"):
        await set_feed_fields("tax", ["revenue", "turnover"], actor=ACTOR)
    with pytest.raises(EligibilityError, match="subject id"):
        await set_feed_fields("tax", ["uscc", "revenue"], actor=ACTOR)


async def test_full_record_feed_replaces_the_whole_profile_as_before(fresh_db, tmp_dir):
    """The default (and a feed without owned fields): a file without the bank columns clears them (profiles.md)."""
    ents = _enterprises(2)
    await _full(ents, tmp_dir)
    path = tmp_dir / "without_bank.csv"
    write_csv("enterprise", ents, str(path))
    table = list(csv.reader(path.open(encoding="utf-8")))
    keep = [i for i, h in enumerate(table[0]) if h not in ("bank_name", "bank_account", "rd_expense")]
    names = [table[0][i] for i in keep]
    rows = [[r[i] for i in keep] for r in table[1:]]
    report, rejects = await _import(_csv_bytes(names, rows))
    assert (report.updated, report.rejected) == (2, 0), rejects
    for p in ents:
        now = await get_profile("enterprise", p["uscc"])
        assert now["bank_account"] is None and now["rd_expense"] is None
    # The API's full-record path too: a record without rd_expense clears it.
    record = {k: v for k, v in ents[0].items() if k not in ("birth_date",)}
    assert (await upsert_profile("enterprise", record, actor=ACTOR))[1] == "updated"
    assert (await get_profile("enterprise", ents[0]["uscc"]))["rd_expense"] == ents[0]["rd_expense"]
    del record["rd_expense"]
    assert (await upsert_profile("enterprise", record, actor=ACTOR, feed="unregistered-label"))[1] == "updated"
    assert (await get_profile("enterprise", ents[0]["uscc"]))["rd_expense"] is None


# -- history ------------------------------------------------------------------------------------------------------


async def test_history_keeps_each_replaced_version_with_valid_from_to_and_feed(fresh_db, tmp_dir):
    ents = _enterprises(2)
    await _full(ents, tmp_dir)
    assert (await _full(ents, tmp_dir)).unchanged == 2  # the same file again: nothing changed, no version kept
    assert await _history_count() == 0
    sid = ents[0]["uscc"]
    written = (await profile_versions("enterprise", sid))[-1]
    assert written.current and written.feed is None
    await create_feed_key("tax", "enterprise", actor=ACTOR, owns=TAX)
    tax = _csv_bytes(["uscc", *TAX], [[sid, "777.00", "7.00", "C"]])
    assert (await _import(tax, feed="tax"))[0].updated == 1
    assert (await _import(tax, feed="tax"))[0].unchanged == 1  # re-importing the same file keeps no version
    versions = await profile_versions("enterprise", sid)
    assert [v.current for v in versions] == [False, True]
    old, now = versions
    assert old.feed is None and now.feed == "tax"
    assert old.valid_from == written.valid_from and old.valid_to == now.valid_from and old.valid_to > old.valid_from
    assert old.digest == written.digest and old.profile["revenue"] == ents[0]["revenue"]
    assert old.profile["bank_account"] == ents[0]["bank_account"]
    assert now.profile["revenue"] == Decimal("777.00")
    # The API path keeps history too, naming its feed.
    await upsert_profile("enterprise", {"uscc": sid, "revenue": "888.00"}, actor=ACTOR, feed="tax")
    versions = await profile_versions("enterprise", sid)
    assert [v.feed for v in versions] == [None, "tax", "tax"] and versions[1].valid_to == versions[2].valid_from
    assert await _history_count() == 2


async def test_history_on_postgres_copy_path_keeps_every_replaced_version(fresh_db, tmp_dir):
    """More than 50 changed rows a batch take PostgreSQL's COPY path (SQLite the same statement path): each
    replaced version is kept once."""
    ents = list(generate("enterprise", 120, seed=3))
    await _full(ents, tmp_dir)
    changed = [{**p, "employees": p["employees"] + 1} for p in ents]
    assert (await _full(changed, tmp_dir)).updated == 120
    assert await _history_count() == 120
    kept = await raw("SELECT subject_id, employees, digest FROM eligibility_enterprise_version")
    by_id = {p["uscc"]: p for p in ents}
    assert all(r["employees"] == by_id[r["subject_id"]]["employees"] for r in kept)
    assert (await _full(changed, tmp_dir)).unchanged == 120
    assert await _history_count() == 120


async def test_talent_history_keeps_the_data_its_digest_was_computed_over(fresh_db, tmp_dir):
    from eligibility.profiles import row_digest

    people = list(generate("talent", 3, seed=8))
    path = tmp_dir / "talents.csv"
    write_csv("talent", people, str(path))
    assert (await import_file(str(path), "talent", actor=ACTOR)).inserted == 3
    await create_feed_key("bank-t", "talent", actor=ACTOR, owns=["bank_name", "bank_account"])
    sid = people[0]["id_number"]
    assert (
        await upsert_profile(
            "talent", {"id_number": sid, "bank_account": "6222111122223333"}, actor=ACTOR, feed="bank-t"
        )
    )[1] == "updated"
    old, now = await profile_versions("talent", sid)
    assert row_digest(old.values) == old.digest and row_digest(now.values) == now.digest
    assert old.profile["birth_date"] == now.profile["birth_date"] and now.profile["bank_account"] == "6222111122223333"
    assert {k: v for k, v in now.profile.items() if k != "bank_account"} == {
        k: v for k, v in old.profile.items() if k != "bank_account"
    }
    with pytest.raises(EligibilityError, match="does not own education"):
        await upsert_profile("talent", {"id_number": sid, "education": "doctor"}, actor=ACTOR, feed="bank-t")


# -- replay ---------------------------------------------------------------------------------------------------------


async def _published_rd(tmp_dir):
    from policies import service as policies

    officer, reviewer = ACTOR.__class__("alice", "policy_officer"), ACTOR.__class__("bob", "policy_reviewer")
    await policies.load_pack_text(PACK, officer)
    await policies.publish("T-RD", reviewer, as_of=AS_OF)
    return await policies.published_ruleset("T-RD"), policies.ruleset_of


async def test_a_decision_replays_after_the_profile_changed(fresh_db, tmp_dir):
    ents = _enterprises(3)
    await _full(ents, tmp_dir)
    ruleset, ruleset_of = await _published_rd(tmp_dir)
    run = await match_ruleset(ruleset, AS_OF, store=True, actor=ACTOR)
    assert run.matched == 3
    match = (await Match.select().where(Match.subject_id == ents[0]["uscc"]))[0]
    assert match["amount_fen"] == int(ents[0]["rd_expense"] * 10)  # 10 % of it, in fen
    await create_feed_key("rd", "enterprise", actor=ACTOR, owns=["rd_expense"])
    await _import(_csv_bytes(["uscc", "rd_expense"], [[ents[0]["uscc"], "500000.00"]]), feed="rd")
    replay = await replay_decision(match["id"], ruleset_of)
    assert replay.agrees, replay.problems
    assert replay.amount_fen == match["amount_fen"] and replay.match_digest == match["match_digest"]
    assert replay.profile_digest == match["profile_digest"] and not replay.profile_version.current
    assert replay.profile_version.feed is None and replay.profile_version.profile["rd_expense"] == ents[0]["rd_expense"]
    assert all(r.agrees for r in await replay_decisions(ruleset_of))
    # An amount edited in storage no longer replays.
    await Match.update({Match.amount_fen: match["amount_fen"] + 1}).where(Match.id == match["id"])
    bad = await replay_decision(match["id"], ruleset_of)
    assert not bad.agrees and any("amount" in p for p in bad.problems)


async def test_cli_explain_decision_reproduces_digest_and_amount(fresh_db, tmp_dir):
    ents = _enterprises(2)
    await _full(ents, tmp_dir)
    ruleset, _ = await _published_rd(tmp_dir)
    await match_ruleset(ruleset, AS_OF, store=True, actor=ACTOR)
    match = (await Match.select().where(Match.subject_id == ents[1]["uscc"]))[0]
    await create_feed_key("rd", "enterprise", actor=ACTOR, owns=["rd_expense"])
    await _import(_csv_bytes(["uscc", "rd_expense"], [[ents[1]["uscc"], "1.00"]]), feed="rd")
    run = zhida("explain", "--decision", str(match["id"]))
    assert run.returncode == 0, run.stderr
    amount = f"{Decimal(match['amount_fen']) / 100:.2f}"
    assert f"amount: stored {amount}, replayed {amount}" in run.stdout
    assert f"digest: stored {match['match_digest']}, replayed {match['match_digest']}" in run.stdout
    assert "replay agrees" in run.stderr and "kept version" in run.stdout
    as_json = json.loads(zhida("explain", "--decision", str(match["id"]), "--json").stdout)
    assert as_json["agrees"] and as_json["amount_fen"] == match["amount_fen"]
    await Match.update({Match.amount_fen: 1}).where(Match.id == match["id"])
    off = zhida("explain", "--decision", str(match["id"]))
    assert off.returncode == 1 and "does not agree" in off.stderr and "Traceback" not in off.stderr
    assert zhida("explain", "--decision", "999999").returncode == 1
    assert zhida("explain", "T-RD").returncode == 2  # CODE without SUBJECT_ID is still a usage error
    still = zhida("explain", "T-RD", ents[0]["uscc"], "--as-of", AS_OF.isoformat())
    assert still.returncode == 0, still.stderr


# -- the HTTP API ---------------------------------------------------------------------------------------------------


@pytest.fixture
async def api_feeds(fresh_db, tmp_dir):
    ents = _enterprises(2)
    await _full(ents, tmp_dir)
    await ensure_user("u_finance", "finance_maker")
    keys = {
        "tax": await create_feed_key("tax", "enterprise", actor=ACTOR, owns=TAX),
        "bank": await create_feed_key("bank", "enterprise", actor=ACTOR, owns=["bank_name", "bank_account"]),
    }
    return ents, keys


@pytest.fixture
async def client(api_feeds):
    async with own_loop_client() as c:
        yield c


async def test_api_partial_record_keeps_bank_and_rd_and_null_clears(client, api_feeds):
    """Reproduction 4 through the data-exchange API upsert."""
    ents, keys = api_feeds
    url = "/api/exchange/enterprise/profiles"
    sid = ents[0]["uscc"]
    r = await client.post(url, json=[{"uscc": sid, "revenue": "4321.00"}], headers={"x-api-key": keys["tax"]})
    assert r.status_code == 200 and r.json()["updated"] == 1, r.text
    extra = await client.post(
        url, json={"uscc": sid, "bank_account": "62229999999999"}, headers={"x-api-key": keys["tax"]}
    )
    assert extra.json()["rejected"] == 1 and extra.json()["rejects"][0]["field"] == "bank_account"
    cleared = await client.post(
        url, json={"uscc": ents[1]["uscc"], "bank_account": None}, headers={"x-api-key": keys["bank"]}
    )
    assert cleared.json()["updated"] == 1, cleared.text
    new = await client.post(
        url, json={"uscc": "91360100000000000M", "revenue": "1.00"}, headers={"x-api-key": keys["tax"]}
    )
    assert new.json()["rejected"] == 1 and "no stored profile" in new.json()["rejects"][0]["reason"]
    await client.get("/login")
    login = await client.post(
        "/login",
        data={"username": "u_finance", "password": PASSWORD, "next": "/"},
        headers={"x-csrftoken": client.cookies.get("csrftoken")},
        follow_redirects=False,
    )
    assert login.status_code == 302
    first = (await client.get(f"/api/profiles/enterprise/{sid}")).json()
    assert Decimal(first["revenue"]) == Decimal("4321.00")
    assert first["bank_account"] == ents[0]["bank_account"] and Decimal(first["rd_expense"]) == ents[0]["rd_expense"]
    second = (await client.get(f"/api/profiles/enterprise/{ents[1]['uscc']}")).json()
    assert second["bank_account"] is None and second["bank_name"] == "江西银行"


@pytest.mark.skipif(not ON_POSTGRES, reason="concurrent writers: PostgreSQL (SQLite has one writer)")
async def test_two_feeds_changing_one_profile_at_once_both_keep_their_change(fresh_db, tmp_dir):
    ents = _enterprises(1)
    await _full(ents, tmp_dir)
    await create_feed_key("tax", "enterprise", actor=ACTOR, owns=TAX)
    await create_feed_key("bank", "enterprise", actor=ACTOR, owns=["bank_name", "bank_account"])
    sid = ents[0]["uscc"]
    for i in range(5):
        await asyncio.gather(
            upsert_profile("enterprise", {"uscc": sid, "revenue": f"{1000 + i}.00"}, actor=ACTOR, feed="tax"),
            upsert_profile("enterprise", {"uscc": sid, "bank_account": f"6222000{i:08d}"}, actor=ACTOR, feed="bank"),
        )
        now = await get_profile("enterprise", sid)
        assert now["revenue"] == Decimal(f"{1000 + i}.00") and now["bank_account"] == f"6222000{i:08d}"
    versions = await profile_versions("enterprise", sid)
    assert len(versions) == 11 and len({v.digest for v in versions}) == 11
    assert all(a.valid_to == b.valid_from for a, b in zip(versions, versions[1:]))
