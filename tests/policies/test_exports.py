"""A policy's downloads (issue 17): its matches and its impact preview, as CSV and .xlsx, masked, with the page's own
role check."""

from __future__ import annotations

import csv
import datetime as dt
import io

import openpyxl

from eligibility.tables import Match
from policies import service
from tests.policies.test_service import ALICE, POLICY
from tests.web import alogin, asgi_client, ensure_user

TALENT = "360102199207081233"


async def _matched_version() -> int:
    v = await service.save_draft(POLICY, ALICE)
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for i, (kind, sid) in enumerate((("talent", TALENT), ("enterprise", "91360100MA35XXXX1X"))):
        await Match.insert(
            Match(
                ruleset_key=f"{v.code}@{v.number}",
                version_id=v.id,
                code=v.code,
                subject_kind=kind,
                subject_id=sid,
                clauses="doctor",
                amount_fen=30_000_000 + i,
                as_of=dt.date(2026, 12, 1),
                profile_digest="p" * 64,
                rule_digest="r" * 64,
                match_digest=f"{i}" * 64,
                created_at=at,
            )
        )
    return v.id


async def test_matches_and_impact_download_masked_and_only_for_the_pages_roles(fresh_db):
    version_id = await _matched_version()
    await ensure_user("u_exp_officer", "policy_officer")
    await ensure_user("u_exp_maker", "finance_maker")
    async with asgi_client() as client:
        await alogin(client, "u_exp_officer")
        r = await client.get(f"/policies/versions/{version_id}/matches/export?format=csv")
        assert r.status_code == 200 and r.content.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["对象类型", "证件号码", "名称"] and len(rows) == 3
        assert rows[1][1] == "360***********1233" and TALENT not in r.text
        assert rows[2][1] == "91360100MA35XXXX1X"  # a USCC is public: whole
        assert rows[1][4] == "300000.00"
        x = await client.get(f"/policies/versions/{version_id}/matches/export?format=xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(x.content)).active
        assert [c.value for c in next(sheet.iter_rows())][:2] == ["对象类型", "证件号码"]
        assert sheet.cell(2, 2).value == "360***********1233" and sheet.cell(2, 5).value == 300000.0
        impact = await client.get(f"/policies/versions/{version_id}/impact/export?format=csv&as_of=2026-12-01")
        assert impact.status_code == 200
        lines = list(csv.reader(io.StringIO(impact.content.decode("utf-8-sig"))))
        assert lines[0] == ["项目", "对象", "之前（元）", "之后（元）"] and lines[1][:2] == ["判定日期", "2026-12-01"]
    async with asgi_client() as client:
        await alogin(client, "u_exp_maker")
        assert (await client.get(f"/policies/versions/{version_id}/matches/export")).status_code == 403
        assert (await client.get(f"/policies/versions/{version_id}/impact/export")).status_code == 403
