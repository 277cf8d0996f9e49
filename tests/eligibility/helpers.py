"""Helpers of the eligibility tests: rule sets from the sample pack, storing profiles, the test actor."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import yaml

from app.audit import AuditActor
from eligibility import store
from eligibility.importer import import_stream, upsert_profiles
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


async def import_bytes(kind: str, data: bytes, fmt: str = "csv"):
    """Import a file's bytes; the report and the rejects as (line, field, reason)."""
    rejects = []
    report = await import_stream(
        kind,
        io.BytesIO(data),
        fmt=fmt,
        actor=ACTOR,
        reject=lambda line, field, reason: rejects.append((line, field, reason)),
    )
    return report, rejects


def enterprise_profile(uscc: str, name: str, account: str, **over) -> dict:
    """An enterprise's import row (contract field names, text values) that qualifies for the test packs."""
    row = {
        "uscc": uscc,
        "name": name,
        "region_code": "360106",
        "industry_code": "I6513",
        "scale": "small",
        "founded_on": "2019-05-01",
        "employees": "60",
        "revenue": "30000000.00",
        "tax_paid": "900000.00",
        "high_tech": "true",
        "specialized": "none",
        "credit_rating": "A",
        "blacklisted": "false",
        "tags": "",
        "bank_name": "中国银行南昌分行",
        "bank_account": account,
    }
    row.update(over)
    return row
