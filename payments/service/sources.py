"""What payments takes from policies/ and eligibility/ (through their service functions, never their tables)."""

from __future__ import annotations

import asyncio

from eligibility import service as eligibility
from kit.audit import Actor
from kit.db import in_transaction
from kit.i18n import _l
from kit.vocab import EntitlementState, SubjectKind
from payments.errors import InvalidState, NotFound
from payments.schemas import EntitlementCreate, EntitlementRead, PolicyFacts
from payments.service.entitlements import (
    account_verified,
    get_entitlement,
    period_of,
    record_entitlements,
    right_key,
)
from payments.service.reverify import withdraw_unqualified
from payments.tables import Entitlement
from policies import service as policies
from policies.applications.service import payment_account
from policies.schemas import PublishedVersion


def facts_from_published(v: PublishedVersion) -> PolicyFacts:
    """PolicyFacts from policies.schemas.PublishedVersion."""
    return PolicyFacts(
        version_id=v.id,
        code=v.code,
        version=v.number,
        title=v.title,
        issuer=v.issuer,
        subject=SubjectKind(v.subject),
        mode=v.mode,
        budget_fen=v.budget_fen,
        exclusive_group=v.exclusive_group,
        effective_from=v.effective_from,
        clause_titles=dict(v.clause_titles),
        once=v.once,
        top_up=v.top_up,
        publicity_days=v.publicity_days,
    )


async def policy_facts_of(version_id: int) -> PolicyFacts:
    return facts_from_published(await policies.get_version(version_id))


async def _refresh_version(facts: PolicyFacts, *, actor: Actor, subject_ids: list[str] | None = None) -> dict[str, int]:
    """The version's entitlements from its stored matches (only those of ``subject_ids`` when given)."""
    if facts.mode != "auto":  # 依申请: entitlements come from approved applications only
        return {"inserted": 0, "updated": 0, "unchanged": 0, "locked": 0, "withdrawn": 0}
    only = set(subject_ids) if subject_ids is not None else None
    matches = [
        m
        for m in await eligibility.matches_for(facts.version_id)
        if m.amount_fen > 0 and (only is None or m.subject_id in only)
    ]
    portal = await _portal_accounts([(m.subject_kind, m.subject_id) for m in matches])
    items = []
    for m in matches:
        # An account that arrived with the profile from the data exchange counts as verified; one the subject set in
        # the portal wins over it, and pays only once verified (a re-match must not bring the old account back).
        bank_name, account = m.bank_name or "", m.bank_account or ""
        own = portal.get((m.subject_kind, m.subject_id))
        if own is not None:
            bank_name, account = own[1], (own[2] if own[0] == "verified" else "")
        items.append(
            EntitlementCreate(
                subject_kind=SubjectKind(m.subject_kind),
                subject_id=m.subject_id,
                amount_fen=m.amount_fen,
                clause_codes=list(m.clauses),
                source="auto",
                source_ref=str(m.id),
                payee_name=m.name or "",
                bank_name=bank_name,
                payee_account=account,
                account_verified=bool(account),
                as_of=m.as_of,
            )
        )
    counts = await record_entitlements(facts, items, actor=actor)
    # 资格复核: an open entitlement whose subject's match was withdrawn (it no longer qualifies) is withdrawn too.
    counts["withdrawn"] = len(await withdraw_unqualified(facts.version_id, actor=actor, subject_ids=subject_ids))
    return counts


async def _portal_accounts(subjects: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(status, bank_name, account) of the subjects that set their account in the portal (applications service)."""
    # Concurrent look-ups, unless inside a transaction (one connection cannot run two statements at once).
    step = 1 if in_transaction() else 200
    out: dict[tuple[str, str], tuple[str, str, str]] = {}
    for i in range(0, len(subjects), step):
        part = subjects[i : i + step]
        found = await asyncio.gather(*(payment_account(kind, sid) for kind, sid in part))
        out.update({key: acc for key, acc in zip(part, found) if acc is not None})
    return out


async def refresh_entitlements(code: str, *, actor: Actor) -> dict[str, int]:
    """Entitlements of the published version of ``code`` from its stored matches (auto mode), and of the other
    published policies of its exclusive group, so that 就高 sees every candidate before anything is batched."""
    ruleset = await policies.published_ruleset(code)
    if ruleset is None or ruleset.version_id is None:
        raise NotFound(_l("policy {code} has no published version"), code=code)
    facts = await policy_facts_of(ruleset.version_id)
    versions = [facts]
    if facts.exclusive_group:
        versions += [
            facts_from_published(v)
            for v in await policies.list_exclusive_group(facts.exclusive_group)
            if v.id != facts.version_id
        ]
    totals: dict[str, int] = {}
    for f in versions:
        for k, n in (await _refresh_version(f, actor=actor)).items():
            totals[k] = totals.get(k, 0) + n
    return totals


async def create_entitlement_from_application(
    *,
    version_id: int,
    subject_kind: str,
    subject_id: str,
    amount_fen: int,
    clause_codes: list[str],
    application_id: str | int,
    actor: Actor,
) -> EntitlementRead:
    """An approved application (依申请) becomes an entitlement, payable once the subject's account is verified."""
    facts = await policy_facts_of(version_id)
    profile = await eligibility.get_profile(subject_kind, subject_id) or {}
    account = profile.get("bank_account") or ""
    item = EntitlementCreate(
        subject_kind=SubjectKind(subject_kind),
        subject_id=subject_id,
        amount_fen=amount_fen,
        clause_codes=clause_codes,
        source="application",
        source_ref=str(application_id),
        payee_name=profile.get("name") or "",
        bank_name=profile.get("bank_name") or "",
        payee_account=account,
        account_verified=bool(account),
    )
    await record_entitlements(facts, [item], actor=actor)
    # The right's row this version decided, else (already paid under an earlier version) the one that holds it.
    right = right_key(facts.code, period_of(facts, item.as_of), subject_kind, subject_id)
    rows = await Entitlement.select(Entitlement.id, Entitlement.version_id, Entitlement.state).where(
        Entitlement.right_key == right
    )
    rows = [r for r in rows if r["state"] != EntitlementState.SUPERSEDED]
    rows.sort(key=lambda r: (r["version_id"] == version_id, r["id"]))
    row = rows[-1] if rows else None
    if row is None:
        raise InvalidState(_l("the entitlement could not be recorded"))
    return await get_entitlement(row["id"])


async def refresh_account(subject_kind: str, subject_id: str, *, actor: Actor) -> int:
    """Take the subject's (corrected, verified) account from its profile onto its open entitlements."""
    profile = await eligibility.get_profile(subject_kind, subject_id)
    if not profile or not profile.get("bank_account"):
        raise InvalidState(
            _l("{subject_kind} {subject_id} has no verified account on its profile"),
            subject_kind=subject_kind,
            subject_id=subject_id,
        )
    return await account_verified(
        subject_kind,
        subject_id,
        payee_name=profile.get("name") or "",
        bank_name=profile.get("bank_name") or "",
        payee_account=profile["bank_account"],
        actor=actor,
    )
