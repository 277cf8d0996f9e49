"""Invariant 5: the audit trail is append-only and hash-chained; `zhida audit verify` detects any edit."""

from __future__ import annotations

import pytest

from app.audit import AuditActor, AuditTampered, verify
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


@pytest.mark.parametrize(
    "column,value", [("actor", "mallory"), ("action", "test.other"), ("after_digest", "0" * 64), ("detail", "{}")]
)
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


async def test_cutting_the_trail_and_moving_the_head_back_is_detected(fresh_db):
    """An insider deletes the last entries and sets the head to the new last entry (two statements, no hashing): the
    head's seal, keyed outside the database, no longer matches. So does a whole chain rewritten with fresh hashes."""
    from app.tables import AuditHead

    rows = await _chain_of(6)
    await AuditEntry.delete().where(AuditEntry.seq > 4)
    await AuditHead.update({AuditHead.seq: 4, AuditHead.hash: rows[3]["hash"]}).where(AuditHead.id > 0)
    result = await verify()
    assert not result.ok and "seal" in result.reason
    proc = zhida("audit", "verify")
    assert proc.returncode == 1 and "seal does not match" in proc.stderr
    # The next action is not recorded over the cut (it would seal the damage into a valid chain): it fails.
    with pytest.raises(AuditTampered):
        await _chain_of(1)
    assert await AuditEntry.count() == 4 and not (await verify()).ok


async def test_the_head_is_sealed_with_the_configured_key(fresh_db):
    await _chain_of(3)
    assert zhida("audit", "verify").returncode == 0
    proc = zhida("audit", "verify", env={"ZHIDA_AUDIT_KEY": "not-the-key-that-sealed-this-trail-0123"})
    assert proc.returncode == 1 and "seal does not match" in proc.stderr


async def test_a_rewritten_chain_with_fresh_hashes_is_detected(fresh_db):
    from app.audit import entry_hash

    rows = await _chain_of(4)
    prev = rows[1]["hash"]
    for r in rows[2:]:  # rewrite entries 3 and 4 and recompute every hash after them, as an insider could
        r = {**r, "actor": "mallory", "prev_hash": prev}
        r["hash"] = prev = entry_hash(r)
        await AuditEntry.update(
            {AuditEntry.actor: "mallory", AuditEntry.prev_hash: r["prev_hash"], AuditEntry.hash: r["hash"]}
        ).where(AuditEntry.id == r["id"])
    from app.tables import AuditHead

    await AuditHead.update({AuditHead.hash: prev}).where(AuditHead.id > 0)
    result = await verify()
    assert not result.ok and "seal" in result.reason


async def test_a_wiped_trail_beside_audited_records_is_detected(fresh_db):
    from app.tables import AuditHead

    await _chain_of(2)
    from tests.web import ensure_user

    await ensure_user("someone", "admin")
    await AuditEntry.delete().where(AuditEntry.id > 0)
    await AuditHead.delete().where(AuditHead.id > 0)
    result = await verify()
    assert not result.ok and "empty" in result.reason and "app_user" in result.reason


async def test_after_a_key_change_an_admin_reseals_and_the_record_says_what_was_found(fresh_db):
    """A changed audit key (or an upgrade run while old processes still wrote) leaves the head unsealed for the new
    key: every write stops. An admin reseals with a reason; the reseal is refused over a broken entry, and its own
    entry records the head it found, so nothing it papers over leaves the record."""
    import json

    from tests.web import ACTOR_ENV, ensure_user

    await ensure_user("root_admin", "admin")
    await ensure_user("plain_maker", "finance_maker")
    await _chain_of(3)
    other = {"ZHIDA_AUDIT_KEY": "a-new-key-chosen-on-purpose-0123456789"}
    assert zhida("audit", "verify", env=other).returncode == 1
    refused = zhida("audit", "reseal", "--actor", "plain_maker", "--reason", "x", env={**other, **ACTOR_ENV})
    assert refused.returncode == 1 and "admin" in refused.stderr
    done = zhida(
        "audit", "reseal", "--actor", "root_admin", "--reason", "audit key rotated", env={**other, **ACTOR_ENV}
    )
    assert done.returncode == 0 and "NOT sealed with this key" in done.stdout, done.stderr
    assert zhida("audit", "verify", env=other).returncode == 0
    last = await AuditEntry.select().order_by(AuditEntry.seq, ascending=False).first()
    assert last["action"] == "audit.reseal" and last["actor"] == "root_admin"
    assert json.loads(last["detail"])["found_head"]["sealed"] is False
    # Over an edited entry there is nothing to reseal.
    await AuditEntry.update({AuditEntry.actor: "mallory"}).where(AuditEntry.seq == 2)
    broken = zhida("audit", "reseal", "--actor", "root_admin", "--reason", "again", env={**other, **ACTOR_ENV})
    assert broken.returncode == 1 and "entry 2 is broken" in broken.stderr
