"""Near misses in aggregate (差一点就符合): per clause condition of a rule set, how many subjects fail **only** that
condition for the clause and are within P % of its threshold.

The explanations of non-matches are not stored (a withdrawn match keeps only its failing conditions as words), so this
evaluates the stored current profiles with ``explain_profile`` — the explanation the calculator and the portal show,
with its 还差 sentence — and counts from it:

- a subject counts for a clause when it is not eligible for the rule set, and exactly one condition is unmet among the
  policy-wide ``when`` and the clause's own conditions, and that condition's value is known (a missing datum is not a
  near miss);
- the condition must compare a numeric field with a number (``rd_expense >= 1000000``); the subject's distance is
  ``|threshold − value| / |threshold|`` (a threshold of 0 has no relative distance and is left out);
- a policy-wide condition failed alone counts once per clause it would open (it is listed under each clause).

A scan over every profile of the rule set's kind (chunks of ``CHUNK`` rows, in id order): for the dashboard of a
bounded number of profiles, not for the 1M-profile benchmark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rule_engine import ast as rast

from eligibility import store
from eligibility.explain import explain_profile
from eligibility.rules.language import parse, rule_values
from eligibility.schemas import ConditionExplanation, RuleSet
from kit.db import raw

CHUNK = 1000
SAMPLE = 20  # subject ids kept per condition (for the officer to look at)


@dataclass
class NearMiss:
    clause_code: str
    clause_title: str
    expression: str
    text: str  # the condition in words (the explanation's), in the reader's language
    threshold: Decimal
    only_this: int = 0  # subjects failing only this condition (any distance)
    within: int = 0  # … and within P % of the threshold
    sample: list[str] = field(default_factory=list)


def _numeric(v: Any) -> Decimal | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float | Decimal):
        return Decimal(str(v))
    return None


def _comparison(kind: str, expression: str) -> tuple[str, Decimal] | None:
    node = parse(kind, expression)
    if (
        isinstance(node, rast.ComparisonExpression)
        and isinstance(node.left, rast.SymbolExpression)
        and isinstance(node.right, rast.LiteralExpressionBase)
    ):
        want = _numeric(node.right.value)
        if want is not None:
            return node.left.name, want
    return None


async def near_misses(ruleset: RuleSet, within_pct: Decimal, as_of: dt.date, lang: str = "zh") -> list[NearMiss]:
    """The near misses of ``ruleset`` by clause and condition, in clause order."""
    kind = str(ruleset.subject)
    table = store.TABLES[ruleset.subject]._meta.tablename
    found: dict[tuple[str, str], NearMiss] = {}
    shapes: dict[str, tuple[str, Decimal] | None] = {}
    last = 0
    while True:
        rows = await raw(f"SELECT * FROM {table} WHERE id > {{}} ORDER BY id LIMIT {CHUNK}", last)
        if not rows:
            break
        last = int(rows[-1]["id"])
        for row in rows:
            profile = store.from_row(kind, row)
            ex = explain_profile(ruleset, row["subject_id"], profile, as_of, lang)
            if ex.eligible:
                continue
            values: dict[str, Any] | None = None
            wide = [c for c in ex.policy.conditions if c.met is not True] if ex.policy else []
            for cl in ex.clauses:
                unmet: list[ConditionExplanation] = wide + [c for c in cl.conditions if c.met is not True]
                if len(unmet) != 1 or unmet[0].met is None:
                    continue
                c = unmet[0]
                if c.expression not in shapes:
                    shapes[c.expression] = _comparison(kind, c.expression)
                shape = shapes[c.expression]
                if shape is None:
                    continue
                name, want = shape
                values = values if values is not None else rule_values(kind, profile, as_of)
                have = _numeric(values.get(name))
                if have is None:
                    continue
                key = (cl.code or "", c.expression)
                nm = found.get(key)
                if nm is None:
                    nm = found[key] = NearMiss(cl.code or "", cl.title, c.expression, c.requirement or c.text, want)
                nm.only_this += 1
                if want != 0 and abs(want - have) * 100 <= abs(want) * within_pct:
                    nm.within += 1
                    if len(nm.sample) < SAMPLE:
                        nm.sample.append(row["subject_id"])
    order = {cl.code: i for i, cl in enumerate(ruleset.clauses)}
    return sorted(found.values(), key=lambda n: (order.get(n.clause_code, 0), n.expression))
