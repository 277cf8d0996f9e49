"""A subject can object to a non-match from the public side too: the library's policy page and the calculator's near
miss (on the subject's own profile) lead a logged-in subject to its own page of the policy, whose non-match objection
(target policy) the officers then answer. Anonymous visitors and other subject kinds get no such link."""

from __future__ import annotations

from policies import service as policies
from policies.applications import objections
from tests.app.test_objection_correction import _published_master
from tests.web import acsrf, alogin, asgi_client, ensure_user


async def test_a_near_miss_leads_to_the_non_match_objection(fresh_db):
    version_id, sid = await _published_master()
    code = (await policies.get_version(version_id)).code
    await ensure_user(sid, "talent")
    await ensure_user("91360100MA35NMNMN1", "enterprise")
    async with asgi_client() as client:  # anonymous: the library page offers no objection
        page = await client.get(f"/library/{code}")
        assert page.status_code == 200 and 'data-testid="object-nonmatch"' not in page.text
    async with asgi_client() as client:  # an enterprise: a talent policy is none of its business
        await alogin(client, "91360100MA35NMNMN1")
        assert 'data-testid="object-nonmatch"' not in (await client.get(f"/library/{code}")).text
    async with asgi_client() as client:
        await alogin(client, sid)
        page = await client.get(f"/library/{code}")
        assert f'href="/portal/policies/code/{code}" data-testid="object-nonmatch"' in page.text
        calc = await client.post("/library/calculator", data={"kind": "talent", "own": "1"}, headers=acsrf(client))
        assert calc.status_code in (200, 201), calc.text
        assert f'href="/portal/policies/code/{code}" data-testid="object-nonmatch"' in calc.text  # the near miss
        hop = await client.get(f"/portal/policies/code/{code}", follow_redirects=False)
        assert hop.status_code in (302, 303) and hop.headers["location"] == (
            f"/portal/policies/{version_id}#nonmatch-objection"
        )
        own = await client.get(f"/portal/policies/{version_id}")
        assert 'id="nonmatch-objection"' in own.text
        assert (await client.get("/portal/policies/code/NO-SUCH-CODE", follow_redirects=False)).status_code == 404
        r = await client.post(
            "/portal/objections",
            data={"target": "policy", "target_id": str(version_id), "text": "我是博士", "next": "/portal"},
            headers=acsrf(client),
        )
        assert r.status_code in (302, 303), r.text
    [made] = await objections.objections_of_subject("talent", sid)
    assert made.target == "policy" and made.target_id == version_id and made.status == "open"
