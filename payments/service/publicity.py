"""公示 before paying: a policy with ``publicity_days: N`` shows each new entitlement publicly (the payee's name, the
ID masked, the policy, the amount) for N Chinese working days (kit.workdays); it is payable only after that
(``publicity_until``), and a batch leaves it out until then (batches._payable). Anyone may object during the
period: the objection holds the entitlement (``held_by``) until it is decided —

- dismissed with a reason: the hold is released (payable once the period is over);
- upheld with revocation: the entitlement is revoked, never paid (it keeps the right, so no version pays it);
- upheld with a data correction: see payments/service/corrections (the hold stays until the corrected profile
  arrives and the re-evaluation replaces the entitlement).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field

from kit.audit import Actor
from kit.db import raw, sql_literals, transaction
from kit.i18n import _l
from kit.jobs import JobQueue
from kit.masking import mask_id_number, mask_name
from kit.time import now
from kit.vocab import EntitlementState
from payments.errors import InvalidState, NotFound
from payments.schemas import yuan
from payments.service.entitlements import OPEN_STATES
from payments.tables import Budget, Entitlement
from policies.applications import objections
from policies.applications.schemas import ObjectionCreate, ObjectionRead

# Shown in the list: entitlements not yet committed to a batch, in their period or held by an objection.
_LISTED = sql_literals([s.value for s in OPEN_STATES])


class PublicityEntry(BaseModel):
    """One payee to be, as the public reads it (personal data masked)."""

    entitlement_id: int
    policy_code: str
    policy_title: str
    issuer: str
    payee: str = Field(description="the payee's name; a person's is masked (张*明), an enterprise's shown")
    id_masked: str = Field(description="ID number or USCC, masked: first three and last four")
    amount: str = Field(description="yuan, with thousands separators")
    until: Any = Field(description="the end of the publicity period (an instant, UTC)")
    held: bool = Field(description="an objection holds it until decided")


async def _titles(version_ids: set[int]) -> dict[int, dict[str, Any]]:
    if not version_ids:
        return {}
    rows = await Budget.select(Budget.version_id, Budget.policy_facts).where(Budget.version_id.is_in(list(version_ids)))
    return {int(r["version_id"]): json.loads(r["policy_facts"] or "{}") for r in rows}


def _entry(r: dict[str, Any], facts: dict[str, Any]) -> PublicityEntry:
    name = r["payee_name"] or ""
    return PublicityEntry(
        entitlement_id=r["id"],
        policy_code=r["policy_code"],
        policy_title=facts.get("title") or r["policy_code"],
        issuer=facts.get("issuer") or "",
        payee=mask_name(name) if r["subject_kind"] == "talent" else name,
        id_masked=mask_id_number(r["subject_id"]),
        amount=f"{yuan(int(r['amount_fen'])):,.2f}",
        until=r["publicity_until"],
        held=r["held_by"] is not None,
    )


async def publicity_list(policy_code: str | None = None, *, limit: int = 200, offset: int = 0) -> list[PublicityEntry]:
    """The payees to be still in their publicity period (or held by an objection), the nearest end first."""
    where = f"state IN ({_LISTED}) AND batch_id IS NULL AND (publicity_until > {{}} OR held_by IS NOT NULL)"
    args: list[Any] = [now()]
    if policy_code:
        where += " AND policy_code = {}"
        args.append(policy_code)
    rows = await raw(
        "SELECT id, version_id, policy_code, subject_kind, subject_id, payee_name, amount_fen, publicity_until, "
        f"held_by FROM pay_entitlement WHERE {where} ORDER BY publicity_until, id LIMIT {{}} OFFSET {{}}",
        *args,
        max(1, min(limit, 1000)),
        max(0, offset),
    )
    facts = await _titles({int(r["version_id"]) for r in rows})
    return [_entry(r, facts.get(int(r["version_id"]), {})) for r in rows]


async def publicity_policies() -> list[dict[str, Any]]:
    """The policies with payees in publicity now: code, title and how many."""
    rows = await raw(
        "SELECT policy_code, MIN(version_id) AS version_id, COUNT(*) AS n, MIN(publicity_until) AS first_end "
        f"FROM pay_entitlement WHERE state IN ({_LISTED}) AND batch_id IS NULL "
        "AND (publicity_until > {} OR held_by IS NOT NULL) GROUP BY policy_code ORDER BY policy_code",
        now(),
    )
    facts = await _titles({int(r["version_id"]) for r in rows})
    return [
        {
            "policy_code": r["policy_code"],
            "policy_title": facts.get(int(r["version_id"]), {}).get("title") or r["policy_code"],
            "count": int(r["n"]),
        }
        for r in rows
    ]


async def object_during_publicity(
    entitlement_id: int, *, reason: str, contact: str, actor: Actor, origin: str = "public"
) -> ObjectionRead:
    """Anyone objects to an entry of the public list: an objection (answered in working days) that holds the
    entitlement out of every batch until it is decided."""
    reason, contact = (reason or "").strip(), (contact or "").strip()
    if not reason:
        raise InvalidState(_l("say why you object / 请填写异议理由"))
    if not contact:
        raise InvalidState(_l("leave a contact (phone or email) for the answer / 请留下联系方式以便答复"))
    async with transaction():
        r = await Entitlement.select().where(Entitlement.id == entitlement_id).first()
        at = now()
        until = r["publicity_until"] if r else None
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=at.tzinfo)
        if r is None or until is None or r["batch_id"] is not None or r["state"] not in OPEN_STATES:
            raise NotFound(_l("no such entry in a publicity list / 公示名单中没有该条目"))
        if until <= at:
            raise InvalidState(_l("the publicity period of this entry has ended / 该条目的公示期已结束"))
        facts = (await _titles({int(r["version_id"])})).get(int(r["version_id"]), {})
        ent = _Target(r["subject_kind"], r["subject_id"], r["policy_code"], facts.get("title") or r["policy_code"])
        made = await objections.raise_objection(
            r["subject_kind"],
            r["subject_id"],
            ObjectionCreate(target="entitlement", target_id=entitlement_id, text=reason[:2000]),
            actor=actor,
            entitlement=ent,
            origin=origin,
            contact=contact,
        )
        await hold(entitlement_id, made.id, actor)
    return made


class _Target:
    def __init__(self, subject_kind: str, subject_id: str, policy_code: str, policy_title: str) -> None:
        self.subject_kind, self.subject_id = subject_kind, subject_id
        self.policy_code, self.policy_title = policy_code, policy_title


async def hold(entitlement_id: int, objection_id: int, actor: Actor) -> None:
    """An objection holds an entitlement not yet in a batch: no batch takes it until the objection is decided."""
    rows = await raw(
        "UPDATE pay_entitlement SET held_by = {}, updated_at = {} WHERE id = {} AND batch_id IS NULL RETURNING id",
        objection_id,
        now(),
        entitlement_id,
    )
    if rows:
        await actor.record(
            "entitlement.hold", "entitlement", str(entitlement_id), {"held_by": None}, {"held_by": objection_id}
        )


async def hold_if_in_publicity(entitlement_id: int, objection_id: int, actor: Actor) -> bool:
    """The subject's own objection (portal) to an entitlement still in its publicity period holds it too."""
    r = (
        await Entitlement.select(Entitlement.publicity_until, Entitlement.batch_id)
        .where(Entitlement.id == entitlement_id)
        .first()
    )
    if r is None or r["publicity_until"] is None or r["batch_id"] is not None:
        return False
    until = r["publicity_until"]
    at = now()
    if (until if until.tzinfo else until.replace(tzinfo=at.tzinfo)) <= at:
        return False
    await hold(entitlement_id, objection_id, actor)
    return True


async def decide(
    objection_id: int,
    *,
    outcome: str,
    answer: str,
    actor: Actor,
    base_url: str,
    queue: JobQueue | None = None,
) -> ObjectionRead:
    """Decide an objection: dismissed (hold released), revoked (the entitlement it is about is revoked, never paid)
    or a plain answer (""); the objection's answer is a notice to the subject."""
    if outcome not in ("", "dismissed", "revoked"):
        raise InvalidState(_l("an objection ends as dismissed, revoked or corrected, not {outcome}"), outcome=outcome)

    async def then(o: dict[str, Any]) -> None:
        if o["target"] != "entitlement":
            if outcome == "revoked":
                raise InvalidState(_l("only an entitlement can be revoked / 仅可撤销享受资格"))
            return
        eid = int(o["target_id"])
        if outcome == "revoked":
            rows = await raw(
                f"UPDATE pay_entitlement SET state = {sql_literals([EntitlementState.REVOKED])}, held_by = NULL, "
                "reason = {}, updated_at = {} WHERE id = {} AND batch_id IS NULL "
                f"AND state IN ({_LISTED}) RETURNING id",
                f"已撤销: 异议成立 (异议 {objection_id}): {answer[:200]}",
                now(),
                eid,
            )
            if not rows:
                raise InvalidState(
                    _l(
                        "the entitlement is already in a batch or paid; it can no longer be revoked / 该享受资格已进入批次或已发放，不能撤销"
                    )
                )
            await actor.record(
                "entitlement.revoke",
                "entitlement",
                str(eid),
                {"held_by": objection_id},
                {"state": EntitlementState.REVOKED.value},
                {"objection": objection_id},
            )
        else:
            rows = await raw(
                "UPDATE pay_entitlement SET held_by = NULL, updated_at = {} WHERE id = {} AND held_by = {} RETURNING id",
                now(),
                eid,
                objection_id,
            )
            if rows:
                await actor.record(
                    "entitlement.release",
                    "entitlement",
                    str(eid),
                    {"held_by": objection_id},
                    {"held_by": None},
                    {"objection": objection_id, "outcome": outcome or "answered"},
                )

    return await objections.answer_objection(
        objection_id, actor=actor, answer=answer, base_url=base_url, queue=queue, outcome=outcome, then=then
    )
