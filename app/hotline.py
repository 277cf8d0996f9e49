"""The 12345 hotline: a caller's consent code, an agent's time-limited access to that one caller, and the answers to
the common questions built from the caller's own records.

- The portal shows a subject a consent code (``CODE_DIGITS`` digits, valid ``CODE_MINUTES``): only its keyed digest
  is stored, a new code voids the older ones, and issuing it is audited.
- An agent (role ``hotline``) enters the caller's USCC or ID number and the code the caller reads out. Every attempt
  is counted first by the login throttle (app/auth/throttle.py, per agent and caller), and a code takes at most
  ``CODE_TRIES`` wrong guesses before it is void. The right code is used once and opens a grant: that agent sees that
  caller for ``GRANT_MINUTES``, nobody else (``caller_of`` answers 403 for any other subject and after expiry).
  Opening, refusing and every objection filed through the grant are audited with the agent as the actor.
- ``answers``: "我为什么没到账" and "我能享受哪些政策" as templates filled with the caller's stages (the portal's
  subject_overview, the same records the portal shows), the amounts stored on its entitlements and matches and the
  clauses of its matches. No amount is computed here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from app.audit import AuditActor
from app.auth import throttle
from app.config import get_settings
from app.errors import AppError
from app.i18n import render
from app.tables import HotlineConsent, HotlineGrant
from eligibility import service as eligibility
from eligibility.profiles import id_number_problem, uscc_problem
from kit.errors import Forbidden
from kit.i18n import _l
from kit.time import in_china, now
from kit.vocab import MatchState
from policies import service as policies

CODE_DIGITS = 6
CODE_MINUTES = 15
CODE_TRIES = 5  # wrong codes before a code is void (the throttle slows each agent down before that)
GRANT_MINUTES = 30
NO_GRANT = _l("no live consent of this caller: ask the caller for the consent code the portal shows now")
NOT_ENTITLED = {"withdrawn", "rejected", "revoked", "excluded", "superseded", "abandoned"}


class ConsentRefused(AppError):
    status = 403


class TooManyCodes(AppError):
    status = 429


@dataclass(frozen=True)
class Grant:
    id: int
    agent: str
    subject_kind: str
    subject_id: str
    expires_at: dt.datetime


def _digest(kind: str, subject_id: str, code: str) -> str:
    """Keyed with the deployment's secret: a copy of the table alone cannot try the million codes."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"{kind}|{subject_id}|{code}".encode(), hashlib.sha256).hexdigest()


def caller_kind(identifier: str) -> str:
    """enterprise for a valid USCC, talent for a valid ID number; refused otherwise."""
    if not uscc_problem(identifier):
        return "enterprise"
    if not id_number_problem(identifier):
        return "talent"
    raise ConsentRefused(_l("enter the caller's USCC or ID number"))


async def issue_code(kind: str, subject_id: str, *, actor: AuditActor) -> tuple[str, dt.datetime]:
    """A new consent code for the subject (the older ones are void): the code, shown once, and when it expires."""
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    at = now()
    expires = at + dt.timedelta(minutes=CODE_MINUTES)
    async with HotlineConsent._meta.db.transaction():
        await HotlineConsent.update({HotlineConsent.used_at: at}).where(
            (HotlineConsent.subject_id == subject_id)
            & (HotlineConsent.subject_kind == kind)
            & HotlineConsent.used_at.is_null()
        )
        row = await HotlineConsent.insert(
            HotlineConsent(
                subject_kind=kind,
                subject_id=subject_id,
                code_hash=_digest(kind, subject_id, code),
                created_at=at,
                expires_at=expires,
                used_at=None,
                failures=0,
            )
        ).returning(HotlineConsent.id)
        await actor.record(
            "hotline.consent_issue",
            "hotline_consent",
            row[0]["id"],
            None,
            {"subject_kind": kind, "expires_at": expires.isoformat()},
        )
    return code, expires


async def open_grant(agent: AuditActor, identifier: str, code: str, *, source: str) -> Grant:
    """The caller's code checked (throttled, counted, used once): a grant of ``GRANT_MINUTES`` to that caller."""
    subject_id = identifier.strip().upper()
    kind = caller_kind(subject_id)
    slot = "~hotline:" + hashlib.sha256(subject_id.encode()).hexdigest()[:32]  # "~": no account has such a name
    who = f"{source}|{agent.name}"
    refusal = await throttle.reserve_attempt(who, slot)
    if refusal is not None:
        raise TooManyCodes(_l("too many wrong codes: try again in {seconds} s"), seconds=refusal.seconds)
    at = now()
    consent = (
        await HotlineConsent.select()
        .where(
            (HotlineConsent.subject_id == subject_id)
            & (HotlineConsent.subject_kind == kind)
            & HotlineConsent.used_at.is_null()
            & (HotlineConsent.expires_at > at)
        )
        .order_by(HotlineConsent.id, ascending=False)
        .first()
    )
    given = "".join(ch for ch in code if ch.isdigit())
    if consent is None or not hmac.compare_digest(consent["code_hash"], _digest(kind, subject_id, given)):
        if consent is not None:
            failures = consent["failures"] + 1
            values: dict[Any, Any] = {HotlineConsent.failures: failures}
            if failures >= CODE_TRIES:
                values[HotlineConsent.used_at] = at  # void: the caller asks for a new code
            await HotlineConsent.update(values).where(HotlineConsent.id == consent["id"])
        await agent.record(
            "hotline.grant_refused",
            "hotline_consent",
            consent["id"] if consent else "-",
            None,
            None,
            {"subject_kind": kind, "reason": "wrong code" if consent else "no live code"},
        )
        raise ConsentRefused(
            _l("the consent code is wrong or has expired: ask the caller to read out the code the portal shows now")
        )
    await throttle.attempt_succeeded(who, slot)
    expires = at + dt.timedelta(minutes=GRANT_MINUTES)
    async with HotlineGrant._meta.db.transaction():
        taken = (
            await HotlineConsent.update({HotlineConsent.used_at: at})
            .where((HotlineConsent.id == consent["id"]) & HotlineConsent.used_at.is_null())
            .returning(HotlineConsent.id)
        )
        if not taken:  # another agent used it a moment ago
            raise ConsentRefused(
                _l("the consent code is wrong or has expired: ask the caller to read out the code the portal shows now")
            )
        row = await HotlineGrant.insert(
            HotlineGrant(
                agent=agent.name,
                subject_kind=kind,
                subject_id=subject_id,
                consent_id=consent["id"],
                created_at=at,
                expires_at=expires,
            )
        ).returning(HotlineGrant.id)
        gid = row[0]["id"]
        await agent.record(
            "hotline.grant",
            "hotline_grant",
            gid,
            None,
            {"subject_kind": kind, "subject_id": subject_id, "expires_at": expires.isoformat()},
            {"consent_id": consent["id"], "on_behalf_of": subject_id, "minutes": GRANT_MINUTES},
        )
    return Grant(gid, agent.name, kind, subject_id, expires)


async def caller_of(agent: str, subject_id: str) -> Grant:
    """The agent's live grant to this caller; 403 for any other subject, and once the grant expired."""
    row = (
        await HotlineGrant.select()
        .where(
            (HotlineGrant.agent == agent) & (HotlineGrant.subject_id == subject_id) & (HotlineGrant.expires_at > now())
        )
        .order_by(HotlineGrant.expires_at, ascending=False)
        .first()
    )
    if row is None:
        raise Forbidden(NO_GRANT)
    return Grant(row["id"], row["agent"], row["subject_kind"], row["subject_id"], row["expires_at"])


async def grant_of(agent: str, grant_id: int) -> Grant:
    """The agent's own live grant ``grant_id``; another agent's, an expired or an unknown one is 403."""
    row = (
        await HotlineGrant.select()
        .where((HotlineGrant.id == grant_id) & (HotlineGrant.agent == agent) & (HotlineGrant.expires_at > now()))
        .first()
    )
    if row is None:
        raise Forbidden(NO_GRANT)
    return Grant(row["id"], row["agent"], row["subject_kind"], row["subject_id"], row["expires_at"])


async def grants_of(agent: str) -> list[Grant]:
    rows = await HotlineGrant.select().where((HotlineGrant.agent == agent) & (HotlineGrant.expires_at > now()))
    return [Grant(r["id"], r["agent"], r["subject_kind"], r["subject_id"], r["expires_at"]) for r in rows]


# ---------------------------------------------------------------------------------- the common questions

WHY_NOT_PAID = {
    "may_apply": _l(
        "{title}: you qualify ({clause}) but this policy is paid on application; you have not applied yet. Apply in the portal."
    ),
    "applied": _l("{title}: your application is under review; nothing is paid before it is approved."),
    "first_approved": _l(
        "{title}: your application passed the first review and awaits the second; {amount} yuan is paid after it."
    ),
    "rejected": _l(
        "{title}: your application was rejected ({reason}); nothing is paid. You may object within the time the notice gives."
    ),
    "matched": _l(
        "{title}: you qualify ({clause}) for {amount} yuan; the entitlement is being prepared, nothing is paid yet."
    ),
    "waiting_account": _l(
        "{title}: {amount} yuan ({clause}) waits for you to confirm your receiving account in the portal."
    ),
    "account_unverified": _l(
        "{title}: {amount} yuan ({clause}) waits until finance verifies the account you corrected."
    ),
    "payable": _l("{title}: {amount} yuan ({clause}) waits for the next payment batch."),
    "in_publicity": _l(
        "{title}: {amount} yuan ({clause}) is in its public notice period; it is paid after the period ends."
    ),
    "held_by_objection": _l("{title}: {amount} yuan ({clause}) is held while an objection is decided."),
    "batched": _l("{title}: {amount} yuan ({clause}) is in a payment batch on its way to the bank."),
    "payment_returned": _l(
        "{title}: the bank returned the payment of {amount} yuan; it will be paid again, please check your account."
    ),
    "withdrawn": _l("{title}: no longer paid: {reason}."),
    "excluded": _l("{title}: not paid: only one policy of its exclusive group is paid ({reason})."),
    "superseded": _l("{title}: paid under another version of the policy, not twice."),
    "revoked": _l("{title}: revoked after an objection ({reason}); nothing is paid."),
    "abandoned": _l("{title}: stopped ({reason}); nothing is paid."),
    "amount_changed": _l("{title}: the amount changed to {amount} yuan; it waits for confirmation before it is paid."),
}
PAID = _l("{title}: {amount} yuan was paid on {date} (Beijing time) to the account {account}.")
NOTHING = _l("There is no policy on your record yet: nothing is waiting to be paid.")
MAY_ENJOY = _l("{title} ({mode}): {amount} yuan, because {clause}. Now: {stage}.")
MAY_ENJOY_NONE = _l(
    "No policy applies to you on the data on record now; the policy library's calculator shows what is missing."
)
NO_CLAUSE = _l("the policy's conditions are met")


@dataclass(frozen=True)
class Answer:
    version_id: int | None
    stage: str
    text: str
    amount: str  # the stored amount the sentence names, "" when it names none


async def _clauses(subject_id: str, kind: str, lang: str) -> dict[int, str]:
    """Each version's deciding clauses (its current match's, by title), as one phrase."""
    out: dict[int, str] = {}
    for m in await eligibility.matches_of_subject(subject_id):
        if m.subject_kind != kind or m.version_id is None or m.state != MatchState.CURRENT:
            continue
        titles = (await policies.get_version(m.version_id)).clause_titles
        out[int(m.version_id)] = (
            "、".join(titles.get(c, c) for c in m.clauses)
            if lang == "zh"
            else "; ".join(titles.get(c, c) for c in m.clauses)
        )
    return out


async def answers(kind: str, subject_id: str, items: list[Any], lang: str) -> dict[str, list[Answer]]:
    """{"why_not_paid": […], "may_enjoy": […]}: one sentence per policy on the caller's record; ``items`` are the
    portal's reading of the records (app.controllers.portal_standing.subject_overview)."""
    clauses = await _clauses(subject_id, kind, lang)
    why: list[Answer] = []
    enjoy: list[Answer] = []
    for i in items:
        clause = clauses.get(i.version_id) or render(lang, NO_CLAUSE)
        stage = i.stage_zh if lang == "zh" else i.stage_en
        params = {
            "title": f"《{i.title}》" if lang == "zh" else i.title,
            "amount": i.amount or "—",
            "clause": clause,
            "reason": i.reason or "—",
        }
        if i.stage == "paid" and i.payment is not None:
            settled = i.payment.settled_at
            text = render(
                lang,
                PAID,
                {
                    **params,
                    "date": in_china(settled).date().isoformat() if settled else "—",
                    "account": i.payment.account,
                },
            )
        else:
            text = render(lang, WHY_NOT_PAID.get(i.stage, WHY_NOT_PAID["matched"]), params)
        why.append(Answer(i.version_id, i.stage, text, i.amount))
        if i.stage not in NOT_ENTITLED:
            mode = (
                ("免申即享" if i.mode == "auto" else "依申请")
                if lang == "zh"
                else ("no application needed" if i.mode == "auto" else "on application")
            )
            enjoy.append(
                Answer(
                    i.version_id, i.stage, render(lang, MAY_ENJOY, {**params, "mode": mode, "stage": stage}), i.amount
                )
            )
    if not why:
        why.append(Answer(None, "", render(lang, NOTHING), ""))
    if not enjoy:
        enjoy.append(Answer(None, "", render(lang, MAY_ENJOY_NONE), ""))
    return {"why_not_paid": why, "may_enjoy": enjoy}
