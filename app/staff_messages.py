"""Messages to staff (the staff inbox, /staff/inbox): objection deadlines as messages, not only marks on a page.

The hourly job app.objection_deadlines runs ``deadline_messages``: in one transaction, policies' sweep marks each open
objection due within three working days as reminded and each overdue one as escalated (a conditional UPDATE, so a
mark is taken by one run only, also when two runs overlap), and here each mark becomes one message per recipient:
the reminder to the officers responsible (every active ``policy_officer``: objections are not assigned to one
officer), the escalation to the reviewer role (every active ``policy_reviewer``). Keyed
``objection:<id>:<kind>:<username>`` (unique, INSERT … ON CONFLICT DO NOTHING), so once per item, kind and user
whatever re-runs; each message written is audited (``staff_message.create``). Staff accounts carry no e-mail
address, so the inbox is the only channel (no outside delivery).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from app.i18n import render
from app.tables import StaffMessage, User
from kit.audit import Actor
from kit.i18n import _l
from kit.time import beijing_text
from kit.time import now as clock_now
from kit.vocab import Role
from policies.applications import service as applications
from policies.applications.service import DeadlineEvent

REMINDER = "objection_reminder"
ESCALATION = "objection_escalation"
RECIPIENT_ROLE = {REMINDER: Role.POLICY_OFFICER, ESCALATION: Role.POLICY_REVIEWER}

_TITLES = {
    REMINDER: _l("Reminder: objection {objection_id} on “{policy_title}” is due in {days} working days"),
    ESCALATION: _l("Escalated: objection {objection_id} on “{policy_title}” is overdue"),
}
_BODIES = {
    REMINDER: _l(
        "Objection {objection_id} ({policy_code}) must be answered by {due}. {days} working days are left. "
        "Answer it on the objections page."
    ),
    ESCALATION: _l(
        "Objection {objection_id} ({policy_code}) was due {due} and has not been answered. It is escalated to the "
        "reviewers: see that it is answered today."
    ),
}


@dataclass(frozen=True)
class StaffMessageRead:
    id: int
    kind: str
    title: str
    body: str
    link: str
    created_at: dt.datetime
    read_at: dt.datetime | None


def _read(row: dict, lang: str) -> StaffMessageRead:
    params = json.loads(row["params"] or "{}")
    due = params.get("due_at")
    # due_at is the end of the due day (00:00 of the next): shown as that day's last minute, 23:59
    last = dt.datetime.fromisoformat(due) - dt.timedelta(minutes=1) if due else None
    shown = {**params, "due": beijing_text(last, lang) if last else ""}
    return StaffMessageRead(
        id=row["id"],
        kind=row["kind"],
        title=render(lang, _TITLES[row["kind"]], shown),
        body=render(lang, _BODIES[row["kind"]], shown),
        link=row["link"],
        created_at=row["created_at"],
        read_at=row["read_at"],
    )


async def _staff_of(role: Role) -> list[str]:
    active = User.active == True  # noqa: E712
    rows = await User.select(User.username).where((User.role == role) & active).order_by(User.username)
    return [r["username"] for r in rows]


def message_key(event: DeadlineEvent, username: str) -> str:
    return f"objection:{event.objection_id}:{event.kind}:{username}"


async def _send(event: DeadlineEvent, recipients: dict[str, list[str]], *, actor: Actor, at: dt.datetime) -> int:
    kind = REMINDER if event.kind == "reminder" else ESCALATION
    params = {
        "objection_id": event.objection_id,
        "policy_code": event.policy_code,
        "policy_title": event.policy_title,
        "due_at": event.due_at.isoformat(),
        "days": event.workdays_left,
    }
    link = (
        "/applications/objections?status=overdue"
        if kind == ESCALATION
        else f"/applications/objections#o{event.objection_id}"
    )
    written = 0
    for username in recipients[kind]:
        inserted = (
            await StaffMessage.insert(
                StaffMessage(
                    key=message_key(event, username),
                    username=username,
                    kind=kind,
                    entity="objection",
                    entity_id=str(event.objection_id),
                    params=json.dumps(params, ensure_ascii=False),
                    link=link,
                    created_at=at,
                )
            )
            .on_conflict(target=StaffMessage.key, action="DO NOTHING")
            .returning(StaffMessage.id)
        )
        if not inserted:
            continue
        await actor.record(
            "staff_message.create",
            "staff_message",
            str(inserted[0]["id"]),
            None,
            {"kind": kind, "to": username, "objection": event.objection_id},
            {"kind": kind, "to": username, "role": str(RECIPIENT_ROLE[kind]), "objection": event.objection_id},
        )
        written += 1
    return written


async def deadline_messages(*, actor: Actor, now: dt.datetime | None = None) -> dict[str, int]:
    """The deadline watch with its messages (the job app.objection_deadlines): marks and messages in one
    transaction, each once. Returns {"reminded", "escalated", "messages"}."""
    at = now or clock_now()
    recipients = {kind: await _staff_of(role) for kind, role in RECIPIENT_ROLE.items()}
    async with StaffMessage._meta.db.transaction():
        events = await applications.sweep_deadline_events(actor=actor, now=at)
        messages = 0
        for event in events:
            messages += await _send(event, recipients, actor=actor, at=at)
    return {**applications.deadline_counts(events), "messages": messages}


# ---------------------------------------------------------------------------------------------- the inbox


async def inbox(username: str, lang: str, *, limit: int = 50, offset: int = 0) -> list[StaffMessageRead]:
    rows = (
        await StaffMessage.select()
        .where(StaffMessage.username == username)
        .order_by(StaffMessage.id, ascending=False)
        .limit(limit)
        .offset(offset)
    )
    return [_read(r, lang) for r in rows]


async def count(username: str) -> int:
    return await StaffMessage.count().where(StaffMessage.username == username)


async def unread_count(username: str) -> int:
    return await StaffMessage.count().where((StaffMessage.username == username) & StaffMessage.read_at.is_null())


async def open_message(message_id: int, username: str, lang: str, *, actor: Actor) -> StaffMessageRead | None:
    """One of ``username``'s messages, marked read (audited the first time); None when it is not theirs."""
    row = (
        await StaffMessage.select().where((StaffMessage.id == message_id) & (StaffMessage.username == username)).first()
    )
    if row is None:
        return None
    if row["read_at"] is None:
        at = clock_now()
        await StaffMessage.update({StaffMessage.read_at: at}).where(StaffMessage.id == message_id)
        await actor.record("staff_message.read", "staff_message", str(message_id), None, {"read": True}, {})
        row["read_at"] = at
    return _read(row, lang)


def as_json(m: StaffMessageRead) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind,
        "title": m.title,
        "body": m.body,
        "link": m.link,
        "created_at": m.created_at,
        "read": m.read_at is not None,
    }
