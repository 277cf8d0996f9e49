"""Reading versions: full content, lists, and what the matcher and payments need of a published version."""

from __future__ import annotations

from kit.db import from_row
from kit.vocab import VersionStatus
from policies import packs
from policies.errors import PolicyNotFound
from policies.schemas import PublishedVersion, VersionRead
from policies.service.common import _content, _key, _read, _version_row, _yuan
from policies.tables import Clause, Policy, PolicyVersion


def _columns(*names: str) -> list:
    return [PolicyVersion._meta.get_column_by_name(n) for n in names]


async def read_version(version_id: int) -> VersionRead:
    """One version with its full content."""
    return await _read(await _version_row(version_id))


async def versions_of(code: str) -> list[dict]:
    """Every version of CODE, newest first (without content)."""
    rows = (
        await PolicyVersion.select(
            *_columns(
                "id", "code", "number", "status", "author", "reviewer", "created_at", "published_at", "status_reason"
            )
        )
        .where(PolicyVersion.code == code)
        .order_by(PolicyVersion.number, ascending=False)
    )
    if not rows:
        raise PolicyNotFound(f"policy {code} does not exist")
    return rows


async def latest_version(code: str) -> VersionRead:
    rows = await versions_of(code)
    return await read_version(rows[0]["id"])


async def _published_row(code: str) -> dict | None:
    return (
        await PolicyVersion.select()
        .where((PolicyVersion.code == code) & (PolicyVersion.status == VersionStatus.PUBLISHED))
        .first()
    )


def _published_view(row: dict, clause_titles: dict[str, str]) -> PublishedVersion:
    return from_row(PublishedVersion, row, key=_key(row), top_up=bool(row["top_up"]), clause_titles=clause_titles)


async def _clause_titles(version_ids: list[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {v: {} for v in version_ids}
    if version_ids:
        for c in (
            await Clause.select(Clause.version, Clause.code, Clause.title)
            .where(Clause.version.is_in(version_ids))
            .order_by(Clause.position)
        ):
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
    q = PolicyVersion.select().where(PolicyVersion.status == VersionStatus.PUBLISHED)
    if subject:
        q = q.where(PolicyVersion.subject == subject)
    return await _views(await q.order_by(PolicyVersion.code))


async def list_exclusive_group(group: str) -> list[PublishedVersion]:
    """The published versions sharing an exclusive group (同一事项不重复享受), by code."""
    rows = (
        await PolicyVersion.select()
        .where((PolicyVersion.status == VersionStatus.PUBLISHED) & (PolicyVersion.exclusive_group == group))
        .order_by(PolicyVersion.code)
    )
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
    rows = (
        await PolicyVersion.select(
            *_columns("id", "code", "number", "status", "title", "issuer", "subject", "mode", "budget_fen"),
            *_columns("author", "created_at", "exclusive_group"),
        )
        .order_by(PolicyVersion.code)
        .order_by(PolicyVersion.number, ascending=False)
    )
    by_code: dict[str, dict] = {}
    for r in rows:
        item = by_code.get(r["code"])
        if item is None:
            item = by_code[r["code"]] = {
                **r,
                "latest_version_id": r["id"],
                "published_number": None,
                "budget": str(_yuan(r["budget_fen"])),
            }
        if r["status"] == VersionStatus.PUBLISHED and item["published_number"] is None:
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
