"""资格复核 (re-verification): an entitlement is paid only while its subject qualifies, on the current data, for the
policy version it came from — checked when a re-match withdraws the match, when a batch is made and when a run
starts.

One that fails is held out, never paid silently: a subject that no longer qualifies has its entitlement withdrawn
(the failing conditions in words as the reason; at the start of a run its payment is withheld — never sent — and
its reservation released); one that qualifies for another amount waits, unpaid, for the finance maker to accept the
new amount (``accept_amount``). Each hold-out is a ``pay_held_out`` row (what finance and the subject see), audited,
and a withdrawal tells the subject (notice ``entitlement_withdrawn``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from eligibility import incremental
from eligibility import service as eligibility
from eligibility.standing import Verdict, verdicts
from kit.audit import Actor, Change
from kit.db import from_row, in_list, raw, sql_literals, transaction
from kit.i18n import _l
from kit.money import format_yuan
from kit.time import china_today, now
from kit.vocab import EntitlementState, PaymentException, PaymentStatus, Role
from notifications import service as notifications
from payments.errors import Forbidden, InvalidState, NotFound
from payments.schemas import HeldOutRead, yuan
from payments.service import ledger
from payments.service.entitlements import PAYABLE_REASON, WAITING_REASON, holds_right, reverify_amount_reason
from payments.service.ledger import EntryType, Move
from payments.tables import Entitlement, HeldOut
from policies import service as policies
from policies.errors import PolicyNotFound

log = logging.getLogger("zhida.payments")

# Open entitlements a withdrawal reaches: not in a batch, not paid.
WITHDRAWABLE = (
    EntitlementState.WAITING_ACCOUNT,
    EntitlementState.PAYABLE,
    EntitlementState.EXCLUDED,
    EntitlementState.AMOUNT_CHANGED,
)
_WITHDRAWABLE = sql_literals(WITHDRAWABLE)
NOT_SENT = "NOT_ELIGIBLE"  # a withheld payment's reason code (pay_payment.reason is short; the words are held out)
AMOUNT_CODE = "AMOUNT_CHANGED"
PORTAL_LINK = "/portal"


@dataclass(frozen=True)
class Check:
    """An entitlement against its subject's current data: pass, withdrawn (not eligible) or amount_changed."""

    entitlement_id: int
    outcome: str  # "pass" | "withdrawn" | "amount_changed"
    reason: str
    new_amount_fen: int | None = None
    new_clauses: tuple[str, ...] = ()


def judge(row: dict[str, Any], v: Verdict, received_fen: int = 0) -> Check:
    """The outcome for an entitlement row given its subject's verdict. An approved application's amount is the
    reviewer's: only its eligibility is checked. ``received_fen`` is what other rows of the same right already hold
    (a top-up row owes the verdict's amount less that)."""
    if not v.eligible:
        return Check(row["id"], "withdrawn", f"已取消：不再符合条件。{v.reason}")
    owed = v.amount_fen - received_fen
    if received_fen and owed <= 0:
        return Check(
            row["id"],
            "withdrawn",
            f"已取消：按当前数据应得 ¥{format_yuan(v.amount_fen)}，已享受 ¥{format_yuan(received_fen)}",
        )
    if row.get("source", "auto") == "auto" and owed != int(row["amount_fen"]):
        return Check(
            row["id"],
            "amount_changed",
            reverify_amount_reason(int(row["amount_fen"]), owed),
            owed,
            v.clauses,
        )
    return Check(row["id"], "pass", "")


async def _received(rows: list[dict[str, Any]]) -> dict[int, int]:
    """Per entitlement row: what the other rows of its right (policy code, period, subject) already hold."""
    rights = sorted({r["right_key"] for r in rows if r.get("right_key")})
    if not rights:
        return {}
    held: dict[str, list[tuple[int, int]]] = {}
    for i in range(0, len(rights), 2000):
        marks, args = in_list(rights[i : i + 2000])
        for h in await raw(
            f"SELECT id, right_key, state, amount_fen FROM pay_entitlement WHERE right_key {marks}", *args
        ):
            if holds_right(h["state"]):
                held.setdefault(h["right_key"], []).append((int(h["id"]), int(h["amount_fen"])))
    return {int(r["id"]): sum(a for i, a in held.get(r.get("right_key") or "", []) if i != int(r["id"])) for r in rows}


async def check_entitlements(rows: list[dict[str, Any]]) -> dict[int, Check]:
    """Each entitlement row (id, version_id, subject_kind, subject_id, amount_fen, source) against the current
    profile and its policy version's rules (compiled closures). A version unknown to policies/ cannot be checked:
    its entitlements pass (only test data has such versions)."""
    by_version: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_version.setdefault(int(r["version_id"]), []).append(r)
    out: dict[int, Check] = {}
    received = await _received(rows)
    today = china_today()
    for version_id, ents in by_version.items():
        try:
            ruleset = await policies.ruleset_of(version_id)
        except PolicyNotFound:
            out.update({int(e["id"]): Check(int(e["id"]), "pass", "") for e in ents})
            continue
        found = await verdicts(ruleset, [e["subject_id"] for e in ents if e["subject_kind"] == ruleset.subject], today)
        for e in ents:
            v = found.get(e["subject_id"])
            out[int(e["id"])] = (
                Check(int(e["id"]), "pass", "") if v is None else judge(e, v, received.get(int(e["id"]), 0))
            )
    return out


async def _record(
    rows: list[dict[str, Any]], checks: dict[int, Check], stage: str, *, actor: Actor, payments: dict[int, dict] | None
) -> list[int]:
    """Hold out the failing entitlements (in the caller's transaction): their new state and reason, a held-out row
    each, the audit entries. Returns the ids of the withdrawn ones (to be told)."""
    at = now()
    withdrawn: list[int] = []
    changes: list[Change] = []
    for r in rows:
        c = checks.get(int(r["id"]))
        if c is None or c.outcome == "pass":
            continue
        if c.outcome == "withdrawn":
            state, pending, clauses = EntitlementState.WITHDRAWN, None, ""
            withdrawn.append(int(r["id"]))
        else:
            state, pending, clauses = EntitlementState.AMOUNT_CHANGED, c.new_amount_fen, ";".join(c.new_clauses)
        await raw(
            "UPDATE pay_entitlement SET state = {}, reason = {}, pending_amount_fen = {}, pending_clause_codes = {}, "
            "batch_id = NULL, updated_at = {} WHERE id = {}",
            state.value,
            c.reason,
            pending,
            clauses,
            at,
            r["id"],
        )
        p = (payments or {}).get(int(r["id"]))
        await HeldOut.insert(
            HeldOut(
                entitlement_id=r["id"],
                payment_id=p["id"] if p else None,
                batch_id=p["batch_id"] if p else None,
                stage=stage,
                outcome=c.outcome,
                version_id=r["version_id"],
                policy_code=r["policy_code"],
                subject_kind=r["subject_kind"],
                subject_id=r["subject_id"],
                amount_fen=r["amount_fen"],
                new_amount_fen=c.new_amount_fen,
                reason=c.reason,
                created_at=at,
            )
        )
        changes.append(
            Change(
                f"entitlement.{c.outcome}",
                "entitlement",
                r["key"],
                {"state": r["state"], "amount_fen": r["amount_fen"]},
                {"state": state, "pending_amount_fen": pending, "reason": c.reason},
                {"stage": stage, **({"payment": p["id"], "batch": p["batch_id"]} if p else {})},
            )
        )
    await actor.record_many(changes)
    return withdrawn


async def _resettle_matches(rows: list[dict[str, Any]], checks: dict[int, Check], actor: Actor) -> None:
    """The subjects that failed are re-matched too, so their stored matches agree (a refresh then brings back no
    withdrawn entitlement, nor the old amount)."""
    seen = set()
    for r in rows:
        c = checks.get(int(r["id"]))
        if c is not None and c.outcome != "pass" and (r["subject_kind"], r["subject_id"]) not in seen:
            seen.add((r["subject_kind"], r["subject_id"]))
            await incremental.rematch_subject(r["subject_kind"], r["subject_id"], china_today(), audit=actor)


async def screen_payable(policy_code: str | None, entitlement_ids: list[int] | None, *, actor: Actor) -> list[int]:
    """Before a batch is made: every payable entitlement it would take, checked; the failing ones are held out (in
    a transaction of their own, so they stay held out whether or not a batch is made). Returns the held-out ids."""
    sql = f"SELECT * FROM pay_entitlement WHERE state = {sql_literals([EntitlementState.PAYABLE])} AND batch_id IS NULL"
    args: list[Any] = []
    if policy_code:
        sql += " AND policy_code = {}"
        args.append(policy_code)
    if entitlement_ids:
        marks, more = in_list(list(entitlement_ids))
        sql += f" AND id {marks}"
        args += more
    rows = await raw(sql, *args)
    if not rows:
        return []
    checks = await check_entitlements(rows)
    failing = [r for r in rows if checks[int(r["id"])].outcome != "pass"]
    if not failing:
        return []
    async with transaction():
        # Only those still payable and in no batch (another maker may have taken one meanwhile).
        marks, more = in_list([int(r["id"]) for r in failing])
        still = await raw(
            f"SELECT * FROM pay_entitlement WHERE id {marks} AND state = {sql_literals([EntitlementState.PAYABLE])} "
            "AND batch_id IS NULL",
            *more,
        )
        withdrawn = await _record(still, checks, "batch", actor=actor, payments=None)
        await _resettle_matches(still, checks, actor)
    await tell_withdrawn(withdrawn, actor=actor)
    return [int(r["id"]) for r in still]


async def screen_run(batch_id: int, *, actor: Actor) -> list[int]:
    """At the start of a run (in start_batch's transaction, the batch locked): every payment not yet sent checked;
    a failing one is withheld (void, never sent, exception 'withheld'), its reservation released and its entitlement
    held out. Returns the entitlement ids to tell (withdrawn), after the commit."""
    pays = await raw(
        f"SELECT * FROM pay_payment WHERE batch_id = {{}} AND status = {sql_literals([PaymentStatus.CREATED])} "
        "AND exception = ''",
        batch_id,
    )
    if not pays:
        return []
    by_ent = {int(p["entitlement_id"]): p for p in pays}
    marks, args = in_list(list(by_ent))
    ents = await raw(f"SELECT * FROM pay_entitlement WHERE id {marks}", *args)
    # What is checked is what the payment would pay: its amount, not a later one.
    checks = await check_entitlements([{**e, "amount_fen": by_ent[int(e["id"])]["amount_fen"]} for e in ents])
    failing = [e for e in ents if checks[int(e["id"])].outcome != "pass"]
    if not failing:
        return []
    at = now()
    moves = []
    for e in failing:
        p = by_ent[int(e["id"])]
        code = NOT_SENT if checks[int(e["id"])].outcome == "withdrawn" else AMOUNT_CODE
        done = await raw(
            f"UPDATE pay_payment SET status = {sql_literals([PaymentStatus.VOID])}, "
            f"exception = {sql_literals([PaymentException.WITHHELD])}, reason = {{}}, updated_at = {{}} "
            f"WHERE id = {{}} AND status = {sql_literals([PaymentStatus.CREATED])} AND exception = '' RETURNING id",
            code,
            at,
            p["id"],
        )
        if done:
            moves.append(
                Move(EntryType.reversal, p["version_id"], p["amount_fen"], batch_id=batch_id, payment_id=p["id"])
            )
    withheld = {int(m.payment_id) for m in moves if m.payment_id is not None}
    failing = [e for e in failing if int(by_ent[int(e["id"])]["id"]) in withheld]
    await ledger.post(moves)
    withdrawn = await _record(
        failing, checks, "run", actor=actor, payments={int(e["id"]): by_ent[int(e["id"])] for e in failing}
    )
    if failing:
        await actor.record(
            "batch.withhold",
            "batch",
            batch_id,
            None,
            {"withheld": sorted(withheld)},
            detail={"payments": len(withheld), "released_fen": sum(m.amount_fen for m in moves)},
        )
    await _resettle_matches(failing, checks, actor)
    return withdrawn


async def withdraw_unqualified(
    version_id: int,
    *,
    actor: Actor,
    subject_ids: list[str] | None = None,
    tell: bool = True,
    queue: Any = None,
    base_url: str = "",
) -> list[int]:
    """After a re-match: the open entitlements (not in a batch) of a version whose subject's match was withdrawn —
    it no longer qualifies — are withdrawn with the match's reason. Returns their ids."""
    gone = await eligibility.withdrawn_matches(version_id, subject_ids)
    if not gone:
        return []
    reasons = {(m.subject_kind, m.subject_id): m.withdrawn_reason for m in gone}
    async with transaction():
        marks, args = in_list(sorted({m.subject_id for m in gone}))
        rows = await raw(
            f"SELECT * FROM pay_entitlement WHERE version_id = {{}} AND subject_id {marks} "
            f"AND state IN ({_WITHDRAWABLE}) AND batch_id IS NULL AND source = 'auto'",
            version_id,
            *args,
        )
        checks = {
            int(r["id"]): Check(
                int(r["id"]),
                "withdrawn",
                f"已取消：不再符合条件。{reasons.get((r['subject_kind'], r['subject_id']), '')}",
            )
            for r in rows
            if (r["subject_kind"], r["subject_id"]) in reasons
        }
        withdrawn = await _record(rows, checks, "match", actor=actor, payments=None)
    if tell:
        await tell_withdrawn(withdrawn, actor=actor, queue=queue, base_url=base_url)
    return withdrawn


async def tell_withdrawn(entitlement_ids: list[int], *, actor: Actor, queue: Any = None, base_url: str = "") -> int:
    """The notice ``entitlement_withdrawn`` to each subject, once per hold-out (best effort: the portal shows the
    reason whatever happens to the notice)."""
    if not entitlement_ids:
        return 0
    marks, args = in_list(entitlement_ids)
    rows = await raw(
        "SELECT e.id, e.subject_kind, e.subject_id, e.amount_fen, e.reason, e.policy_code, b.policy_facts, "
        "(SELECT MAX(h.id) FROM pay_held_out h WHERE h.entitlement_id = e.id) AS held "
        f"FROM pay_entitlement e LEFT JOIN pay_budget b ON b.version_id = e.version_id WHERE e.id {marks}",
        *args,
    )
    requests = []
    for r in rows:
        title = json.loads(r["policy_facts"] or "{}").get("title") or r["policy_code"]
        requests.append(
            {
                "recipient_kind": r["subject_kind"],
                "subject_id": r["subject_id"],
                "kind": "entitlement_withdrawn",
                "key": f"withdrawn:{r['id']}:{r['held']}",
                "context": {
                    "policy_title": title,
                    "amount": f"{yuan(r['amount_fen'])}",
                    "reason": r["reason"],
                    "link": base_url.rstrip("/") + PORTAL_LINK,
                },
            }
        )
    try:
        result = await notifications.notify_many(requests, actor=actor, queue=queue)
    except Exception:  # noqa: BLE001 - the withdrawal stands; the portal shows it with its reason
        log.warning("withdrawal notices of %d entitlements not written", len(requests), exc_info=True)
        return 0
    return len(getattr(result, "created", []) or [])


async def accept_amount(entitlement_id: int, *, actor: Actor) -> int:
    """The finance maker accepts the amount a subject qualifies for now (an entitlement in amount_changed): checked
    once more on the current data, it becomes the entitlement's amount, payable in the next batch. Returns the
    accepted amount in fen; refused when the amount moved again (the new one then waits) or the subject no longer
    qualifies (then it is withdrawn)."""
    if actor.role != Role.FINANCE_MAKER:
        raise Forbidden(
            _l("only a {role} may accept a changed amount; {name} is {actor_role}"),
            role=Role.FINANCE_MAKER,
            name=actor.name,
            actor_role=actor.role,
        )
    row = await Entitlement.select().where(Entitlement.id == entitlement_id).first()
    if row is None:
        raise NotFound(_l("entitlement {entitlement_id} does not exist"), entitlement_id=entitlement_id)
    if row["state"] != EntitlementState.AMOUNT_CHANGED:
        raise InvalidState(
            _l("entitlement {entitlement_id} is {state}: only a changed amount can be accepted"),
            entitlement_id=entitlement_id,
            state=row["state"],
        )
    pending = int(row["pending_amount_fen"] or 0)
    check = (await check_entitlements([{**row, "amount_fen": pending}]))[entitlement_id]
    if check.outcome != "pass":
        async with transaction():
            await _record([row], {entitlement_id: check}, "accept", actor=actor, payments=None)
        if check.outcome == "withdrawn":
            await tell_withdrawn([entitlement_id], actor=actor)
            raise InvalidState(
                _l("entitlement {entitlement_id}: the subject no longer qualifies; it is withdrawn"),
                entitlement_id=entitlement_id,
            )
        raise InvalidState(
            _l("entitlement {entitlement_id}: the amount changed again, to ¥{amount}; accept that one"),
            entitlement_id=entitlement_id,
            amount=format_yuan(check.new_amount_fen or 0),
        )
    state = EntitlementState.PAYABLE if row["payee_account"] else EntitlementState.WAITING_ACCOUNT
    reason = PAYABLE_REASON if row["payee_account"] else WAITING_REASON
    async with transaction():
        done = await raw(
            "UPDATE pay_entitlement SET amount_fen = {}, clause_codes = {}, state = {}, reason = {}, "
            "pending_amount_fen = NULL, pending_clause_codes = '', updated_at = {} WHERE id = {} AND state = {} "
            "RETURNING id",
            pending,
            row["pending_clause_codes"] or row["clause_codes"],
            state.value,
            reason,
            now(),
            entitlement_id,
            EntitlementState.AMOUNT_CHANGED.value,
        )
        if not done:
            raise InvalidState(
                _l("entitlement {entitlement_id} changed meanwhile; look again"), entitlement_id=entitlement_id
            )
        await actor.record(
            "entitlement.accept_amount",
            "entitlement",
            row["key"],
            {"state": row["state"], "amount_fen": row["amount_fen"]},
            {"state": state, "amount_fen": pending},
            detail={"policy": row["policy_code"]},
        )
    return pending


def held_read(r: dict[str, Any]) -> HeldOutRead:
    return from_row(
        HeldOutRead,
        r,
        amount=yuan(r["amount_fen"]),
        new_amount=yuan(r["new_amount_fen"]) if r["new_amount_fen"] is not None else None,
    )


async def held_out(
    *, subject: tuple[str, str] | None = None, batch_id: int | None = None, limit: int = 500
) -> list[HeldOutRead]:
    """Entitlements held out on re-verification, newest first (finance's list; a subject's own in the portal)."""
    q = HeldOut.select().order_by(HeldOut.id, ascending=False).limit(limit)
    if subject is not None:
        q = q.where((HeldOut.subject_kind == subject[0]) & (HeldOut.subject_id == subject[1]))
    if batch_id is not None:
        q = q.where(HeldOut.batch_id == batch_id)
    return [held_read(r) for r in await q]
