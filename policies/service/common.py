"""What the service modules share: money and key helpers, role checks, reading a stored version."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from kit.audit import Actor
from kit.db import from_row
from kit.i18n import AnyOf, _l
from kit.money import fen_to_yuan, yuan_to_fen
from kit.vocab import Role, VersionStatus
from policies.errors import NotAllowed, PolicyNotFound
from policies.schemas import ClauseContent, PolicyContent, PolicyGuide, PolicyTestCase, TestExpect, VersionRead
from policies.tables import Clause, PolicyTest, PolicyVersion

OFFICER, REVIEWER = Role.POLICY_OFFICER, Role.POLICY_REVIEWER
AUTHOR_ROLES = (OFFICER,)  # never an admin (DESIGN.md invariant 4: an admin holds no policy role)
LIVE = (VersionStatus.PUBLISHED, VersionStatus.SUSPENDED)  # statuses whose content others point at


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fen(yuan: Decimal | None) -> int | None:
    # A stored budget or cap was checked to at most 2 decimals (packs.check_policy): exact, never rounded.
    return None if yuan is None else yuan_to_fen(yuan)


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else fen_to_yuan(fen)


def _db():
    return PolicyVersion._meta.db


def _key(row: dict) -> str:
    return f"{row['code']}@{row['number']}"


def _require_role(actor: Actor, roles: tuple[str, ...], what: str) -> None:
    if getattr(actor, "role", None) not in roles:
        raise NotAllowed(
            _l("{what} needs the role {role}; {name} is {actor_role}"),
            what=what,
            role=AnyOf(roles),
            name=actor.name,
            actor_role=actor.role,
        )


async def _version_row(version_id: int) -> dict:
    row = await PolicyVersion.select().where(PolicyVersion.id == version_id).first()
    if row is None:
        raise PolicyNotFound(_l("policy version {version_id} does not exist"), version_id=version_id)
    return row


def guide_of(row: dict) -> PolicyGuide | None:
    """The 申兑指南 of a version row (None when its pack has none)."""
    text = row.get("guide_json") or ""
    return PolicyGuide.model_validate_json(text) if text else None


async def _content(row: dict) -> PolicyContent:
    clauses = await Clause.select().where(Clause.version == row["id"]).order_by(Clause.position)
    tests = await PolicyTest.select().where(PolicyTest.version == row["id"]).order_by(PolicyTest.position)
    return from_row(
        PolicyContent,
        row,
        budget=_yuan(row["budget_fen"]),
        cap_per_subject=_yuan(row["cap_per_subject_fen"]),
        top_up=bool(row["top_up"]),
        when=row["when_expr"],
        source=row["source"] or "",
        summary=row["summary"] or "",
        guide=guide_of(row),
        clauses=[
            ClauseContent(code=c["code"], title=c["title"], when=c["when_expr"], amount=c["amount_expr"])
            for c in clauses
        ],
        tests=[
            PolicyTestCase(
                name=t["name"],
                profile=json.loads(t["profile_json"]),
                as_of=t["as_of"],
                expect=TestExpect(**json.loads(t["expect_json"])),
            )
            for t in tests
        ],
    )


async def _read(row: dict) -> VersionRead:
    return from_row(VersionRead, row, status_reason=row["status_reason"] or "", content=await _content(row))
