"""Invariant 5: the audit trail is append-only and hash-chained; `zhida audit verify` detects any edit."""
from __future__ import annotations

import pytest

from app.audit import AuditActor, verify
from app.tables import AuditEntry
from tests.conftest import zhida


async def _chain_of(n: int) -> list[dict]:
    actor = AuditActor("tester", "admin")
    for i in range(n):
        await actor.record("test.step", "thing", f"t{i}", before={"v": i}, after={"v": i + 1})
    return await AuditEntry.select().order_by(AuditEntry.seq)


async def test_intact_chain_verifies(fresh_db):
    await _chain_of(5)
    assert (await verify()).ok
    proc = zhida("audit", "verify")
    assert proc.returncode == 0, proc.stderr
    assert "5 entries" in proc.stdout


@pytest.mark.parametrize("column,value", [("actor", "mallory"), ("action", "test.other"), ("after_digest", "0" * 64),
                                          ("detail", "{}")])
async def test_editing_any_entry_is_detected_by_cli(fresh_db, column, value):
    rows = await _chain_of(6)
    target = rows[3]
    await AuditEntry.update({getattr(AuditEntry, column): value}).where(AuditEntry.id == target["id"])
    proc = zhida("audit", "verify")
    assert proc.returncode == 1
    assert f"entry {target['seq']}" in proc.stderr


async def test_deleting_an_entry_is_detected(fresh_db):
    rows = await _chain_of(6)
    await AuditEntry.delete().where(AuditEntry.id == rows[2]["id"])
    proc = zhida("audit", "verify")
    assert proc.returncode == 1
    assert f"entry {rows[2]['seq']}" in proc.stderr


async def test_deleting_the_last_entries_is_detected(fresh_db):
    rows = await _chain_of(4)
    await AuditEntry.delete().where(AuditEntry.seq >= rows[2]["seq"])
    proc = zhida("audit", "verify")
    assert proc.returncode == 1
    assert f"entry {rows[2]['seq']}" in proc.stderr


async def test_concurrent_appends_keep_one_chain(fresh_db):
    import asyncio

    async def writer(k: int):
        actor = AuditActor(f"w{k}", "admin")
        for i in range(10):
            await actor.record("test.concurrent", "thing", f"{k}-{i}")

    await asyncio.gather(*(writer(k) for k in range(4)))
    result = await verify()
    assert result.ok and result.checked == 40
