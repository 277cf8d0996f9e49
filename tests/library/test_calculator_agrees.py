"""Acceptance (issue 21): the calculator agrees with the matcher on 10,000 random profiles. The profiles are stored
as a data exchange would store them and matched by the batch matcher's SQL push-down (the path publication and
re-matching pay from); the calculator judges the facts a visitor would enter for each of them (the contract fields
that identify no one, a talent's birth date instead of the ID number). Every bundled policy, verdict and amount."""

from __future__ import annotations

import io
import json
import random
from decimal import Decimal

from app.controllers.library import calculator_fields
from eligibility import synthetic
from eligibility.importer import import_stream
from eligibility.matcher import match_ruleset
from eligibility.profiles import birth_date_of
from policies import service as policies
from policies.service import library
from tests.eligibility.helpers import ACTOR
from tests.library.test_library import AS_OF, publish_bundled

N = 10_000


def _profiles() -> dict[str, list[dict]]:
    """4,000 enterprises and 6,000 talents, seeded; a third of them with a value nudged to a policy's edge, so that
    near misses and tiers just met are exercised, not only the generator's usual spread."""
    rng = random.Random(21)
    out: dict[str, list[dict]] = {"enterprise": [], "talent": []}
    for kind, n in (("enterprise", N * 4 // 10), ("talent", N * 6 // 10)):
        for p in synthetic.generate(kind, n, seed=21):
            if rng.random() < 0.33:
                if kind == "enterprise":
                    p["rd_expense"] = Decimal(rng.choice(["999999.99", "1000000.00", "1000000.01", "800000.00"]))
                    p["employees"] = rng.choice([9, 10, 11, 49, 50, 51, p["employees"]])
                else:
                    p["social_insurance_months"] = rng.choice([0, 5, 6, 7, 11, 12, 13])
            out[kind].append(p)
    return out


def _ndjson(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r, default=str, ensure_ascii=False) + "\n" for r in rows).encode()


def _facts(kind: str, p: dict) -> dict:
    asked = calculator_fields(kind)
    facts = {
        k: (str(v) if not isinstance(v, (list, tuple)) else list(v))
        for k, v in p.items()
        if k in asked and v is not None
    }
    if kind == "talent":
        facts["birth_date"] = birth_date_of(p["id_number"]).isoformat()
    return facts


async def test_the_calculator_agrees_with_the_matcher_on_10000_random_profiles(fresh_db):
    codes = await publish_bundled()
    profiles = _profiles()
    for kind, rows in profiles.items():
        report = await import_stream(kind, io.BytesIO(_ndjson(rows)), fmt="ndjson", actor=ACTOR)
        assert report.rejected == 0 and report.inserted == len(rows), report
    assert sum(len(r) for r in profiles.values()) == N
    matched: dict[tuple[str, str], Decimal] = {}
    checked_codes = set()
    for code in codes:
        ruleset = await policies.published_ruleset(code)
        run = await match_ruleset(ruleset, AS_OF)
        assert run.path == "sql", (code, run.fallback_reason)
        checked_codes.add(code)
        for r in run.results:
            matched[(code, r.subject_id)] = r.amount
    assert checked_codes == set(codes) and len(codes) == 12
    assert matched  # some subjects qualify …
    ours = {p["uscc" if kind == "enterprise" else "id_number"] for kind, rows in profiles.items() for p in rows}
    strangers = sorted({s for _, s in matched if s not in ours})
    assert not strangers, ("matched subjects this test never stored", len(strangers), [s[:6] for s in strangers[:10]])
    disagreements = []
    eligible = near = 0
    visited: set[tuple[str, str]] = set()
    for kind, rows in profiles.items():
        key = "uscc" if kind == "enterprise" else "id_number"
        for p in rows:
            for _, ex in await library.calculate(kind, _facts(kind, p), AS_OF, "zh"):
                visited.add((ex.code, p[key]))
                want = matched.get((ex.code, p[key]))
                got = ex.amount if ex.eligible else None
                eligible += ex.eligible
                near += not ex.eligible
                if (want is None) != (got is None) or (want is not None and Decimal(want) != Decimal(got)):
                    disagreements.append((ex.code, p[key][:6], str(want), str(got)))
    assert not disagreements, (len(disagreements), disagreements[:20])
    unvisited = sorted(set(matched) - visited)  # a match the calculator never judged: which policy, whose
    assert not unvisited, (len(unvisited), [(c, s[:6], s in ours) for c, s in unvisited[:10]])
    assert eligible == len(matched)  # … and the calculator finds each one, with its amount
    assert near > 0
