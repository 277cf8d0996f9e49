"""An objection upheld with a data correction (异议成立，更正数据): the officer writes the corrected value of the profile
field(s) the objection names; in the transaction that decides the objection the profile is upserted through the
data exchange's own path (eligibility.service.upsert_profile: validated, the replaced version kept, written as feed
``objection:<id>``, audited with the officer), the subject is re-evaluated against every live policy of its kind
(eligibility.incremental, the path a feed's change takes) and the entitlements of the auto-mode policies it now
matches are recorded (right key: once). A hold the objection had is released. The new matches' notices and the
withdrawals' notices follow the commit (app.flows.correct_by_objection), each keyed, so exactly once.

A second answer is refused (the objection is no longer open); a correction that changes nothing, a field a rule
does not read or an identifying field (ID number, name, accounts) is refused and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eligibility import incremental
from eligibility import service as eligibility
from eligibility.errors import ProfileInvalid
from eligibility.fields import IDENTIFYING
from eligibility.profiles import field_names
from eligibility.standing import Withdrawal
from kit.audit import Actor
from kit.db import raw
from kit.i18n import _l
from kit.jobs import JobQueue
from kit.time import china_today, now
from payments.errors import InvalidState
from payments.service.sources import _refresh_version, policy_facts_of
from policies.applications import objections
from policies.applications.schemas import ObjectionRead


@dataclass
class Corrected:
    objection: ObjectionRead
    matched: list[int] = field(default_factory=list)  # version ids the subject newly matches
    withdrawn: list[Withdrawal] = field(default_factory=list)
    entitlements: dict[str, int] = field(default_factory=dict)


def correctable(kind: str) -> set[str]:
    """The profile fields an objection may correct: every contract field but the identifying ones."""
    return set(field_names(kind)) - set(IDENTIFYING[kind])


def _current(matches: list) -> set[int]:
    return {int(m.version_id) for m in matches if m.state == "current" and m.version_id is not None}


async def correct_by_objection(
    objection_id: int,
    *,
    corrections: dict[str, str],
    answer: str,
    actor: Actor,
    base_url: str,
    queue: JobQueue | None = None,
) -> Corrected:
    """Decide an objection as upheld with a data correction (see the module's docstring)."""
    corrections = {k.strip(): v for k, v in (corrections or {}).items() if k.strip()}
    if not corrections:
        raise InvalidState(
            _l("name the field(s) to correct and their corrected values / 请填写需更正的字段及更正后的值")
        )
    out: dict[str, Any] = {}

    async def then(o: dict[str, Any]) -> None:
        kind, sid = o["subject_kind"], o["subject_id"]
        refused = sorted(set(corrections) - correctable(kind))
        if refused:
            raise InvalidState(
                _l("these fields cannot be corrected through an objection / 以下字段不能通过异议更正: {fields}"),
                fields=", ".join(refused),
            )
        profile = await eligibility.get_profile(kind, sid)
        if profile is None:
            raise InvalidState(_l("the subject's profile has not arrived; there is nothing to correct / 档案尚未归集"))
        names = field_names(kind)
        before = {f: profile.get(f) for f in corrections}
        matched_before = _current(await eligibility.matches_of_subject(sid))
        merged = {**{k: v for k, v in profile.items() if k in names}, **corrections}
        try:
            _, outcome = await eligibility.upsert_profile(kind, merged, actor=actor, feed=f"objection:{objection_id}")
        except ProfileInvalid as exc:
            raise InvalidState(
                _l("the corrected values are not valid / 更正后的值无效: {problems}"),
                problems="; ".join(f"{f}: {r}" for f, r in exc.problems),
            ) from exc
        if outcome == "unchanged":
            raise InvalidState(_l("the correction changes nothing in the profile / 更正后的值与档案相同"))
        await actor.record(
            "objection.correct",
            "objection",
            str(objection_id),
            {f: None if v is None else str(v) for f, v in before.items()},
            dict(corrections),
            {"subject_kind": kind, "target": o["target"], "feed": f"objection:{objection_id}"},
        )
        _, withdrawn = await incremental.rematch_subject_outcomes(kind, sid, china_today(), audit=actor)
        matched = sorted(_current(await eligibility.matches_of_subject(sid)) - matched_before)
        totals: dict[str, int] = {}
        for version_id in matched:
            facts = await policy_facts_of(version_id)
            for k, n in (await _refresh_version(facts, actor=actor, subject_ids=[sid])).items():
                totals[k] = totals.get(k, 0) + n
        if o["target"] == "entitlement":
            rows = await raw(
                "UPDATE pay_entitlement SET held_by = NULL, updated_at = {} WHERE id = {} AND held_by = {} RETURNING id",
                now(),
                int(o["target_id"]),
                objection_id,
            )
            if rows:
                await actor.record(
                    "entitlement.release",
                    "entitlement",
                    str(o["target_id"]),
                    {"held_by": objection_id},
                    {"held_by": None},
                    {"objection": objection_id, "outcome": "corrected"},
                )
        out.update(matched=matched, withdrawn=withdrawn, entitlements=totals)

    read = await objections.answer_objection(
        objection_id, actor=actor, answer=answer, base_url=base_url, queue=queue, outcome="corrected", then=then
    )
    return Corrected(read, out["matched"], out["withdrawn"], out["entitlements"])
