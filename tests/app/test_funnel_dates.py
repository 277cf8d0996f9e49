"""The policy funnel's read → applied → approved stages and its date filter (Beijing days, each stage on its own
event's time), against independent SQL counts with UTC bounds; and the budget run-out date against the formula
(remaining ÷ the last 30 days' daily rate), with planted ledger entries."""

from __future__ import annotations

import csv
import datetime as dt
import html as htmlmod
import io
import math
import re

from eligibility.tables import Match
from kit.db import raw
from payments.tables import Budget, LedgerEntry
from policies.applications.tables import Application
from tests.payments import dashboard_data
from tests.web import alogin, asgi_client, ensure_user

UTC = dt.UTC
# Beijing times around the range 2026-11-01 … 2026-11-30: just outside, just inside (both ends), just outside
BJ = ("2026-10-31T23:30", "2026-11-01T00:10", "2026-11-30T23:50", "2026-12-01T00:05")
STAMPS = [dt.datetime.fromisoformat(t).replace(tzinfo=UTC) - dt.timedelta(hours=8) for t in BJ]
LO, HI = STAMPS[0] + dt.timedelta(minutes=30), STAMPS[3] - dt.timedelta(minutes=5)  # 11-01 00:00 / 12-01 00:00 BJ
APPLY_CODE = "APPLY-T"


async def _plant() -> None:
    # matches, notices (read or not), entitlements and payments get times spread around the range's edges
    for table, col in (
        ("eligibility_match", "created_at"),
        ("notifications_notice", "created_at"),
        ("pay_entitlement", "created_at"),
        ("pay_payment", "created_at"),
    ):
        for r in await raw(f"SELECT id FROM {table} ORDER BY id"):
            await raw(f"UPDATE {table} SET {col} = {{}} WHERE id = {{}}", STAMPS[int(r["id"]) % 4], int(r["id"]))
    for r in await raw("SELECT id FROM notifications_notice ORDER BY id"):
        i = int(r["id"])
        read = None if i % 3 == 0 else STAMPS[(i + 1) % 4]
        await raw("UPDATE notifications_notice SET read_at = {} WHERE id = {}", read, i)
    paid = await raw("SELECT id FROM pay_payment WHERE status = 'settled' ORDER BY id")
    for n, r in enumerate(paid):
        await raw(
            "UPDATE pay_payment SET settled_on = {} WHERE id = {}",
            ("2026-10-31", "2026-11-01", "2026-11-30", "2026-12-01")[n % 4],
            int(r["id"]),
        )
    # a 依申请 policy: matches and applications submitted / first approved / approved / rejected at those times
    statuses = ("submitted", "first_approved", "approved", "rejected", "approved", "approved", "rejected", "approved")
    for n, status in enumerate(statuses):
        sid = f"36010219900101{n:04d}"
        made, decided = STAMPS[n % 4], STAMPS[(n + 2) % 4]
        await Match.insert(
            Match(
                ruleset_key=f"{APPLY_CODE}@900", version_id=900, code=APPLY_CODE, subject_kind="talent", subject_id=sid,
                clauses="main", amount_fen=10_000 + n, as_of=dt.date(2026, 10, 1), profile_digest=f"a{n}",
                rule_digest="r", match_digest=f"ma{n}", created_at=made,
            )
        )  # fmt: skip
        await Application.insert(
            Application(
                application_no=f"SQ-{n}", version_id=900, policy_code=APPLY_CODE, policy_title="t",
                subject_kind="talent", subject_id=sid, applicant="u", amount_fen=20_000 + n, status=status,
                decided_by="o" if status in ("approved", "rejected") else None,
                decided_at=decided if status in ("approved", "rejected") else None, created_at=made, updated_at=made,
            )
        )  # fmt: skip


async def _sql(date_from: str = "", date_to: str = "") -> dict[str, dict[str, int | None]]:
    """Each stage by its own SQL count (UTC bounds of the Beijing days: no day conversion)."""
    lo, hi = (LO, HI) if date_from else (dt.datetime(2000, 1, 1, tzinfo=UTC), dt.datetime(2100, 1, 1, tzinfo=UTC))
    dlo, dhi = (date_from, date_to) if date_from else ("0000", "9999")
    key = "'matched:' || m.version_id || ':' || m.subject_id"
    q = {
        "matched": (
            "SELECT m.code AS k, COUNT(*) AS n, SUM(m.amount_fen) AS fen FROM eligibility_match m WHERE "
            "m.state = 'current' AND m.created_at >= {} AND m.created_at < {} GROUP BY m.code"
        ),
        "notified": (
            "SELECT m.code AS k, COUNT(*) AS n, SUM(m.amount_fen) AS fen FROM eligibility_match m JOIN "
            f"notifications_notice nn ON nn.key = {key} WHERE m.state = 'current' AND nn.created_at >= {{}} "
            "AND nn.created_at < {} GROUP BY m.code"
        ),
        "read": (
            "SELECT m.code AS k, COUNT(*) AS n, SUM(m.amount_fen) AS fen FROM eligibility_match m JOIN "
            f"notifications_notice nn ON nn.key = {key} WHERE m.state = 'current' AND nn.read_at >= {{}} "
            "AND nn.read_at < {} GROUP BY m.code"
        ),
        "applied": (
            "SELECT policy_code AS k, COUNT(*) AS n, SUM(amount_fen) AS fen FROM policies_application "
            "WHERE created_at >= {} AND created_at < {} GROUP BY policy_code"
        ),
        "approved": (
            "SELECT policy_code AS k, COUNT(*) AS n, SUM(amount_fen) AS fen FROM policies_application "
            "WHERE status = 'approved' AND decided_at >= {} AND decided_at < {} GROUP BY policy_code"
        ),
        "entitled": (
            "SELECT policy_code AS k, COUNT(*) AS n, SUM(amount_fen) AS fen FROM pay_entitlement WHERE state IN "
            "('waiting_account', 'payable', 'amount_changed', 'batched', 'paid') AND created_at >= {} "
            "AND created_at < {} GROUP BY policy_code"
        ),
    }
    out: dict[str, dict[str, int | None]] = {}
    for stage, sql in q.items():
        for r in await raw(sql, lo, hi):
            out.setdefault(r["k"], {})[f"{stage}_n"] = int(r["n"])
            out[r["k"]][f"{stage}_fen"] = int(r["fen"] or 0)
    batched = (
        "SELECT x.policy_code AS k, COUNT(DISTINCT x.id) AS n FROM pay_entitlement x JOIN pay_payment p ON "
        "p.entitlement_id = x.id WHERE x.state IN ('batched', 'paid') AND p.created_at >= {} AND p.created_at < {} "
        "GROUP BY x.policy_code"
    )
    for r in await raw(batched, lo, hi):
        out.setdefault(r["k"], {})["batched_n"] = int(r["n"])
    paid = (
        "SELECT x.policy_code AS k, COUNT(DISTINCT x.id) AS n FROM pay_entitlement x JOIN pay_payment p ON "
        "p.entitlement_id = x.id WHERE x.state = 'paid' AND p.status = 'settled' AND p.settled_on >= {} "
        "AND p.settled_on <= {} GROUP BY x.policy_code"
    )
    for r in await raw(paid, dlo, dhi):
        out.setdefault(r["k"], {})["paid_n"] = int(r["n"])
    return out


def _shown(html: str) -> dict[str, list[str]]:
    body = re.search(r'data-testid="t-funnel">(.*?)</table>', html, re.S).group(1)
    return {
        htmlmod.unescape(k): re.findall(r'data-n="([^"]*)"', row)
        for k, row in re.findall(r'<tr data-key="([^"]*)">(.*?)</tr>', body, re.S)
    }


STAGES = ("matched", "notified", "read", "applied", "approved", "entitled", "batched", "paid")


def _check(html: str, exp: dict) -> None:
    shown = _shown(html)
    for k, cells in shown.items():
        e = exp.get(k, {})
        want = ["na" if (s in ("applied", "approved") and k != APPLY_CODE) else str(e.get(f"{s}_n", 0)) for s in STAGES]
        assert cells == want, (k, cells, want)
    assert {k for k, v in exp.items() if any(v.values())} <= set(shown)


async def test_funnel_stages_and_date_range_equal_sql_counts(fresh_db, tmp_dir):
    codes = await dashboard_data.build(tmp_dir)
    await _plant()
    all_ = await _sql()
    nov = await _sql("2026-11-01", "2026-11-30")
    t = codes["talent"]
    # the data means what the test says: read < notified, some stages cut by the range, applications narrowing
    assert 0 < all_[t]["read_n"] < all_[t]["notified_n"] and 0 < nov[t]["matched_n"] < all_[t]["matched_n"]
    assert all_[APPLY_CODE]["applied_n"] == 8 and all_[APPLY_CODE]["approved_n"] == 4
    assert 0 < nov[APPLY_CODE]["approved_n"] < 4 and 0 < nov.get(t, {}).get("paid_n", 0) < all_[t]["paid_n"]
    await ensure_user("auditor1", "auditor")
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        _check((await client.get("/oversight/funnel")).text, all_)
        html = (await client.get("/oversight/funnel", params={"date_from": "2026-11-01", "date_to": "2026-11-30"})).text
        _check(html, nov)
        assert 'name="date_from" value="2026-11-01"' in html and "date_to=2026-11-30" in html
        for k in (t, APPLY_CODE):
            r = re.search(rf'<tr data-key="{k}">(.*?)</tr>', html, re.S).group(1)
            fens = [int(x) for x in re.findall(r'data-fen="(-?\d+)"', r)]
            stages = [s for s in STAGES if k == APPLY_CODE or s not in ("applied", "approved")]
            for s, fen in zip(stages, fens, strict=True):
                if f"{s}_fen" in nov.get(k, {}):
                    assert fen == nov[k][f"{s}_fen"], (k, s)
        x = await client.get(
            "/oversight/cockpit/export",
            params={"table": "funnel", "format": "csv", "date_from": "2026-11-01", "date_to": "2026-11-30"},
        )
        rows = {r[0]: r for r in list(csv.reader(io.StringIO(x.text.lstrip("\ufeff"))))[1:]}
        assert rows[APPLY_CODE][7] == str(nov[APPLY_CODE]["applied_n"])
        assert rows[APPLY_CODE][9] == str(nov[APPLY_CODE]["approved_n"]) and rows[t][7] == "—"


async def test_budget_run_out_date_is_remaining_over_the_30_day_rate(fresh_db):
    now = dt.datetime.now(UTC)
    plan = {  # code: (cap, [(fen committed, days ago)])
        "RUN-A": (1_000_000, [(300_000, 5), (60_000, 40), (45_000, 29)]),
        "RUN-B": (100_000, [(100_000, 60)]),  # used up
        "RUN-C": (500_000, [(50_000, 45)]),  # nothing in the last 30 days
    }
    for n, (code, (cap, commits)) in enumerate(plan.items()):
        vid = 800 + n
        await Budget.insert(Budget(version_id=vid, policy_code=code, policy_version=1, budget_fen=cap))
        for i, (fen, ago) in enumerate(commits):
            at = now - dt.timedelta(days=ago)
            for account, amount in (("committed", fen), ("budget", -fen)):
                await LedgerEntry.insert(
                    LedgerEntry(
                        journal=f"j{vid}-{i}", entry_type="commit", account=account, version_id=vid,
                        amount_fen=amount, created_at=at,
                    )
                )  # fmt: skip
    await ensure_user("auditor1", "auditor")
    async with asgi_client() as client:
        await alogin(client, "auditor1")
        html = (await client.get("/oversight/funnel")).text
        client.cookies.set("lang", "en")
        en = (await client.get("/oversight/funnel")).text
    today = (now + dt.timedelta(hours=8)).date()
    cells = dict(re.findall(r'<tr data-key="(RUN-\w)">.*?data-run-out="\w+" data-on="([^"]*)"', html, re.S))
    states = dict(re.findall(r'<tr data-key="(RUN-\w)">.*?data-run-out="(\w+)"', html, re.S))
    # RUN-A: remaining 1,000,000 − 405,000 = 595,000 fen; the last 30 days took 345,000 → 11,500 fen (¥115) a day → ceil(51.7) = 52
    remaining, recent = 1_000_000 - 405_000, 345_000
    assert cells["RUN-A"] == (today + dt.timedelta(days=math.ceil(remaining / (recent / 30)))).isoformat()
    assert cells["RUN-A"] == (today + dt.timedelta(days=52)).isoformat()
    assert states == {"RUN-A": "on", "RUN-B": "exhausted", "RUN-C": "never"}
    assert "已用完" in html and "按当前速度不会用完" in html and ">115.00<" in html
    assert "Already used up" in en and "Will not run out at the current rate" in en
