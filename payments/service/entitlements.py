"""Entitlements (享受资格): what each subject is owed per policy version, payable once its account is verified,
with the exclusive-group rule (同一事项不重复享受, 就高) applied and its reason stored for the subject to see."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from kit import workdays
from kit.audit import Actor, Change
from kit.db import bulk_insert, codes, from_row, in_list, raw, rows_of_subject, sql_literals, transaction
from kit.i18n import _l
from kit.money import format_yuan
from kit.time import now
from kit.vocab import EntitlementState, PaymentException, PaymentStatus
from payments.errors import InvalidState, NotFound
from payments.schemas import EntitlementCreate, EntitlementRead, PolicyFacts, yuan
from payments.service import budget
from payments.tables import Entitlement
from policies.schemas import Once, PriorPayments

# Not yet committed to a batch: may still change.
OPEN_STATES = (
    EntitlementState.WAITING_ACCOUNT,
    EntitlementState.PAYABLE,
    EntitlementState.EXCLUDED,
    EntitlementState.AMOUNT_CHANGED,
)
# Neither open nor holding the right: replaced by another row of the same right, or by nothing.
_IDLE_STATES = (EntitlementState.SUPERSEDED,)
# Not holding the right either, but opened again when the subject qualifies again (资格复核).
REOPENABLE = (*OPEN_STATES, EntitlementState.WITHDRAWN)
_COLUMNS = (
    "key",
    "right_key",
    "period",
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
    "publicity_until",
)
PAYABLE_REASON = "可发放: 账户已核验"
WAITING_REASON = "待确认账户: 请在门户确认或更正收款账户"


def reverify_amount_reason(old_fen: int, new_fen: int) -> str:
    return f"金额变更：按当前数据应为 ¥{format_yuan(new_fen)}（原 ¥{format_yuan(old_fen)}），待经办人确认新金额后发放"


def holds_right(state: str) -> bool:
    """Whether a row of a right counts as received (in a batch, paid or abandoned): a later version pays at most
    the difference (top_up), or nothing."""
    return state not in REOPENABLE and state not in _IDLE_STATES


def period_of(policy: PolicyFacts, as_of: dt.date | None = None) -> str:
    """The period a payment under ``policy`` counts for: "" for ``once: lifetime``, the year of the evaluation date
    (the match's ``as_of``; the version's ``effective_from`` when there is none) for ``per_year``, the version
    number for ``per_version``."""
    if policy.once == "per_year":
        return str((as_of or policy.effective_from).year)
    if policy.once == "per_version":
        return str(policy.version)
    return ""


def right_key(policy_code: str, period: str, subject_kind: str, subject_id: str) -> str:
    """A subject's right under a policy (code) for a period: paid at most once, whatever the version."""
    return f"{policy_code}|{period}|{subject_kind}|{subject_id}"


def entitlement_key(right: str, n: int) -> str:
    """The n-th row of a right (0: the first payment; 1, 2…: top-ups of later versions)."""
    return right if n == 0 else f"{right}#{n}"


def _account_state(verified_account: str) -> tuple[EntitlementState, str]:
    if verified_account:
        return EntitlementState.PAYABLE, PAYABLE_REASON
    return EntitlementState.WAITING_ACCOUNT, WAITING_REASON


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """What the audit hashes of an entitlement (no account number)."""
    return {
        k: row[k]
        for k in ("key", "policy_version", "amount_fen", "clause_codes", "state", "source", "source_ref")
        if k in row
    }


def amount_due(policy: PolicyFacts, amount_fen: int, held: list[dict[str, Any]]) -> tuple[int, str]:
    """What a right still owes under this version, and why: ``held`` are its rows already in a batch, paid or
    abandoned (their amounts count as received: never more than the rule allows)."""
    if not held:
        return amount_fen, ""
    revoked = [r for r in held if r["state"] == EntitlementState.REVOKED]
    if revoked:
        return 0, f"已撤销: 公示期异议成立 ({'、'.join(sorted({r['key'] for r in revoked}))}), 不予发放"
    received = sum(int(r["amount_fen"]) for r in held)
    versions = "、".join(sorted({f"v{r['policy_version']}" for r in held}))
    if not policy.top_up:
        return 0, f"已按本政策 {versions} 享受 (¥{format_yuan(received)}), 不重复享受"
    if amount_fen <= received:
        return 0, f"已按本政策 {versions} 享受 ¥{format_yuan(received)}, 不低于本版本金额, 无需补差"
    return amount_fen - received, f"就高补差: 本版本 ¥{format_yuan(amount_fen)}, 已享受 ¥{format_yuan(received)}"


async def _conditional_update(row_id: int, values: dict[str, Any], at: Any) -> bool:
    """Update an open row unless a batch took it since it was read."""
    sets = ", ".join(f"{k} = {{}}" for k in values)
    done = await raw(
        f"UPDATE pay_entitlement SET {sets}, updated_at = {{}} WHERE id = {{}} "
        f"AND state IN ({sql_literals(list(REOPENABLE))}) AND batch_id IS NULL RETURNING id",
        *values.values(),
        at,
        row_id,
    )
    return bool(done)


async def _supersede(row: dict[str, Any], reason: str, detail: dict[str, Any], at: Any) -> list[Change]:
    """Set an unpaid row of a right aside (superseded, with the reason) unless a batch took it meanwhile; returns
    the audit change, or none."""
    if not await _conditional_update(row["id"], {"state": EntitlementState.SUPERSEDED.value, "reason": reason}, at):
        return []
    return [
        Change(
            "entitlement.supersede",
            "entitlement",
            row["key"],
            {"state": row["state"]},
            {"state": EntitlementState.SUPERSEDED},
            detail,
        )
    ]


async def record_entitlements(
    policy: PolicyFacts, items: Iterable[EntitlementCreate], *, actor: Actor
) -> dict[str, int]:
    """Store (or refresh) entitlements of one published version; returns counts inserted/updated/unchanged/locked.

    An entitlement is a subject's right under the policy code for a period (``once``): a right already in a batch,
    paid or abandoned is never paid again ("locked"), except with ``top_up``, where a higher amount adds a row paying
    the difference. An unpaid row of the right is taken over by the later version (its amount and clauses).
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
    # 公示: a new entitlement of a policy with publicity_days is payable only after that many working days
    publicity_until = workdays.deadline(at, policy.publicity_days) if policy.publicity_days else None
    async with transaction():
        await budget.ensure_budget(policy.version_id, policy.code, policy.version, policy.budget_fen, facts)
        periods = [period_of(policy, i.as_of) for i in items]
        rights = [right_key(policy.code, p, i.subject_kind, i.subject_id) for p, i in zip(periods, items)]
        existing: dict[str, list[dict[str, Any]]] = {}
        unique = sorted(set(rights))
        for k in range(0, len(unique), 5000):
            marks, args = in_list(unique[k : k + 5000])
            for r in await raw(f"SELECT * FROM pay_entitlement WHERE right_key {marks} ORDER BY id", *args):
                existing.setdefault(r["right_key"], []).append(r)
        new_rows = []
        for right, period, item in zip(rights, periods, items):
            account = item.payee_account if item.account_verified else ""
            state, reason = _account_state(account)
            clauses = ";".join(item.clause_codes)
            rows = existing.get(right, [])
            held = [r for r in rows if holds_right(r["state"])]
            # A withdrawn row (资格复核) whose subject qualifies again is opened again, at what it qualifies for.
            open_rows = [r for r in rows if r["state"] in REOPENABLE]
            if open_rows and max(int(r["policy_version"]) for r in open_rows) > policy.version:
                counts["unchanged"] += 1  # a later version decides this right already: an earlier one never undoes it
                continue
            due, why = amount_due(policy, item.amount_fen, held)
            if due <= 0:
                counts["locked"] += 1
                for r in open_rows:  # an unpaid row the right no longer owes (e.g. a lower version with top_up)
                    changes += await _supersede(r, why, {"version": policy.version}, at)
                continue
            if why:
                reason = f"{reason}; {why}"
            if not open_rows:
                key = entitlement_key(right, len(rows))
                new_rows.append(
                    (
                        key,
                        right,
                        period,
                        policy.version_id,
                        policy.code,
                        policy.version,
                        item.subject_kind,
                        item.subject_id,
                        item.source,
                        item.source_ref,
                        due,
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
                        publicity_until,
                    )
                )
                created.append([key, due, clauses, state, item.source, item.source_ref])
                continue
            old, *extra = open_rows
            for r in extra:  # more than one unpaid row (a batch cancelled after a top-up): the first carries the due
                changes += await _supersede(r, f"已并入 {old['key']}", {"into": old["key"]}, at)
            amount_fen, pending, pending_clauses = due, None, ""
            if old["state"] == EntitlementState.EXCLUDED:
                state, reason = EntitlementState.EXCLUDED, old["reason"]  # the group decision below re-evaluates it
            elif (
                old["state"] != EntitlementState.WITHDRAWN
                and due != old["amount_fen"]
                and int(old["policy_version"]) == policy.version
            ):
                # Another amount on the same version (the subject's data changed): neither is paid until the finance
                # maker accepts the new one (reverify.accept_amount). A later version's amount was reviewed at its
                # publication: it takes the row over directly.
                amount_fen, pending, pending_clauses = old["amount_fen"], due, clauses
                clauses = old["clause_codes"]
                state, reason = EntitlementState.AMOUNT_CHANGED, reverify_amount_reason(old["amount_fen"], pending)
            update: dict[str, Any] = {
                "version_id": policy.version_id,
                "policy_version": policy.version,
                "exclusive_group": policy.exclusive_group,
                "effective_from": policy.effective_from.isoformat(),
                "amount_fen": amount_fen,
                "pending_amount_fen": pending,
                "pending_clause_codes": pending_clauses,
                "clause_codes": clauses,
                "payee_name": item.payee_name,
                "bank_name": item.bank_name,
                "payee_account": account,
                "state": state.value if hasattr(state, "value") else state,
                "reason": reason,
                "source": item.source,
                "source_ref": item.source_ref,
            }
            if all(old.get(k) == v for k, v in update.items()):
                counts["unchanged"] += 1
                continue
            if not await _conditional_update(old["id"], update, at):
                counts["locked"] += 1  # a batch took it meanwhile
                continue
            changes.append(
                Change("entitlement.update", "entitlement", old["key"], _public(old), _public({**old, **update}))
            )
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
    raise InvalidState(
        _l("the entitlements of exclusive group {group} kept changing meanwhile; try again"), group=group
    )


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
        # The rows of one policy code are one candidate (a right and its top-ups); rivals are other codes.
        ents = [e for e in ents if e["state"] not in _IDLE_STATES and e["state"] != EntitlementState.WITHDRAWN]
        if len({e["policy_code"] for e in ents}) < 2:
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
            if e["policy_code"] == winner["policy_code"]:
                others = "、".join(
                    f"{o['policy_code']} (¥{format_yuan(o['amount_fen'])})"
                    for o in ents
                    if o["policy_code"] != e["policy_code"]
                )
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
    return from_row(
        EntitlementRead,
        r,
        amount=yuan(r["amount_fen"]),
        clause_codes=codes(r["clause_codes"]),
        pending_amount=yuan(r["pending_amount_fen"]) if r.get("pending_amount_fen") is not None else None,
    )


async def entitlements_of_subject(subject_kind: str, subject_id: str) -> list[EntitlementRead]:
    """A subject's entitlements with their state and reason (for the portal)."""
    rows = await rows_of_subject(Entitlement, subject_kind, subject_id)
    return [_read(r) for r in rows]


async def get_entitlement(entitlement_id: int) -> EntitlementRead:
    r = await Entitlement.select().where(Entitlement.id == entitlement_id).first()
    if r is None:
        raise NotFound(_l("entitlement {entitlement_id} does not exist"), entitlement_id=entitlement_id)
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


async def prior_payments(
    policy_code: str,
    subject_kind: str,
    version: int,
    once: Once,
    top_up: bool,
    as_of: dt.date,
    amounts_fen: dict[str, int],
) -> PriorPayments:
    """For the publication preview of a new version: how many of the subjects it matches (with their amounts) the
    policy already paid (or has in a batch) for the same period under earlier versions, and what the version would
    add: new subjects, and with top_up the differences (就高补差)."""
    facts = PolicyFacts(
        version_id=0, code=policy_code, version=version, budget_fen=0, effective_from=as_of, once=once, top_up=top_up
    )
    rights = {right_key(policy_code, period_of(facts, as_of), subject_kind, s): s for s in amounts_fen}
    held: dict[str, list[dict[str, Any]]] = {}
    keys = sorted(rights)
    for k in range(0, len(keys), 5000):
        marks, args = in_list(keys[k : k + 5000])
        for r in await raw(
            f"SELECT right_key, policy_version, amount_fen, state FROM pay_entitlement WHERE right_key {marks}", *args
        ):
            if holds_right(r["state"]):
                held.setdefault(r["right_key"], []).append(r)
    paid_before = new_subjects = top_ups = 0
    new_fen = top_up_fen = 0
    for right, subject in rights.items():
        rows = held.get(right, [])
        due, _ = amount_due(facts, amounts_fen[subject], rows)
        if not rows:
            new_subjects += 1
            new_fen += due
            continue
        paid_before += 1
        if due > 0:
            top_ups += 1
            top_up_fen += due
    return PriorPayments(
        paid_before=paid_before,
        new_subjects=new_subjects,
        new_amount=yuan(new_fen),
        top_up_subjects=top_ups,
        top_up_total=yuan(top_up_fen),
    )
