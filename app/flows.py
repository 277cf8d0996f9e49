"""Wiring between domains that no single domain may do itself: stored matches → notices (服务找人).

eligibility/ stores matches and knows nothing of policies; notifications/ delivers messages and knows
nothing of policies or money. Here a published version's matches become one notice per subject ×
version (matched_auto: "you will receive X, confirm your account"; matched_apply: "you may apply").
Notice keys make this idempotent, so it can run after every match, every import and on a schedule.
And the way back (资格复核): a match withdrawn by a re-match withdraws the subject's payable entitlement, and the
subject is told.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from arq import ArqRedis

from app.config import get_settings
from eligibility import service as eligibility
from eligibility.explain import explain_profile, near_miss
from kit.audit import Actor
from kit.masking import mask_account
from kit.money import format_yuan
from kit.time import china_today
from kit.vocab import VersionStatus
from notifications import service as notifications
from notifications.schemas import NoticeRequest
from payments import service as payments
from payments.service import corrections as data_corrections
from policies import service as policies
from policies.applications.schemas import ObjectionRead


def match_notice_key(version_id: int, subject_id: str) -> str:
    return f"matched:{version_id}:{subject_id}"


async def notify_matches(
    version_id: int, *, actor: Actor, queue: ArqRedis | None = None, subject_ids: list[str] | None = None
) -> int:
    """A notice for every stored match of a published version that has none yet (only those of ``subject_ids``
    when given). Returns notices written.

    Reads only the matches not yet marked handed on (eligibility.unnotified_matches, a partial index), a chunk at a
    time, and marks each chunk after its notices are committed: the pass costs what is new, not what is stored. A
    crash between the two leaves the chunk unmarked, so the next pass (the scheduled safety net) takes it again and
    the notice key keeps every notice single. The keys are checked before any profile is read: a feed rewrites the
    match rows of subjects told long ago (a changed profile is a new row), and those cost one key lookup, not a
    profile load."""
    version = await policies.get_version(version_id)
    base = get_settings().base_url.rstrip("/")
    reading = await policies.reading_of(version_id)  # 政策解读 and 申兑指南, not only "you qualify"
    written = 0
    while True:
        chunk = await eligibility.unnotified_matches(
            version_id, subject_ids=subject_ids, limit=_NOTICE_CHUNK, profiles=False
        )
        if not chunk:
            return written
        used = await notifications.used_keys([match_notice_key(version_id, m.subject_id) for m in chunk])
        fresh = await eligibility.with_profiles(
            [m for m in chunk if match_notice_key(version_id, m.subject_id) not in used]
        )
        requests = []
        for m in fresh:
            context: dict[str, Any] = {
                "policy_title": version.title,
                "policy_code": version.code,
                "issuer": version.issuer,
                "amount": format_yuan(m.amount_fen),
                "recipient_name": m.name or "",
                "clauses": [version.clause_titles.get(c, c) for c in m.clauses],
                "link": f"{base}/portal/policies/{version_id}",
                "guide_link": f"{base}/library/{version.code}",
                **reading,
            }
            if version.mode == "auto" and getattr(m, "bank_account", None):
                context["account"] = mask_account(m.bank_account)
            requests.append(
                NoticeRequest(
                    recipient_kind=m.subject_kind,
                    subject_id=m.subject_id,
                    kind="matched_auto" if version.mode == "auto" else "matched_apply",
                    key=match_notice_key(version_id, m.subject_id),
                    context=context,
                )
            )
        if requests:
            result = await notifications.notify_many(requests, actor=actor, queue=queue)
            written += len(result.created)
        await eligibility.mark_notified([m.id for m in chunk])
        if len(chunk) < _NOTICE_CHUNK:
            return written


_NOTICE_CHUNK = 2000


async def notify_all_published(*, actor: Actor, queue: ArqRedis | None = None) -> int:
    """notify_matches for every published version (the worker runs this on a schedule): the matches a crash left
    without their notice are caught here; matches already handed on are not read again."""
    total = 0
    for v in await policies.list_published():
        total += await notify_matches(v.id, actor=actor, queue=queue)
    return total


async def matches_withdrawn(withdrawn: list, *, actor: Actor, queue: ArqRedis | None = None) -> int:
    """After a re-match withdrew matches (eligibility.standing.Withdrawal): the open entitlements of those subjects
    under those versions are withdrawn with the failing conditions, and the subjects told. Returns how many."""
    by_version: dict[int, set[str]] = {}
    for w in withdrawn:
        if w.version_id is not None:
            by_version.setdefault(int(w.version_id), set()).add(w.subject_id)
    n = 0
    for version_id, subjects in sorted(by_version.items()):
        n += len(
            await payments.withdraw_unqualified(
                version_id,
                actor=actor,
                subject_ids=sorted(subjects),
                queue=queue,
                base_url=get_settings().base_url,
            )
        )
    return n


async def correct_by_objection(
    objection_id: int, *, corrections: dict[str, str], answer: str, actor: Actor, queue: ArqRedis | None = None
) -> ObjectionRead:
    """An objection upheld with a data correction (payments.service.corrections): the profile corrected and the
    subject re-evaluated in the answer's transaction; then, like the worker after a feed's change, the new matches'
    notices (服务找人, keyed per version and subject) and the withdrawals' (资格复核)."""
    done = await data_corrections.correct_by_objection(
        objection_id,
        corrections=dict(corrections),
        answer=answer,
        actor=actor,
        base_url=get_settings().base_url,
        queue=queue,
    )
    sid = done.objection.subject_id
    for version_id in done.matched:
        await notify_matches(version_id, actor=actor, queue=queue, subject_ids=[sid])
    if done.withdrawn:
        await matches_withdrawn(done.withdrawn, actor=actor, queue=queue)
    return done.objection


def reading_notice_key(version_id: int, subject_id: str) -> str:
    return f"reading:{version_id}:{subject_id}"


async def notify_near_misses(
    version_id: int, *, actor: Actor, queue: ArqRedis | None = None, as_of: dt.date | None = None
) -> int:
    """政策解读 for near misses (opt-in): after a publication, every subject of the version's kind that opted in
    (notifications.reading_subscribers) and is a near miss of it (eligibility.explain.near_miss: not qualified,
    at most NEAR_MISS_MAX conditions short on its nearest way) gets a ``policy_reading`` notice saying it does not
    qualify yet and what is still needed, with the reading and the 申兑指南. Keyed ``reading:<version>:<subject>``,
    so once per version whatever re-runs; delivered like every notice (verified points, opt-outs, quiet hours).
    The cost is one explanation per opted-in subject. Returns notices written."""
    version = await policies.get_version(version_id)
    if version.status != VersionStatus.PUBLISHED:
        return 0
    ruleset = await policies.ruleset_of(version_id)
    subscribers = await notifications.reading_subscribers(str(ruleset.subject))
    if not subscribers:
        return 0
    day = as_of or china_today()
    base = get_settings().base_url.rstrip("/")
    reading = await policies.reading_of(version_id)
    recipients = await notifications.recipients_by_key(
        notifications.recipient_key(str(ruleset.subject), s) for s in subscribers
    )
    requests = []
    for subject_id in subscribers:
        profile = await eligibility.get_profile(str(ruleset.subject), subject_id)
        if profile is None:
            continue
        row = recipients.get(notifications.recipient_key(str(ruleset.subject), subject_id)) or {}
        lang = "en" if row.get("locale") == "en" else "zh"
        missing = near_miss(explain_profile(ruleset, subject_id, profile, day, lang))
        if not missing:
            continue
        requests.append(
            NoticeRequest(
                recipient_kind=ruleset.subject,
                subject_id=subject_id,
                kind="policy_reading",
                key=reading_notice_key(version_id, subject_id),
                context={
                    "policy_title": version.title,
                    "policy_code": version.code,
                    "issuer": version.issuer,
                    "missing": missing,
                    "link": f"{base}/portal/policies/{version_id}",
                    "guide_link": f"{base}/library/{version.code}",
                    **reading,
                },
            )
        )
    if not requests:
        return 0
    result = await notifications.notify_many(requests, actor=actor, queue=queue)
    return len(result.created)


async def settle_corrections(feed: str | None, *, actor: Actor, queue: ArqRedis | None = None) -> int:
    """After an import of ``feed`` (API upsert or `zhida profiles import --feed`): the correction requests whose value
    the feed now delivered are accepted and their subjects re-evaluated (payments.service.corrections); then, as
    after any correction, the match notices (keyed, once) and the withdrawals'. Returns requests accepted."""
    if not feed:
        return 0
    settled = await data_corrections.settle_delivered(feed, actor=actor, base_url=get_settings().base_url)
    for s in settled:
        for version_id in s.matched:
            await notify_matches(version_id, actor=actor, queue=queue, subject_ids=[s.subject_id])
        if s.withdrawn:
            await matches_withdrawn(s.withdrawn, actor=actor, queue=queue)
    return sum(len(s.accepted) for s in settled)


async def refuse_correction(request_id: int, reason: str, *, actor: Actor, queue: ArqRedis | None = None) -> dict:
    """The feed refused correction request ``request_id`` (recorded by an operator or an officer for it): rejected
    with the reason, the objection answered again with it (payments.service.corrections.refuse_request)."""
    return await data_corrections.refuse_request(
        request_id, reason, actor=actor, base_url=get_settings().base_url, queue=queue
    )
