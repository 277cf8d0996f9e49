"""The lifecycle steps: submit, reject, publish (with the stored impact), take effect, suspend, resume, retire; export.

Only a version in review (submitted by its author, not rejected since) is published. A version whose effective_from
is still to come is published as "scheduled": the current version stays in effect until ``activate_due`` (a scheduled
job) makes it the published one on that day.
"""

from __future__ import annotations

import datetime as dt

from eligibility import service as eligibility_service
from kit.audit import Actor
from kit.i18n import AnyOf, _l
from kit.money import format_yuan, yuan_to_fen
from kit.time import china_today
from kit.vocab import VersionStatus
from policies import packs
from policies.errors import (
    LifecycleError,
    NotAllowed,
    PackRefused,
    PolicyError,
    PublicationRefused,
    TestsFailed,
    TestsMissing,
)
from policies.schemas import ImpactPreview, PackProblem, PolicyContent, VersionRead
from policies.service import library
from policies.service.common import AUTHOR_ROLES, LIVE, REVIEWER, _content, _db, _key, _now, _require_role, _version_row
from policies.service.preview import impact_preview
from policies.service.reading import _published_row, read_version, ruleset_of, versions_of
from policies.tables import PolicyVersion


async def _transition(
    row: dict,
    status: str,
    actor: Actor,
    action: str,
    reason: str = "",
    *,
    content_hash: str | None = None,
    meta: dict | None = None,
    **fields,
) -> None:
    values = {
        PolicyVersion.status: status,
        PolicyVersion.status_changed_at: _now(),
        PolicyVersion.status_reason: reason,
    }
    for k, v in fields.items():
        values[getattr(PolicyVersion, k)] = v
    # Compare-and-set on the status: of two reviewers acting at once, the second finds it changed. With
    # ``content_hash``, on the content too: an edit committed since it was checked makes the step fail.
    where = (PolicyVersion.id == row["id"]) & (PolicyVersion.status == row["status"])
    if content_hash is not None:
        where = where & (PolicyVersion.content_hash == content_hash)
    changed = await PolicyVersion.update(values).where(where).returning(PolicyVersion.id)
    if not changed:
        raise LifecycleError(
            _l("version {number} of {code} changed meanwhile; reload and try again"),
            number=row["number"],
            code=row["code"],
        )
    await actor.record(
        action,
        "policy_version",
        _key(row),
        {"status": row["status"]},
        {"status": status},
        {**({"reason": reason} if reason else {}), **(meta or {})} or None,
    )


def _tests_missing(row: dict, missing: list[PackProblem]) -> TestsMissing:
    return TestsMissing(
        f"{row['code']} version {row['number']} cannot be submitted or published until its own tests cover it "
        "(a test where each clause pays, and one where the policy does not pay): "
        + "; ".join(p.message for p in missing),
        detail=[p.model_dump(mode="json") for p in missing],
    )


def submittable(content: PolicyContent) -> list[PackProblem]:
    """Why content (whose rules and own tests are clean) cannot be submitted yet: what its tests leave untested."""
    return packs.coverage_problems(content)


async def _check_tests_pass(row: dict) -> None:
    content = await _content(row)
    problems = packs.check_rules(content)
    if problems:
        raise PackRefused(problems)
    outcomes = packs.run_tests(content)
    failed = [o for o in outcomes if not o.passed]
    if failed:
        raise TestsFailed(
            _l(
                "{code} version {number}: {count} of its own tests fail, so it cannot be submitted or published: "
                "{failures}"
            ),
            code=row["code"],
            number=row["number"],
            count=len(failed),
            failures="; ".join(f"'{o.name}': {o.message}" for o in failed),
            detail=[o.model_dump(mode="json") for o in failed],
        )
    missing = packs.coverage_problems(content, outcomes)
    if missing:
        raise _tests_missing(row, missing)


async def missing_tests(version_id: int) -> list[PackProblem]:
    """What the version's own tests leave untested (empty when it may be submitted and published)."""
    content = await _content(await _version_row(version_id))
    if packs.check_rules(content):
        return []  # its rule problems are the reason, reported by the check itself
    return packs.coverage_problems(content)


async def submit(version_id: int, actor: Actor) -> VersionRead:
    """The author hands a draft to review (its own tests must pass)."""
    _require_role(actor, AUTHOR_ROLES, _l("submitting a policy for review"))
    row = await _version_row(version_id)
    if row["status"] != VersionStatus.DRAFT:
        raise LifecycleError(
            _l("version {number} of {code} is {state}; only a draft is submitted"),
            number=row["number"],
            code=row["code"],
            state=row["status"],
        )
    await _check_tests_pass(row)
    async with _db().transaction():
        await _transition(row, VersionStatus.IN_REVIEW, actor, "policy.submit", submitted_at=_now())
    return await read_version(version_id)


async def reject(version_id: int, actor: Actor, reason: str) -> VersionRead:
    """The reviewer sends a version in review back to its author as a draft, with the reason."""
    _require_role(actor, (REVIEWER,), _l("rejecting a policy"))
    if not (reason or "").strip():
        raise PolicyError(_l("a rejection needs a reason the author can act on"))
    row = await _version_row(version_id)
    if row["status"] != VersionStatus.IN_REVIEW:
        raise LifecycleError(
            _l("version {number} of {code} is {state}; only a version in review is rejected"),
            number=row["number"],
            code=row["code"],
            state=row["status"],
        )
    async with _db().transaction():
        await _transition(row, VersionStatus.DRAFT, actor, "policy.reject", reason.strip(), reviewer=actor.name)
    return await read_version(version_id)


async def publishable_version(code: str) -> dict:
    rows = await versions_of(code)
    latest = rows[0]
    if latest["status"] not in (VersionStatus.DRAFT, VersionStatus.IN_REVIEW):
        raise LifecycleError(
            _l("policy {code} has no draft to publish (its latest version {number} is {state})"),
            code=code,
            number=latest["number"],
            state=latest["status"],
        )
    return latest


async def publish(
    code: str,
    actor: Actor,
    *,
    as_of: dt.date | None = None,
    accept_shortfall: bool = False,
    today: dt.date | None = None,
) -> VersionRead:
    """`zhida policies publish CODE`: publish the latest version of CODE (it must be in review)."""
    latest = await publishable_version(code)
    return await publish_version(latest["id"], actor, as_of=as_of, accept_shortfall=accept_shortfall, today=today)


def _shortfall(preview: ImpactPreview) -> int:
    """Fen by which the impact preview's committed total exceeds the budget (0 when covered or withheld)."""
    if preview.budget_left is None or preview.budget_left >= 0:
        return 0
    return -yuan_to_fen(preview.budget_left)


async def _not_publishable(row: dict) -> PolicyError:
    """Why a version that is not in review cannot be published."""
    key = f"version {row['number']} of {row['code']}"
    if row["status"] != VersionStatus.DRAFT:
        return LifecycleError(f"{key} is {row['status']}; only a version submitted for review is published")
    if row["reviewer"]:  # a rejection sends the version back to draft and names its reviewer
        why = f" ({row['status_reason']})" if row["status_reason"] else ""
        return LifecycleError(
            f"{key} was sent back to its author by {row['reviewer']}{why}; "
            "it is published only after its author changes and submits it again"
        )
    text = f"{key} is a draft that its author has not submitted for review; only a submitted version is published"
    content = await _content(row)
    if not packs.check_rules(content):
        missing = packs.coverage_problems(content)
        if missing:
            text += "; nor can it be submitted yet: " + "; ".join(p.message for p in missing)
    return LifecycleError(text)


async def _supersede(code: str, statuses: tuple[str, ...], actor: Actor, reason: str) -> None:
    for prev in await PolicyVersion.select().where(
        (PolicyVersion.code == code) & PolicyVersion.status.is_in(list(statuses))
    ):
        await _transition(prev, VersionStatus.SUPERSEDED, actor, "policy.supersede", reason)


async def publish_version(
    version_id: int,
    actor: Actor,
    *,
    as_of: dt.date | None = None,
    content_hash: str | None = None,
    accept_shortfall: bool = False,
    today: dt.date | None = None,
) -> VersionRead:
    """A policy_reviewer other than the author publishes a version in review whose own tests pass and cover it.

    ``content_hash``: the content the reviewer saw (the review page sends it); refused when the version has changed
    since, so a draft edited after review is never published unseen. Whatever is passed, the version is published only
    with the content its tests and impact preview were computed on.
    A version whose period ended before ``today`` (default: today in China) is refused. The impact preview is computed
    and stored with the publication; when its committed total exceeds the budget, publishing needs
    ``accept_shortfall`` (recorded in the audit entry). A version in effect today supersedes the published one and the
    matcher is told which rule sets are active; one whose effective_from is later is "scheduled" and takes effect then
    (``activate_due``), the published version staying in effect until that day.
    Matching, notices and entitlements are the caller's (app/publication.py queues them).
    """
    _require_role(actor, (REVIEWER,), _l("publishing a policy"))
    today = today or china_today()
    row = await _version_row(version_id)
    if content_hash is not None and row["content_hash"] != content_hash:
        raise LifecycleError(
            _l("version {number} of {code} has changed since it was reviewed; review it again before publishing"),
            number=row["number"],
            code=row["code"],
        )
    if row["status"] != VersionStatus.IN_REVIEW:
        raise await _not_publishable(row)
    if row["author"] == actor.name:
        raise NotAllowed(
            _l(
                "{name} wrote version {number} of {code}; another policy_reviewer must publish it (author cannot publish own draft)"
            ),
            name=actor.name,
            number=row["number"],
            code=row["code"],
        )
    if row["effective_to"] is not None and row["effective_to"] < today:
        raise PublicationRefused(
            _l(
                "version {number} of {code} was in effect until {effective_to}, which has passed (today is {today}): a period that has ended cannot be published; the author sets an effective_to of today or later in a new draft"
            ),
            number=row["number"],
            code=row["code"],
            effective_to=row["effective_to"],
            today=today,
        )
    await _check_tests_pass(row)
    preview = await impact_preview(version_id, as_of, small_counts=True)
    short = _shortfall(preview)
    if short and not accept_shortfall:
        # One text in both languages (the CLI prints it whole); the catalog's Chinese is its Chinese half.
        raise PublicationRefused(
            _l(
                "预算缺口：{as_of} 的影响测算需 {total_yuan} 元，预算 {budget_yuan} 元，缺口 {short_yuan} 元；"
                "发布须明确确认接受该缺口。 The impact preview on {as_of} commits {total} yuan against a budget of "
                "{budget} yuan, a shortfall of {short_yuan} yuan: publishing needs an explicit confirmation "
                "(zhida policies publish --accept-shortfall, accept_shortfall: true in the API, or the page's "
                "checkbox)"
            ),
            as_of=preview.as_of,
            total_yuan=format_yuan(yuan_to_fen(preview.total_amount)),
            budget_yuan=format_yuan(yuan_to_fen(preview.budget)),
            short_yuan=format_yuan(short),
            total=preview.total_amount,
            budget=preview.budget,
            detail={"budget": str(preview.budget), "total_amount": str(preview.total_amount), "shortfall_fen": short},
        )
    scheduled = row["effective_from"] > today
    meta: dict = {
        "effective_from": row["effective_from"].isoformat(),
        "takes_effect": "scheduled" if scheduled else "now",
    }
    if short:
        meta |= {"budget_shortfall_fen": short, "shortfall_accepted": True}
    async with _db().transaction():
        reviewed = row["content_hash"]
        row = await _version_row(version_id)
        if row["status"] != VersionStatus.IN_REVIEW:
            raise LifecycleError(
                _l("version {number} of {code} is {state} now"),
                number=row["number"],
                code=row["code"],
                state=row["status"],
            )
        if row["content_hash"] != reviewed:  # edited while its tests and impact preview ran
            raise LifecycleError(
                _l("version {number} of {code} changed while it was being published; review it again"),
                number=row["number"],
                code=row["code"],
            )
        old = None if scheduled else await _published_row(row["code"])
        # A later publication replaces a version still waiting for its day; the one in effect stays until this one is.
        await _supersede(
            row["code"],
            (VersionStatus.SCHEDULED,) if scheduled else (*LIVE, VersionStatus.SCHEDULED),
            actor,
            f"superseded by version {row['number']}",
        )
        await _transition(
            row,
            VersionStatus.SCHEDULED if scheduled else VersionStatus.PUBLISHED,
            actor,
            "policy.publish",
            content_hash=reviewed,
            meta=meta,
            reviewer=actor.name,
            published_at=_now(),
            impact_json=preview.model_dump_json(),
        )
        await actor.record(
            "policy.impact",
            "policy_version",
            _key(row),
            None,
            preview.model_dump(mode="json"),
            {
                "matched": preview.matched,
                "total_amount": None if preview.total_amount is None else str(preview.total_amount),
                "budget": str(preview.budget),
                "as_of": preview.as_of.isoformat(),
                "withheld": preview.withheld,
            },
        )
        if not scheduled:
            if old is not None:
                await eligibility_service.deactivate_ruleset(_key(old))
            await eligibility_service.activate_ruleset(await ruleset_of(version_id))
            await library.index_versions([version_id])  # the public library finds it from now on
    return await read_version(version_id)


async def activate_due(actor: Actor, *, today: dt.date | None = None) -> list[VersionRead]:
    """Scheduled versions whose effective_from has come take effect: each supersedes the version in effect and
    becomes the published one (its rule set active). Idempotent: a second run, or a second worker, finds nothing to
    do. Returns the versions that took effect in this call (the caller queues their matching)."""
    today = today or china_today()
    due = (
        await PolicyVersion.select(PolicyVersion.id)
        .where((PolicyVersion.status == VersionStatus.SCHEDULED) & (PolicyVersion.effective_from <= today))
        .order_by(PolicyVersion.code)
        .order_by(PolicyVersion.number)
    )
    out = []
    for d in due:
        try:
            async with _db().transaction():
                row = await _version_row(d["id"])
                if row["status"] != VersionStatus.SCHEDULED:
                    continue
                old = await _published_row(row["code"])
                await _supersede(
                    row["code"],
                    LIVE,
                    actor,
                    f"superseded by version {row['number']}, in effect from {row['effective_from']}",
                )
                await _transition(
                    row,
                    VersionStatus.PUBLISHED,
                    actor,
                    "policy.take_effect",
                    f"in effect from {row['effective_from']}",
                    meta={"effective_from": row["effective_from"].isoformat(), "on": today.isoformat()},
                )
                if old is not None:
                    await eligibility_service.deactivate_ruleset(_key(old))
                await eligibility_service.activate_ruleset(await ruleset_of(row["id"]))
                await library.index_versions([row["id"]])
        except LifecycleError:  # another worker switched it meanwhile (the compare-and-set lost)
            continue
        out.append(await read_version(d["id"]))
    return out


async def _live_row(code: str, statuses: tuple[str, ...]) -> dict:
    row = (
        await PolicyVersion.select()
        .where((PolicyVersion.code == code) & PolicyVersion.status.is_in(list(statuses)))
        .first()
    )
    if row is None:
        await versions_of(code)  # PolicyNotFound for an unknown code
        raise LifecycleError(
            _l("policy {code} has no {version_state} version"), code=code, version_state=AnyOf(statuses)
        )
    return row


async def suspend(code: str, actor: Actor, reason: str) -> VersionRead:
    """Stop the published version of CODE from matching (暂停), keeping it for a later resume."""
    _require_role(actor, (REVIEWER,), _l("suspending a policy"))
    if not (reason or "").strip():
        raise PolicyError(_l("a suspension needs a reason"))
    row = await _live_row(code, (VersionStatus.PUBLISHED,))
    async with _db().transaction():
        await _transition(row, VersionStatus.SUSPENDED, actor, "policy.suspend", reason.strip())
        await eligibility_service.deactivate_ruleset(_key(row))
    return await read_version(row["id"])


async def resume(code: str, actor: Actor, reason: str = "") -> VersionRead:
    _require_role(actor, (REVIEWER,), _l("resuming a policy"))
    row = await _live_row(code, (VersionStatus.SUSPENDED,))
    async with _db().transaction():
        await _transition(row, VersionStatus.PUBLISHED, actor, "policy.resume", reason.strip())
        await eligibility_service.activate_ruleset(await ruleset_of(row["id"]))
    return await read_version(row["id"])


async def retire(code: str, actor: Actor, reason: str) -> VersionRead:
    """End a policy (废止): its published or suspended version is retired for good."""
    _require_role(actor, (REVIEWER,), _l("retiring a policy"))
    if not (reason or "").strip():
        raise PolicyError(_l("retiring a policy needs a reason"))
    row = await _live_row(code, LIVE)
    async with _db().transaction():
        await _transition(row, VersionStatus.RETIRED, actor, "policy.retire", reason.strip())
        await eligibility_service.deactivate_ruleset(_key(row))
    return await read_version(row["id"])


async def export_version(version_id: int) -> str:
    """The YAML pack of a stored version (loading it gives the same content)."""
    row = await _version_row(version_id)
    return packs.export_yaml(await _content(row), header=f"{_key(row)} ({row['status']}), exported by Zhida")
