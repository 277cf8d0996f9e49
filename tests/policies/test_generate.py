"""The policy generator (issue 19): deterministic by seed, every generated pack valid (reads through the pack reader,
passes its own per-clause tests) and published through the ordinary lifecycle."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

from policies import service
from policies.packs import bundled_pack_paths, read_pack_text
from policies.packs.generate import generate_packs
from tests.policies.test_service import ALICE, BOB

TODAY = dt.date(2026, 12, 3)


def test_same_seed_gives_the_same_packs_and_another_seed_other_ones():
    a = generate_packs(200, seed=5)
    b = generate_packs(200, seed=5)
    c = generate_packs(200, seed=6)
    assert [g.text for g in a] == [g.text for g in b]
    assert [g.text for g in a] != [g.text for g in c]
    assert len({g.code for g in a}) == 200  # codes unique


def test_the_default_thousand_packs_all_read_and_pass_their_own_tests():
    packs = generate_packs()
    assert len(packs) == 1000
    bases = Counter(g.base for g in packs)
    assert len(bases) == len(bundled_pack_paths())  # every bundled shape is used
    regions = Counter(g.region for g in packs)
    assert len(regions) >= 10  # spread over the province, not one region
    for g in packs:
        [content] = read_pack_text(g.text, g.code)  # raises PackRefused on any problem, own tests included
        assert content.code == g.code
        assert f'region_code =~ "^{g.region}"' in (content.when or "")
        assert len(content.tests) >= 2
    groups = {m.group(1) for g in packs if (m := re.search(r"^exclusive_group: (\S+)$", g.text, re.M))}
    assert groups and all(re.fullmatch(r"NC-HOUSING-\d+", x) for x in groups)


async def test_generated_packs_load_and_publish(fresh_db):
    generated = generate_packs(36, seed=2, live_until=dt.date(2027, 12, 31))
    for g in generated:
        [(version, outcome)] = await service.load_pack_text(g.text, ALICE, source=g.code)
        assert (outcome, version.status) == ("created", "in_review")
        published = await service.publish_version(version.id, BOB, today=TODAY, accept_shortfall=True)
        assert published.status == "published"
    for g in generated:
        ruleset = await service.published_ruleset(g.code)
        assert ruleset.key == f"{g.code}@1"
    grouped = [g for g in generated if "exclusive_group:" in g.text]
    assert grouped
    group = re.search(r"^exclusive_group: (\S+)$", grouped[0].text, re.M).group(1)  # type: ignore[union-attr]
    members = await service.list_exclusive_group(group)
    assert grouped[0].code in {m.code for m in members}
