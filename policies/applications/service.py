"""Applications (依申请): submission with attachments by an eligible subject, the officers' review queue with
four eyes above a threshold, approval handing the entitlement to payments (through a collaborator the caller
passes, since policies/ never imports payments/), and the notices of each decision.

Accounts and objections live in ``accounts`` and ``objections``; their functions are re-exported here so other
parts call ``policies.applications.service.<name>``.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from eligibility import service as eligibility
from kit.audit import Actor
from kit.db import codes, from_row, rows_of_subject
from kit.i18n import _l
from kit.jobs import JobQueue
from kit.money import fen_to_yuan, format_yuan, round_yuan_to_fen
from kit.paging import Page, PageRequest, Sorts, chunks, fetch_page, search
from kit.vocab import VersionStatus
from policies import service as policies
from policies.applications import attachments as files
from policies.applications.accounts import (  # noqa: F401
    account_of,
    confirm_account,
    payment_account,
    reject_account,
    subject_of_account,
    unverified_accounts,
    verify_account,
)
from policies.applications.errors import InvalidState, NotAllowed, NotEligible, NotFound
from policies.applications.notices import deliver_after_commit, notice
from policies.applications.objections import (  # noqa: F401
    OBJECTION_SORTS,
    DeadlineEvent,
    answer_objection,
    deadline_counts,
    get_objection,
    list_objections,
    objection_of_subject,
    objection_page,
    objections_of_subject,
    raise_objection,
    sla_report,
    sweep_deadline_events,
    sweep_deadlines,
)
from policies.applications.schemas import OFFICER_ROLES, ApplicationRead, AttachmentRead
from policies.applications.tables import Application, Attachment
from policies.errors import PolicyNotFound

# approve() hands an approved application to payments through this: returns the entitlement id.
Entitle = Callable[[ApplicationRead], Awaitable[int | None]]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _db():
    return Application._meta.db


def _attachment(r: dict) -> AttachmentRead:
    return from_row(AttachmentRead, r, application_id=r["application"])


def _read(r: dict, atts: list[dict] | None = None) -> ApplicationRead:
    return from_row(
        ApplicationRead,
        r,
        amount=fen_to_yuan(r["amount_fen"]),
        clause_codes=codes(r["clause_codes"]),
        needs_two=bool(r["needs_two"]),
        attachments=[_attachment(a) for a in atts or []],
    )


def _public(r: dict) -> dict:
    """What the audit digests of an application: no statement text, no subject id."""
    return {
        k: r.get(k)
        for k in (
            "application_no",
            "version_id",
            "amount_fen",
            "clause_codes",
            "status",
            "first_approver",
            "decided_by",
            "reason",
            "entitlement_id",
        )
    }


def link(base_url: str, application_id: int) -> str:
    return f"{base_url.rstrip('/')}/portal/applications/{application_id}"


# ------------------------------------------------------------------------------------------- submission


async def submit_application(
    version_id: int,
    subject_kind: str,
    subject_id: str,
    *,
    applicant: str,
    statement: str,
    files_in: list[tuple[str | None, bytes]],
    attachments_dir: Path,
    actor: Actor,
    as_of: dt.date,
    four_eyes_threshold_fen: int,
    base_url: str,
    queue: JobQueue | None = None,
) -> ApplicationRead:
    """A subject applies for an apply-mode version it qualifies for (by the rules, as of ``as_of``).

    The amount and clauses come from the rules, not from the applicant. One open or approved application per
    subject and version; after a rejection the subject may apply again (or object)."""
    checked = files.check_files(files_in)
    version = await visible_version(version_id, subject_kind)
    if version.mode != "apply":
        raise InvalidState(_l("this policy needs no application (免申即享): confirm your account instead"))
    if version.status != VersionStatus.PUBLISHED:
        raise InvalidState(_l("this policy is not open for applications now / 该政策当前不受理申请"))
    explanation = await eligibility.explain(await policies.ruleset_of(version_id), subject_id, as_of)
    if not explanation.eligible or explanation.amount <= 0:
        raise NotEligible(
            _l("by the data on file you do not qualify: {summary}"),
            detail={"summary": explanation.summary},
            summary=explanation.summary,
        )
    amount_fen = round_yuan_to_fen(explanation.amount)
    clauses = [c.code for c in explanation.clauses if c.met and c.code]
    stored: list[str] = []
    try:
        for f in checked:
            stored.append(files.store(attachments_dir, f))
        now = _now()
        async with _db().transaction():
            taken = (
                await Application.select(Application.id)
                .where(
                    (Application.version_id == version_id)
                    & (Application.subject_kind == subject_kind)
                    & (Application.subject_id == subject_id)
                    & (Application.status != "rejected")
                )
                .first()
            )
            if taken is not None:
                raise InvalidState(
                    _l("you have already applied for this policy / 您已申请过该政策"),
                    detail={"application_id": taken["id"]},
                )
            number = f"SQ{now:%Y%m%d}{secrets.token_hex(3).upper()}"
            row = {
                "application_no": number,
                "version_id": version_id,
                "policy_code": version.code,
                "policy_title": version.title,
                "subject_kind": subject_kind,
                "subject_id": subject_id,
                "applicant": applicant,
                "amount_fen": amount_fen,
                "clause_codes": ";".join(clauses),
                "statement": statement.strip()[:4000],
                "status": "submitted",
                "needs_two": int(amount_fen > four_eyes_threshold_fen),
                "first_approver": None,
                "first_approved_at": None,
                "decided_by": None,
                "decided_at": None,
                "reason": "",
                "entitlement_id": None,
                "created_at": now,
                "updated_at": now,
            }
            app_id = (await Application.insert(Application(**row)).returning(Application.id))[0]["id"]
            for f, name in zip(checked, stored):
                await Attachment.insert(
                    Attachment(
                        application=app_id,
                        filename=f.filename,
                        stored_name=name,
                        content_type=f.content_type,
                        size=len(f.content),
                        sha256=f.sha256,
                        uploaded_at=now,
                    )
                )
            await actor.record(
                "application.submit",
                "application",
                str(app_id),
                None,
                _public(row),
                {"version_id": version_id, "attachments": len(checked)},
            )
            n = await notice(
                "application_received",
                {"subject_kind": subject_kind, "subject_id": subject_id},
                f"application:{app_id}:received",
                {"policy_title": version.title, "application_no": number, "link": link(base_url, app_id)},
                actor=actor,
            )
    except BaseException:
        files.remove(attachments_dir, stored)
        raise
    await deliver_after_commit(queue, [n.id])
    return await get_application(app_id)


async def visible_version(version_id: int, subject_kind: str):
    """A published (or once published) version for this kind of subject; anything else is not found."""
    try:
        version = await policies.get_version(version_id)
    except PolicyNotFound:
        raise NotFound(_l("no such policy / 没有该政策")) from None
    if version.subject != subject_kind or version.status not in (
        VersionStatus.PUBLISHED,
        VersionStatus.SUSPENDED,
        VersionStatus.RETIRED,
        VersionStatus.SUPERSEDED,
    ):
        raise NotFound(_l("no such policy / 没有该政策"))
    return version


# ------------------------------------------------------------------------------------------- reading


async def _with_attachments(rows: list[dict]) -> list[ApplicationRead]:
    ids = [r["id"] for r in rows]
    by_app: dict[int, list[dict]] = {i: [] for i in ids}
    if ids:
        for a in await Attachment.select().where(Attachment.application.is_in(ids)).order_by(Attachment.id):
            by_app[a["application"]].append(a)
    return [_read(r, by_app[r["id"]]) for r in rows]


async def get_application(application_id: int) -> ApplicationRead:
    """For officers (the route's guard decides who may call it)."""
    rows = await Application.select().where(Application.id == application_id)
    if not rows:
        raise NotFound(_l("application {application_id} does not exist"), application_id=application_id)
    return (await _with_attachments(rows))[0]


async def application_of_subject(application_id: int, subject_kind: str, subject_id: str) -> ApplicationRead:
    """One of this subject's applications; another subject's is reported as not found."""
    rows = await Application.select().where(
        (Application.id == application_id)
        & (Application.subject_kind == subject_kind)
        & (Application.subject_id == subject_id)
    )
    if not rows:
        raise NotFound(_l("no such application / 没有该申请"))
    return (await _with_attachments(rows))[0]


async def applications_of_subject(subject_kind: str, subject_id: str) -> list[ApplicationRead]:
    rows = await rows_of_subject(Application, subject_kind, subject_id)
    return await _with_attachments(rows)


async def list_applications(
    status: str | None = None, policy_code: str | None = None, limit: int = 200
) -> list[ApplicationRead]:
    """The review queue, oldest first (first come, first reviewed)."""
    q = Application.select()
    if status:
        q = q.where(Application.status == status)
    if policy_code:
        q = q.where(Application.policy_code == policy_code)
    return await _with_attachments(await q.order_by(Application.id).limit(max(1, min(limit, 1000))))


APPLICATION_SORTS = Sorts(
    {
        "id": Application.id,
        "no": Application.application_no,
        "policy": Application.policy_code,
        "amount": Application.amount_fen,
        "status": Application.status,
    },
    default="id",
)


def _application_filters(status: str | None, policy_code: str | None, q: str) -> list:
    return [
        Application.status == status if status else None,
        Application.policy_code == policy_code if policy_code else None,
        search(
            q, Application.application_no, Application.policy_title, Application.policy_code, Application.subject_id
        ),
    ]


async def application_page(
    request: PageRequest, status: str | None = None, policy_code: str | None = None
) -> Page[ApplicationRead]:
    """One page of the review queue (oldest first unless sorted otherwise), searched in the application number,
    policy and subject id; counted and limited by the database."""
    page = await fetch_page(
        Application, _application_filters(status, policy_code, request.q), request, APPLICATION_SORTS
    )
    return Page(await _with_attachments(page.items), page.total, page.page, page.size, page.sort)


async def application_chunks(
    status: str | None = None, policy_code: str | None = None, q: str = ""
) -> AsyncIterator[list[ApplicationRead]]:
    """Every application meeting the queue's filters, in id order, a chunk at a time (the export)."""
    async for rows in chunks(Application, _application_filters(status, policy_code, q)):
        yield await _with_attachments(rows)


async def attachment_for_officer(attachment_id: int, attachments_dir: Path) -> tuple[AttachmentRead, Path]:
    row = await Attachment.select().where(Attachment.id == attachment_id).first()
    if row is None:
        raise NotFound(_l("no such attachment"))
    return _attachment(row), files.path_of(attachments_dir, row["stored_name"])


async def attachment_of_subject(
    attachment_id: int, subject_kind: str, subject_id: str, attachments_dir: Path
) -> tuple[AttachmentRead, Path]:
    """An attachment of one of this subject's own applications; any other is not found."""
    row = await Attachment.select().where(Attachment.id == attachment_id).first()
    if row is None:
        raise NotFound(_l("no such attachment / 没有该附件"))
    await application_of_subject(row["application"], subject_kind, subject_id)
    return _attachment(row), files.path_of(attachments_dir, row["stored_name"])


# ------------------------------------------------------------------------------------------- review


async def _lock(application_id: int) -> dict:
    if _db().engine_type == "postgres":
        await Application.raw("SELECT id FROM policies_application WHERE id = {} FOR UPDATE", application_id)
    row = await Application.select().where(Application.id == application_id).first()
    if row is None:
        raise NotFound(_l("application {application_id} does not exist"), application_id=application_id)
    return row


def _check_reviewer(actor: Actor, row: dict) -> None:
    if actor.role not in OFFICER_ROLES:
        raise NotAllowed(
            _l("reviewing applications needs the role policy_officer or policy_reviewer; you are {actor_role}"),
            actor_role=actor.role,
        )
    if actor.name == row["applicant"]:
        raise NotAllowed(_l("nobody reviews their own application"))


async def approve_application(
    application_id: int, *, actor: Actor, entitle: Entitle, base_url: str, note: str = "", queue: JobQueue | None = None
) -> ApplicationRead:
    """Approve. Above the four-eyes threshold the first approval only records the approver and a different
    officer gives the second; the final approval creates the entitlement (through ``entitle``, in the same
    transaction) and notifies the subject."""
    notice_ids: list[int] = []
    async with _db().transaction():
        row = await _lock(application_id)
        _check_reviewer(actor, row)
        now = _now()
        if row["status"] == "submitted" and row["needs_two"]:
            update = {
                "status": "first_approved",
                "first_approver": actor.name,
                "first_approved_at": now,
                "updated_at": now,
            }
            await Application.update({getattr(Application, k): v for k, v in update.items()}).where(
                Application.id == application_id
            )
            await actor.record(
                "application.first_approve",
                "application",
                str(application_id),
                _public(row),
                _public({**row, **update}),
                {"four_eyes": True},
            )
        elif row["status"] in ("submitted", "first_approved"):
            if row["status"] == "first_approved" and row["first_approver"] == actor.name:
                raise NotAllowed(_l("the second approval must come from another officer (four-eyes rule)"))
            update = {
                "status": "approved",
                "decided_by": actor.name,
                "decided_at": now,
                "reason": note.strip()[:2000],
                "updated_at": now,
            }
            await Application.update({getattr(Application, k): v for k, v in update.items()}).where(
                Application.id == application_id
            )
            entitlement_id = await entitle(_read({**row, **update}))
            if entitlement_id is not None:
                await Application.update({Application.entitlement_id: entitlement_id}).where(
                    Application.id == application_id
                )
                update["entitlement_id"] = entitlement_id
            await actor.record(
                "application.approve",
                "application",
                str(application_id),
                _public(row),
                _public({**row, **update}),
                {"second_of_two": bool(row["needs_two"])},
            )
            n = await notice(
                "application_approved",
                row,
                f"application:{application_id}:approved",
                {
                    "policy_title": row["policy_title"],
                    "amount": format_yuan(row["amount_fen"]),
                    "link": link(base_url, application_id),
                },
                actor=actor,
            )
            notice_ids.append(n.id)
        else:
            raise InvalidState(
                _l("application {application_no} is already {state}"),
                application_no=row["application_no"],
                state=row["status"],
            )
    await deliver_after_commit(queue, notice_ids)
    return await get_application(application_id)


async def reject_application(
    application_id: int, *, actor: Actor, reason: str, base_url: str, queue: JobQueue | None = None
) -> ApplicationRead:
    """Reject with a reason the subject reads (and may object to)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidState(_l("a rejection needs a reason the applicant can read / 驳回须写明理由"))
    async with _db().transaction():
        row = await _lock(application_id)
        _check_reviewer(actor, row)
        if row["status"] not in ("submitted", "first_approved"):
            raise InvalidState(
                _l("application {application_no} is already {state}"),
                application_no=row["application_no"],
                state=row["status"],
            )
        now = _now()
        update = {
            "status": "rejected",
            "decided_by": actor.name,
            "decided_at": now,
            "reason": reason[:2000],
            "updated_at": now,
        }
        await Application.update({getattr(Application, k): v for k, v in update.items()}).where(
            Application.id == application_id
        )
        await actor.record(
            "application.reject", "application", str(application_id), _public(row), _public({**row, **update}), None
        )
        n = await notice(
            "application_rejected",
            row,
            f"application:{application_id}:rejected",
            {"policy_title": row["policy_title"], "reason": reason[:500], "link": link(base_url, application_id)},
            actor=actor,
        )
    await deliver_after_commit(queue, [n.id])
    return await get_application(application_id)
