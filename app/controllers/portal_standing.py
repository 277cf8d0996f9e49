"""Where each of a subject's policies stands on the way to the money, and a policy as its subject reads it: what the
portal's pages and its JSON API both show (portal_pages.py)."""

from __future__ import annotations

from typing import Any

from app.i18n import error_text
from app.schemas.portal import (
    ApplicationRefRead,
    PaymentStandingRead,
    PolicyStandingRead,
    PortalPolicyRead,
    ReceiptRefRead,
    StepRead,
)
from eligibility import service as eligibility
from eligibility.errors import EligibilityError
from kit.i18n import _l
from kit.money import fen_to_yuan
from kit.time import china_today, in_china, now
from kit.vocab import MatchState
from payments import service as payments
from payments.errors import NotFound as PaymentNotFound
from payments.schemas import EntitlementRead
from policies import service as policies
from policies.applications import service
from policies.applications.errors import NotFound
from policies.errors import PolicyNotFound

# Where an entitlement is on its way to the money: (code, zh, en). Apply-mode policies start two steps earlier.
STAGES = {
    "may_apply": ("可申请", "You may apply"),
    "applied": ("已申请，审核中", "Applied, under review"),
    "first_approved": ("已初审通过，待复核", "First approval given, awaiting the second"),
    "rejected": ("未通过", "Rejected"),
    "matched": ("已匹配", "Matched"),
    "waiting_account": ("待确认收款账户", "Awaiting account confirmation"),
    "account_unverified": ("收款账户核验中", "Account being verified"),
    "payable": ("待拨付", "Awaiting a payment batch"),
    "excluded": ("不重复享受", "Not paid (exclusive group)"),
    "batched": ("拨付中", "In a payment batch"),
    "payment_returned": ("款项被退回，待重新发放", "Payment returned; to be paid again"),
    "paid": ("已到账", "Paid"),
    "abandoned": ("已终止", "Stopped"),
    "withdrawn": ("已取消：不再符合条件", "Withdrawn: no longer eligible"),
    "amount_changed": ("金额变更，待确认", "Amount changed; awaiting confirmation"),
    "superseded": ("已在本政策其他版本享受", "Paid under another version of the policy"),
    "in_publicity": ("公示中", "In public notice (公示) before payment"),
    "held_by_objection": ("异议处理中，暂停发放", "Held: an objection is being decided"),
    "revoked": ("已撤销：公示期异议成立", "Revoked after an objection"),
}
AUTO_STEPS = ["matched", "waiting_account", "payable", "batched", "paid"]
APPLY_STEPS = ["may_apply", "applied", "waiting_account", "payable", "batched", "paid"]


async def subject_overview(kind: str, subject_id: str) -> list[PolicyStandingRead]:
    """Each policy this subject matched or applied for, with where it stands on the way to the money:
    application, entitlement state and reason, payment status, receipt code."""
    latest_match: dict[int, Any] = {}
    for m in await eligibility.matches_of_subject(subject_id):
        if m.subject_kind == kind and m.version_id is not None:
            held = latest_match.get(m.version_id)
            if held is None or held.state != "current" or m.state == "current":  # the current one wins
                latest_match[m.version_id] = m
    apps = {a.version_id: a for a in await service.applications_of_subject(kind, subject_id)}  # the last per version
    ents = {(e.policy_code, e.policy_version): e for e in await payments.entitlements_of_subject(kind, subject_id)}
    receipts = {r.payment_id: r for r in await payments.receipts_of_subject(kind, subject_id)}
    # An entitlement's latest payment (a re-issue follows a rejected or returned one); one batch may hold several of
    # the subject's payments, one per entitlement.
    pays = {
        p.entitlement_id: p for p in await payments.payments_of_subject(kind, subject_id) if p.status != "void"
    }  # a re-issue's batch sent back voids its payment; the one before it stands
    own_account = await service.payment_account(kind, subject_id)
    items = []
    for version_id in sorted(set(latest_match) | set(apps)):
        try:
            v = await policies.get_version(version_id)
        except PolicyNotFound:  # a version that vanished is simply not shown
            continue
        match, app = latest_match.get(version_id), apps.get(version_id)
        ent = ents.get((v.code, v.number))
        payment = pays.get(ent.id) if ent else None
        # The receipt of the money that arrived and stayed: none for a payment rejected or sent back (退汇).
        receipt = receipts.get(payment.id) if payment is not None and payment.status == "settled" else None
        if ent is not None:
            stage = ent.state
            if stage == "waiting_account" and own_account and own_account[0] == "unverified":
                stage = "account_unverified"
            elif stage == "payable" and ent.held_by is not None:
                stage = "held_by_objection"
            elif stage == "payable" and ent.publicity_until is not None and in_china(ent.publicity_until) > now():
                stage = "in_publicity"
        elif v.mode == "apply":
            stage = (
                {
                    "submitted": "applied",
                    "first_approved": "first_approved",
                    "rejected": "rejected",
                    "approved": "payable",
                }.get(app.status, "applied")
                if app
                else "may_apply"
            )
        elif match is not None and match.state == "withdrawn":
            stage = "withdrawn"
        else:
            stage = "matched"
        if payment is not None and payment.status == "settled":
            stage = "paid"
        elif payment is not None and payment.status in ("rejected", "returned") and payment.exception == "open":
            stage = "payment_returned"
        steps = APPLY_STEPS if v.mode == "apply" else AUTO_STEPS
        current = (
            steps.index(stage)
            if stage in steps
            else (
                steps.index("waiting_account")
                if stage == "account_unverified"
                else steps.index("batched")
                if stage == "payment_returned"
                else -1
            )
        )
        amount = ent.amount if ent else app.amount if app else (fen_to_yuan(match.amount_fen) if match else None)
        items.append(
            PolicyStandingRead(
                version_id=version_id,
                code=v.code,
                title=v.title,
                mode=v.mode,
                issuer=v.issuer,
                amount=f"{amount:,.2f}" if amount is not None else "",
                stage=stage,
                stage_zh=STAGES.get(stage, (stage, stage))[0],
                stage_en=STAGES.get(stage, (stage, stage))[1],
                steps=[
                    StepRead(
                        code=s,
                        zh=STAGES[s][0],
                        en=STAGES[s][1],
                        state="done" if i < current else "current" if i == current else "todo",
                    )
                    for i, s in enumerate(steps)
                ],
                reason=ent.reason
                if ent
                else (app.reason if app else (match.withdrawn_reason if match is not None else "")),
                entitlement_id=ent.id if ent else None,
                application=ApplicationRefRead(id=app.id, no=app.application_no, status=app.status) if app else None,
                payment=PaymentStandingRead(
                    status=payment.status, settled_at=payment.settled_at, account=payment.payee_account_masked
                )
                if payment
                else None,
                receipt=ReceiptRefRead(
                    code=receipt.code, url=f"/api/receipts/{receipt.code}.pdf", verify_url=f"/verify/{receipt.code}"
                )
                if receipt
                else None,
            )
        )
    return items


async def policy_view(version_id: int, kind: str, subject_id: str, lang: str) -> PortalPolicyRead:
    """A policy as its subject reads it: text, clauses, why it qualifies (or not), and its own records of it."""
    version = await service.visible_version(version_id, kind)
    content = (await policies.read_version(version_id)).content
    problem: str | None = None
    # A current match is the decision the money follows: explain it as of its own date, on the data it used.
    decision = next(
        (
            m
            for m in reversed(await eligibility.matches_of_subject(subject_id))
            if m.version_id == version_id and m.subject_kind == kind and m.state == MatchState.CURRENT
        ),
        None,
    )
    try:
        ruleset = await policies.ruleset_of(version_id)
        explanation = (
            await eligibility.explain_decision(ruleset, decision, lang)
            if decision is not None
            else await eligibility.explain(ruleset, subject_id, china_today(), lang)
        )
    except EligibilityError as exc:
        explanation, problem = None, error_text(lang, exc)
    items = [i for i in await subject_overview(kind, subject_id) if i.version_id == version_id]
    apps = [a for a in await service.applications_of_subject(kind, subject_id) if a.version_id == version_id]
    return PortalPolicyRead(
        version=version,
        content=content,
        explanation=explanation,
        explanation_problem=problem,
        status=items[0] if items else None,
        applications=apps,
        account=await service.account_of(kind, subject_id),
    )


async def own_entitlement(entitlement_id: int, kind: str, subject_id: str) -> EntitlementRead:
    """One of the subject's entitlements; another subject's, like a missing one, is not found."""
    try:
        ent = await payments.get_entitlement(entitlement_id)
    except PaymentNotFound:
        ent = None
    if ent is None or (ent.subject_kind, ent.subject_id) != (kind, subject_id):
        raise NotFound(_l("no such entitlement / 没有该享受记录"))
    return ent
