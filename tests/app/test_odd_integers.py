"""Integers the database cannot hold (≥ 2^63, or a page/offset that overflows once multiplied) in any path or query
parameter are a 400 with a reason, never a 500: every operation with an int parameter, as every role and anonymous
(security review, item 11: 66 such 500s)."""

from __future__ import annotations

import re
from typing import get_args

from litestar.routes import HTTPRoute

from app.main import create_app
from tests.app.roles import ensure_every_role
from tests.web import acsrf, alogin, asgi_client

HUGE = (2**31, 2**63, -(2**63) - 1, 10**40)


def _int_operations(app) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, int path params, int query params) of every operation with an int parameter."""
    out = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            methods = sorted(m for m in handler.http_methods if m not in ("OPTIONS", "HEAD"))
            path_ints = re.findall(r"{(\w+):int}", route.path)
            query_ints = [
                name
                for name, field in handler.parsed_fn_signature.parameters.items()
                if name not in path_ints
                and name not in ("data", "request")
                and (field.annotation is int or int in get_args(field.annotation))
            ]
            if path_ints or query_ints:
                out += [(m, route.path, path_ints, query_ints) for m in methods]
    return out


def _url(path: str, value: int) -> str:
    return re.sub(r"{(\w+):int}", str(value), re.sub(r"{(\w+):str}", "x", path))


async def test_integers_out_of_range_are_400_with_a_reason_for_every_operation_and_role(fresh_db):
    users = await ensure_every_role()
    app = create_app()
    operations = _int_operations(app)
    assert len(operations) >= 50, operations
    failures = []
    for who in [None, *users.values()]:
        async with asgi_client(app) as client:
            if who:
                await alogin(client, who)
            for method, path, path_ints, query_ints in operations:
                for value in HUGE:
                    targets = []
                    if path_ints:
                        targets.append(_url(path, value))
                    for q in query_ints:
                        targets.append(_url(path, 1) + f"?{q}={value}")
                    for url in targets:
                        r = await client.request(
                            method, url, headers={**acsrf(client), "accept": "application/json"}, json={}
                        )
                        if r.status_code >= 500:
                            failures.append((who, method, url, r.status_code, r.text[:120]))
    assert not failures, f"{len(failures)} server errors, e.g. {failures[:5]}"


async def test_a_huge_page_or_offset_is_400_naming_the_parameter(fresh_db):
    users = await ensure_every_role()
    async with asgi_client() as client:
        await alogin(client, users["talent"])
        for url in (
            "/api/portal/notices?offset=9223372036854775807",
            "/api/portal/notices?limit=-1",
            "/portal/inbox?page=922337203685477580",
        ):
            r = await client.get(url, headers={"accept": "application/json"})
            assert r.status_code == 400, (url, r.status_code, r.text[:300])
            assert url.split("?")[1].split("=")[0] in r.text, r.text


async def test_an_id_in_a_request_body_beyond_what_the_tables_hold_is_400(fresh_db):
    """Found by schemathesis on PostgreSQL: an objection to entitlement/application 7171045231 (> 2^31 - 1) reached
    asyncpg and answered 500; batch selections and re-issues carry ids in their bodies too."""
    users = await ensure_every_role()
    cases = [
        (
            users["enterprise"],
            "/api/portal/objections",
            {"target": "application", "target_id": 7171045231, "text": "x"},
        ),
        (users["finance_maker"], "/api/finance/batches", {"entitlement_ids": [2**31]}),
        (users["finance_maker"], "/api/finance/payments/reissue", {"payment_ids": [2**40]}),
    ]
    for who, url, body in cases:
        async with asgi_client() as client:
            await alogin(client, who)
            r = await client.post(url, json=body, headers={**acsrf(client), "accept": "application/json"})
            assert r.status_code == 400, (url, r.status_code, r.text[:300])
