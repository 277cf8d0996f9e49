"""Entitlements (享受资格): what each subject is owed per policy version, payable once its account is verified,
with the exclusive-group rule (同一事项不重复享受, 就高) applied and its reason stored for the subject to see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kit.audit import Actor, Change
from kit.db import bulk_insert, in_list, raw, sql_literals, transaction
from kit.money import format_yuan
from kit.time import now
from kit.vocab import EntitlementState, PaymentException, PaymentStatus
from payments.errors import InvalidState, NotFound
from payments.schemas import EntitlementCreate, EntitlementRead, PolicyFacts, yuan
from payments.service import budget
from payments.tables import Entitlement

# Not yet committed to a batch: may still change.
OPEN_STATES = (
    EntitlementState.WAITING_ACCOUNT,
    EntitlementState.PAYABLE,
    EntitlementState.EXCLUDED,
    EntitlementState.AMOUNT_CHANGED,
)
_COLUMNS = (
    "key",
    "version_id",
    "policy_code",
    "policy_version",
    "subject_kind",
    "subject_id",
    "source",
    "source_ref",
    "amount_fen",
    "clause_codes",
    "exclusive_group",
    "effective_from",
    "state",
    "reason",
    "payee_name",
    "bank_name",
    "payee_account",
    "batch_id",
    "created_at",
    "updated_at",
)
PAYABLE_REASON = "可发放: 账户已核验"
WAITING_REASON = "待确认账户: 请在门户确认或更正收款账户"


def reverify_amount_reason(old_fen: int, new_fen: int) -> str:
    return f"金额变更：按当前数据应为 ¥{format_yuan(new_fen)}（原 ¥{format_yuan(old_fen)}），待经办人确认新金额后发放"


def entitlement_key(version_id: int, subject_kind: str, subject_id: str) -> str:
    return f"{version_id}:{subject_kind}:{subject_id}"


def _account_state(verified_account: str) -> tuple[EntitlementState, str]:
    if verified_account:
        return EntitlementState.PAYABLE, PAYABLE_REASON
    return EntitlementState.WAITING_ACCOUNT, WAITING_REASON


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """What the audit hashes of an entitlement (no account number)."""
    return {k: row[k] for k in ("key", "amount_fen", "clause_codes", "state", "source", "source_ref") if k in row}


async def record_entitlements(
    policy: PolicyFacts, items: Iterable[EntitlementCreate], *, actor: Actor
) -> dict[str, int]:
    """Store (or refresh) entitlements of one published version; returns counts inserted/updated/unchanged/locked.

    An entitlement already in a batch or paid is never changed: a later re-match cannot alter what was approved.
    """
    items = list(items)
    facts = {
        "title": policy.title,
        "issuer": policy.issuer,
        "clause_titles": policy.clause_titles,
        "mode": policy.mode,
        "subject": policy.subject,
        "effective_from": policy.effective_from.isoformat(),
        "exclusive_group": policy.exclusive_group,
    }
    counts = {"inserted": 0, "updated": 0, "unchanged": 0, "locked": 0}
    changes: list[Change] = []
    created: list[list[Any]] = []
    at = now()
    async with transaction():
        await budget.ensure_budget(policy.version_id, policy.code, policy.version, policy.budget_fen, facts)
        existing: dict[str, dict[str, Any]] = {}
        keys = [entitlement_key(policy.version_id, i.subject_kind, i.subject_id) for i in items]
        for k in range(0, len(keys), 5000):
            marks, args = in_list(keys[k : k + 5000])
            for r in await raw(f"SELECT * FROM pay_entitlement WHERE key {marks}", *args):
                existing[r["key"]] = r
        new_rows = []
        for key, item in zip(keys, items):
            account = item.payee_account if item.account_verified else ""
            state, reason = _account_state(account)
            clauses = ";".join(item.clause_codes)
            old = existing.get(key)
            if old is None:
                new_rows.append(
                    (
                        key,
                        policy.version_id,
                        policy.code,
                        policy.version,
                        item.subject_kind,
                        item.subject_id,
                        item.source,
                        item.source_ref,
                        item.amount_fen,
                        clauses,
                        policy.exclusive_group,
                        policy.effective_from.isoformat(),
                        state,
                        reason,
                        item.payee_name,
                        item.bank_name,
                        account,
                        None,
                        at,
                        at,
                    )
                )
                created.append([key, item.amount_fen, clauses, state, item.source, item.source_ref])
                continue
            # A withdrawn entitlement (资格复核) whose subject qualifies again is open again, at what it qualifies for.
            if old["state"] not in OPEN_STATES and old["state"] != EntitlementState.WITHDRAWN:
                counts["locked"] += 1
                continue
            amount_fen, pending, pending_clauses = item.amount_fen, None, ""
            if old["state"] == EntitlementState.EXCLUDED:
                state, reason = EntitlementState.EXCLUDED, old["reason"]  # the group decision below re-evaluates it
            elif old["state"] != EntitlementState.WITHDRAWN and item.amount_fen != old["amount_fen"]:
                # Another amount: neither is paid until the finance maker accepts the new one (reverify.accept_amount).
                amount_fen, pending, pending_clauses = old["amount_fen"], item.amount_fen, clauses
                clauses = old["clause_codes"]
                state, reason = EntitlementState.AMOUNT_CHANGED, reverify_amount_reason(old["amount_fen"], pending)
            update: dict[str, Any] = {
                "amount_fen": amount_fen,
                "pending_amount_fen": pending,
                "pending_clause_codes": pending_clauses,
                "clause_codes": clauses,
                "payee_name": item.payee_name,
                "bank_name": item.bank_name,
                "payee_account": account,
                "state": state,
                "reason": reason,
                "source": item.source,
                "source_ref": item.source_ref,
            }
            if all(old.get(k) == v for k, v in update.items()):
                counts["unchanged"] += 1
                continue
            await Entitlement.update(
                {**{getattr(Entitlement, k): v for k, v in update.items()}, Entitlement.updated_at: at}
            ).where(Entitlement.id == old["id"])
            changes.append(Change("entitlement.update", "entitlement", key, _public(old), _public({**old, **update})))
            counts["updated"] += 1
        await bulk_insert(Entitlement, _COLUMNS, new_rows)
        counts["inserted"] = len(new_rows)
        if created:
            # One entry for the lot (the chain appends in batches): its hashed ``after`` binds every new entitlement.
            changes.append(
                Change(
                    "entitlement.create",
                    "policy_version",
                    str(policy.version_id),
                    None,
                    {"entitlements": created},
                    {
                        "policy": policy.code,
                        "version": policy.version,
                        "count": len(created),
                        "total_fen": sum(c[1] for c in created),
                    },
                )
            )
        if policy.exclusive_group:
            changes += await _apply_exclusive_group(
                policy.exclusive_group, {(i.subject_kind, i.subject_id) for i in items}
            )
        await actor.record_many(changes)
    return counts


def _rank(row: dict[str, Any]) -> tuple[int, str, str]:
    # 就高: the highest amount; ties go to the earlier effective_from, then the smaller code.
    return (-row["amount_fen"], row["effective_from"], row["policy_code"])


async def _apply_exclusive_group(group: str, subjects: set[tuple[str, str]]) -> list[Change]:
    """Within an exclusive group a subject keeps one entitlement; the others are excluded, with the reason.

    Each change is conditional on the state the decision was made on: a batch may take one of the group's
    entitlements between the read and the write (PostgreSQL, READ COMMITTED). The decision is then made again on what
    is there now, so an entitlement already in a batch is never excluded behind its back (and then paid next to the
    one that replaced it)."""
    changes: list[Change] = []
    for _ in range(5):
        stale = await _decide_group(group, subjects, changes)
        if not stale:
            return changes
    raise InvalidState(f"the entitlements of exclusive group {group} kept changing meanwhile; try again")


async def _decide_group(group: str, subjects: set[tuple[str, str]], changes: list[Change]) -> bool:
    """One pass of the group rule; appends its changes, and returns True when a row had changed under it."""
    rows = await Entitlement.select().where(Entitlement.exclusive_group == group)
    by_subject: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        key = (r["subject_kind"], r["subject_id"])
        if key in subjects:
            by_subject.setdefault(key, []).append(r)
    at = now()
    for ents in by_subject.values():
        if len(ents) < 2:
            continue
        taken = [
            e
            for e in ents
            if e["state"] not in OPEN_STATES
            and e["state"] not in (EntitlementState.ABANDONED, EntitlementState.WITHDRAWN)
        ]
        winner = taken[0] if taken else sorted(ents, key=_rank)[0]
        for e in ents:
            if e["state"] not in OPEN_STATES:
                continue
            if e is winner:
                others = "、".join(f"{o['policy_code']} (¥{format_yuan(o['amount_fen'])})" for o in ents if o is not e)
                state, base = _account_state(e["payee_account"])
                if e["state"] == EntitlementState.AMOUNT_CHANGED:  # still waits for the maker
                    state, base = EntitlementState.AMOUNT_CHANGED, e["reason"].split("; 同一事项")[0]
                reason = f"{base}; 同一事项不重复享受 ({group}) 就高: 本项金额最高, 不另享受 {others}"
            else:
                state = EntitlementState.EXCLUDED
                reason = (
                    f"同一事项不重复享受 ({group}): 已享受 {winner['policy_code']} "
                    f"(¥{format_yuan(winner['amount_fen'])})" + ("" if taken else ", 按就高原则")
                )
            if (state, reason) != (e["state"], e["reason"]):
                done = await raw(
                    "UPDATE pay_entitlement SET state = {}, reason = {}, updated_at = {} WHERE id = {} "
                    "AND state = {} AND batch_id IS NULL RETURNING id",
                    state.value,
                    reason,
                    at,
                    e["id"],
                    e["state"],
                )
                if not done:  # taken by a batch (or changed) since it was read
                    return True
                changes.append(
                    Change(
                        "entitlement.exclusive_group",
                        "entitlement",
                        e["key"],
                        {"state": e["state"]},
                        {"state": state},
                        {"group": group},
                    )
                )
    return False


async def account_verified(
    subject_kind: str, subject_id: str, *, payee_name: str, bank_name: str, payee_account: str, actor: Actor
) -> int:
    """A subject's account was confirmed or corrected and verified: its open entitlements become payable.
    Returns how many entitlements now carry the account."""
    at = now()
    async with transaction():
        rows = await Entitlement.select().where(
            (Entitlement.subject_kind == subject_kind)
            & (Entitlement.subject_id == subject_id)
            & Entitlement.state.is_in(list(OPEN_STATES))
        )
        # Also those whose payment the bank refused or returned: their re-issue will pay the corrected account.
        rows += await raw(
            "SELECT e.* FROM pay_entitlement e WHERE e.subject_kind = {} AND e.subject_id = {} "
            f"AND e.state = {sql_literals([EntitlementState.BATCHED])} AND EXISTS (SELECT 1 FROM pay_payment p "
            f"WHERE p.entitlement_id = e.id AND p.exception = {sql_literals([PaymentException.OPEN])} "
            f"AND p.status IN ({sql_literals([PaymentStatus.REJECTED, PaymentStatus.RETURNED])}))",
            subject_kind,
            subject_id,
        )
        changes: list[Change] = []
        for r in rows:
            if r["state"] in (EntitlementState.EXCLUDED, EntitlementState.BATCHED, EntitlementState.AMOUNT_CHANGED):
                state, reason = r["state"], r["reason"]
            else:
                state, reason = _account_state(payee_account)
            await Entitlement.update(
                {
                    Entitlement.payee_name: payee_name,
                    Entitlement.bank_name: bank_name,
                    Entitlement.payee_account: payee_account,
                    Entitlement.state: state,
                    Entitlement.reason: reason,
                    Entitlement.updated_at: at,
                }
            ).where(Entitlement.id == r["id"])
            changes.append(
                Change("entitlement.account_verified", "entitlement", r["key"], {"state": r["state"]}, {"state": state})
            )
        await actor.record_many(changes)
    return len(rows)


def _read(r: dict[str, Any]) -> EntitlementRead:
    return EntitlementRead(
        id=r["id"],
        policy_code=r["policy_code"],
        policy_version=r["policy_version"],
        subject_kind=r["subject_kind"],
        subject_id=r["subject_id"],
        amount=yuan(r["amount_fen"]),
        clause_codes=[c for c in r["clause_codes"].split(";") if c],
        state=r["state"],
        reason=r["reason"],
        batch_id=r["batch_id"],
        pending_amount=yuan(r["pending_amount_fen"]) if r.get("pending_amount_fen") is not None else None,
    )


async def entitlements_of_subject(subject_kind: str, subject_id: str) -> list[EntitlementRead]:
    """A subject's entitlements with their state and reason (for the portal)."""
    rows = (
        await Entitlement.select()
        .where((Entitlement.subject_kind == subject_kind) & (Entitlement.subject_id == subject_id))
        .order_by(Entitlement.id)
    )
    return [_read(r) for r in rows]


async def get_entitlement(entitlement_id: int) -> EntitlementRead:
    r = await Entitlement.select().where(Entitlement.id == entitlement_id).first()
    if r is None:
        raise NotFound(f"entitlement {entitlement_id} does not exist")
    return _read(r)


async def entitlement_counts(policy_code: str | None = None) -> dict[str, int]:
    """How many entitlements are in each state (optionally for one policy)."""
    sql = "SELECT state, COUNT(*) AS n FROM pay_entitlement"
    args: list[Any] = []
    if policy_code:
        sql += " WHERE policy_code = {}"
        args.append(policy_code)
    rows = await raw(sql + " GROUP BY state", *args)
    return {r["state"]: int(r["n"]) for r in rows}
