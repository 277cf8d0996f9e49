"""Winners and losers of a new version (issue 18): the impact preview set against the published version on the same
date, with planted profiles, on the page (masked) and in its download, computed by the preview's own shadow run."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import openpyxl

from app.audit import AuditActor
from app.tables import AuditEntry
from eligibility.profiles import id_check_char
from eligibility.service import upsert_profile
from eligibility.tables import Match
from kit.masking import mask_name
from policies import service
from policies.service import winners
from policies.tables import PolicyVersion
from tests.web import acsrf, alogin, asgi_client, ensure_user

ALICE = AuditActor("alice", "policy_officer")
BOB = AuditActor("bob", "policy_reviewer")
ON = dt.date(2026, 6, 30)


def _tests(doctor: int, master: int) -> list[dict]:
    base = {"id_number": "360102198801011233", "region_code": "360102", "social_insurance_months": 12}
    return [
        {
            "name": "博士",
            "profile": {**base, "education": "doctor"},
            "as_of": "2026-06-30",
            "expect": {"eligible": True, "clauses": ["doctor"], "amount": doctor},
        },
        {
            "name": "硕士",
            "profile": {**base, "education": "master"},
            "as_of": "2026-06-30",
            "expect": {"eligible": True, "clauses": ["master"], "amount": master},
        },
        {
            "name": "本科不享受",
            "profile": {**base, "education": "bachelor"},
            "as_of": "2026-06-30",
            "expect": {"eligible": False},
        },
    ]


V1 = {
    "code": "T-WL",
    "title": "测试人才补贴",
    "issuer": "测试局",
    "subject": "talent",
    "mode": "auto",
    "effective_from": "2025-01-01",
    "effective_to": "2029-12-31",
    "budget": "10000000",
    "combine": "first",
    "when": 'social_insurance_months >= 6 and region_code == "360102"',
    "clauses": [
        {"code": "doctor", "title": "博士", "when": 'education == "doctor"', "amount": "100000"},
        {"code": "master", "title": "硕士", "when": 'education == "master"', "amount": "30000"},
    ],
    "tests": _tests(100000, 30000),
}
# v2: the doctor's threshold rises (12 months of social insurance), the master's amount falls, a region is added.
V2 = {
    **V1,
    "when": 'social_insurance_months >= 6 and (region_code == "360102" or region_code == "360103")',
    "clauses": [
        {
            "code": "doctor",
            "title": "博士",
            "when": 'education == "doctor" and social_insurance_months >= 12',
            "amount": "100000",
        },
        {"code": "master", "title": "硕士", "when": 'education == "master"', "amount": "20000"},
    ],
    "tests": _tests(100000, 20000),
}

# (planted group, education, region, months): winners in the added region, losers under the doctor's new threshold,
# changed masters, unchanged doctors, and profiles neither version matches.
PLANTED = (
    [("winners", "doctor", "360103", 12)] * 2
    + [("winners", "master", "360103", 7)] * 2
    + [("losers", "doctor", "360102", 8)] * 3
    + [("changed", "master", "360102", 9)] * 3
    + [("unchanged", "doctor", "360102", 24)] * 4
    + [("none", "bachelor", "360102", 24), ("none", "doctor", "360104", 24), ("none", "doctor", "360103", 3)]
)


def _people() -> list[dict]:
    out = []
    for i, (group, education, region, months) in enumerate(PLANTED):
        first17 = f"{region}1980{i % 12 + 1:02d}15{i:03d}"
        out.append(
            {
                "id_number": first17 + id_check_char(first17),
                "name": f"王{'一二三四五六七八九十'[i % 10]}{i}",
                "region_code": region,
                "education": education,
                "arrived_on": "2024-01-15",
                "social_insurance_months": str(months),
                "group": group,
            }
        )
    return out


def _plain_v1(p: dict) -> Decimal | None:
    if int(p["social_insurance_months"]) < 6 or p["region_code"] != "360102":
        return None
    return {"doctor": Decimal(100000), "master": Decimal(30000)}.get(p["education"])


def _plain_v2(p: dict) -> Decimal | None:
    months = int(p["social_insurance_months"])
    if months < 6 or p["region_code"] not in ("360102", "360103"):
        return None
    if p["education"] == "doctor":
        return Decimal(100000) if months >= 12 else None
    return Decimal(20000) if p["education"] == "master" else None


def masked(idn: str) -> str:
    return idn[:3] + "*" * 11 + idn[-4:]


async def _planted() -> tuple[list[dict], int]:
    people = _people()
    for p in people:
        await upsert_profile("talent", {k: v for k, v in p.items() if k != "group"}, actor=ALICE)
    v1 = await service.save_draft(V1, ALICE)
    await service.submit(v1.id, ALICE)
    await service.publish_version(v1.id, BOB, as_of=ON)
    v2 = await service.save_draft(V2, ALICE)
    return people, v2.id


async def _written() -> tuple[int, int, list]:
    versions = await PolicyVersion.select(PolicyVersion.id, PolicyVersion.status, PolicyVersion.impact_json)
    return await Match.count(), await AuditEntry.count(), sorted(versions, key=lambda r: r["id"])


async def test_winners_losers_are_the_planted_sets_and_an_independent_computation(fresh_db):
    people, v2 = await _planted()
    before = await _written()
    preview = await service.impact_preview(v2, ON)
    assert await _written() == before  # a preview is a read
    w = preview.winners_losers
    assert w is not None and preview.published_number == 1 and preview.as_of == ON

    planted = {g: {p["id_number"] for p in people if p["group"] == g} for g in ("winners", "losers", "changed")}
    old = {p["id_number"]: a for p in people if (a := _plain_v1(p)) is not None}
    new = {p["id_number"]: a for p in people if (a := _plain_v2(p)) is not None}
    independent = {
        "winners": set(new) - set(old),
        "losers": set(old) - set(new),
        "changed": {s for s in set(old) & set(new) if old[s] != new[s]},
    }
    assert independent == planted
    by_id = {masked(p["id_number"]): p for p in people}
    for g in ("winners", "losers", "changed"):
        group = getattr(w, g)
        assert group.count == len(planted[g]) and {x.subject_id for x in group.subjects} == {
            masked(s) for s in planted[g]
        }
        for x in group.subjects:
            idn = by_id[x.subject_id]["id_number"]
            assert (x.before, x.after) == (old.get(idn), new.get(idn))
            assert x.difference == (new.get(idn) or 0) - (old.get(idn) or 0)
            assert x.region_code == by_id[x.subject_id]["region_code"]
            assert x.name == mask_name(by_id[x.subject_id]["name"]) != by_id[x.subject_id]["name"]
    assert w.unchanged == 4
    assert (w.winners.count, w.winners.total_before, w.winners.total_after) == (4, 0, Decimal("240000.00"))
    assert (w.losers.count, w.losers.total_before, w.losers.total_after) == (3, Decimal("300000.00"), 0)
    assert (w.changed.total_before, w.changed.total_after, w.changed.difference) == (90000, 60000, -30000)
    assert w.net_change == sum(new.values()) - sum(old.values()) == Decimal("-90000.00") == preview.total_delta
    assert [x.difference for x in w.winners.subjects] == [100000, 100000, 20000, 20000]  # largest first

    # The draft in review shows the same comparison; the published version itself has none.
    await service.submit(v2, ALICE)
    again = await service.impact_preview(v2, ON, small_counts=True)
    assert again.winners_losers == w
    v1 = (await service.versions_of("T-WL"))[-1]["id"]
    assert (await service.impact_preview(v1, ON)).winners_losers is None


async def test_the_page_and_the_download_masked_bounded_and_only_for_the_pages_roles(fresh_db, monkeypatch):
    people, v2 = await _planted()
    monkeypatch.setattr(winners, "SHOWN_PER_GROUP", 2)  # the page lists the first 2 of each group; the export all
    for user, role in (("u_wl_officer", "policy_officer"), ("u_wl_reviewer", "policy_reviewer")):
        await ensure_user(user, role)
    await ensure_user("u_wl_finance", "finance_maker")
    before = await _written()
    async with asgi_client() as client:
        await alogin(client, "u_wl_officer")
        page = await client.post(
            f"/policies/versions/{v2}/impact", data={"as_of": ON.isoformat()}, headers=acsrf(client)
        )
        assert page.status_code == 200
        html = page.text
        assert 'data-testid="winners-losers"' in html and "新增受益" in html and "不再受益" in html
        count = lambda key: re.search(rf'data-testid="wl-{key}-count">(\d+)<', html).group(1)  # noqa: E731
        assert [count(k) for k in ("winners", "losers", "changed", "unchanged")] == ["4", "3", "3", "4"]
        assert re.search(r'data-testid="wl-net">([^<]+)<', html).group(1) == "-90,000.00"
        assert "2 / 4" in html and "2 / 3" in html  # the bounded lists say how many there are
        for p in people:
            assert p["id_number"] not in html and p["name"] not in html
        listed = html.split('data-testid="wl-winners-subjects"')[1].split("</details>")[0]
        assert sum(masked(p["id_number"]) in listed for p in people if p["group"] == "winners") == 2
        link = re.search(r'href="([^"]*winners-losers/export\?format=csv[^"]*)"', html).group(1).replace("&amp;", "&")

        r = await client.get(link)
        assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0] == [
            "分组",
            "对象类型",
            "证件号码",
            "名称",
            "行政区划",
            "已发布版本金额（元）",
            "本版本金额（元）",
            "差额（元）",
        ]
        labels = {"winners": "新增受益", "losers": "不再受益", "changed": "金额变化"}
        old = {p["id_number"]: _plain_v1(p) for p in people}
        new = {p["id_number"]: _plain_v2(p) for p in people}
        expected = sorted(
            [
                labels[p["group"]],
                "人才",
                masked(p["id_number"]),
                mask_name(p["name"]),
                p["region_code"],
                "" if old[p["id_number"]] is None else f"{old[p['id_number']]:.2f}",
                "" if new[p["id_number"]] is None else f"{new[p['id_number']]:.2f}",
                f"{(new[p['id_number']] or 0) - (old[p['id_number']] or 0):.2f}",
            ]
            for p in people
            if p["group"] in labels
        )
        assert sorted(rows[1:]) == expected and len(rows) == 11
        assert all(p["id_number"] not in r.text for p in people)
        x = await client.get(link.replace("format=csv", "format=xlsx"))
        sheet = openpyxl.load_workbook(io.BytesIO(x.content)).active
        cells = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
        assert len(cells) == 10 and {c[2] for c in cells} == {e[2] for e in expected}
        assert sum(c[7] for c in cells) == -90000.0

    async with asgi_client() as client:  # the reviewer sees the draft in review without asking, masked the same
        await service.submit(v2, ALICE)
        await alogin(client, "u_wl_reviewer")
        html = (await client.get(f"/policies/T-WL?v={v2}&as_of={ON.isoformat()}")).text
        assert re.search(r'data-testid="wl-losers-count">(\d+)<', html).group(1) == "3"
        assert all(p["id_number"] not in html for p in people)
        r = await client.get(f"/policies/versions/{v2}/winners-losers/export?format=csv&as_of={ON.isoformat()}")
        assert r.status_code == 200 and len(r.content.decode("utf-8-sig").strip().splitlines()) == 11
        client.cookies.set("lang", "en")
        en = await client.get(f"/policies/versions/{v2}/winners-losers/export?format=csv&as_of={ON.isoformat()}")
        assert en.content.decode("utf-8-sig").startswith("Group,Subject kind") and "Loser," in en.text

    async with asgi_client() as client:
        await alogin(client, "u_wl_finance")
        assert (await client.get(f"/policies/T-WL?v={v2}")).status_code == 403
        assert (await client.get(f"/policies/versions/{v2}/winners-losers/export")).status_code == 403
    assert (await _written())[0] == before[0]  # no match row written by any of it


async def test_nothing_to_compare_without_a_published_version(fresh_db):
    await _planted()
    v1 = (await service.versions_of("T-WL"))[-1]["id"]
    await ensure_user("u_wl_officer", "policy_officer")
    async with asgi_client() as client:
        await alogin(client, "u_wl_officer")
        r = await client.get(f"/policies/versions/{v1}/winners-losers/export?format=csv&as_of={ON.isoformat()}")
        assert r.status_code == 404
