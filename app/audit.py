"""The audit trail (审计留痕): append-only, hash-chained entries for every state change, and their check.

Domain services never import this module: they receive an actor (``AuditActor``) and call
``await actor.record(...)`` inside their own transaction, so the entry commits or rolls back with
the change it describes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from app.config import get_settings
from app.tables import AuditEntry, AuditHead
from kit.audit import Actor, Change  # Change is kit's: callers may import it from here as before
from kit.db import bulk_insert, in_transaction, is_postgres, raw, transaction
from kit.errors import AppError, Conflict, Forbidden, Unavailable
from kit.i18n import _l
from kit.metrics import audit_verified
from kit.time import now
from kit.vocab import Role

GENESIS = "0" * 64
# PostgreSQL advisory lock key that serialises appends to the chain (any constant works).
_CHAIN_LOCK = 7_261_001


def digest(value: Any) -> str:
    """SHA-256 of a canonical JSON form of ``value`` ("" for None): what an entry stores of a state."""
    if value is None:
        return ""
    return hashlib.sha256(_canonical(value).encode()).hexdigest()


def _default(o: Any) -> Any:
    if isinstance(o, (dt.datetime, dt.date)):
        return o.isoformat()
    if isinstance(o, Decimal):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    if hasattr(o, "model_dump"):
        return o.model_dump(mode="json")
    return str(o)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default)


def entry_hash(e: dict) -> str:
    at = e["at"]
    if isinstance(at, dt.datetime):
        at = at.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    fields = [
        str(e["seq"]),
        at,
        e["actor"],
        e["role"],
        e["action"],
        e["entity"],
        str(e["entity_id"]),
        e["before_digest"],
        e["after_digest"],
        e["detail"],
        e["prev_hash"],
    ]
    return hashlib.sha256("\x1f".join(fields).encode()).hexdigest()


async def append(actor: str, role: str, changes: Iterable[Change]) -> None:
    """Append entries for ``changes`` to the chain, in the caller's transaction if there is one."""
    changes = list(changes)
    if not changes:
        return
    if in_transaction():
        await _append(actor, role, changes)
        return
    async with transaction():
        await _append(actor, role, changes)


_COLUMNS = (
    "seq",
    "at",
    "actor",
    "role",
    "action",
    "entity",
    "entity_id",
    "before_digest",
    "after_digest",
    "detail",
    "prev_hash",
    "hash",
)


async def _lock_chain() -> None:
    """Serialise appends to the chain (SQLite's IMMEDIATE transaction does it there already)."""
    if is_postgres():
        await raw("SELECT pg_advisory_xact_lock({})", _CHAIN_LOCK)


async def _append(actor: str, role: str, changes: list[Change]) -> None:
    await _lock_chain()
    last = await raw("SELECT seq, hash FROM app_audit_entry ORDER BY seq DESC LIMIT 1")
    seq, prev = (int(last[0]["seq"]), last[0]["hash"]) if last else (0, GENESIS)
    head = await raw("SELECT seq, hash, mac FROM app_audit_head LIMIT 1")
    if (last or head) and not (
        head
        and (int(head[0]["seq"]), head[0]["hash"]) == (seq, prev)
        and hmac.compare_digest(head[0]["mac"] or "", head_mac(seq, prev))
    ):
        # Entries cut (or rewritten) behind the head's back: appending would seal the damage into a valid chain.
        raise AuditTampered(
            _l(
                "the audit trail's last entry does not match its sealed head: nothing more is recorded, and so nothing is changed, until `zhida audit verify` has been looked into"
            )
        )
    # Stored with microsecond precision and hashed in UTC, so the hash survives the round trip.
    at = now()
    rows = []
    for c in changes:
        seq += 1
        e = {
            "seq": seq,
            "at": at,
            "actor": actor,
            "role": role,
            "action": c.action,
            "entity": c.entity,
            "entity_id": str(c.entity_id),
            "before_digest": digest(c.before),
            "after_digest": digest(c.after),
            "detail": _canonical(c.detail) if c.detail else "",
            "prev_hash": prev,
        }
        e["hash"] = prev = entry_hash(e)
        rows.append(tuple(e[k] for k in _COLUMNS))
    await bulk_insert(AuditEntry, _COLUMNS, rows)
    await _seal_head(seq, prev)


async def _seal_head(seq: int, last_hash: str) -> None:
    mac = head_mac(seq, last_hash)
    updated = await raw("UPDATE app_audit_head SET seq = {}, hash = {}, mac = {} RETURNING id", seq, last_hash, mac)
    if not updated:
        await raw("INSERT INTO app_audit_head (seq, hash, mac) VALUES ({}, {}, {})", seq, last_hash, mac)


def head_mac(seq: int, last_hash: str) -> str:
    """The head's seal: HMAC-SHA256 of (seq, last hash) under the audit key (ZHIDA_AUDIT_KEY; in the embedded mode
    generated into the data dir). Anyone may recompute entry hashes; only the key's holder can seal a different
    head."""
    key = get_settings().audit_key
    return hmac.new(key.encode(), f"{seq}|{last_hash}".encode(), hashlib.sha256).hexdigest()


# Tables whose rows are only ever written with an audit entry: an empty trail beside any of them was wiped.
_AUDITED_TABLES = ("app_user", "policies_version", "eligibility_enterprise", "eligibility_talent", "pay_payment")


class AuditTampered(Unavailable):
    """The audit trail no longer ends where its sealed head says: writes stop rather than bury the damage."""


@dataclass
class AuditActor:
    """Who is acting (user name and role), handed to services; records what they change (a kit.audit.Actor)."""

    name: str
    role: str
    subject_id: str | None = None
    # The operating-system account that ran the command acting as this user (the CLI's --actor, `users create`):
    # recorded in every entry's detail as ``os_user``, beside the actor.
    os_user: str | None = None

    def _detail(self, detail: dict | None) -> dict | None:
        return {**(detail or {}), "os_user": self.os_user} if self.os_user else detail

    async def record(
        self,
        action: str,
        entity: str,
        entity_id: Any,
        before: Any = None,
        after: Any = None,
        detail: dict | None = None,
    ) -> None:
        change = Change(action, entity, str(entity_id), before, after, self._detail(detail))
        await append(self.name, self.role, [change])

    async def record_many(self, changes: Iterable[Change]) -> None:
        if self.os_user:
            changes = [
                Change(c.action, c.entity, c.entity_id, c.before, c.after, self._detail(c.detail)) for c in changes
            ]
        await append(self.name, self.role, changes)


SYSTEM = AuditActor("system", "system")


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    broken_seq: int | None = None
    reason: str = ""


async def _has_rows(table: str) -> bool:
    try:
        return bool(await AuditEntry.raw(f"SELECT 1 AS x FROM {table} LIMIT 1"))
    except Exception:  # noqa: BLE001 - a table an older database does not have yet holds nothing
        return False


async def _walk(batch: int = 5000) -> tuple[VerifyResult | None, int, str]:
    """Walk the entries in order: (the first broken link or hash, or None; entries checked; the last hash)."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    after = 0
    while True:
        rows = await AuditEntry.select().where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        if not rows:
            return None, checked, prev
        for r in rows:
            if r["seq"] != expected_seq:
                return (
                    VerifyResult(
                        False, checked, expected_seq, f"entry {expected_seq} is missing (next present is {r['seq']})"
                    ),
                    checked,
                    prev,
                )
            if r["prev_hash"] != prev:
                return (
                    VerifyResult(False, checked, r["seq"], "its link to the previous entry does not match"),
                    checked,
                    prev,
                )
            if entry_hash(r) != r["hash"]:
                return (
                    VerifyResult(False, checked, r["seq"], "its content does not match its hash (edited)"),
                    checked,
                    prev,
                )
            prev = r["hash"]
            expected_seq += 1
            checked += 1
            after = r["seq"]


async def verify(batch: int = 5000) -> VerifyResult:
    """Walk the chain in order; the first entry whose hash or link does not hold is reported; then the sealed head.
    The outcome is this process's zhida_audit_verify_ok metric."""
    result = await _verify(batch)
    audit_verified(result.ok)
    return result


async def head_sealed() -> str | None:
    """The cheap check of the trail (readiness, metrics): None when the sealed head is the last entry and its seal
    holds under this key (or the trail is empty), else what is wrong. The full walk is ``verify``."""
    # One statement, one snapshot: an append committing meanwhile cannot make the head look stale.
    rows = await raw(
        "SELECT (SELECT MAX(seq) FROM app_audit_entry) AS last_seq, h.seq AS seq, h.hash AS hash, h.mac AS mac "
        "FROM (SELECT 1 AS one) o LEFT JOIN app_audit_head h ON 1 = 1"
    )
    row = rows[0] if rows else {}
    if row.get("seq") is None:
        return None if row.get("last_seq") is None else "the chain head record is missing"
    if not hmac.compare_digest(row["mac"] or "", head_mac(int(row["seq"]), row["hash"])):
        return "the chain head's seal does not match ZHIDA_AUDIT_KEY"
    if row["last_seq"] is None or int(row["last_seq"]) != int(row["seq"]):
        return "the sealed head is not the last entry"
    return None


async def _verify(batch: int) -> VerifyResult:
    broken, checked, prev = await _walk(batch)
    if broken is not None:
        return broken
    head = await AuditHead.select().first()
    if head and not hmac.compare_digest(head["mac"] or "", head_mac(int(head["seq"]), head["hash"])):
        return VerifyResult(
            False,
            checked,
            None,
            "the chain head's seal does not match: the trail was cut or rewritten (or ZHIDA_AUDIT_KEY, or the embedded "
            "mode's data dir that holds it, is not the one that sealed it; after such a change, or an upgrade with old "
            "processes still writing, see `zhida audit reseal`)",
        )
    if head and (head["seq"] != checked or head["hash"] != prev):
        return VerifyResult(
            False, checked, checked + 1, f"entries after {checked} are missing (the chain head is entry {head['seq']})"
        )
    if head is None and checked:
        return VerifyResult(False, checked, None, "the chain head record is missing")
    if head is None:
        for table in _AUDITED_TABLES:
            if await _has_rows(table):
                return VerifyResult(
                    False, 0, None, f"the audit trail is empty but {table} holds records: the trail was wiped"
                )
    return VerifyResult(True, checked)


async def reseal(actor: Actor, reason: str) -> dict:
    """An admin's recovery after the audit key changed (or an upgrade left the head unsealed): when every entry's hash
    and link hold, the head is sealed afresh at the last entry, and an entry ``audit.reseal`` records who did it, why,
    and the head found, so a cut the reseal papers over stays on the record. Refused when an entry is broken."""
    if actor.role != Role.ADMIN:
        raise Forbidden(
            _l("only an admin may reseal the audit trail; {name} is {actor_role}"),
            name=actor.name,
            actor_role=actor.role,
        )
    if not reason.strip():
        raise AppError(_l("say why the audit trail is resealed"))
    async with transaction():
        await _lock_chain()
        broken, checked, prev = await _walk()
        if broken is not None:
            raise Conflict(
                _l("entry {broken_seq} is broken ({reason}): the trail is not resealed"),
                broken_seq=broken.broken_seq,
                reason=broken.reason,
            )
        found = await raw("SELECT seq, hash, mac FROM app_audit_head LIMIT 1")
        mac = head_mac(checked, prev)
        await raw("DELETE FROM app_audit_head")
        await raw("INSERT INTO app_audit_head (seq, hash, mac) VALUES ({}, {}, {})", checked, prev, mac)
        was = (
            {
                "seq": int(found[0]["seq"]),
                "hash": found[0]["hash"],
                "sealed": hmac.compare_digest(found[0]["mac"] or "", head_mac(int(found[0]["seq"]), found[0]["hash"])),
            }
            if found
            else None
        )
        await _append(
            actor.name,
            actor.role,
            [
                Change(
                    "audit.reseal",
                    "audit",
                    "head",
                    was,
                    {"seq": checked, "hash": prev},
                    {"reason": reason[:200], "found_head": was, "last_entry": checked}
                    | ({"os_user": actor.os_user} if getattr(actor, "os_user", None) else {}),
                )
            ],
        )
    return {"entries": checked, "found_head": was}
