"""Receiving accounts (收款账户) as subjects confirm or correct them in the portal. Confirming the account the data
exchange delivered keeps it verified; a correction is unverified until finance verifies it.

payments/ holds the account its entitlements pay to; the caller passes ``sync(kind, subject_id, payee_name,
bank_name, account)`` which puts the account (or "" to hold payment) on the subject's open entitlements, in
the same transaction as the change here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

from eligibility import service as eligibility
from kit.audit import Actor
from kit.i18n import _l
from policies.applications.errors import InvalidState, NotAllowed, NotFound
from policies.applications.schemas import ACCOUNT_VERIFIER_ROLES, AccountConfirm, AccountRead, mask_account
from policies.applications.tables import SubjectAccount

SyncAccount = Callable[[str, str, str, str, str], Awaitable[object]]


def _key(kind: str, subject_id: str) -> str:
    return f"{kind}:{subject_id}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _digestable(row: dict | None) -> dict | None:
    # The audit stores hashes of these; the account itself is in the hash input only, never in detail.
    return None if row is None else {k: row.get(k) for k in ("bank_name", "account", "status", "source")}


def _read(kind: str, subject_id: str, row: dict | None, profile: dict | None) -> AccountRead:
    if row is not None:
        return AccountRead(
            subject_kind=kind,
            subject_id=subject_id,
            payee_name=row["payee_name"],
            bank_name=row["bank_name"],
            account_masked=mask_account(row["account"]),
            status=row["status"],
            source=row["source"],
            confirmed=True,
            confirmed_at=row["confirmed_at"],
            verified_by=row["verified_by"],
            status_reason=row.get("status_reason") or "",
            account_id=row.get("id"),
        )
    profile = profile or {}
    account = profile.get("bank_account") or ""
    return AccountRead(
        subject_kind=kind,
        subject_id=subject_id,
        payee_name=profile.get("name") or "",
        bank_name=profile.get("bank_name") or "",
        account_masked=mask_account(account),
        status="verified" if account else "missing",
        source="exchange" if account else "none",
        confirmed=False,
    )


async def _profile(kind: str, subject_id: str) -> dict | None:
    return await eligibility.get_profile(kind, subject_id)


async def account_of(kind: str, subject_id: str) -> AccountRead:
    """The subject's receiving account, masked: the confirmed one, else the one on its profile."""
    row = await SubjectAccount.select().where(SubjectAccount.subject_key == _key(kind, subject_id)).first()
    return _read(kind, subject_id, row, None if row else await _profile(kind, subject_id))


async def payment_account(kind: str, subject_id: str) -> tuple[str, str, str] | None:
    """For payments: (status, bank_name, account) the subject set in the portal, or None when it set none
    (the profile's account from the data exchange then applies). Pay only when status is 'verified'."""
    row = await SubjectAccount.select().where(SubjectAccount.subject_key == _key(kind, subject_id)).first()
    return None if row is None else (row["status"], row["bank_name"], row["account"])


async def confirm_account(
    kind: str, subject_id: str, data: AccountConfirm, *, actor: Actor, sync: SyncAccount
) -> AccountRead:
    """The subject confirms its account (as on file: stays verified) or corrects it (unverified, payment held)."""
    profile = await _profile(kind, subject_id)
    if profile is None:
        raise NotFound(_l("no profile on file for you yet; the data exchange has not delivered it / 暂无您的档案"))
    on_file = profile.get("bank_account") or ""
    same = bool(on_file) and data.account == on_file and data.bank_name == (profile.get("bank_name") or data.bank_name)
    now = _now()
    async with SubjectAccount._meta.db.transaction():
        before = await SubjectAccount.select().where(SubjectAccount.subject_key == _key(kind, subject_id)).first()
        unchanged = before is not None and before["account"] == data.account and before["bank_name"] == data.bank_name
        status = before["status"] if unchanged else ("verified" if same else "unverified")
        row = {
            "subject_key": _key(kind, subject_id),
            "subject_kind": kind,
            "subject_id": subject_id,
            "payee_name": profile.get("name") or "",
            "bank_name": data.bank_name,
            "account": data.account,
            "status": status,
            "source": "exchange" if same else "corrected",
            "confirmed_by": actor.name,
            "confirmed_at": now,
            "verified_by": (before or {}).get("verified_by") if unchanged else ("data-exchange" if same else None),
            "verified_at": (before or {}).get("verified_at") if unchanged else (now if same else None),
            # a rejection's reason stands until the subject enters another account
            "status_reason": (before or {}).get("status_reason", "") if unchanged else "",
        }
        if before is None:
            await SubjectAccount.insert(SubjectAccount(**row))
        else:
            await SubjectAccount.update({getattr(SubjectAccount, k): v for k, v in row.items()}).where(
                SubjectAccount.id == before["id"]
            )
        await actor.record(
            "account.confirm" if same or unchanged else "account.correct",
            "subject_account",
            row["subject_key"],
            _digestable(before),
            _digestable(row),
            {"status": status, "changed": not unchanged},
        )
        # A corrected account holds payment ("" puts the open entitlements back to waiting for an account).
        await sync(kind, subject_id, row["payee_name"], data.bank_name, data.account if status == "verified" else "")
    return _read(kind, subject_id, row, None)


async def verify_account(kind: str, subject_id: str, *, actor: Actor, sync: SyncAccount) -> AccountRead:
    """Finance (never an administrator: invariant 4) verified a corrected account with the bank: payments may use it."""
    if actor.role not in ACCOUNT_VERIFIER_ROLES:
        raise NotAllowed(_l("verifying an account needs a finance role; you are {actor_role}"), actor_role=actor.role)
    now = _now()
    async with SubjectAccount._meta.db.transaction():
        before = await SubjectAccount.select().where(SubjectAccount.subject_key == _key(kind, subject_id)).first()
        if before is None:
            raise NotFound(_l("this subject has confirmed no account"))
        if before["status"] == "verified":
            raise InvalidState(_l("this account is already verified"))
        if before["confirmed_by"] == actor.name:
            raise NotAllowed(_l("the person who entered an account cannot verify it"))
        await SubjectAccount.update(
            {SubjectAccount.status: "verified", SubjectAccount.verified_by: actor.name, SubjectAccount.verified_at: now}
        ).where(SubjectAccount.id == before["id"])
        after = {**before, "status": "verified", "verified_by": actor.name, "verified_at": now}
        await actor.record(
            "account.verify",
            "subject_account",
            before["subject_key"],
            _digestable(before),
            _digestable(after),
            {"status": "verified"},
        )
        await sync(kind, subject_id, before["payee_name"], before["bank_name"], before["account"])
    return _read(kind, subject_id, after, None)


async def reject_account(kind: str, subject_id: str, reason: str, *, actor: Actor) -> AccountRead:
    """Finance found a corrected account wrong (name and number do not match at the bank…): it is rejected with the
    reason, which the subject sees; payment stays held until the subject corrects it again and it is verified."""
    if actor.role not in ACCOUNT_VERIFIER_ROLES:
        raise NotAllowed(_l("rejecting an account needs a finance role; you are {actor_role}"), actor_role=actor.role)
    reason = reason.strip()
    if not reason:
        raise InvalidState(_l("say why the account is rejected"))
    async with SubjectAccount._meta.db.transaction():
        before = await SubjectAccount.select().where(SubjectAccount.subject_key == _key(kind, subject_id)).first()
        if before is None:
            raise NotFound(_l("this subject has confirmed no account"))
        if before["status"] != "unverified":
            if before["status"] == "verified":
                raise InvalidState(_l("this account is already verified"))
            raise InvalidState(_l("this account is already rejected; the subject corrects it again"))
        if before["confirmed_by"] == actor.name:
            raise NotAllowed(_l("the person who entered an account cannot judge it"))
        await SubjectAccount.update({SubjectAccount.status: "rejected", SubjectAccount.status_reason: reason}).where(
            SubjectAccount.id == before["id"]
        )
        after = {**before, "status": "rejected", "status_reason": reason}
        await actor.record(
            "account.reject",
            "subject_account",
            before["subject_key"],
            _digestable(before),
            _digestable(after),
            {"status": "rejected", "reason": reason},
        )
    return _read(kind, subject_id, after, None)


async def subject_of_account(account_id: int) -> tuple[str, str]:
    """(kind, subject_id) of a confirmed account by its row id: pages name an account so, never by the ID number."""
    row = (
        await SubjectAccount.select(SubjectAccount.subject_kind, SubjectAccount.subject_id)
        .where(SubjectAccount.id == account_id)
        .first()
    )
    if row is None:
        raise NotFound(_l("this subject has confirmed no account"))
    return row["subject_kind"], row["subject_id"]


async def unverified_accounts() -> list[tuple[AccountRead, str, str]]:
    """Corrections awaiting verification, oldest first, each with the whole number (the verifier needs it) and the
    account it replaces, masked (the one on the profile from the data exchange; "" when there was none)."""
    rows = (
        await SubjectAccount.select().where(SubjectAccount.status == "unverified").order_by(SubjectAccount.confirmed_at)
    )
    out = []
    for r in rows:  # one page of corrections, each checked by a person: a profile read each is fine
        profile = await _profile(r["subject_kind"], r["subject_id"]) or {}
        old = profile.get("bank_account") or ""
        out.append((_read(r["subject_kind"], r["subject_id"], r, None), r["account"], mask_account(old) if old else ""))
    return out
