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

from app.errors import AppError
from app.tables import AuditEntry, AuditHead

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


@dataclass
class Change:
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None
    detail: dict | None = None


async def append(actor: str, role: str, changes: Iterable[Change]) -> None:
    """Append entries for ``changes`` to the chain, in the caller's transaction if there is one."""
    changes = list(changes)
    if not changes:
        return
    engine = AuditEntry._meta.db
    if engine.current_transaction.get() is None:
        async with engine.transaction():
            await _append(engine, actor, role, changes)
    else:
        await _append(engine, actor, role, changes)


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
_PG_TYPES = ("bigint", "timestamptz") + ("text",) * 10
_ROWS_PER_INSERT = 2000  # 24,000 parameters: below both drivers' limits


async def _raw(engine, sql: str, *args: Any) -> list:
    """A statement straight to the driver in the caller's transaction (``{}`` placeholders): Piccolo's query
    builder and row objects cost more than the hashing for chains appended by the thousand."""
    txn = engine.current_transaction.get()
    if engine.engine_type == "postgres":
        parts = sql.split("{}")
        native = "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))
        return list(await txn.connection.fetch(native, *args))
    async with txn.connection.execute(sql.replace("{}", "?"), args) as cursor:
        return list(await cursor.fetchall())


async def _append(engine, actor: str, role: str, changes: list[Change]) -> None:
    if engine.engine_type == "postgres":
        await _raw(engine, "SELECT pg_advisory_xact_lock({})", _CHAIN_LOCK)
    last = await _raw(engine, "SELECT seq, hash FROM app_audit_entry ORDER BY seq DESC LIMIT 1")
    seq, prev = (int(last[0]["seq"]), last[0]["hash"]) if last else (0, GENESIS)
    head = await _raw(engine, "SELECT seq, hash, mac FROM app_audit_head LIMIT 1")
    if (last or head) and not (
        head
        and (int(head[0]["seq"]), head[0]["hash"]) == (seq, prev)
        and hmac.compare_digest(head[0]["mac"] or "", head_mac(seq, prev))
    ):
        # Entries cut (or rewritten) behind the head's back: appending would seal the damage into a valid chain.
        raise AuditTampered(
            "the audit trail's last entry does not match its sealed head: nothing more is recorded, "
            "and so nothing is changed, until `zhida audit verify` has been looked into"
        )
    # Stored with microsecond precision and hashed in UTC, so the hash survives the round trip.
    now = dt.datetime.now(dt.UTC)
    rows = []
    for c in changes:
        seq += 1
        e = {
            "seq": seq,
            "at": now,
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
    if engine.engine_type == "postgres":  # one array per column: a short statement, prepared once
        await _raw(
            engine,
            f"INSERT INTO app_audit_entry ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
            + ", ".join(f"{{}}::{t}[]" for t in _PG_TYPES)
            + ")",
            *(list(c) for c in zip(*rows)),
        )
        rows = []
    one = "(" + ", ".join("{}" for _ in _COLUMNS) + ")"
    for i in range(0, len(rows), _ROWS_PER_INSERT):
        part = rows[i : i + _ROWS_PER_INSERT]
        await _raw(
            engine,
            f"INSERT INTO app_audit_entry ({', '.join(_COLUMNS)}) VALUES " + ", ".join(one for _ in part),
            *(v for r in part for v in r),
        )
    mac = head_mac(seq, prev)
    updated = await _raw(engine, "UPDATE app_audit_head SET seq = {}, hash = {}, mac = {} RETURNING id", seq, prev, mac)
    if not updated:
        await _raw(engine, "INSERT INTO app_audit_head (seq, hash, mac) VALUES ({}, {}, {})", seq, prev, mac)


def head_mac(seq: int, last_hash: str) -> str:
    """The head's seal: HMAC-SHA256 of (seq, last hash) under the audit key (ZHIDA_AUDIT_KEY, or one derived from
    ZHIDA_SECRET_KEY). Anyone may recompute entry hashes; only the key's holder can seal a different head."""
    from app.config import get_settings

    settings = get_settings()
    key = settings.audit_key or hmac.new(settings.secret_key.encode(), b"zhida audit head", hashlib.sha256).hexdigest()
    return hmac.new(key.encode(), f"{seq}|{last_hash}".encode(), hashlib.sha256).hexdigest()


# Tables whose rows are only ever written with an audit entry: an empty trail beside any of them was wiped.
_AUDITED_TABLES = ("app_user", "policies_version", "eligibility_enterprise", "eligibility_talent", "pay_payment")


class AuditTampered(AppError):
    """The audit trail no longer ends where its sealed head says: writes stop rather than bury the damage."""

    status = 503


@dataclass
class AuditActor:
    """Who is acting (user name and role), handed to services; records what they change."""

    name: str
    role: str
    subject_id: str | None = None

    async def record(
        self,
        action: str,
        entity: str,
        entity_id: Any,
        before: Any = None,
        after: Any = None,
        detail: dict | None = None,
    ) -> None:
        await append(self.name, self.role, [Change(action, entity, str(entity_id), before, after, detail)])

    async def record_many(self, changes: Iterable[Change]) -> None:
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
    """Walk the chain in order; the first entry whose hash or link does not hold is reported; then the sealed head."""
    broken, checked, prev = await _walk(batch)
    if broken is not None:
        return broken
    head = await AuditHead.select().first()
    if head and not hmac.compare_digest(head["mac"] or "", head_mac(int(head["seq"]), head["hash"])):
        return VerifyResult(
            False,
            checked,
            None,
            "the chain head's seal does not match: the trail was cut or "
            "rewritten (or ZHIDA_AUDIT_KEY / ZHIDA_SECRET_KEY is not the key that sealed it; after "
            "such a change, or an upgrade with old processes still writing, see `zhida audit reseal`)",
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


async def reseal(actor: AuditActor, reason: str) -> dict:
    """An admin's recovery after the audit key changed (or an upgrade left the head unsealed): when every entry's hash
    and link hold, the head is sealed afresh at the last entry, and an entry ``audit.reseal`` records who did it, why,
    and the head found, so a cut the reseal papers over stays on the record. Refused when an entry is broken."""
    if actor.role != "admin":
        raise AppError(f"only an admin may reseal the audit trail; {actor.name} is {actor.role}", 403)
    if not reason.strip():
        raise AppError("say why the audit trail is resealed")
    engine = AuditEntry._meta.db
    async with engine.transaction():
        if engine.engine_type == "postgres":
            await _raw(engine, "SELECT pg_advisory_xact_lock({})", _CHAIN_LOCK)
        broken, checked, prev = await _walk()
        if broken is not None:
            raise AppError(f"entry {broken.broken_seq} is broken ({broken.reason}): the trail is not resealed", 409)
        found = await _raw(engine, "SELECT seq, hash, mac FROM app_audit_head LIMIT 1")
        mac = head_mac(checked, prev)
        await _raw(engine, "DELETE FROM app_audit_head")
        await _raw(engine, "INSERT INTO app_audit_head (seq, hash, mac) VALUES ({}, {}, {})", checked, prev, mac)
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
            engine,
            actor.name,
            actor.role,
            [
                Change(
                    "audit.reseal",
                    "audit",
                    "head",
                    was,
                    {"seq": checked, "hash": prev},
                    {"reason": reason[:200], "found_head": was, "last_entry": checked},
                )
            ],
        )
    return {"entries": checked, "found_head": was}
