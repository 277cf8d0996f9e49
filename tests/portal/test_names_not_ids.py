"""Names, not ids: staff pages name the policy (linked to it) and the subject, never "享受记录 #1" or "版本编号 7"."""

from __future__ import annotations

import re

from tests.portal.conftest import csrf
from tests.portal.fixtures import APPLY_TALENT, AUTO_ENT, ENT_A, PDF, REVIEWER, TALENT_B


async def test_the_objection_queue_names_the_policy_and_the_subject(world, client_as):
    a = await client_as(ENT_A)
    overview = (await a.get("/api/portal/overview")).json()["policies"]
    ent = next(i for i in overview if i["code"] == AUTO_ENT)["entitlement_id"]
    r = await a.post(
        "/api/portal/objections",
        json={"target": "entitlement", "target_id": ent, "text": "金额应为三万"},
        headers=csrf(a),
    )
    assert r.status_code == 201
    page = (await (await client_as(REVIEWER)).get("/applications/objections")).text
    assert f"享受记录 #{ent}" not in page and "#" + str(ent) + "<" not in page
    assert f"/policies/{AUTO_ENT}" in page and "测试稳岗返还</a>" in page, page[page.find("objections-table") :][:1500]
    assert ENT_A in page  # the enterprise, by its credit code


async def test_the_application_page_names_and_links_its_policy(world, client_as):
    t = await client_as(TALENT_B)
    app = (
        await t.post(
            f"/api/portal/policies/{world.versions[APPLY_TALENT]}/applications",
            data={"statement": "申请"},
            files=[("files", ("d.pdf", PDF, "application/pdf"))],
            headers=csrf(t),
        )
    ).json()
    page = (await (await client_as(REVIEWER)).get(f"/applications/{app['id']}")).text
    assert "版本编号" not in page
    assert f'href="/policies/{APPLY_TALENT}?v={world.versions[APPLY_TALENT]}"' in page
    # the applicant in words, a talent's ID number masked, the attachment's kind as people name it (the page showed
    # "talent 36010219… (36010219…)" and "application/pdf": found by the browser crawl)
    applicant = re.search(r"<th>申请主体</th><td>(.*?)</td>", page).group(1)
    assert applicant.startswith("人才 ") and TALENT_B not in applicant and "talent" not in applicant, applicant
    assert "application/pdf" not in page and "PDF, " in page
