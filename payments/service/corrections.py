"""An objection upheld with a data correction (异议成立，更正数据): the officer writes the corrected value of the profile
field(s) the objection names; in the transaction that decides the objection the profile is upserted through the
data exchange's own path (eligibility.service.upsert_profile: validated, the replaced version kept, written as feed
``objection:<id>``, audited with the officer), the subject is re-evaluated against every live policy of its kind
(eligibility.incremental, the path a feed's change takes) and the entitlements of the auto-mode policies it now
matches are recorded (right key: once). A hold the objection had is released. The new matches' notices and the
withdrawals' notices follow the commit (app.flows.correct_by_objection), each keyed, so exactly once.

A field a data-exchange feed owns (profiles.md, "Feeds that own fields") is not overwritten: the correction becomes
a request to that feed (eligibility.corrections: field, old value, proposed value, objection, officer; pending),
the objection is answered with outcome ``correcting``, the profile stays as it is, nothing is re-evaluated and a
hold stays. When the feed's next import delivers the proposed value (``settle_delivered``, run after every import
of that feed) the request is accepted, the subject is re-evaluated as above (new matches' entitlements; their
notices follow, app.flows), the hold released and the objection's outcome becomes ``corrected``. A refusal the
feed sends back (``refuse_request``: CLI or API) rejects the request, releases the hold and answers the objection
again with the feed's reason (outcome ``feed_refused``; the subject may object anew). Fields no feed owns in the same
answer take the direct path at once.

A second answer is refused (the objection is no longer open); a correction that changes nothing, a field a rule
does not read or an identifying field (ID number, name, accounts) is refused and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eligibility import corrections as requests_store
from eligibility import incremental
from eligibility import service as eligibility
from eligibility.errors import ProfileInvalid
from eligibility.fields import IDENTIFYING, label
from eligibility.profiles import field_names, normalize_profile
from eligibility.standing import Withdrawal
from kit.audit import Actor
from kit.db import raw
from kit.i18n import _l
from kit.jobs import JobQueue
from kit.time import china_today, now
from payments.errors import InvalidState
from payments.service.sources import _refresh_version, policy_facts_of
from policies.applications import objections
from policies.applications.notices import deliver_after_commit
from policies.applications.schemas import ObjectionRead


@dataclass
class Corrected:
    objection: ObjectionRead
    matched: list[int] = field(default_factory=list)  # version ids the subject newly matches
    withdrawn: list[Withdrawal] = field(default_factory=list)
    entitlements: dict[str, int] = field(default_factory=dict)
    requests: list[int] = field(default_factory=list)  # correction requests sent to the feeds that own the fields


def correctable(kind: str) -> set[str]:
    """The profile fields an objection may correct: every contract field but the identifying ones."""
    return set(field_names(kind)) - set(IDENTIFYING[kind])


def _current(matches: list) -> set[int]:
    return {int(m.version_id) for m in matches if m.state == "current" and m.version_id is not None}


async def _release_hold(o: dict[str, Any], actor: Actor, outcome: str) -> None:
    if o["target"] != "entitlement":
        return
    rows = await raw(
        "UPDATE pay_entitlement SET held_by = NULL, updated_at = {} WHERE id = {} AND held_by = {} RETURNING id",
        now(),
        int(o["target_id"]),
        int(o["id"]),
    )
    if rows:
        await actor.record(
            "entitlement.release",
            "entitlement",
            str(o["target_id"]),
            {"held_by": o["id"]},
            {"held_by": None},
            {"objection": o["id"], "outcome": outcome},
        )


async def _reevaluate(kind: str, sid: str, actor: Actor, matched_before: set[int] | None) -> tuple[list, list, dict]:
    """Re-match the subject against every live policy of its kind and record the entitlements of the auto-mode
    policies it matches (right key: once). Returns (versions newly matched, or every current one when
    ``matched_before`` is None; withdrawals; entitlements recorded per policy)."""
    _, withdrawn = await incremental.rematch_subject_outcomes(kind, sid, china_today(), audit=actor)
    matched = sorted(_current(await eligibility.matches_of_subject(sid)) - (matched_before or set()))
    totals: dict[str, int] = {}
    for version_id in matched:
        facts = await policy_facts_of(version_id)
        for k, n in (await _refresh_version(facts, actor=actor, subject_ids=[sid])).items():
            totals[k] = totals.get(k, 0) + n
    return matched, withdrawn, totals


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
    current = await objections.get_objection(objection_id)
    feed_of = await requests_store.owners(current.subject_kind)
    owned = {f for f in corrections if f in feed_of}
    out: dict[str, Any] = {"matched": [], "withdrawn": [], "entitlements": {}, "requests": []}

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
        stored = {k: v for k, v in profile.items() if k in names}
        try:
            proposed = normalize_profile(kind, {**stored, **corrections}, today=china_today())
        except ProfileInvalid as exc:
            raise InvalidState(
                _l("the corrected values are not valid / 更正后的值无效: {problems}"),
                problems="; ".join(f"{f}: {r}" for f, r in exc.problems),
            ) from exc
        asked = {f: (profile.get(f), proposed.get(f)) for f in sorted(owned) if proposed.get(f) != profile.get(f)}
        direct = {k: v for k, v in corrections.items() if k not in owned}
        changed = False
        if direct:
            matched_before = _current(await eligibility.matches_of_subject(sid))
            before = {f: profile.get(f) for f in direct}
            _, outcome = await eligibility.upsert_profile(
                kind, {**stored, **direct}, actor=actor, feed=f"objection:{objection_id}"
            )
            changed = outcome != "unchanged"
            if changed:
                await actor.record(
                    "objection.correct",
                    "objection",
                    str(objection_id),
                    {f: None if v is None else str(v) for f, v in before.items()},
                    dict(direct),
                    {"subject_kind": kind, "target": o["target"], "feed": f"objection:{objection_id}"},
                )
                matched, withdrawn, totals = await _reevaluate(kind, sid, actor, matched_before)
                out.update(matched=matched, withdrawn=withdrawn, entitlements=totals)
        if not changed and not asked:
            raise InvalidState(_l("the correction changes nothing in the profile / 更正后的值与档案相同"))
        if asked:  # the hold stays until the feed delivers the value or refuses it
            out["requests"] = await requests_store.create(
                kind, sid, objection_id, asked, feed_of, actor=actor, now=now()
            )
        else:
            await _release_hold(o, actor, "corrected")

    read = await objections.answer_objection(
        objection_id,
        actor=actor,
        answer=answer,
        base_url=base_url,
        queue=queue,
        outcome="correcting" if owned else "corrected",
        then=then,
    )
    return Corrected(read, out["matched"], out["withdrawn"], out["entitlements"], out["requests"])


@dataclass
class Settled:
    """What a feed's import settled for one subject: the requests accepted, the objections now corrected, and the
    re-evaluation (every version it currently matches, whose notices app.flows sends, keyed: once)."""

    subject_kind: str
    subject_id: str
    accepted: list[int]
    objections: list[int]
    matched: list[int] = field(default_factory=list)
    withdrawn: list[Withdrawal] = field(default_factory=list)
    entitlements: dict[str, int] = field(default_factory=dict)


async def settle_delivered(feed: str, *, actor: Actor, base_url: str) -> list[Settled]:
    """After an import of ``feed``: each of its pending requests whose proposed value the stored profile now holds
    is accepted; each subject concerned is re-evaluated, and an objection with no request pending any more gets
    outcome corrected and its hold released. A pending request whose value has not arrived stays pending."""
    pending = await requests_store.requests("pending", feed=feed)
    by_subject: dict[tuple[str, str], list[dict]] = {}
    for r in pending:
        by_subject.setdefault((r["subject_kind"], r["subject_id"]), []).append(r)
    done: list[Settled] = []
    for (kind, sid), rows in sorted(by_subject.items()):
        profile = await eligibility.get_profile(kind, sid)
        arrived = [
            r for r in rows if profile and requests_store.delivered(kind, profile, r["field"], r["proposed_value"])
        ]
        if not arrived:
            continue
        async with requests_store.transaction():
            at = now()
            for r in arrived:
                await requests_store.decide(r["id"], "accepted", actor=actor, now=at)
            matched, withdrawn, totals = await _reevaluate(kind, sid, actor, None)
            closed = []
            for oid in sorted({r["objection_id"] for r in arrived}):
                if await requests_store.requests("pending", objection_id=oid):
                    continue
                o, _ = await objections.correction_settled(oid, accepted=True, actor=actor, base_url=base_url)
                await _release_hold(o, actor, "corrected")
                closed.append(oid)
        done.append(Settled(kind, sid, [r["id"] for r in arrived], closed, matched, withdrawn, totals))
    return done


async def refuse_request(
    request_id: int, reason: str, *, actor: Actor, base_url: str, queue: JobQueue | None = None
) -> dict:
    """The feed refused a correction request (recorded by an operator for it): the request is rejected with the
    feed's reason, the objection answered again with that reason (a notice to the subject) and its hold released.
    The profile is not touched. Returns the request as it now is."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidState(_l("give the feed's reason for refusing the correction / 请填写数据提供方不予更正的理由"))
    r = await requests_store.get_request(request_id)
    if r["status"] != "pending":
        raise InvalidState(_l("correction request {id} is already {state}"), id=request_id, state=r["status"])
    field_zh, field_en = (label(r["subject_kind"], r["field"], lang) for lang in ("zh", "en"))
    text = (
        f"数据提供方（{r['feed']}）未予更正“{field_zh}”：{reason}\n"
        f"The data feed {r['feed']} did not correct the {field_en}: {reason}"
    )
    notice_id = None
    async with requests_store.transaction():
        await requests_store.decide(request_id, "rejected", actor=actor, reason=reason, now=now())
        o, notice_id = await objections.correction_settled(
            r["objection_id"], accepted=False, actor=actor, base_url=base_url, answer=text
        )
        if notice_id is not None:
            await _release_hold(o, actor, "feed_refused")
    if notice_id is not None:
        await deliver_after_commit(queue, [notice_id])
    return await requests_store.get_request(request_id)
