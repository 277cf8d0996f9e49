"""Acceptance: an enterprise sees only its own records. Every route of the app that takes an id in its path is
walked with enterprise A's session against enterprise B's ids and must answer 403 or 404; the routes are
enumerated from the app itself, so a route added later cannot escape this test. The same walk with A's own ids
answers 200 on every subject-reachable GET, which shows the ids used are real ones."""

from __future__ import annotations

import re

import pytest

from app.auth.guards import PUBLIC
from app.main import create_app
from kit.vocab import Role
from tests.portal.conftest import csrf as csrf_headers
from tests.portal.fixtures import APPLY_ENT, APPLY_TALENT, AUTO_ENT, ENT_A, ENT_B, PDF

# Public routes that take a path parameter, and why that is not an ownership hole. A new public route with a
# parameter fails the test until it is argued for here.
PUBLIC_WITH_PARAMS = {
    "/lang/{lang:str}": "switches the interface language",
    "/verify/{code:str}": "a receipt's 80-bit verification code is the capability printed on the paper receipt",
    "/api/receipts/{filename:str}": "the same verification code: <code>.pdf, as on the receipt",
    "/static/{file_path:path}": "stylesheets",
    "/library/{code:str}": "a published policy's public page in the policy library: the policy is public, names no one",
    "/api/public/policies/{code:str}": "the same published policy as JSON for the library",
    "/publicity/{code:str}": "公示: a policy's public list of payees to be, personal data masked (the point of 公示)",
    "/publicity/{entitlement_id:int}/object": "anyone may object to an entry of a public list; an id that is not on "
    "a list now is refused as not found, and the answer names no one",
    "/api/public/publicity/{entitlement_id:int}/objections": "the same objection, as JSON",
}
# Path parameters that name no record at all, so there is nothing of B's to put in them: the subject is the session's.
NOT_AN_ID = {
    "channel": "a channel name (email, sms, webhook) among the caller's own contact points; whose points they are "
    "comes from the session, never from the path",
    "code": "a published policy's code: public (the library lists every one); /portal/policies/code/{code} only "
    "redirects to the caller's own page of that policy",
}
PARAM = re.compile(r"\{(\w+):\w+\}")
USER_ROLES = {r.value for r in Role}


def _refusals(handler) -> set[int]:
    """403/404; and 401 on a route no session can use at all (the data exchange's API-key route)."""
    roles = {r for g in handler.resolve_guards() for r in getattr(g, "roles", ())}
    return {403, 404} | ({401} if roles and not roles & USER_ROLES else set())


def _subject_reachable(handler) -> bool:
    for guard in handler.resolve_guards():
        roles = getattr(guard, "roles", ())
        if roles and "enterprise" not in roles:
            return False
    return True


def _routes():
    app = create_app()
    for route in app.routes:
        if "{" not in route.path or route.path.startswith("/schema"):
            continue
        for handler in getattr(route, "route_handlers", []):
            methods = set(getattr(handler, "http_methods", ())) - {"OPTIONS", "HEAD"}
            if not methods:
                continue
            yield route.path, sorted(methods), handler


async def _ids_of(client, subject_id, notice_id, world) -> dict[str, str]:
    """The ids of one enterprise's own records, by the path-parameter names routes use for them."""
    h = csrf_headers(client)
    app = (
        await client.post(
            f"/api/portal/policies/{world.versions[APPLY_ENT]}/applications",
            data={"statement": "x"},
            files=[("files", ("licence.pdf", PDF, "application/pdf"))],
            headers=h,
        )
    ).json()
    overview = (await client.get("/api/portal/overview")).json()
    ent = next(i["entitlement_id"] for i in overview["policies"] if i["code"] == AUTO_ENT)
    obj = (
        await client.post(
            "/api/portal/objections", json={"target": "entitlement", "target_id": ent, "text": "异议"}, headers=h
        )
    ).json()
    return {
        "application_id": str(app["id"]),
        "attachment_id": str(app["attachments"][0]["id"]),
        "objection_id": str(obj["id"]),
        "entitlement_id": str(ent),
        "notice_id": str(notice_id),
        "subject_id": subject_id,
        "kind": "enterprise",
        "code": AUTO_ENT,
    }


async def _call(client, method, url):
    h = csrf_headers(client)
    if method == "GET":
        return await client.get(url)
    if url.startswith("/api/"):
        return await client.request(method, url, json={}, headers=h)
    return await client.request(method, url, data={"text": "x", "reason": "x", "answer": "x"}, headers=h)


async def test_enterprise_a_gets_403_or_404_on_every_route_with_b_ids(world, client_as):
    a, b = await client_as(ENT_A), await client_as(ENT_B)
    ids_b = await _ids_of(b, ENT_B, world.notices[ENT_B], world)
    ids_a = await _ids_of(a, ENT_A, world.notices[ENT_A], world)
    # A policy version is not owned, but one for the other kind of subject is not A's to see or apply for.
    ids_b["version_id"] = str(world.versions[APPLY_TALENT])
    ids_a["version_id"] = str(world.versions[AUTO_ENT])

    leaks, unmapped, walked, own_ok = [], [], 0, 0
    public = {}
    for path, methods, handler in _routes():
        names = PARAM.findall(path)
        if (handler.opt or {}).get(PUBLIC):
            public[path] = names
            continue
        if set(names) <= set(NOT_AN_ID):
            continue  # acts on the caller's own record only: there is nothing of B's to name in its path
        reachable = _subject_reachable(handler)
        missing = [n for n in names if n not in ids_b]
        if reachable and missing:
            unmapped.append((path, missing))
            continue
        for method in methods:
            url_b = PARAM.sub(lambda m: ids_b.get(m.group(1), "1"), path)
            r = await _call(a, method, url_b)
            walked += 1
            if r.status_code not in _refusals(handler):
                leaks.append((method, url_b, r.status_code, r.text[:200]))
            if reachable and method == "GET":
                r = await a.get(PARAM.sub(lambda m: ids_a[m.group(1)], path))
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                own_ok += 1
    assert unmapped == [], f"routes reachable by enterprises with path parameters this test has no B id for: {unmapped}"
    assert leaks == []
    assert set(public) <= set(PUBLIC_WITH_PARAMS), (
        f"public routes with parameters not argued for: {set(public) - set(PUBLIC_WITH_PARAMS)}"
    )
    assert walked > 40 and own_ok >= 6
    # portal routes of mine are among those walked (the walk is not vacuous)
    paths = {p for p, _, _ in _routes()}
    for p in (
        "/portal/applications/{application_id:int}",
        "/api/portal/attachments/{attachment_id:int}",
        "/api/portal/objections/{objection_id:int}",
        "/api/portal/entitlements/{entitlement_id:int}",
    ):
        assert p in paths


@pytest.mark.parametrize("target", ["application", "entitlement"])
async def test_an_objection_cannot_name_another_subjects_record(world, client_as, target):
    a, b = await client_as(ENT_A), await client_as(ENT_B)
    ids_b = await _ids_of(b, ENT_B, world.notices[ENT_B], world)
    r = await a.post(
        "/api/portal/objections",
        json={"target": target, "target_id": int(ids_b[f"{target}_id"]), "text": "x"},
        headers=csrf_headers(a),
    )
    assert r.status_code == 404
    assert (await a.get("/api/portal/objections")).json() == []
