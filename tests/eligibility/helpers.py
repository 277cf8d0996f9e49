"""Helpers of the eligibility tests: rule sets from the sample pack, storing profiles, the test actor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

from app.audit import AuditActor
from eligibility import store
from eligibility.importer import upsert_profiles
from eligibility.schemas import ImportReport, RuleClause, RuleSet

# The shared conformance files sit beside the checkout (/work/shared next to /work/main); a worktree lies one level
# deeper (/work/wt/NAME), so the nearest ancestor that has them is taken.
CONFORMANCE = next(
    (p / "shared" / "conformance" for p in Path(__file__).resolve().parents if (p / "shared" / "conformance").is_dir()),
    Path(__file__).resolve().parents[3] / "shared" / "conformance",
)
ACTOR = AuditActor("tester", "admin")


def ruleset_of(p: dict, version: int = 1) -> RuleSet:
    """A RuleSet from a policy of a pack (the way policies/ builds it)."""
    return RuleSet(
        key=f"{p['code']}@{version}",
        version_id=None,
        code=p["code"],
        subject=p["subject"],
        when=None if p.get("when") is None else str(p["when"]),
        combine=p.get("combine", "first"),
        cap_per_subject=p.get("cap_per_subject"),
        effective_from=p["effective_from"],
        effective_to=p.get("effective_to"),
        clauses=[
            RuleClause(code=c["code"], title=c.get("title", ""), when=str(c["when"]), amount=str(c["amount"]))
            for c in p["clauses"]
        ],
    )


def sample_rulesets() -> dict[str, RuleSet]:
    pack = yaml.safe_load((CONFORMANCE / "sample_pack.yaml").read_text(encoding="utf-8"))
    return {p["code"]: ruleset_of(p) for p in pack["policies"]}


async def put_profiles(kind: str, profiles: list[dict]) -> None:
    """Store normalized profiles directly (as an import would)."""
    table = store.TABLES[kind]
    engine = table._meta.db
    async with engine.transaction() as tx:
        await upsert_profiles(
            kind,
            profiles,
            ImportReport(kind=kind),
            tx.connection,
            engine.engine_type == "postgres",
            dt.datetime.now(dt.UTC),
        )


async def clear_profiles(kind: str) -> None:
    await store.TABLES[kind].delete(force=True)
