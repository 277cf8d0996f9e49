"""Writing drafts: the only code that stores a version's content, and only while it is a draft."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.audit import Actor
from kit.i18n import _l
from kit.vocab import VersionStatus
from policies import packs
from policies.errors import LifecycleError, PackRefused, VersionLocked
from policies.schemas import PackProblem, PolicyContent, VersionRead
from policies.service.common import AUTHOR_ROLES, _content, _db, _fen, _key, _now, _read, _require_role, _version_row
from policies.service.lifecycle import _transition, submittable
from policies.service.reading import read_version
from policies.tables import Clause, Policy, PolicyTest, PolicyVersion


async def _write_content(version_id: int, content: PolicyContent) -> None:
    """The only writer of a version's content; a version that left draft is never passed here, and one that leaves
    draft meanwhile (published by a reviewer in another transaction) is refused, its clauses and tests untouched."""
    changed = (
        await PolicyVersion.update(
            {
                PolicyVersion.title: content.title,
                PolicyVersion.issuer: content.issuer,
                PolicyVersion.subject: content.subject,
                PolicyVersion.mode: content.mode,
                PolicyVersion.effective_from: content.effective_from,
                PolicyVersion.effective_to: content.effective_to,
                PolicyVersion.budget_fen: _fen(content.budget),
                PolicyVersion.cap_per_subject_fen: _fen(content.cap_per_subject),
                PolicyVersion.combine: content.combine,
                PolicyVersion.once: content.once,
                PolicyVersion.top_up: content.top_up,
                PolicyVersion.publicity_days: content.publicity_days,
                PolicyVersion.exclusive_group: content.exclusive_group,
                PolicyVersion.when_expr: content.when,
                PolicyVersion.source: content.source,
                PolicyVersion.summary: content.summary,
                PolicyVersion.guide_json: content.guide.model_dump_json() if content.guide else "",
                PolicyVersion.content_hash: packs.content_hash(content),
            }
        )
        .where((PolicyVersion.id == version_id) & (PolicyVersion.status == VersionStatus.DRAFT))
        .returning(PolicyVersion.id)
    )
    if not changed:
        raise VersionLocked(
            _l("version {version_id} left draft meanwhile and cannot be changed; reload it"), version_id=version_id
        )
    await Clause.delete().where(Clause.version == version_id)
    await PolicyTest.delete().where(PolicyTest.version == version_id)
    if content.clauses:
        await Clause.insert(
            *[
                Clause(
                    version=version_id, position=i, code=c.code, title=c.title, when_expr=c.when, amount_expr=c.amount
                )
                for i, c in enumerate(content.clauses)
            ]
        )
    if content.tests:
        await PolicyTest.insert(
            *[
                PolicyTest(
                    version=version_id,
                    position=i,
                    name=t.name,
                    profile_json=json.dumps(t.profile, ensure_ascii=False),
                    as_of=t.as_of,
                    expect_json=t.expect.model_dump_json(),
                )
                for i, t in enumerate(content.tests)
            ]
        )


async def _insert_draft(policy_id: Any, code: str, number: int, content: PolicyContent, actor: Actor) -> int:
    """A new draft version row of a policy (its content is written next, by _write_content); returns its id."""
    rows = await PolicyVersion.insert(
        PolicyVersion(
            policy=policy_id,
            code=code,
            number=number,
            status=VersionStatus.DRAFT,
            **content.model_dump(include={"title", "issuer", "subject", "mode", "effective_from"}),
            budget_fen=0,
            content_hash="",
            author=actor.name,
            created_at=_now(),
            status_changed_at=_now(),
        )
    )
    return int(rows[0]["id"])


async def _store(content: PolicyContent, actor: Actor) -> tuple[VersionRead, str]:
    """Store content as the draft of its code (inside the caller's transaction). Returns (version, outcome)."""
    policy = await Policy.select().where(Policy.code == content.code).first()
    if policy is None:
        policy_id = (
            await Policy.insert(
                Policy(code=content.code, subject=content.subject, created_by=actor.name, created_at=_now())
            )
        )[0]["id"]
        latest = None
    else:
        if policy["subject"] != content.subject:
            raise PackRefused(
                [
                    PackProblem.of(
                        _l("policy {code} is for {kind} subjects; its subject cannot change to {new_kind}"),
                        {"code": content.code, "kind": policy["subject"], "new_kind": content.subject},
                        hint=_l("use a new policy code for another subject kind"),
                        policy_code=content.code,
                        field="subject",
                    )
                ]
            )
        policy_id = policy["id"]
        latest = (
            await PolicyVersion.select()
            .where(PolicyVersion.policy == policy_id)
            .order_by(PolicyVersion.number, ascending=False)
            .first()
        )
    digest = packs.content_hash(content)
    if latest is not None and latest["content_hash"] == digest and latest["status"] != VersionStatus.RETIRED:
        return await _read(latest), "unchanged"
    if latest is not None and latest["status"] == VersionStatus.IN_REVIEW:
        if latest["author"] != actor.name:
            raise VersionLocked(
                _l(
                    "version {number} of {code} is in review and cannot be changed; the reviewer can reject it back to draft"
                ),
                number=latest["number"],
                code=content.code,
            )
        # Its author loads a corrected pack: the version is withdrawn from review, changed, and (store_contents)
        # submitted again. A reviewer's page pinned the content it showed, so nothing changed is published unseen.
        await _transition(latest, VersionStatus.DRAFT, actor, "policy.withdraw", "changed by its author")
        latest = await _version_row(latest["id"])
    after = content.model_dump(mode="json")
    if latest is not None and latest["status"] == VersionStatus.DRAFT:
        before = (await _content(latest)).model_dump(mode="json")
        await _write_content(latest["id"], content)
        await actor.record(
            "policy.draft.update", "policy_version", _key(latest), before, after, {"content_hash": digest}
        )
        return await read_version(latest["id"]), "updated"
    number = 1 if latest is None else latest["number"] + 1
    vid = await _insert_draft(policy_id, content.code, number, content, actor)
    await _write_content(vid, content)
    await actor.record(
        "policy.draft.create",
        "policy_version",
        f"{content.code}@{number}",
        None,
        after,
        {"content_hash": digest, "from_version": latest["number"] if latest else None},
    )
    return await read_version(vid), "created"


async def save_draft(data: Any, actor: Actor, *, require_tests: bool = False) -> VersionRead:
    """Check a policy (a pack-shaped dict or PolicyContent) and store it as the draft of its code.

    Refuses with every problem when it does not check; a new version is made when the latest one left draft.
    """
    _require_role(actor, AUTHOR_ROLES, _l("writing a policy draft"))
    if isinstance(data, PolicyContent):
        data = packs.content_to_dict(data)
    content, problems = packs.check_policy(data, require_tests=require_tests)
    if problems:
        raise PackRefused(problems)
    async with _db().transaction():
        version, _ = await _store(content, actor)
    return version


async def update_draft(version_id: int, data: Any, actor: Actor) -> VersionRead:
    """Change the content of draft ``version_id``; refused for any version that left draft."""
    _require_role(actor, AUTHOR_ROLES, _l("editing a policy draft"))
    row = await _version_row(version_id)
    _ensure_draft(row)
    if isinstance(data, PolicyContent):
        data = packs.content_to_dict(data)
    content, problems = packs.check_policy(data, require_tests=False)
    if problems:
        raise PackRefused(problems)
    if content.code != row["code"]:
        raise PackRefused(
            [
                PackProblem.of(
                    _l("this draft belongs to policy {code}; the code cannot change"),
                    {"code": row["code"]},
                    policy_code=content.code,
                    field="code",
                )
            ]
        )
    async with _db().transaction():
        row = await _version_row(version_id)
        _ensure_draft(row)
        before = (await _content(row)).model_dump(mode="json")
        await _write_content(version_id, content)
        await actor.record(
            "policy.draft.update",
            "policy_version",
            _key(row),
            before,
            content.model_dump(mode="json"),
            {"content_hash": packs.content_hash(content)},
        )
    return await read_version(version_id)


def _ensure_draft(row: dict) -> None:
    if row["status"] == VersionStatus.IN_REVIEW:
        raise VersionLocked(
            _l(
                "version {number} of {code} is in review and cannot be changed; the reviewer can reject it back to draft"
            ),
            number=row["number"],
            code=row["code"],
        )
    if row["status"] != VersionStatus.DRAFT:
        raise VersionLocked(
            _l(
                "version {number} of {code} is {state} and cannot be changed; a change makes a new version (edit the policy to start one)"
            ),
            number=row["number"],
            code=row["code"],
            state=row["status"],
        )


async def load_pack(path: str | Path, actor: Actor) -> list[tuple[VersionRead, str]]:
    """`zhida policies load`: check every policy of the file, then store them all as drafts, or nothing."""
    _require_role(actor, AUTHOR_ROLES, _l("loading policy packs"))
    contents = packs.read_pack(path)
    return await store_contents(contents, actor)


async def load_pack_text(text: str, actor: Actor, source: str = "pack") -> list[tuple[VersionRead, str]]:
    _require_role(actor, AUTHOR_ROLES, _l("loading policy packs"))
    return await store_contents(packs.read_pack_text(text, source), actor)


async def store_contents(contents: list[PolicyContent], actor: Actor) -> list[tuple[VersionRead, str]]:
    """Store checked pack contents as drafts of their codes, all or nothing. A pack is its author's finished text
    (its own tests passed to get here): each draft whose tests also cover it (a test where each clause pays, one where
    the policy does not pay) is submitted for review at once; one they do not cover stays a draft (missing_tests
    says what to add)."""
    out = []
    async with _db().transaction():
        for c in contents:
            version, outcome = await _store(c, actor)
            if version.status == VersionStatus.DRAFT and not submittable(c):
                await _transition(
                    await _version_row(version.id), VersionStatus.IN_REVIEW, actor, "policy.submit", submitted_at=_now()
                )
                version = await read_version(version.id)
            out.append((version, outcome))
    return out


async def new_draft_from(version_id: int, actor: Actor) -> VersionRead:
    """Start a new draft from a version (the way to change a published policy)."""
    _require_role(actor, AUTHOR_ROLES, _l("writing a policy draft"))
    row = await _version_row(version_id)
    if row["status"] == VersionStatus.DRAFT:
        return await _read(row)
    latest = (
        await PolicyVersion.select()
        .where(PolicyVersion.code == row["code"])
        .order_by(PolicyVersion.number, ascending=False)
        .first()
    )
    if latest["status"] in (VersionStatus.DRAFT, VersionStatus.IN_REVIEW):
        raise LifecycleError(
            _l("policy {code} already has version {number} in {state}"),
            code=row["code"],
            number=latest["number"],
            state=latest["status"],
        )
    content = await _content(row)
    async with _db().transaction():
        number = latest["number"] + 1
        vid = await _insert_draft(row["policy"], row["code"], number, content, actor)
        await _write_content(vid, content)
        await actor.record(
            "policy.draft.create",
            "policy_version",
            f"{row['code']}@{number}",
            None,
            content.model_dump(mode="json"),
            {"from_version": row["number"]},
        )
    return await read_version(vid)
