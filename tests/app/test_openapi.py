"""The OpenAPI document describes the API as it answers: a schema for every JSON success, the one error body
({error, detail}: ErrorRead) for every refusal, and the statuses an operation can refuse with."""

from __future__ import annotations

import json

import pytest

from tests.web import alogin, asgi_client, ensure_user

ERROR_REF = "#/components/schemas/ErrorRead"
METHODS = {"get", "post", "put", "patch", "delete"}
PUBLIC = {
    "GET /api/receipts/{filename}",  # anyone holding a receipt's code may fetch it
    "GET /api/public/policies",  # 政策库: the published policies are public
    "GET /api/public/policies/{code}",
    "POST /api/public/calculator",  # 政策计算器: anyone may try facts; nothing is stored
    "GET /api/public/publicity",  # 公示: the payees to be are public, personal data masked
    "POST /api/public/publicity/{entitlement_id}/objections",  # anyone may object during the period
}


@pytest.fixture(scope="module")
async def spec() -> dict:
    await ensure_user("u_openapi", "auditor")
    async with asgi_client() as client:
        await alogin(client, "u_openapi")  # the description is for logged-in users
        r = await client.get("/schema/openapi.json")
        assert r.status_code == 200
        return r.json()


def _operations(spec: dict):
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op


def _named(schema: dict) -> bool:
    """A schema that names its shape: a component, a list of one, or a choice of them (null allowed)."""
    if "$ref" in schema:
        return True
    if schema.get("type") == "array":
        return _named(schema.get("items", {}))
    if "oneOf" in schema:
        return all(_named(s) or s.get("type") == "null" for s in schema["oneOf"])
    return False


def test_every_json_operation_answers_a_named_schema(spec):
    bare, json_ops = [], 0
    for name, op in _operations(spec):
        ok = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert ok, f"{name} documents no success response"
        for r in ok.values():
            body = (r.get("content") or {}).get("application/json")
            if body is None:
                continue  # a file, a YAML pack: not JSON
            json_ops += 1
            if not _named(body["schema"]):
                bare.append(name)
    assert json_ops > 50 and bare == []


def test_every_error_response_is_the_error_body(spec):
    component = spec["components"]["schemas"]["ErrorRead"]
    assert set(component["properties"]) == {"error", "detail"} and component["required"] == ["error"]
    wrong = []
    for name, op in _operations(spec):
        for code, r in op["responses"].items():
            if int(code) < 400:
                continue
            schema = (r.get("content") or {}).get("application/json", {}).get("schema", {})
            if schema != {"$ref": ERROR_REF}:
                wrong.append(f"{name} {code}")
    assert wrong == []
    assert "status_code" not in str(spec["paths"])  # Litestar's own error shape is documented nowhere


def test_statuses_an_operation_can_answer_are_documented(spec):
    for name, op in _operations(spec):
        codes = set(op["responses"])
        assert {"400", "500"} <= codes, name
        if name not in PUBLIC:
            assert {"401", "403"} <= codes, name
    paths = spec["paths"]
    assert {"502", "503"} <= set(paths["/api/finance/reconciliations"]["post"]["responses"])
    assert "404" in paths["/api/finance/batches/{batch_id}"]["get"]["responses"]
    assert {"404", "409"} <= set(paths["/api/finance/batches/{batch_id}/approve"]["post"]["responses"])
    assert {"409", "422"} <= set(paths["/api/policies"]["post"]["responses"])
    assert "401" not in paths["/api/receipts/{filename}"]["get"]["responses"]  # public: the code is the key


def test_a_files_last_modified_is_documented_as_the_http_date_it_is():
    """Schemathesis: a downloaded file's Last-Modified ("Fri, 04 Dec 2026 19:34:17 GMT") did not conform to the
    date-time format Litestar documents for it. The schema the server states (app.bounds.declare_bounds, at start-up)
    says a string, an HTTP date."""
    from app.bounds import declare_bounds
    from app.main import create_app

    served = declare_bounds(create_app()).to_schema()
    json.dumps(served)  # the schema as schemathesis reads it: plain JSON (a Decimal default broke it once)
    headers = [
        (f"{method.upper()} {path}", header)
        for path, item in served["paths"].items()
        for method, op in item.items()
        for response in op.get("responses", {}).values()
        for name, header in (response.get("headers") or {}).items()
        if name.lower() == "last-modified"
    ]
    assert len(headers) >= 6  # receipts, attachments, the receipts ZIP, the evidence packs
    for where, header in headers:
        assert header["schema"] == {"type": "string"} and "HTTP date" in header["description"], (where, header)
