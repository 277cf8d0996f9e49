"""The policy lifecycle (draft → in_review → published → suspended / retired), versions, own tests, impact preview.

A version's content is written only while it is a draft; every other step changes its status alone.
Services take the acting user as ``actor`` (``.name``, ``.role``, ``await actor.record(...)``) and record
each step in the audit trail inside the same transaction as the change.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from policies import packs
from policies.errors import (LifecycleError, NotAllowed, PackRefused, PolicyError, PolicyNotFound, TestsFailed,
                             VersionLocked)
from policies.schemas import (ClauseContent, ImpactChange, ImpactPreview, PackProblem, PolicyContent, PolicyTestCase,
                              PublishedVersion, TestExpect, TestOutcome, VersionRead)
from policies.tables import Clause, Policy, PolicyTest, PolicyVersion

OFFICER, REVIEWER = "policy_officer", "policy_reviewer"
AUTHOR_ROLES = (OFFICER, "admin")
LIVE = ("published", "suspended")  # statuses whose content others point at
_FEN = Decimal("0.01")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _fen(yuan: Decimal | None) -> int | None:
    return None if yuan is None else int((Decimal(yuan) * 100).to_integral_value())


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else (Decimal(fen) / 100).quantize(_FEN)


def _db():
    return PolicyVersion._meta.db


def _key(row: dict) -> str:
    return f"{row['code']}@{row['number']}"


def _require_role(actor, roles: tuple[str, ...], what: str) -> None:
    if getattr(actor, "role", None) not in roles:
        raise NotAllowed(f"{what} needs the role {' or '.join(roles)}; {actor.name} is {actor.role}")


# --------------------------------------------------------------------------- reading


async def _version_row(version_id: int) -> dict:
    row = await PolicyVersion.select().where(PolicyVersion.id == version_id).first()
    if row is None:
        raise PolicyNotFound(f"policy version {version_id} does not exist")
    return row


async def _content(row: dict) -> PolicyContent:
    clauses = await Clause.select().where(Clause.version == row["id"]).order_by(Clause.position)
    tests = await PolicyTest.select().where(PolicyTest.version == row["id"]).order_by(PolicyTest.position)
    return PolicyContent(
        code=row["code"], title=row["title"], issuer=row["issuer"], subject=row["subject"], mode=row["mode"],
        effective_from=row["effective_from"], effective_to=row["effective_to"], budget=_yuan(row["budget_fen"]),
        cap_per_subject=_yuan(row["cap_per_subject_fen"]), combine=row["combine"],
        exclusive_group=row["exclusive_group"], when=row["when_expr"], source=row["source"] or "",
        summary=row["summary"] or "",
        clauses=[ClauseContent(code=c["code"], title=c["title"], when=c["when_expr"], amount=c["amount_expr"])
                 for c in clauses],
        tests=[PolicyTestCase(name=t["name"], profile=json.loads(t["profile_json"]), as_of=t["as_of"],
                              expect=TestExpect(**json.loads(t["expect_json"]))) for t in tests])


async def _read(row: dict) -> VersionRead:
    return VersionRead(
        id=row["id"], code=row["code"], number=row["number"], status=row["status"], author=row["author"],
        reviewer=row["reviewer"], created_at=row["created_at"], submitted_at=row["submitted_at"],
        published_at=row["published_at"], status_reason=row["status_reason"] or "", content_hash=row["content_hash"],
        content=await _content(row))


async def read_version(version_id: int) -> VersionRead:
    """One version with its full content."""
    return await _read(await _version_row(version_id))


async def versions_of(code: str) -> list[dict]:
    """Every version of CODE, newest first (without content)."""
    rows = await PolicyVersion.select(
        PolicyVersion.id, PolicyVersion.code, PolicyVersion.number, PolicyVersion.status, PolicyVersion.author,
        PolicyVersion.reviewer, PolicyVersion.created_at, PolicyVersion.published_at, PolicyVersion.status_reason,
    ).where(PolicyVersion.code == code).order_by(PolicyVersion.number, ascending=False)
    if not rows:
        raise PolicyNotFound(f"policy {code} does not exist")
    return rows


async def latest_version(code: str) -> VersionRead:
    rows = await versions_of(code)
    return await read_version(rows[0]["id"])


async def _published_row(code: str) -> dict | None:
    return await PolicyVersion.select().where(
        (PolicyVersion.code == code) & (PolicyVersion.status == "published")).first()


def _published_view(row: dict, clause_titles: dict[str, str]) -> PublishedVersion:
    return PublishedVersion(
        id=row["id"], key=_key(row), code=row["code"], number=row["number"], status=row["status"], title=row["title"],
        issuer=row["issuer"], subject=row["subject"], mode=row["mode"], exclusive_group=row["exclusive_group"],
        effective_from=row["effective_from"], effective_to=row["effective_to"], budget_fen=row["budget_fen"],
        cap_per_subject_fen=row["cap_per_subject_fen"], combine=row["combine"], clause_titles=clause_titles,
        published_at=row["published_at"])


async def _clause_titles(version_ids: list[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {v: {} for v in version_ids}
    if version_ids:
        for c in await Clause.select(Clause.version, Clause.code, Clause.title).where(
                Clause.version.is_in(version_ids)).order_by(Clause.position):
            out[c["version"]][c["code"]] = c["title"] or c["code"]
    return out


async def get_version(version_id: int) -> PublishedVersion:
    """A version as payments sees it: budget in fen, title, issuer, mode, group, dates, clause titles, status."""
    row = await _version_row(version_id)
    return _published_view(row, (await _clause_titles([row["id"]]))[row["id"]])


async def _views(rows: list[dict]) -> list[PublishedVersion]:
    titles = await _clause_titles([r["id"] for r in rows])
    return [_published_view(r, titles[r["id"]]) for r in rows]


async def list_published(subject: str | None = None) -> list[PublishedVersion]:
    """Every currently published version (one per code), optionally of one subject kind, by code."""
    q = PolicyVersion.select().where(PolicyVersion.status == "published")
    if subject:
        q = q.where(PolicyVersion.subject == subject)
    return await _views(await q.order_by(PolicyVersion.code))


async def list_exclusive_group(group: str) -> list[PublishedVersion]:
    """The published versions sharing an exclusive group (同一事项不重复享受), by code."""
    rows = await PolicyVersion.select().where(
        (PolicyVersion.status == "published") & (PolicyVersion.exclusive_group == group)).order_by(PolicyVersion.code)
    return await _views(rows)


async def published_ruleset(code: str):
    """The eligibility RuleSet of the published version of CODE (key 'CODE@N')."""
    row = await _published_row(code)
    if row is None:
        if not await Policy.exists().where(Policy.code == code):
            raise PolicyNotFound(f"policy {code} does not exist")
        raise PolicyNotFound(f"policy {code} has no published version")
    return packs.to_ruleset(await _content(row), key=_key(row), version_id=row["id"])


async def ruleset_of(version_id: int):
    row = await _version_row(version_id)
    return packs.to_ruleset(await _content(row), key=_key(row), version_id=row["id"])


async def list_policies(query: str = "", status: str | None = None, subject: str | None = None) -> list[dict]:
    """One line per policy: its latest version and the published one, for the officer's list and search."""
    rows = await PolicyVersion.select(
        PolicyVersion.id, PolicyVersion.code, PolicyVersion.number, PolicyVersion.status, PolicyVersion.title,
        PolicyVersion.issuer, PolicyVersion.subject, PolicyVersion.mode, PolicyVersion.budget_fen,
        PolicyVersion.author, PolicyVersion.created_at, PolicyVersion.exclusive_group,
    ).order_by(PolicyVersion.code).order_by(PolicyVersion.number, ascending=False)
    by_code: dict[str, dict] = {}
    for r in rows:
        item = by_code.get(r["code"])
        if item is None:
            item = by_code[r["code"]] = {**r, "latest_version_id": r["id"], "published_number": None,
                                         "budget": str(_yuan(r["budget_fen"]))}
        if r["status"] == "published" and item["published_number"] is None:
            item["published_number"] = r["number"]
    out = list(by_code.values())
    q = (query or "").strip().lower()
    if q:
        out = [i for i in out if q in i["code"].lower() or q in i["title"].lower() or q in i["issuer"].lower()]
    if status:
        out = [i for i in out if i["status"] == status]
    if subject:
        out = [i for i in out if i["subject"] == subject]
    return out


# --------------------------------------------------------------------------- writing drafts


async def _write_content(version_id: int, content: PolicyContent) -> None:
    """The only writer of a version's content; a version that left draft is never passed here."""
    await PolicyVersion.update({
        PolicyVersion.title: content.title, PolicyVersion.issuer: content.issuer, PolicyVersion.subject: content.subject,
        PolicyVersion.mode: content.mode, PolicyVersion.effective_from: content.effective_from,
        PolicyVersion.effective_to: content.effective_to, PolicyVersion.budget_fen: _fen(content.budget),
        PolicyVersion.cap_per_subject_fen: _fen(content.cap_per_subject), PolicyVersion.combine: content.combine,
        PolicyVersion.exclusive_group: content.exclusive_group, PolicyVersion.when_expr: content.when,
        PolicyVersion.source: content.source, PolicyVersion.summary: content.summary,
        PolicyVersion.content_hash: packs.content_hash(content),
    }).where((PolicyVersion.id == version_id) & (PolicyVersion.status == "draft"))
    await Clause.delete().where(Clause.version == version_id)
    await PolicyTest.delete().where(PolicyTest.version == version_id)
    if content.clauses:
        await Clause.insert(*[Clause(version=version_id, position=i, code=c.code, title=c.title, when_expr=c.when,
                                     amount_expr=c.amount) for i, c in enumerate(content.clauses)])
    if content.tests:
        await PolicyTest.insert(*[PolicyTest(
            version=version_id, position=i, name=t.name, profile_json=json.dumps(t.profile, ensure_ascii=False),
            as_of=t.as_of, expect_json=t.expect.model_dump_json()) for i, t in enumerate(content.tests)])


async def _store(content: PolicyContent, actor) -> tuple[VersionRead, str]:
    """Store content as the draft of its code (inside the caller's transaction). Returns (version, outcome)."""
    policy = await Policy.select().where(Policy.code == content.code).first()
    if policy is None:
        policy_id = (await Policy.insert(Policy(code=content.code, subject=content.subject, created_by=actor.name,
                                                created_at=_now())))[0]["id"]
        latest = None
    else:
        if policy["subject"] != content.subject:
            raise PackRefused([PackProblem(policy_code=content.code, field="subject",
                                           message=f"policy {content.code} is for {policy['subject']} subjects; "
                                                   f"its subject cannot change to {content.subject}",
                                           hint="use a new policy code for another subject kind")])
        policy_id = policy["id"]
        latest = await PolicyVersion.select().where(PolicyVersion.policy == policy_id).order_by(
            PolicyVersion.number, ascending=False).first()
    digest = packs.content_hash(content)
    if latest is not None and latest["content_hash"] == digest and latest["status"] != "retired":
        return await _read(latest), "unchanged"
    if latest is not None and latest["status"] == "in_review":
        raise VersionLocked(f"version {latest['number']} of {content.code} is in review and cannot be changed; "
                            "the reviewer can reject it back to draft")
    after = content.model_dump(mode="json")
    if latest is not None and latest["status"] == "draft":
        before = (await _content(latest)).model_dump(mode="json")
        await _write_content(latest["id"], content)
        await actor.record("policy.draft.update", "policy_version", _key(latest), before, after,
                           {"content_hash": digest})
        return await read_version(latest["id"]), "updated"
    number = 1 if latest is None else latest["number"] + 1
    vid = (await PolicyVersion.insert(PolicyVersion(
        policy=policy_id, code=content.code, number=number, status="draft", title=content.title,
        issuer=content.issuer, subject=content.subject, mode=content.mode, effective_from=content.effective_from,
        budget_fen=0, content_hash="", author=actor.name, created_at=_now(), status_changed_at=_now(),
    )))[0]["id"]
    await _write_content(vid, content)
    await actor.record("policy.draft.create", "policy_version", f"{content.code}@{number}", None, after,
                       {"content_hash": digest, "from_version": latest["number"] if latest else None})
    return await read_version(vid), "created"


async def save_draft(data: Any, actor, *, require_tests: bool = False) -> VersionRead:
    """Check a policy (a pack-shaped dict or PolicyContent) and store it as the draft of its code.

    Refuses with every problem when it does not check; a new version is made when the latest one left draft.
    """
    _require_role(actor, AUTHOR_ROLES, "writing a policy draft")
    if isinstance(data, PolicyContent):
        data = packs.content_to_dict(data)
    content, problems = packs.check_policy(data, require_tests=require_tests)
    if problems:
        raise PackRefused(problems)
    async with _db().transaction():
        version, _ = await _store(content, actor)
    return version


async def update_draft(version_id: int, data: Any, actor) -> VersionRead:
    """Change the content of draft ``version_id``; refused for any version that left draft."""
    _require_role(actor, AUTHOR_ROLES, "editing a policy draft")
    row = await _version_row(version_id)
    _ensure_draft(row)
    if isinstance(data, PolicyContent):
        data = packs.content_to_dict(data)
    content, problems = packs.check_policy(data, require_tests=False)
    if problems:
        raise PackRefused(problems)
    if content.code != row["code"]:
        raise PackRefused([PackProblem(policy_code=content.code, field="code",
                                       message=f"this draft belongs to policy {row['code']}; the code cannot change")])
    async with _db().transaction():
        row = await _version_row(version_id)
        _ensure_draft(row)
        before = (await _content(row)).model_dump(mode="json")
        await _write_content(version_id, content)
        await actor.record("policy.draft.update", "policy_version", _key(row), before, content.model_dump(mode="json"),
                           {"content_hash": packs.content_hash(content)})
    return await read_version(version_id)


def _ensure_draft(row: dict) -> None:
    if row["status"] == "in_review":
        raise VersionLocked(f"version {row['number']} of {row['code']} is in review and cannot be changed; "
                            "the reviewer can reject it back to draft")
    if row["status"] != "draft":
        raise VersionLocked(f"version {row['number']} of {row['code']} is {row['status']} and cannot be changed; "
                            "a change makes a new version (edit the policy to start one)")


async def load_pack(path: str | Path, actor) -> list[tuple[VersionRead, str]]:
    """`zhida policies load`: check every policy of the file, then store them all as drafts, or nothing."""
    _require_role(actor, AUTHOR_ROLES, "loading policy packs")
    contents = packs.read_pack(path)
    return await store_contents(contents, actor)


async def load_pack_text(text: str, actor, source: str = "pack") -> list[tuple[VersionRead, str]]:
    _require_role(actor, AUTHOR_ROLES, "loading policy packs")
    return await store_contents(packs.read_pack_text(text, source), actor)


async def store_contents(contents: list[PolicyContent], actor) -> list[tuple[VersionRead, str]]:
    out = []
    async with _db().transaction():
        for c in contents:
            out.append(await _store(c, actor))
    return out


async def new_draft_from(version_id: int, actor) -> VersionRead:
    """Start a new draft from a version (the way to change a published policy)."""
    _require_role(actor, AUTHOR_ROLES, "writing a policy draft")
    row = await _version_row(version_id)
    if row["status"] == "draft":
        return await _read(row)
    latest = await PolicyVersion.select().where(PolicyVersion.code == row["code"]).order_by(
        PolicyVersion.number, ascending=False).first()
    if latest["status"] in ("draft", "in_review"):
        raise LifecycleError(f"policy {row['code']} already has version {latest['number']} in {latest['status']}")
    content = await _content(row)
    async with _db().transaction():
        number = latest["number"] + 1
        vid = (await PolicyVersion.insert(PolicyVersion(
            policy=row["policy"], code=row["code"], number=number, status="draft", title=content.title,
            issuer=content.issuer, subject=content.subject, mode=content.mode, effective_from=content.effective_from,
            budget_fen=0, content_hash="", author=actor.name, created_at=_now(), status_changed_at=_now(),
        )))[0]["id"]
        await _write_content(vid, content)
        await actor.record("policy.draft.create", "policy_version", f"{row['code']}@{number}", None,
                           content.model_dump(mode="json"), {"from_version": row["number"]})
    return await read_version(vid)


# --------------------------------------------------------------------------- tests, checks, preview


async def run_version_tests(version_id: int) -> list[TestOutcome]:
    """Run a version's own tests (rule problems make every test fail with the problem)."""
    content = await _content(await _version_row(version_id))
    problems = packs.check_rules(content)
    if problems:
        return [TestOutcome(name=t.name, passed=False, expected=t.expect, message=problems[0].describe())
                for t in content.tests]
    return packs.run_tests(content)


def _default_as_of(content: PolicyContent, as_of: dt.date | None) -> dt.date:
    d = as_of or dt.date.today()
    if d < content.effective_from:
        return content.effective_from
    if content.effective_to and d > content.effective_to:
        return content.effective_to
    return d


def _in_effect(content: PolicyContent, d: dt.date) -> bool:
    return content.effective_from <= d and (content.effective_to is None or d <= content.effective_to)


async def _match_amounts(ruleset, as_of: dt.date) -> dict[str, Decimal]:
    from eligibility.matcher import match_ruleset

    run = await match_ruleset(ruleset, as_of, store=False)
    return {str(r.subject_id): Decimal(r.amount).quantize(_FEN) for r in run.results}


async def impact_preview(version_id: int, as_of: dt.date | None = None) -> ImpactPreview:
    """Shadow run: who the version would match on ``as_of``, for how much, and what changes from the published one."""
    row = await _version_row(version_id)
    content = await _content(row)
    problems = packs.check_rules(content)
    if problems:
        raise PackRefused(problems)
    as_of = _default_as_of(content, as_of)
    mine = await _match_amounts(packs.to_ruleset(content, key=_key(row) + "~preview", version_id=row["id"]), as_of)
    total = sum(mine.values(), Decimal("0.00"))
    budget = _yuan(row["budget_fen"])
    preview = ImpactPreview(code=row["code"], version_id=row["id"], number=row["number"], as_of=as_of,
                            matched=len(mine), total_amount=total, budget=budget, budget_left=budget - total)
    pub = await _published_row(row["code"])
    if pub is not None and pub["id"] != row["id"]:
        pub_content = await _content(pub)
        theirs = await _match_amounts(packs.to_ruleset(pub_content, key=_key(pub), version_id=pub["id"]), as_of) \
            if _in_effect(pub_content, as_of) else {}
        ptotal = sum(theirs.values(), Decimal("0.00"))
        preview.published_version_id = pub["id"]
        preview.published_number = pub["number"]
        preview.published_matched = len(theirs)
        preview.published_total_amount = ptotal
        preview.added = sorted(set(mine) - set(theirs))
        preview.removed = sorted(set(theirs) - set(mine))
        preview.amount_changed = [ImpactChange(subject_id=s, before=theirs[s], after=mine[s])
                                  for s in sorted(set(mine) & set(theirs)) if mine[s] != theirs[s]]
        preview.budget_delta = budget - _yuan(pub["budget_fen"])
        preview.total_delta = total - ptotal
    return preview


async def stored_impact(version_id: int) -> ImpactPreview | None:
    """The impact preview stored with the publication of a version (for the auditor)."""
    row = await _version_row(version_id)
    return ImpactPreview.model_validate_json(row["impact_json"]) if row["impact_json"] else None


async def check_expression(subject: str, expression: str, part: str = "when", *, policy_when: str | None = None,
                           as_of: dt.date | None = None, count: bool = True) -> dict:
    """The rule editor's live check of one expression: its problems and, for a clean condition, how many match."""
    from eligibility.rules import check_ruleset
    from eligibility.schemas import RuleClause, RuleSet

    as_of = as_of or dt.date.today()
    expression = (expression or "").strip()
    if not expression:
        return {"ok": False, "problems": [{"message": "the expression is empty", "hint": None, "position": None}],
                "matched": None}
    when, amount = (expression, "0") if part == "when" else ("true", expression)
    rs = RuleSet(key="editor@check", code="EDITOR", subject=subject, when=policy_when or None, combine="first",
                 effective_from=as_of, clauses=[RuleClause(code="c", when=when, amount=amount)])
    problems = [p for p in check_ruleset(rs) if getattr(p, "clause_code", None) == "c"]
    if problems:
        return {"ok": False, "matched": None, "problems": [
            {"message": p.message, "hint": p.hint, "position": p.position, "expression": p.expression}
            for p in problems]}
    matched = None
    if count and part == "when":
        try:
            matched = len(await _match_amounts(rs, as_of))
        except Exception:  # noqa: BLE001 - a count is a convenience; the check result stands without it
            matched = None
    return {"ok": True, "problems": [], "matched": matched}


# --------------------------------------------------------------------------- lifecycle


async def _transition(row: dict, status: str, actor, action: str, reason: str = "", **fields) -> None:
    values = {PolicyVersion.status: status, PolicyVersion.status_changed_at: _now(),
              PolicyVersion.status_reason: reason}
    for k, v in fields.items():
        values[getattr(PolicyVersion, k)] = v
    await PolicyVersion.update(values).where(
        (PolicyVersion.id == row["id"]) & (PolicyVersion.status == row["status"]))
    await actor.record(action, "policy_version", _key(row), {"status": row["status"]}, {"status": status},
                       {"reason": reason} if reason else None)


async def _check_tests_pass(row: dict) -> None:
    content = await _content(row)
    problems = packs.check_rules(content)
    if problems:
        raise PackRefused(problems)
    failed = [o for o in packs.run_tests(content) if not o.passed]
    if failed:
        raise TestsFailed(f"{row['code']} version {row['number']}: {len(failed)} of its own tests fail, so it cannot "
                          "be submitted or published: " + "; ".join(f"'{o.name}': {o.message}" for o in failed),
                          detail=[o.model_dump(mode="json") for o in failed])


async def submit(version_id: int, actor) -> VersionRead:
    """The author hands a draft to review (its own tests must pass)."""
    _require_role(actor, AUTHOR_ROLES, "submitting a policy for review")
    row = await _version_row(version_id)
    if row["status"] != "draft":
        raise LifecycleError(f"version {row['number']} of {row['code']} is {row['status']}; only a draft is submitted")
    await _check_tests_pass(row)
    async with _db().transaction():
        await _transition(row, "in_review", actor, "policy.submit", submitted_at=_now())
    return await read_version(version_id)


async def reject(version_id: int, actor, reason: str) -> VersionRead:
    """The reviewer sends a version in review back to its author as a draft, with the reason."""
    _require_role(actor, (REVIEWER,), "rejecting a policy")
    if not (reason or "").strip():
        raise PolicyError("a rejection needs a reason the author can act on")
    row = await _version_row(version_id)
    if row["status"] != "in_review":
        raise LifecycleError(f"version {row['number']} of {row['code']} is {row['status']}; only a version in review is rejected")
    async with _db().transaction():
        await _transition(row, "draft", actor, "policy.reject", reason.strip(), reviewer=actor.name)
    return await read_version(version_id)


async def publishable_version(code: str) -> dict:
    rows = await versions_of(code)
    latest = rows[0]
    if latest["status"] not in ("draft", "in_review"):
        raise LifecycleError(f"policy {code} has no draft to publish (its latest version {latest['number']} "
                             f"is {latest['status']})")
    return latest


async def publish(code: str, actor, *, as_of: dt.date | None = None) -> VersionRead:
    """`zhida policies publish CODE`: publish the latest draft (or version in review) of CODE."""
    latest = await publishable_version(code)
    return await publish_version(latest["id"], actor, as_of=as_of)


async def publish_version(version_id: int, actor, *, as_of: dt.date | None = None) -> VersionRead:
    """A policy_reviewer other than the author publishes a version whose own tests pass.

    The impact preview is computed and stored with the publication; the previously published version of the
    same code is superseded; the matcher is told which rule sets are active.
    """
    _require_role(actor, (REVIEWER,), "publishing a policy")
    row = await _version_row(version_id)
    if row["status"] not in ("draft", "in_review"):
        raise LifecycleError(f"version {row['number']} of {row['code']} is {row['status']}; "
                             "only a draft or a version in review is published")
    if row["author"] == actor.name:
        raise NotAllowed(f"{actor.name} wrote version {row['number']} of {row['code']}; "
                         "another policy_reviewer must publish it (author cannot publish own draft)")
    await _check_tests_pass(row)
    preview = await impact_preview(version_id, as_of)
    from eligibility import service as eligibility_service

    async with _db().transaction():
        row = await _version_row(version_id)
        if row["status"] not in ("draft", "in_review"):
            raise LifecycleError(f"version {row['number']} of {row['code']} is {row['status']} now")
        old = await _published_row(row["code"])
        for prev in await PolicyVersion.select().where(
                (PolicyVersion.code == row["code"]) & PolicyVersion.status.is_in(list(LIVE))):
            await _transition(prev, "superseded", actor, "policy.supersede", f"superseded by version {row['number']}")
        await _transition(row, "published", actor, "policy.publish", reviewer=actor.name, published_at=_now(),
                          impact_json=preview.model_dump_json())
        await actor.record("policy.impact", "policy_version", _key(row), None, preview.model_dump(mode="json"), {
            "matched": preview.matched, "total_amount": str(preview.total_amount), "budget": str(preview.budget),
            "as_of": preview.as_of.isoformat()})
        if old is not None:
            await eligibility_service.deactivate_ruleset(_key(old))
        await eligibility_service.activate_ruleset(await ruleset_of(version_id))
    return await read_version(version_id)


async def _live_row(code: str, statuses: tuple[str, ...]) -> dict:
    row = await PolicyVersion.select().where(
        (PolicyVersion.code == code) & PolicyVersion.status.is_in(list(statuses))).first()
    if row is None:
        await versions_of(code)  # PolicyNotFound for an unknown code
        raise LifecycleError(f"policy {code} has no {' or '.join(statuses)} version")
    return row


async def suspend(code: str, actor, reason: str) -> VersionRead:
    """Stop the published version of CODE from matching (暂停), keeping it for a later resume."""
    _require_role(actor, (REVIEWER, "admin"), "suspending a policy")
    if not (reason or "").strip():
        raise PolicyError("a suspension needs a reason")
    row = await _live_row(code, ("published",))
    from eligibility import service as eligibility_service

    async with _db().transaction():
        await _transition(row, "suspended", actor, "policy.suspend", reason.strip())
        await eligibility_service.deactivate_ruleset(_key(row))
    return await read_version(row["id"])


async def resume(code: str, actor, reason: str = "") -> VersionRead:
    _require_role(actor, (REVIEWER, "admin"), "resuming a policy")
    row = await _live_row(code, ("suspended",))
    from eligibility import service as eligibility_service

    async with _db().transaction():
        await _transition(row, "published", actor, "policy.resume", reason.strip())
        await eligibility_service.activate_ruleset(await ruleset_of(row["id"]))
    return await read_version(row["id"])


async def retire(code: str, actor, reason: str) -> VersionRead:
    """End a policy (废止): its published or suspended version is retired for good."""
    _require_role(actor, (REVIEWER, "admin"), "retiring a policy")
    if not (reason or "").strip():
        raise PolicyError("retiring a policy needs a reason")
    row = await _live_row(code, LIVE)
    from eligibility import service as eligibility_service

    async with _db().transaction():
        await _transition(row, "retired", actor, "policy.retire", reason.strip())
        await eligibility_service.deactivate_ruleset(_key(row))
    return await read_version(row["id"])


async def export_version(version_id: int) -> str:
    """The YAML pack of a stored version (loading it gives the same content)."""
    row = await _version_row(version_id)
    return packs.export_yaml(await _content(row), header=f"{_key(row)} ({row['status']}), exported by Zhida")
