"""The lifecycle steps: submit, reject, publish (with the stored impact), suspend, resume, retire; export."""

from __future__ import annotations

import datetime as dt

from eligibility import service as eligibility_service
from kit.audit import Actor
from kit.vocab import Role, VersionStatus
from policies import packs
from policies.errors import LifecycleError, NotAllowed, PackRefused, PolicyError, TestsFailed
from policies.schemas import VersionRead
from policies.service.common import AUTHOR_ROLES, LIVE, REVIEWER, _content, _db, _key, _now, _require_role, _version_row
from policies.service.preview import impact_preview
from policies.service.reading import _published_row, read_version, ruleset_of, versions_of
from policies.tables import PolicyVersion


async def _transition(
    row: dict, status: str, actor: Actor, action: str, reason: str = "", *, content_hash: str | None = None, **fields
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
        raise LifecycleError(f"version {row['number']} of {row['code']} changed meanwhile; reload and try again")
    await actor.record(
        action,
        "policy_version",
        _key(row),
        {"status": row["status"]},
        {"status": status},
        {"reason": reason} if reason else None,
    )


async def _check_tests_pass(row: dict) -> None:
    content = await _content(row)
    problems = packs.check_rules(content)
    if problems:
        raise PackRefused(problems)
    failed = [o for o in packs.run_tests(content) if not o.passed]
    if failed:
        raise TestsFailed(
            f"{row['code']} version {row['number']}: {len(failed)} of its own tests fail, so it cannot "
            "be submitted or published: " + "; ".join(f"'{o.name}': {o.message}" for o in failed),
            detail=[o.model_dump(mode="json") for o in failed],
        )


async def submit(version_id: int, actor: Actor) -> VersionRead:
    """The author hands a draft to review (its own tests must pass)."""
    _require_role(actor, AUTHOR_ROLES, "submitting a policy for review")
    row = await _version_row(version_id)
    if row["status"] != VersionStatus.DRAFT:
        raise LifecycleError(f"version {row['number']} of {row['code']} is {row['status']}; only a draft is submitted")
    await _check_tests_pass(row)
    async with _db().transaction():
        await _transition(row, VersionStatus.IN_REVIEW, actor, "policy.submit", submitted_at=_now())
    return await read_version(version_id)


async def reject(version_id: int, actor: Actor, reason: str) -> VersionRead:
    """The reviewer sends a version in review back to its author as a draft, with the reason."""
    _require_role(actor, (REVIEWER,), "rejecting a policy")
    if not (reason or "").strip():
        raise PolicyError("a rejection needs a reason the author can act on")
    row = await _version_row(version_id)
    if row["status"] != VersionStatus.IN_REVIEW:
        raise LifecycleError(
            f"version {row['number']} of {row['code']} is {row['status']}; only a version in review is rejected"
        )
    async with _db().transaction():
        await _transition(row, VersionStatus.DRAFT, actor, "policy.reject", reason.strip(), reviewer=actor.name)
    return await read_version(version_id)


async def publishable_version(code: str) -> dict:
    rows = await versions_of(code)
    latest = rows[0]
    if latest["status"] not in (VersionStatus.DRAFT, VersionStatus.IN_REVIEW):
        raise LifecycleError(
            f"policy {code} has no draft to publish (its latest version {latest['number']} is {latest['status']})"
        )
    return latest


async def publish(code: str, actor: Actor, *, as_of: dt.date | None = None) -> VersionRead:
    """`zhida policies publish CODE`: publish the latest draft (or version in review) of CODE."""
    latest = await publishable_version(code)
    return await publish_version(latest["id"], actor, as_of=as_of)


async def publish_version(
    version_id: int, actor: Actor, *, as_of: dt.date | None = None, content_hash: str | None = None
) -> VersionRead:
    """A policy_reviewer other than the author publishes a version whose own tests pass.

    ``content_hash``: the content the reviewer saw (the review page sends it); refused when the version has changed
    since, so a draft edited after review is never published unseen. Whatever is passed, the version is published only
    with the content its tests and impact preview were computed on.
    The impact preview is computed and stored with the publication; the previously published version of the
    same code is superseded; the matcher is told which rule sets are active.
    """
    _require_role(actor, (REVIEWER,), "publishing a policy")
    row = await _version_row(version_id)
    if content_hash is not None and row["content_hash"] != content_hash:
        raise LifecycleError(
            f"version {row['number']} of {row['code']} has changed since it was reviewed; "
            "review it again before publishing"
        )
    if row["status"] not in (VersionStatus.DRAFT, VersionStatus.IN_REVIEW):
        raise LifecycleError(
            f"version {row['number']} of {row['code']} is {row['status']}; "
            "only a draft or a version in review is published"
        )
    if row["author"] == actor.name:
        raise NotAllowed(
            f"{actor.name} wrote version {row['number']} of {row['code']}; "
            "another policy_reviewer must publish it (author cannot publish own draft)"
        )
    await _check_tests_pass(row)
    preview = await impact_preview(version_id, as_of, small_counts=True)
    async with _db().transaction():
        reviewed = row["content_hash"]
        row = await _version_row(version_id)
        if row["status"] not in (VersionStatus.DRAFT, VersionStatus.IN_REVIEW):
            raise LifecycleError(f"version {row['number']} of {row['code']} is {row['status']} now")
        if row["content_hash"] != reviewed:  # edited while its tests and impact preview ran
            raise LifecycleError(
                f"version {row['number']} of {row['code']} changed while it was being published; review it again"
            )
        old = await _published_row(row["code"])
        for prev in await PolicyVersion.select().where(
            (PolicyVersion.code == row["code"]) & PolicyVersion.status.is_in(list(LIVE))
        ):
            await _transition(
                prev, VersionStatus.SUPERSEDED, actor, "policy.supersede", f"superseded by version {row['number']}"
            )
        await _transition(
            row,
            VersionStatus.PUBLISHED,
            actor,
            "policy.publish",
            content_hash=reviewed,
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
        if old is not None:
            await eligibility_service.deactivate_ruleset(_key(old))
        await eligibility_service.activate_ruleset(await ruleset_of(version_id))
    return await read_version(version_id)


async def _live_row(code: str, statuses: tuple[str, ...]) -> dict:
    row = (
        await PolicyVersion.select()
        .where((PolicyVersion.code == code) & PolicyVersion.status.is_in(list(statuses)))
        .first()
    )
    if row is None:
        await versions_of(code)  # PolicyNotFound for an unknown code
        raise LifecycleError(f"policy {code} has no {' or '.join(statuses)} version")
    return row


async def suspend(code: str, actor: Actor, reason: str) -> VersionRead:
    """Stop the published version of CODE from matching (暂停), keeping it for a later resume."""
    _require_role(actor, (REVIEWER, Role.ADMIN), "suspending a policy")
    if not (reason or "").strip():
        raise PolicyError("a suspension needs a reason")
    row = await _live_row(code, (VersionStatus.PUBLISHED,))
    async with _db().transaction():
        await _transition(row, VersionStatus.SUSPENDED, actor, "policy.suspend", reason.strip())
        await eligibility_service.deactivate_ruleset(_key(row))
    return await read_version(row["id"])


async def resume(code: str, actor: Actor, reason: str = "") -> VersionRead:
    _require_role(actor, (REVIEWER, Role.ADMIN), "resuming a policy")
    row = await _live_row(code, (VersionStatus.SUSPENDED,))
    async with _db().transaction():
        await _transition(row, VersionStatus.PUBLISHED, actor, "policy.resume", reason.strip())
        await eligibility_service.activate_ruleset(await ruleset_of(row["id"]))
    return await read_version(row["id"])


async def retire(code: str, actor: Actor, reason: str) -> VersionRead:
    """End a policy (废止): its published or suspended version is retired for good."""
    _require_role(actor, (REVIEWER, Role.ADMIN), "retiring a policy")
    if not (reason or "").strip():
        raise PolicyError("retiring a policy needs a reason")
    row = await _live_row(code, LIVE)
    async with _db().transaction():
        await _transition(row, VersionStatus.RETIRED, actor, "policy.retire", reason.strip())
        await eligibility_service.deactivate_ruleset(_key(row))
    return await read_version(row["id"])


async def export_version(version_id: int) -> str:
    """The YAML pack of a stored version (loading it gives the same content)."""
    row = await _version_row(version_id)
    return packs.export_yaml(await _content(row), header=f"{_key(row)} ({row['status']}), exported by Zhida")
