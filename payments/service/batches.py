"""Disbursement batches (代发批次): a finance maker proposes, one or two different checkers approve (四眼原则),
the budget is reserved when the batch is made and released when it is rejected or cancelled."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kit.audit import Actor
from kit.db import bulk_insert, from_row, in_list, is_postgres, raw, sql_literals, transaction
from kit.i18n import _l
from kit.paging import Page, PageRequest, Sorts, fetch_page, search
from kit.time import now
from kit.vocab import BatchStatus, EntitlementState, PaymentException, PaymentStatus, Role
from payments.errors import BudgetExceeded, Forbidden, InvalidState, NotFound, PaymentsError
from payments.schemas import BatchRead, yuan
from payments.service import budget, ledger, reverify, risk
from payments.service.ledger import EntryType, Move
from payments.service.payment_rows import PAYMENT_COLUMNS, new_batch, new_payment_row, request_id_for
from payments.tables import Batch, Entitlement, Payment

PENDING_APPROVAL = (BatchStatus.CREATED, BatchStatus.CHECKED)  # checked: approved once, waiting for the second checker
CANCELLABLE = (BatchStatus.CREATED, BatchStatus.CHECKED, BatchStatus.APPROVED)
_PAYABLE = sql_literals([EntitlementState.PAYABLE])
_BATCHED = sql_literals([EntitlementState.BATCHED])


def _require_role(actor: Actor, role: Role, what: str) -> None:
    if actor.role != role:
        raise Forbidden(
            _l("only a {role} may {what}; {name} is {actor_role}"),
            role=role,
            what=what,
            name=actor.name,
            actor_role=actor.role,
        )


@dataclass(frozen=True)
class BatchCreated:
    batch_id: int
    payment_count: int
    total_fen: int
    left_for_budget: int  # payable entitlements left out because the budget was used up
    needs_second_checker: bool
    held_out: int = 0  # payable entitlements held out on re-verification (no longer eligible, or amount changed)
    risk_held: int = 0  # payable entitlements held by an open or confirmed risk flag (风险拦截)
    in_publicity: int = 0  # payable entitlements left out: still in their 公示 period, or held by an open objection


async def create_batch(
    *,
    actor: Actor,
    second_checker_threshold_fen: int,
    policy_code: str | None = None,
    entitlement_ids: list[int] | None = None,
    title: str = "",
) -> BatchCreated:
    """A batch of payable entitlements not yet in a batch (of a policy, or a selection), reserving their amounts
    against each policy's one fund (what every version of it committed counts); entitlements beyond what the fund has
    left stay out and are counted."""
    _require_role(actor, Role.FINANCE_MAKER, _l("create a disbursement batch"))
    if not policy_code and not entitlement_ids:
        raise PaymentsError(_l("say which policy (or which entitlements) the batch pays"))
    at = now()
    # 资格复核 first, in a transaction of its own: what fails on the current data is held out for good.
    held = await reverify.screen_payable(policy_code, entitlement_ids, actor=actor)
    async with transaction():
        candidates, flagged = await _unflagged(await _payable(policy_code, entitlement_ids))
        waiting = await _in_publicity(policy_code, entitlement_ids, at)
        if not candidates:
            if held:
                raise NotFound(
                    _l(
                        "no payable entitlement of {policy} is waiting for a batch ({held} held out on "
                        "re-verification: no longer eligible, or the amount changed; see `zhida payments held`)"
                    ),
                    policy=policy_code or _l("the selection"),
                    held=len(held),
                )
            if flagged:
                raise NotFound(
                    _l(
                        "no payable entitlement of {policy} is waiting for a batch ({flagged} held by a risk flag "
                        "until an auditor clears it)"
                    ),
                    policy=policy_code or _l("the selection"),
                    flagged=len(flagged),
                )
            if waiting:
                raise NotFound(
                    _l(
                        "no payable entitlement of {policy} is waiting for a batch ({waiting} still in their publicity "
                        "period (公示) or held by an objection: payable when the period ends and the objection is decided)"
                    ),
                    policy=policy_code or _l("the selection"),
                    waiting=waiting,
                )
            raise NotFound(
                _l("no payable entitlement of {policy} is waiting for a batch"),
                policy=policy_code or _l("the selection"),
            )
        # One fund per policy code: v1 and v2 entitlements of a code reserve against the same budget.
        budgets = await budget.lock([c["policy_code"] for c in candidates])
        # again, now that the budgets are ours
        candidates, flagged = await _unflagged(await _payable(policy_code, entitlement_ids))
        chosen: list[dict] = []
        by_code: dict[str, list[dict]] = {}
        for c in candidates:
            by_code.setdefault(c["policy_code"], []).append(c)
        for code, rows in sorted(by_code.items()):
            n = await budget.fit(code, budgets[code], [r["amount_fen"] for r in rows])
            chosen += rows[:n]
        left = len(candidates) - len(chosen)
        if not chosen:
            raise BudgetExceeded(
                _l("the budget of {policy} is used up: none of the {count} payable entitlements fits"),
                policy=policy_code or _l("these policies"),
                count=len(candidates),
            )
        batch = await new_batch(
            policy_code or "",
            title or (f"{policy_code} 代发" if policy_code else "代发"),
            actor,
            [c["amount_fen"] for c in chosen],
            second_checker_threshold_fen,
            at,
        )
        total = batch.total_fen
        await _take_entitlements(batch.id, [c["id"] for c in chosen])
        attempts = await _next_attempts([c["id"] for c in chosen])
        await bulk_insert(
            Payment,
            PAYMENT_COLUMNS,
            (
                new_payment_row(
                    batch.id,
                    c["id"],
                    attempts[c["id"]],
                    None,
                    c["version_id"],
                    c["policy_code"],
                    c["subject_kind"],
                    c["subject_id"],
                    c["payee_name"],
                    c["payee_account"],
                    c["amount_fen"],
                    request_id_for(c["key"], attempts[c["id"]]),
                    at,
                )
                for c in chosen
            ),
        )
        committed: dict[int, int] = {}
        for c in chosen:
            committed[c["version_id"]] = committed.get(c["version_id"], 0) + c["amount_fen"]
        await ledger.post(
            Move(EntryType.commit, v, amount, batch_id=batch.id) for v, amount in sorted(committed.items())
        )
        await actor.record(
            "batch.create",
            "batch",
            batch.id,
            None,
            {"entitlements": [[c["id"], c["amount_fen"]] for c in chosen]},
            detail={
                "policy": policy_code or "",
                "payments": len(chosen),
                "total_fen": total,
                "left_for_budget": left,
                "needs_second_checker": batch.needs_second_checker,
                "held_out": len(held),
                "risk_held": len(flagged),
                "risk_held_ids": sorted(flagged)[:200],
                "in_publicity": waiting,
            },
        )
        await budget.raise_alerts(list(by_code), actor)
    return BatchCreated(
        batch.id, len(chosen), total, left, batch.needs_second_checker, len(held), len(flagged), waiting
    )


async def _unflagged(candidates: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, list[str]]]:
    """风险拦截: the candidates no open or confirmed risk flag holds, and the held ones' rules by entitlement id."""
    flagged = await risk.holding([int(c["id"]) for c in candidates])
    return [c for c in candidates if int(c["id"]) not in flagged], flagged


async def payable_by_policy() -> dict[str, tuple[int, int]]:
    """Payable entitlements a batch would take now, by policy code: (how many, their total in fen): not in a batch,
    past their 公示 period and held by no objection, held by no open or confirmed risk flag (the same as create_batch
    takes). The maker's page offers a batch only for these codes."""
    rows = await raw(
        "SELECT policy_code, COUNT(*) AS n, SUM(amount_fen) AS fen FROM pay_entitlement "
        f"WHERE state = {sql_literals([EntitlementState.PAYABLE])} AND batch_id IS NULL AND held_by IS NULL "
        "AND (publicity_until IS NULL OR publicity_until <= {}) "
        "AND NOT EXISTS (SELECT 1 FROM pay_risk_flag f WHERE f.entitlement_id = pay_entitlement.id "
        f"AND f.state IN ({sql_literals(risk.HOLDING)})) GROUP BY policy_code",
        now(),
    )
    return {r["policy_code"]: (int(r["n"]), int(r["fen"] or 0)) for r in rows}


async def _payable(policy_code: str | None, ids: list[int] | None) -> list[dict[str, Any]]:
    q = Entitlement.select(
        Entitlement.id,
        Entitlement.key,
        Entitlement.version_id,
        Entitlement.policy_code,
        Entitlement.policy_version,
        Entitlement.subject_kind,
        Entitlement.subject_id,
        Entitlement.payee_name,
        Entitlement.payee_account,
        Entitlement.amount_fen,
    ).where(
        (Entitlement.state == EntitlementState.PAYABLE)
        & Entitlement.batch_id.is_null()
        & Entitlement.held_by.is_null()
        & (Entitlement.publicity_until.is_null() | (Entitlement.publicity_until <= now()))
    )
    if policy_code:
        q = q.where(Entitlement.policy_code == policy_code)
    if ids:
        q = q.where(Entitlement.id.is_in(list(ids)))
    return await q.order_by(Entitlement.id)


async def _in_publicity(policy_code: str | None, ids: list[int] | None, at: dt.datetime) -> int:
    """Payable entitlements a batch leaves out: in their 公示 period (publicity_until after ``at``) or held by an
    open objection."""
    q = Entitlement.count().where(
        (Entitlement.state == EntitlementState.PAYABLE)
        & Entitlement.batch_id.is_null()
        & (Entitlement.held_by.is_not_null() | (Entitlement.publicity_until > at))
    )
    if policy_code:
        q = q.where(Entitlement.policy_code == policy_code)
    if ids:
        q = q.where(Entitlement.id.is_in(list(ids)))
    return int(await q)


async def _take_entitlements(batch_id: int, ids: list[int]) -> None:
    at = now()
    if is_postgres() and len(ids) >= 1000:
        # Fresh statistics first: entitlements recorded moments ago are "not there" for the planner, which then
        # answers each slice below by scanning every payable entitlement (a 260,000-payment batch took minutes).
        await raw("ANALYZE pay_entitlement")
    for i in range(0, len(ids), 5000):
        part = ids[i : i + 5000]
        marks, args = in_list(part)
        rows = await raw(
            f"UPDATE pay_entitlement SET state = {_BATCHED}, batch_id = {{}}, updated_at = {{}} "
            f"WHERE id {marks} AND state = {_PAYABLE} AND batch_id IS NULL RETURNING id",
            batch_id,
            at,
            *args,
        )
        if len(rows) != len(part):  # someone else took some meanwhile: refuse the whole batch
            raise InvalidState(
                _l("some entitlements were put in another batch at the same moment; make the batch again")
            )


async def _next_attempts(entitlement_ids: list[int]) -> dict[int, int]:
    out = {i: 1 for i in entitlement_ids}
    for i in range(0, len(entitlement_ids), 5000):
        part = entitlement_ids[i : i + 5000]
        marks, args = in_list(part)
        for r in await raw(
            f"SELECT entitlement_id, MAX(attempt) AS a FROM pay_payment WHERE entitlement_id {marks} "
            "GROUP BY entitlement_id",
            *args,
        ):
            out[int(r["entitlement_id"])] = int(r["a"]) + 1
    return out


async def lock_batch(batch_id: int) -> dict[str, Any]:
    """The batch's row, locked until the transaction ends (PostgreSQL; SQLite's write transaction serialises)."""
    sql = "SELECT * FROM pay_batch WHERE id = {}" + (" FOR UPDATE" if is_postgres() else "")
    rows = await raw(sql, batch_id)
    if not rows:
        raise NotFound(_l("batch {batch_id} does not exist"), batch_id=batch_id)
    return rows[0]


def _summary(b: dict[str, Any]) -> dict[str, Any]:
    return {k: b[k] for k in ("status", "maker", "checker", "second_checker", "total_fen", "payment_count")}


async def approve_batch(batch_id: int, *, actor: Actor) -> BatchStatus:
    """A checker's approval; refused to the batch's maker, and the second approval (above the threshold) to the
    first checker. Returns the batch's new status (checked: waiting for a second checker; approved)."""
    _require_role(actor, Role.FINANCE_CHECKER, _l("approve a disbursement batch"))
    async with transaction():
        b = await lock_batch(batch_id)
        if b["status"] not in PENDING_APPROVAL:
            raise InvalidState(
                _l("batch {batch_id} is {state}: only a batch waiting for approval can be approved"),
                batch_id=batch_id,
                state=b["status"],
            )
        if actor.name == b["maker"]:
            raise Forbidden(
                _l("{name} made batch {batch_id} and cannot also approve it (maker ≠ checker)"),
                name=actor.name,
                batch_id=batch_id,
            )
        at = now()
        if b["status"] == BatchStatus.CREATED:
            status = BatchStatus.CHECKED if b["needs_second_checker"] else BatchStatus.APPROVED
            await Batch.update({Batch.checker: actor.name, Batch.checked_at: at, Batch.status: status}).where(
                Batch.id == batch_id
            )
            after = {**_summary(b), "checker": actor.name, "status": status}
        else:
            if actor.name == b["checker"]:
                raise Forbidden(
                    _l(
                        "{name} approved batch {batch_id} already; a second, different checker must approve a batch above the threshold"
                    ),
                    name=actor.name,
                    batch_id=batch_id,
                )
            status = BatchStatus.APPROVED
            await Batch.update(
                {Batch.second_checker: actor.name, Batch.second_checked_at: at, Batch.status: status}
            ).where(Batch.id == batch_id)
            after = {**_summary(b), "second_checker": actor.name, "status": status}
        await actor.record(
            "batch.approve",
            "batch",
            batch_id,
            _summary(b),
            after,
            detail={"step": "second" if b["status"] == BatchStatus.CHECKED else "first", "status": status},
        )
    return status


async def reject_batch(batch_id: int, *, actor: Actor, reason: str) -> None:
    """A checker sends the batch back: its reservations are released, its entitlements payable again."""
    _require_role(actor, Role.FINANCE_CHECKER, _l("reject a disbursement batch"))
    if not reason.strip():
        raise PaymentsError(_l("say why the batch is rejected"))
    async with transaction():
        b = await lock_batch(batch_id)
        if b["status"] not in PENDING_APPROVAL:
            raise InvalidState(
                _l("batch {batch_id} is {state}: only a batch waiting for approval can be rejected"),
                batch_id=batch_id,
                state=b["status"],
            )
        if actor.name == b["maker"]:
            raise Forbidden(
                _l("{name} made batch {batch_id} and cannot also decide on it (maker ≠ checker)"),
                name=actor.name,
                batch_id=batch_id,
            )
        await _close(b, BatchStatus.REJECTED, actor, reason)


async def cancel_batch(batch_id: int, *, actor: Actor, reason: str = "") -> None:
    """Cancel a batch before it runs (its maker, or a checker): reservations released, entitlements payable again."""
    if actor.role not in (Role.FINANCE_MAKER, Role.FINANCE_CHECKER):
        raise Forbidden(
            _l("only finance staff may cancel a batch; {name} is {actor_role}"), name=actor.name, actor_role=actor.role
        )
    async with transaction():
        b = await lock_batch(batch_id)
        if b["status"] not in CANCELLABLE:
            raise InvalidState(
                _l("batch {batch_id} is {state}: only a batch that has not started can be cancelled"),
                batch_id=batch_id,
                state=b["status"],
            )
        if actor.role == Role.FINANCE_MAKER and actor.name != b["maker"]:
            raise Forbidden(
                _l("only the batch's maker ({maker}) or a checker may cancel batch {batch_id}"),
                maker=b["maker"],
                batch_id=batch_id,
            )
        await _close(b, BatchStatus.CANCELLED, actor, reason)


async def _close(b: dict[str, Any], status: BatchStatus, actor: Actor, reason: str) -> None:
    batch_id = b["id"]
    at = now()
    payments = await raw(
        f"UPDATE pay_payment SET status = {sql_literals([PaymentStatus.VOID])}, updated_at = {{}} WHERE batch_id = {{}} "
        f"AND status = {sql_literals([PaymentStatus.CREATED])} RETURNING id, version_id, amount_fen, entitlement_id",
        at,
        batch_id,
    )
    by_version: dict[int, int] = {}
    for p in payments:
        by_version[int(p["version_id"])] = by_version.get(int(p["version_id"]), 0) + int(p["amount_fen"])
    released = 0 if b["reissue"] else sum(by_version.values())  # a re-issue's reservation stays (see below)
    if b["reissue"]:
        # The re-issued payments go back to the exceptions queue; their reservation stays until abandoned.
        marks, args = in_list([int(p["id"]) for p in payments] or [0])
        await raw(
            f"UPDATE pay_payment SET exception = {sql_literals([PaymentException.OPEN])}, updated_at = {{}} "
            f"WHERE exception = {sql_literals([PaymentException.REISSUED])} AND id IN "
            f"(SELECT reissue_of FROM pay_payment WHERE id {marks})",
            at,
            *args,
        )
    else:
        await raw(
            f"UPDATE pay_entitlement SET state = {_PAYABLE}, batch_id = NULL, updated_at = {{}} "
            f"WHERE batch_id = {{}} AND state = {_BATCHED}",
            at,
            batch_id,
        )
        await ledger.post(
            Move(EntryType.reversal, v, amount, batch_id=batch_id) for v, amount in sorted(by_version.items())
        )
    await Batch.update(
        {Batch.status: status, Batch.closed_by: actor.name, Batch.close_reason: reason, Batch.finished_at: at}
    ).where(Batch.id == batch_id)
    await actor.record(
        f"batch.{'reject' if status == BatchStatus.REJECTED else 'cancel'}",
        "batch",
        batch_id,
        _summary(b),
        {**_summary(b), "status": status},
        detail={"reason": reason[:200], "released_fen": released},
    )


async def get_batch(batch_id: int) -> BatchRead:
    b = await Batch.select().where(Batch.id == batch_id).first()
    if b is None:
        raise NotFound(_l("batch {batch_id} does not exist"), batch_id=batch_id)
    return (await _reads([b]))[0]


async def list_batches(status: BatchStatus | str | None = None, limit: int = 200) -> list[BatchRead]:
    q = Batch.select().order_by(Batch.id, ascending=False).limit(limit)
    if status:
        q = q.where(Batch.status == status)
    return await _reads(await q)


BATCH_SORTS = Sorts(
    {
        "id": Batch.id,
        "status": Batch.status,
        "policy": Batch.policy_code,
        "total": Batch.total_fen,
        "count": Batch.payment_count,
    },
    default="-id",
)


async def batch_page(request: PageRequest, status: BatchStatus | str | None = None) -> Page[BatchRead]:
    """One page of the batches, newest first unless sorted otherwise; searched in the policy code, title and maker."""
    where = [Batch.status == status if status else None, search(request.q, Batch.policy_code, Batch.title, Batch.maker)]
    page = await fetch_page(Batch, where, request, BATCH_SORTS)
    return Page(await _reads(page.items), page.total, page.page, page.size, page.sort)


async def _reads(rows: list[dict[str, Any]]) -> list[BatchRead]:
    if not rows:
        return []
    marks, args = in_list([r["id"] for r in rows])
    stats = await raw(
        f"SELECT batch_id, status, COUNT(*) AS n, SUM(amount_fen) AS total FROM pay_payment "
        f"WHERE batch_id {marks} GROUP BY batch_id, status",
        *args,
    )
    counts: dict[int, dict[str, int]] = {}
    totals: dict[int, dict[str, int]] = {}
    for s in stats:
        counts.setdefault(int(s["batch_id"]), {})[s["status"]] = int(s["n"])
        totals.setdefault(int(s["batch_id"]), {})[s["status"]] = int(s["total"])
    return [
        from_row(
            BatchRead,
            b,
            needs_second_checker=bool(b["needs_second_checker"]),
            total=yuan(b["total_fen"]),
            status_counts=counts.get(b["id"], {}),
            status_totals={k: yuan(v) for k, v in totals.get(b["id"], {}).items()},
        )
        for b in rows
    ]


async def left_out_of(policy_code: str, limit: int = 20) -> list[dict[str, Any]]:
    """Entitlements of ``policy_code`` not in any batch because they cannot be paid as they stand: waiting for a
    (verified) account, or excluded by their exclusive group; grouped by state and reason, the largest group first."""
    rows = await raw(
        "SELECT state, reason, COUNT(*) AS n, SUM(amount_fen) AS total FROM pay_entitlement "
        f"WHERE policy_code = {{}} AND batch_id IS NULL AND state IN "
        f"({sql_literals([EntitlementState.WAITING_ACCOUNT, EntitlementState.EXCLUDED])}) "
        "GROUP BY state, reason ORDER BY COUNT(*) DESC, state, reason LIMIT {}",
        policy_code,
        limit,
    )
    out = [
        {"state": r["state"], "reason": r["reason"], "count": int(r["n"]), "total": yuan(int(r["total"] or 0))}
        for r in rows
    ]
    # 公示: payable, but still in the publicity period or held by an open objection
    for state, reason, cond in (
        ("held_by_objection", "异议处理中：异议作出决定前不发放", "held_by IS NOT NULL"),
        ("in_publicity", "公示期内：公示期满后方可发放", "held_by IS NULL AND publicity_until > {}"),
    ):
        args: list[Any] = [policy_code] + ([now()] if "{}" in cond else [])
        r = (
            await raw(
                "SELECT COUNT(*) AS n, SUM(amount_fen) AS total FROM pay_entitlement WHERE policy_code = {} "
                f"AND batch_id IS NULL AND state = {_PAYABLE} AND {cond}",
                *args,
            )
        )[0]
        if int(r["n"]):
            out.append({"state": state, "reason": reason, "count": int(r["n"]), "total": yuan(int(r["total"] or 0))})
    return out
