"""Rule sets in force for matching (eligibility_active_ruleset), and their compiled closures cached per process.

Both the services (activate, deactivate) and incremental matching (which evaluates a changed profile against
every active rule set) stand on this module, so neither needs the other.
"""

from __future__ import annotations

import datetime as dt

from eligibility.errors import RuleInvalid
from eligibility.rules import check_ruleset
from eligibility.rules.closures import CompiledRuleSet
from eligibility.schemas import RuleSet
from eligibility.tables import ActiveRuleSet
from kit.i18n import _l

# kind -> compiled active rule sets; rebuilt lazily after activate/deactivate in this process, and
# checked against the table's fingerprint so other processes' changes are seen too.
_cache: dict[str, tuple[str, list[CompiledRuleSet]]] = {}


def invalidate() -> None:
    _cache.clear()


async def activate_ruleset(ruleset: RuleSet) -> None:
    """Put a rule set in force for matching (policies/ calls this on publish). Idempotent."""
    problems = check_ruleset(ruleset)
    if problems:
        raise RuleInvalid(
            _l("rule set {key} has {count} problem(s): {first}"),
            key=ruleset.key,
            count=len(problems),
            first=problems[0].message,
            detail=[p.model_dump() for p in problems],
        )
    data = ruleset.model_dump_json()
    now = dt.datetime.now(dt.UTC)
    updated = (
        await ActiveRuleSet.update(
            {ActiveRuleSet.ruleset: data, ActiveRuleSet.code: ruleset.code, ActiveRuleSet.subject: ruleset.subject}
        )
        .where(ActiveRuleSet.key == ruleset.key)
        .returning(ActiveRuleSet.id)
    )
    if not updated:
        await ActiveRuleSet.insert(
            ActiveRuleSet(key=ruleset.key, code=ruleset.code, subject=ruleset.subject, ruleset=data, activated_at=now)
        )
    invalidate()


async def deactivate_ruleset(key: str) -> None:
    """Take a rule set out of matching (policies/ calls this on suspend or supersede)."""
    await ActiveRuleSet.delete().where(ActiveRuleSet.key == key)
    invalidate()


async def active_rulesets(kind: str | None = None) -> list[RuleSet]:
    q = ActiveRuleSet.select(ActiveRuleSet.ruleset).order_by(ActiveRuleSet.key)
    if kind:
        q = q.where(ActiveRuleSet.subject == kind)
    return [RuleSet.model_validate_json(r["ruleset"]) for r in await q]


async def _fingerprint(kind: str) -> str:
    rows = await ActiveRuleSet.raw(
        "SELECT COUNT(*) AS n, MAX(id) AS m, MAX(activated_at) AS a FROM eligibility_active_ruleset WHERE subject = {}",
        kind,
    )
    r = rows[0]
    return f"{r['n']}:{r['m']}:{r['a']}"


async def compiled_rulesets(kind: str) -> list[CompiledRuleSet]:
    """The active rule sets of ``kind``, compiled once per change (of any process) and reused."""
    fp = await _fingerprint(kind)
    hit = _cache.get(kind)
    if hit and hit[0] == fp:
        return hit[1]
    compiled = [CompiledRuleSet(r) for r in await active_rulesets(kind)]
    _cache[kind] = (fp, compiled)
    return compiled
