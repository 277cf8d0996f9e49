"""Objections (异议) to a decision: a subject contests an application's outcome or an entitlement; officers answer
before the deadline (15 Chinese working days by default, kit.workdays: official holidays and swapped
weekends; the deadline is the end of that day, Beijing time) and see it counting down; the answer is a notice to the subject."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kit import workdays
from kit.audit import Actor
from kit.db import rows_of_subject
from kit.i18n import _l
from kit.jobs import JobQueue
from kit.paging import Page, PageRequest, Sorts, fetch_page, search
from kit.time import now as clock_now
from policies.applications.errors import InvalidState, NotAllowed, NotFound
from policies.applications.notices import deliver_after_commit, notice
from policies.applications.schemas import OFFICER_ROLES, ObjectionCreate, ObjectionRead
from policies.applications.tables import Application, Objection

RESPONSE_DAYS = 15  # working days


def _now() -> dt.datetime:
    return clock_now()  # kit.time's clock: a test or a replay can fix it


def _read(r: dict, now: dt.datetime | None = None) -> ObjectionRead:
    now = now or _now()
    due = r["due_at"] if r["due_at"].tzinfo else r["due_at"].replace(tzinfo=dt.UTC)
    return ObjectionRead(
        **{k: r[k] for k in ObjectionRead.model_fields if k in r and k != "seconds_left"},
        seconds_left=int((due - now).total_seconds()),
    )


def _link(base_url: str, r: dict) -> str:
    if r["target"] == "application":
        return f"{base_url.rstrip('/')}/portal/applications/{r['target_id']}"
    if r["target"] == "policy":
        return f"{base_url.rstrip('/')}/portal/policies/{r['target_id']}"
    return f"{base_url.rstrip('/')}/portal"


async def raise_objection(
    subject_kind: str,
    subject_id: str,
    data: ObjectionCreate,
    *,
    actor: Actor,
    entitlement=None,
    policy: tuple[str, str] | None = None,
    now: dt.datetime | None = None,
    response_days: int = RESPONSE_DAYS,
    origin: str = "subject",
    contact: str = "",
) -> ObjectionRead:
    """Object to one of the subject's own applications (decided) or entitlements. For an entitlement the caller
    passes it as read from payments (``subject_kind``, ``subject_id``, ``policy_code``); it must be the subject's.
    For a non-match (target ``policy``, the published version's id) the caller passes ``policy`` (code, title),
    a published version of the subject's kind it was not matched to."""
    now = now or _now()
    if data.target == "application":
        app = (
            await Application.select()
            .where(
                (Application.id == data.target_id)
                & (Application.subject_kind == subject_kind)
                & (Application.subject_id == subject_id)
            )
            .first()
        )
        if app is None:
            raise NotFound(_l("no such application / 没有该申请"))
        if app["status"] not in ("approved", "rejected"):
            raise InvalidState(_l("an application can be objected to once it is decided / 审核结果作出后方可提出异议"))
        code, title = app["policy_code"], app["policy_title"]
    elif data.target == "policy":
        if policy is None:
            raise NotFound(_l("no such policy / 没有该政策"))
        code, title = policy
    else:
        if entitlement is None or (entitlement.subject_kind, entitlement.subject_id) != (subject_kind, subject_id):
            raise NotFound(_l("no such entitlement / 没有该享受记录"))
        code, title = entitlement.policy_code, getattr(entitlement, "policy_title", "") or entitlement.policy_code
    async with Objection._meta.db.transaction():
        open_one = (
            await Objection.select(Objection.id)
            .where(
                (Objection.target == data.target)
                & (Objection.target_id == data.target_id)
                & (Objection.subject_id == subject_id)
                & (Objection.status == "open")
            )
            .first()
        )
        if open_one is not None:
            raise InvalidState(
                _l("an objection to this is already awaiting an answer / 该事项已有待答复的异议"),
                detail={"objection_id": open_one["id"]},
            )
        row = {
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "target": data.target,
            "target_id": data.target_id,
            "policy_code": code,
            "policy_title": title,
            "text": data.text,
            "status": "open",
            "due_at": workdays.deadline(now, response_days),
            "answer": "",
            "answered_by": None,
            "answered_at": None,
            "created_at": now,
            "origin": origin,
            "contact": contact[:200],
        }
        oid = (await Objection.insert(Objection(**row)).returning(Objection.id))[0]["id"]
        await actor.record(
            "objection.raise",
            "objection",
            str(oid),
            None,
            {"target": data.target, "target_id": data.target_id, "text": data.text, "contact_given": bool(contact)},
            {"target": data.target, "due_at": row["due_at"].isoformat(), "origin": origin},
        )
    return _read({**row, "id": oid}, now)


async def objections_of_subject(subject_kind: str, subject_id: str) -> list[ObjectionRead]:
    rows = await rows_of_subject(Objection, subject_kind, subject_id)
    now = _now()
    return [_read(r, now) for r in rows]


async def objection_of_subject(objection_id: int, subject_kind: str, subject_id: str) -> ObjectionRead:
    r = (
        await Objection.select()
        .where(
            (Objection.id == objection_id)
            & (Objection.subject_kind == subject_kind)
            & (Objection.subject_id == subject_id)
        )
        .first()
    )
    if r is None:
        raise NotFound(_l("no such objection / 没有该异议"))
    return _read(r)


async def get_objection(objection_id: int) -> ObjectionRead:
    r = await Objection.select().where(Objection.id == objection_id).first()
    if r is None:
        raise NotFound(_l("objection {objection_id} does not exist"), objection_id=objection_id)
    return _read(r)


async def list_objections(status: str | None = "open") -> list[ObjectionRead]:
    """The officers' queue, the nearest deadline first."""
    q = Objection.select()
    if status:
        q = q.where(Objection.status == status)
    now = _now()
    return [_read(r, now) for r in await q.order_by(Objection.due_at)]


OBJECTION_SORTS = Sorts({"due": Objection.due_at, "id": Objection.id, "policy": Objection.policy_code}, default="due")


async def objection_page(
    request: PageRequest, status: str | None = "open", *, objection_id: int | None = None
) -> Page[ObjectionRead]:
    """One page of the officers' queue, the nearest deadline first unless sorted otherwise, searched in the policy
    and the subject's text (or the one objection ``objection_id``); counted and limited by the database."""
    now = _now()
    where = [
        Objection.id == objection_id if objection_id is not None else None,
        (Objection.status == "open") & (Objection.due_at < now)
        if status == "overdue"
        else Objection.status == status
        if status
        else None,
        search(request.q, Objection.policy_code, Objection.policy_title, Objection.text),
    ]
    page = await fetch_page(Objection, where, request, OBJECTION_SORTS)
    return page.map(lambda r: _read(r, now))


# corrected: the profile corrected directly (a field no feed owns) or the feed delivered the correction;
# correcting: upheld, the correction asked of the feed that owns the field (eligibility.corrections), not yet
# delivered; feed_refused: that feed refused it, the objection answered with the feed's reason.
OUTCOMES = ("", "dismissed", "revoked", "corrected", "correcting")


async def answer_objection(
    objection_id: int,
    *,
    actor: Actor,
    answer: str,
    base_url: str,
    queue: JobQueue | None = None,
    outcome: str = "",
    then: Callable[[dict], Awaitable[None]] | None = None,
) -> ObjectionRead:
    """Answer (decide) an open objection; ``outcome`` says how it ended (see the table). ``then`` runs in the same
    transaction with the objection's row (payments releases or revokes the entitlement it holds)."""
    if outcome not in OUTCOMES:
        raise InvalidState(_l("an objection ends as dismissed, revoked or corrected, not {outcome}"), outcome=outcome)
    answer = (answer or "").strip()
    if not answer:
        raise InvalidState(_l("write the answer the subject will read / 请填写答复内容"))
    if actor.role not in OFFICER_ROLES:
        raise NotAllowed(
            _l("answering objections needs the role policy_officer or policy_reviewer; you are {actor_role}"),
            actor_role=actor.role,
        )
    now = _now()
    async with Objection._meta.db.transaction():
        if Objection._meta.db.engine_type == "postgres":
            await Objection.raw("SELECT id FROM policies_objection WHERE id = {} FOR UPDATE", objection_id)
        r = await Objection.select().where(Objection.id == objection_id).first()
        if r is None:
            raise NotFound(_l("objection {objection_id} does not exist"), objection_id=objection_id)
        if r["status"] != "open":
            raise InvalidState(_l("this objection has already been answered"))
        await Objection.update(
            {
                Objection.status: "answered",
                Objection.answer: answer[:4000],
                Objection.answered_by: actor.name,
                Objection.answered_at: now,
                Objection.outcome: outcome,
            }
        ).where(Objection.id == objection_id)
        if then is not None:
            await then(r)
        await actor.record(
            "objection.answer",
            "objection",
            str(objection_id),
            {"status": "open"},
            {"status": "answered", "answer": answer, "outcome": outcome},
            {"overdue": _read(r, now).seconds_left < 0},
        )
        n = await notice(
            "objection_answered",
            r,
            f"objection:{objection_id}:answered",
            {"policy_title": r["policy_title"], "answer": answer[:1000], "link": _link(base_url, r)},
            actor=actor,
        )
    await deliver_after_commit(queue, [n.id])
    return await get_objection(objection_id)


async def correction_settled(
    objection_id: int, *, accepted: bool, actor: Actor, base_url: str, answer: str = ""
) -> tuple[dict, int | None]:
    """An objection upheld with a correction asked of a feed (outcome ``correcting``): the feed delivered it
    (``accepted``: outcome corrected) or refused it (outcome feed_refused; ``answer``, the feed's reason, is added
    to the answer and sent to the subject as a new answer notice). Runs in the caller's transaction; returns the
    objection's row as it was and the notice id to deliver after the commit (None when accepted, or when the
    objection was no longer waiting for the feed: nothing changes then)."""
    r = await Objection.select().where(Objection.id == objection_id).first()
    if r is None:
        raise NotFound(_l("objection {objection_id} does not exist"), objection_id=objection_id)
    if r["outcome"] != "correcting":
        return r, None
    outcome = "corrected" if accepted else "feed_refused"
    text = r["answer"] if accepted else f"{r['answer']}\n\n{answer}".strip()[:4000]
    await Objection.update({Objection.outcome: outcome, Objection.answer: text}).where(Objection.id == objection_id)
    await actor.record(
        "objection.correction_settled",
        "objection",
        str(objection_id),
        {"outcome": "correcting"},
        {"outcome": outcome},
        {"feed_answer": answer[:1000]} if answer else None,
    )
    if accepted:
        return r, None
    n = await notice(
        "objection_answered",
        r,
        f"objection:{objection_id}:feed_refused",
        {"policy_title": r["policy_title"], "answer": text[:1000], "link": _link(base_url, r)},
        actor=actor,
    )
    return r, n.id


# ---------------------------------------------------------------------------------- deadlines and the SLA report

REMIND_DAYS = 3  # working days before due_at


def _aware(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class DeadlineEvent:
    """An objection this sweep marked reminded or escalated (the caller tells staff, in the same transaction)."""

    kind: str  # "reminder" (due within REMIND_DAYS working days) | "escalation" (overdue)
    objection_id: int
    policy_code: str
    policy_title: str
    due_at: dt.datetime
    workdays_left: int


async def _claim(objection_id: int, column: Any, now: dt.datetime) -> bool:
    """Mark one objection reminded/escalated if no run has yet: a conditional UPDATE, so of two concurrent sweeps
    only one claims it (PostgreSQL re-checks the row after the other's commit; SQLite serialises writers)."""
    done = (
        await Objection.update({column: now})
        .where((Objection.id == objection_id) & column.is_null() & (Objection.status == "open"))
        .returning(Objection.id)
    )
    return bool(done)


async def sweep_deadline_events(*, actor: Actor, now: dt.datetime | None = None) -> list[DeadlineEvent]:
    """The scheduled deadline watch: an open objection due within REMIND_DAYS working days is marked reminded (the
    officers' page shows it amber, "due soon"), one past its due date escalated to a reviewer (red, "overdue,
    escalated"; listed in the SLA report); each once — also under concurrent runs — and audited. Returns what this
    run marked. Joins the caller's transaction when there is one (app.staff_messages sends the messages in it)."""
    now = now or _now()
    events: list[DeadlineEvent] = []
    fields = (Objection.id, Objection.due_at, Objection.policy_code, Objection.policy_title)
    async with Objection._meta.db.transaction():
        overdue = await Objection.select(*fields).where(
            (Objection.status == "open") & (Objection.due_at < now) & (Objection.escalated_at.is_null())
        )
        for r in overdue:
            if not await _claim(r["id"], Objection.escalated_at, now):
                continue
            await actor.record(
                "objection.escalate",
                "objection",
                str(r["id"]),
                {"escalated_at": None},
                {"escalated_at": now.isoformat()},
                {"due_at": _aware(r["due_at"]).isoformat(), "to": "policy_reviewer"},
            )
            events.append(
                DeadlineEvent("escalation", r["id"], r["policy_code"], r["policy_title"], _aware(r["due_at"]), 0)
            )
        # a candidate is due within REMIND_DAYS working days: at most that many plus the longest holiday (国庆, 8
        # days) in calendar days ahead; the exact count is taken in working days
        soon = await Objection.select(*fields).where(
            (Objection.status == "open")
            & (Objection.due_at >= now)
            & (Objection.due_at < now + dt.timedelta(days=REMIND_DAYS + 12))
            & (Objection.reminded_at.is_null())
        )
        for r in soon:
            left = workdays.workdays_left(now, _aware(r["due_at"]))
            if left > REMIND_DAYS or not await _claim(r["id"], Objection.reminded_at, now):
                continue
            await actor.record(
                "objection.remind",
                "objection",
                str(r["id"]),
                {"reminded_at": None},
                {"reminded_at": now.isoformat()},
                {"workdays_left": left},
            )
            events.append(
                DeadlineEvent("reminder", r["id"], r["policy_code"], r["policy_title"], _aware(r["due_at"]), left)
            )
    return events


def deadline_counts(events: list[DeadlineEvent]) -> dict[str, int]:
    return {
        "reminded": sum(e.kind == "reminder" for e in events),
        "escalated": sum(e.kind == "escalation" for e in events),
    }


async def sweep_deadlines(*, actor: Actor, now: dt.datetime | None = None) -> dict[str, int]:
    """``sweep_deadline_events`` as counts: {"reminded": n, "escalated": m}."""
    return deadline_counts(await sweep_deadline_events(actor=actor, now=now))


_SLA_SUMS = (
    "SUM(CASE WHEN status = 'answered' AND answered_at <= due_at THEN 1 ELSE 0 END) AS on_time, "
    "SUM(CASE WHEN status = 'answered' AND answered_at > due_at THEN 1 ELSE 0 END) AS late, "
    "SUM(CASE WHEN status = 'open' AND due_at < {} THEN 1 ELSE 0 END) AS open_overdue, "
    "SUM(CASE WHEN status = 'open' AND due_at >= {} THEN 1 ELSE 0 END) AS open_in_time, "
    "COUNT(*) AS total"
)


def _sla_row(r: dict) -> dict:
    return {k: int(r[k] or 0) for k in ("on_time", "late", "open_overdue", "open_in_time", "total")}


async def sla_report(now: dt.datetime | None = None) -> dict:
    """Answered on time / answered late / open and overdue / open in time, overall and per policy (counted by the
    database), and the open overdue objections, the longest overdue first."""
    now = now or _now()
    total = await Objection.raw(f"SELECT {_SLA_SUMS} FROM policies_objection", now, now)
    per = await Objection.raw(
        f"SELECT policy_code, MAX(policy_title) AS policy_title, {_SLA_SUMS} FROM policies_objection "
        "GROUP BY policy_code ORDER BY policy_code",
        now,
        now,
    )
    overdue = await (
        Objection.select()
        .where((Objection.status == "open") & (Objection.due_at < now))
        .order_by(Objection.due_at)
        .limit(500)
    )
    return {
        "at": now,
        "total": _sla_row(total[0]),
        "policies": [{"policy_code": r["policy_code"], "policy_title": r["policy_title"], **_sla_row(r)} for r in per],
        "overdue": [_read(r, now) for r in overdue],
    }
