"""The evidence pack (证据包) of a risk flag and of a policy through HTTP: an auditor prepares it (a job, once per pack),
the job builds it, the auditor downloads the ZIP; its manifest lists every file with the SHA-256 and row count of
what the ZIP holds; its matches, payments and receipts are the rows an independent SQL query finds, and its audit
entries the ones this test picks out of the whole trail by the documented rules; talents' ID numbers and accounts
never appear whole; other roles get 403; the trail records every preparation and download."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import zipfile

import pytest

from app import jobs
from app.audit import AuditActor
from eligibility.tables import Match
from kit.db import raw
from kit.masking import mask_id_number
from kit.money import fen_to_yuan
from kit.time import now
from payments import service as payments
from payments.adapters import get_adapter
from policies.tables import Policy, PolicyVersion
from tests.payments import risk_data as d
from tests.payments.factories import CHECKER, MAKER, SYSTEM, THRESHOLD_FEN, bank_settings, policy, run_all
from tests.web import acsrf, alogin, asgi_client, ensure_user

AUDITOR2 = AuditActor("auditor2", "auditor")


@pytest.fixture(params=["embedded", "redis"])
def queue(request, monkeypatch):
    """The job runs through app.jobs in-process (the embedded default) and on the real Redis (production)."""
    if request.param == "redis":
        from app.config import get_settings

        monkeypatch.setenv("ZHIDA_REDIS_URL", request.getfixturevalue("redis_url"))
        get_settings.cache_clear()
        jobs._pools.clear()
        yield request.param
        monkeypatch.delenv("ZHIDA_REDIS_URL")
        get_settings.cache_clear()
        jobs._pools.clear()
    else:
        yield request.param


async def _policy(code: str, version_id: int) -> None:
    """The policy's rows as policies/ keeps them, under the version id its payments name (written after the payments:
    a version without its rule content would fail the batch's re-verification)."""
    stamp = now()
    pol = Policy(code=code, subject="talent", created_by="officer1", created_at=stamp)
    await Policy.insert(pol)
    ver = PolicyVersion(
        id=version_id, policy=pol.id, code=code, number=1, status="published", title=f"{code} 补贴", issuer="南昌市人力资源和社会保障局",
        subject="talent", mode="auto", effective_from=dt.date(2025, 1, 1), budget_fen=10**12, content_hash="h",
        author="officer1", created_at=stamp,
    )  # fmt: skip
    await PolicyVersion.insert(ver)


async def _match(code: str, version_id: int, kind: str, sid: str, fen: int, digest: str) -> None:
    await Match.insert(
        Match(
            ruleset_key=f"{code}@1", version_id=version_id, code=code, subject_kind=kind, subject_id=sid,
            clauses="main", amount_fen=fen, as_of=dt.date(2026, 10, 1), profile_digest=digest, rule_digest="r1",
            match_digest=hashlib.sha256(f"{code}|{sid}".encode()).hexdigest(), created_at=now(),
        )
    )  # fmt: skip


async def _world(tmp_dir) -> dict:
    """Policy A pays talents 1-3 (one payment sent back by the bank); talent 1 is then entitled under policy B to an
    account it shares with an enterprise: the risk scan flags it, and a second auditor confirms the flag."""
    f_a = policy("EVID-A", budget_fen=10**12)
    f_b = policy("EVID-B", budget_fen=10**12)
    for i in (1, 2, 3):
        sid = await d.talent(i)
        await d.entitle(f_a, "talent", sid, 100_000 * i + 37, d.account("talent", i))
        await _match(f_a.code, f_a.version_id, "talent", sid, 100_000 * i + 37, f"t{i}")
    made = await payments.create_batch(actor=MAKER, policy_code=f_a.code, second_checker_threshold_fen=THRESHOLD_FEN)
    await payments.approve_batch(made.batch_id, actor=CHECKER)
    adapter = get_adapter(bank_settings(tmp_dir))
    try:
        await run_all(adapter, made.batch_id)
        rows = await raw("SELECT id, request_id FROM pay_payment WHERE batch_id = {} ORDER BY id", made.batch_id)
        adapter.simulator.reverse(rows[2]["request_id"])
        await payments.record_return(int(rows[2]["id"]), actor=CHECKER, adapter=adapter)
    finally:
        await adapter.aclose()
    for f in (f_a, f_b):
        await _policy(f.code, f.version_id)
    shared = d.account("talent", 100)
    await d.entitle(f_b, "talent", d.id_number(1), 500_000, shared)
    await _match(f_b.code, f_b.version_id, "talent", d.id_number(1), 500_000, "t1")
    await d.entitle(d.facts(subject="enterprise"), "enterprise", await d.enterprise(100), 2_000_000, shared)
    await payments.risk_scan(actor=SYSTEM)
    flag = next(f for f in await payments.list_flags() if f["subject_id"] == d.id_number(1))
    await payments.confirm_flag(int(flag["id"]), actor=AUDITOR2, reason="账户与企业共用，已核实")
    return {"flag": int(flag["id"]), "policy": f_a.code, "talent": d.id_number(1)}


def _csv(archive: zipfile.ZipFile, name: str, manifest: dict) -> list[dict[str, str]]:
    """A CSV of the pack as dicts keyed by the manifest's column keys (its headers are Chinese)."""
    text = archive.read(name).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    entry = next(f for f in manifest["files"] if f["name"] == name)
    keys = [c["key"] for c in entry["columns"]]
    assert rows[0] == [c["zh"] for c in entry["columns"]]
    return [dict(zip(keys, r, strict=True)) for r in rows[1:]]


def _check_manifest(archive: zipfile.ZipFile) -> dict:
    manifest = json.loads(archive.read("manifest.json"))
    listed = {f["name"] for f in manifest["files"]}
    assert (
        listed
        == set(archive.namelist()) - {"manifest.json"}
        == {
            "matches.csv",
            "payments.csv",
            "receipts.csv",
            "audit.csv",
        }
    )
    for f in manifest["files"]:
        content = archive.read(f["name"])
        assert f["sha256"] == hashlib.sha256(content).hexdigest(), f["name"]
        assert f["bytes"] == len(content)
        assert f["rows"] == len(list(csv.reader(io.StringIO(content.decode("utf-8"))))) - 1, f["name"]
    assert manifest["built_by"] == "auditor1" and manifest["built_at"].endswith("+08:00")
    assert manifest["audit_chain"]["verified"] is True and manifest["audit_chain"]["head_seq"] > 0
    assert "eligibility_match.profile_digest" in manifest["profile_digest"]
    return manifest


def _yuan(fen) -> str:
    return str(fen_to_yuan(int(fen)))


def _shown(kind: str, sid: str) -> str:
    return mask_id_number(sid) if kind == "talent" else sid


async def _expected_rows(match_where: str, pay_where: str, receipt_where: str, *args) -> tuple[set, set, set]:
    matches = {
        (str(r["id"]), _shown(r["subject_kind"], r["subject_id"]), r["code"], str(r["version_id"]),
         str(r["number"] or ""), r["profile_digest"])
        for r in await raw(
            "SELECT m.id, m.subject_kind, m.subject_id, m.code, m.version_id, v.number, m.profile_digest "
            f"FROM eligibility_match m LEFT JOIN policies_version v ON v.id = m.version_id WHERE {match_where}",
            *args,
        )
    }  # fmt: skip
    pays = {
        (str(r["id"]), _yuan(r["amount_fen"]), r["status"], r["bank_transfer_id"] or "")
        for r in await raw(f"SELECT * FROM pay_payment p WHERE {pay_where}", *args)
    }
    receipts = {
        (r["code"], str(r["payment_id"]))
        for r in await raw(
            f"SELECT r.code, r.payment_id FROM pay_receipt r JOIN pay_payment p ON p.id = r.payment_id "
            f"WHERE {receipt_where}",
            *args,
        )
    }
    return matches, pays, receipts


def _got_rows(archive: zipfile.ZipFile, manifest: dict) -> tuple[set, set, set]:
    matches = {
        (r["id"], r["subject_id"], r["code"], r["version_id"], r["version_number"], r["profile_digest"])
        for r in _csv(archive, "matches.csv", manifest)
    }
    pays = {(r["id"], r["amount"], r["status"], r["bank_transfer_id"]) for r in _csv(archive, "payments.csv", manifest)}
    receipts = {(r["code"], r["payment_id"]) for r in _csv(archive, "receipts.csv", manifest)}
    return matches, pays, receipts


async def _audit_of_subject(kind: str, sid: str) -> set[int]:
    """The trail's entries concerning the subject, picked here in Python from every entry by the documented rules."""
    ents = await raw("SELECT id, key FROM pay_entitlement WHERE subject_kind = {} AND subject_id = {}", kind, sid)
    owned = {
        "entitlement": {str(e["id"]) for e in ents} | {e["key"] for e in ents},
        "payment": {str(r["id"]) for r in await raw("SELECT id FROM pay_payment WHERE subject_id = {}", sid)},
        "risk_flag": {str(r["id"]) for r in await raw("SELECT id FROM pay_risk_flag WHERE subject_id = {}", sid)},
        "match": {str(r["id"]) for r in await raw("SELECT id FROM eligibility_match WHERE subject_id = {}", sid)},
    }
    return {
        int(e["seq"])
        for e in await raw("SELECT seq, entity, entity_id FROM app_audit_entry")
        if e["entity_id"] in (sid, f"{kind}:{sid}") or e["entity_id"] in owned.get(e["entity"], set())
    }


async def _prepare_and_download(client, api: str) -> tuple[zipfile.ZipFile, bytes]:
    assert (await client.get(api)).json()["status"] == "absent"
    refused = await client.get(api + ".zip")
    assert refused.status_code == 409 and "POST" in refused.json()["error"], refused.text
    first = await client.post(api, headers=acsrf(client))
    assert first.status_code == 202 and first.json()["status"] == "preparing", first.text
    again = await client.post(api, headers=acsrf(client))  # the same pack twice: one job
    assert again.status_code == 202 and again.json()["fingerprint"] == first.json()["fingerprint"]
    assert (await client.get(api)).json()["status"] == "preparing"
    await jobs.drain()
    status = (await client.get(api)).json()
    assert status["status"] == "ready" and status["download"] == api + ".zip" and status["done"] is True, status
    r = await client.get(status["download"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content)), r.content


async def _entries(action: str, key: str) -> list[dict]:
    return await raw(
        "SELECT * FROM app_audit_entry WHERE action = {} AND entity = 'evidence_pack' AND entity_id = {} ORDER BY seq",
        action,
        key,
    )


async def test_an_auditor_prepares_builds_and_downloads_the_evidence_pack_of_a_flag_and_of_a_policy(
    fresh_db, tmp_dir, queue
):
    assert jobs.embedded() == (queue == "embedded")
    w = await _world(tmp_dir)
    for name, role in (
        ("auditor1", "auditor"),
        ("maker1", "finance_maker"),
        ("checker1", "finance_checker"),
        ("officer1", "policy_officer"),
        ("admin1", "admin"),
    ):
        await ensure_user(name, role)
    flag_api = f"/api/oversight/flags/{w['flag']}/evidence-pack"
    policy_api = f"/api/oversight/policies/{w['policy']}/evidence-pack"

    for name in ("maker1", "checker1", "officer1", "admin1"):  # auditors only
        async with asgi_client() as client:
            await alogin(client, name)
            for api in (flag_api, policy_api):
                assert (await client.get(api)).status_code == 403, (name, api)
                assert (await client.post(api, headers=acsrf(client))).status_code == 403, (name, api)
                assert (await client.get(api + ".zip")).status_code == 403, (name, api)
            page_post = await client.post(f"/oversight/flags/{w['flag']}/evidence-pack", headers=acsrf(client))
            assert page_post.status_code == 403, name
    assert not await _entries("evidence.prepare", f"flag:{w['flag']}")

    async with asgi_client() as client:
        await alogin(client, "auditor1")
        page = (await client.get(f"/oversight/flags/{w['flag']}")).text
        assert 'data-testid="evidence-pack-prepare"' in page and "证据包" in page
        archive, content = await _prepare_and_download(client, flag_api)
        page = (await client.get(f"/oversight/flags/{w['flag']}")).text
        assert f'href="{flag_api}.zip"' in page
        assert (await client.get("/api/oversight/flags/999999/evidence-pack")).status_code == 404

    manifest = _check_manifest(archive)
    assert manifest["of"]["kind"] == "flag" and manifest["of"]["flag_id"] == w["flag"]
    assert manifest["of"]["subject"] == mask_id_number(w["talent"]) and manifest["of"]["state"] == "confirmed"
    expected = await _expected_rows(
        "m.subject_kind = 'talent' AND m.subject_id = {}",
        "p.subject_kind = 'talent' AND p.subject_id = {}",
        "r.subject_kind = 'talent' AND r.subject_id = {}",
        w["talent"],
    )
    got = _got_rows(archive, manifest)
    assert got == expected
    matches, pays, receipts = got
    assert {m[2] for m in matches} == {"EVID-A", "EVID-B"} and {m[4] for m in matches} == {"1"}
    assert len(pays) == 1 and len(receipts) == 1  # paid once under A; held under B
    audit_rows = _csv(archive, "audit.csv", manifest)
    assert {int(r["seq"]) for r in audit_rows} == await _audit_of_subject("talent", w["talent"])
    assert any(r["action"] == "risk.confirm" and r["actor"] == "auditor2" for r in audit_rows)
    _nothing_whole(archive, w["talent"])

    prepared = await _entries("evidence.prepare", f"flag:{w['flag']}")
    assert [(e["actor"], e["role"]) for e in prepared] == [("auditor1", "auditor")] * 2
    assert [json.loads(e["detail"])["queued"] for e in prepared] == [True, False]
    assert len(await _entries("evidence.build", f"flag:{w['flag']}")) == 1  # one job for the two preparations
    downloaded = await _entries("evidence.download", f"flag:{w['flag']}")
    assert [e["actor"] for e in downloaded] == ["auditor1"]
    assert json.loads(downloaded[0]["detail"])["sha256"] == hashlib.sha256(content).hexdigest()

    async with asgi_client() as client:
        await alogin(client, "auditor1")
        page = (await client.get(f"/policies/{w['policy']}")).text
        assert 'data-testid="evidence-pack-prepare"' in page
        r = await client.post(
            f"/oversight/policies/{w['policy']}/evidence-pack", headers=acsrf(client), follow_redirects=True
        )
        assert 'data-testid="evidence-pack-preparing"' in r.text, r.text[-2000:]
        assert re.search(rf'data-progress-url="{re.escape(policy_api)}"', r.text)
        await jobs.drain()
        status = (await client.get(policy_api)).json()
        assert status["status"] == "ready" and status["files"]["payments.csv"] == 3, status
        r = await client.get(status["download"])
        assert r.status_code == 200
        policy_archive = zipfile.ZipFile(io.BytesIO(r.content))
        # A change to what the pack covers makes a new pack: the one built no longer stands for the rows.
        await _match("EVID-A", manifest_version(policy_archive), "talent", d.id_number(7), 1, "t7")
        assert (await client.get(policy_api)).json()["status"] == "absent"
        assert (await client.get(policy_api + ".zip")).status_code == 409
        assert (await client.get("/api/oversight/policies/NO-SUCH/evidence-pack")).status_code == 404

    manifest = _check_manifest(policy_archive)
    assert manifest["of"] == {**manifest["of"], "kind": "policy", "policy_code": "EVID-A"}
    expected = await _expected_rows("m.code = {}", "p.policy_code = {}", "p.policy_code = {}", "EVID-A")
    got = _got_rows(policy_archive, manifest)
    # the match added after the build is not in the pack; everything else is
    assert got[0] == {m for m in expected[0] if m[1] != mask_id_number(d.id_number(7))} and len(got[0]) == 3
    assert (got[1], got[2]) == expected[1:]
    assert {p[2] for p in got[1]} == {"settled", "returned"}
    assert len(got[2]) == 3
    _nothing_whole(policy_archive, *(d.id_number(i) for i in (1, 2, 3)))
    assert [e["actor"] for e in await _entries("evidence.prepare", "policy:EVID-A")] == ["auditor1"]
    assert [e["actor"] for e in await _entries("evidence.download", "policy:EVID-A")] == ["auditor1"]


def manifest_version(archive: zipfile.ZipFile) -> int:
    manifest = json.loads(archive.read("manifest.json"))
    return manifest["of"]["versions"][0]["id"]


def _nothing_whole(archive: zipfile.ZipFile, *id_numbers: str) -> None:
    """No talent's whole ID number, and no whole account, in any file of the pack; the masked ID is there."""
    text = "".join(archive.read(n).decode("utf-8") for n in archive.namelist())
    for sid in id_numbers:
        assert sid not in text
        assert mask_id_number(sid) in text
    for i in (1, 2, 3, 100):
        assert d.account("talent", i) not in text


async def test_a_new_pack_replaces_only_its_own_older_file(fresh_db):
    """Building policy P's pack again (its rows changed) removes P's older file, never policy P-X's, whose file names
    start with P's prefix too."""
    from app import evidence

    for code in ("EVPK", "EVPK-X"):
        await _policy(code, {"EVPK": 501, "EVPK-X": 502}[code])
    other = await evidence.build(await evidence.scope_of("policy", "EVPK-X"), "auditor1")
    first = await evidence.build(await evidence.scope_of("policy", "EVPK"), "auditor1")
    assert (await evidence.build(await evidence.scope_of("policy", "EVPK"), "auditor1")) == first  # unchanged: kept
    await _match("EVPK", 501, "talent", d.id_number(5), 100, "t5")
    second = await evidence.build(await evidence.scope_of("policy", "EVPK"), "auditor1")
    assert second != first and second.exists() and not first.exists()
    assert other.exists()
    assert evidence.read_manifest(second)["files"][0]["rows"] == 1
