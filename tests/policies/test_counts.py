"""Counts over rules an author controls give no personal data away (security review, item 7): a field derived from a
personal one (age, from the ID number) is personal too, a rule over it is counted as of today only, and no count of
fewer than 10 subjects is shown, in the rule editor's check and in a draft's impact preview alike."""

from __future__ import annotations

import datetime as dt

from eligibility.fields import PERSONAL
from policies import service
from tests.policies.test_service import ALICE, POLICY, _talents

TARGET_MONTHS = "40"  # no other talent has 40 months of social insurance: a rule can single the target out
BORN = dt.date(1994, 7, 9)


async def _people() -> dict:
    """Twenty talents and one target whose birth date the attack is after."""
    from eligibility.profiles import id_check_char
    from eligibility.service import upsert_profile

    others = _talents(20, seed=11)
    first17 = f"360102{BORN:%Y%m%d}777"
    target = {**others[0], "id_number": first17 + id_check_char(first17), "social_insurance_months": TARGET_MONTHS}
    for p in [*others, target]:
        await upsert_profile("talent", p, actor=ALICE)
    return target


async def _recovered_birth(count) -> dt.date | None:
    """The 16-count attack: bisect the day the target turns 30 through the count of ``age >= 30`` as of that day."""
    lo, hi = dt.date(1960, 1, 1), dt.date(2080, 1, 1)
    days = [lo + dt.timedelta(days=d) for d in range(0, (hi - lo).days + 1)]
    # _bisect calls a sync answer; the counts are async: walk the same bisection by hand.
    low, high = 0, len(days) - 1
    base = await count(days[low])
    if await count(days[high]) == base:
        return None
    calls = 2
    while high - low > 1:
        mid = (low + high) // 2
        answer = await count(days[mid])
        calls += 1
        if answer == base:
            low = mid
        else:
            high = mid
    assert calls <= 20
    turned_30 = days[high]
    return turned_30.replace(year=turned_30.year - 30)


async def test_age_is_personal_because_the_id_number_is():
    assert "age" in PERSONAL["talent"]
    assert "months_since_arrival" not in PERSONAL["talent"]  # derived from arrived_on, which is not personal


async def test_the_rule_editors_counts_give_no_birth_date_away(fresh_db):
    target = await _people()
    assert target["id_number"][6:14] == f"{BORN:%Y%m%d}"

    async def alone(day):  # the target alone: 1 or 0 on the old code
        r = await service.check_expression(
            "talent", f"social_insurance_months == {TARGET_MONTHS} and age >= 30", as_of=day
        )
        return r["matched"]

    async def differenced(day):  # padded with 20 others the attacker knows: 20 or 21 on the old code
        r = await service.check_expression(
            "talent",
            f"(social_insurance_months == {TARGET_MONTHS} and age >= 30) or social_insurance_months < 12",
            as_of=day,
        )
        return r["matched"]

    assert await _recovered_birth(alone) != BORN
    assert await _recovered_birth(differenced) != BORN
    # Below the threshold, no count at all; above it, the same count whatever day is asked for (today's).
    r = await service.check_expression("talent", f"social_insurance_months == {TARGET_MONTHS}")
    assert r["matched"] is None and "fewer than 10" in r["count_withheld"], r
    r = await service.check_expression(
        "talent", "social_insurance_months < 12 and age >= 30", as_of=dt.date(1990, 1, 1)
    )
    assert "as of today" in r["as_of_pinned"], r
    plain = await service.check_expression("talent", "social_insurance_months >= 0")
    assert plain["matched"] == 21 and "as_of_pinned" not in plain


async def test_a_drafts_impact_preview_gives_no_birth_date_away(fresh_db):
    await _people()
    clause = {
        **POLICY["clauses"][0],
        "when": f"(social_insurance_months == {TARGET_MONTHS} and age >= 30) or social_insurance_months < 12",
    }
    draft = {**POLICY, "code": "T-BISECT", "exclusive_group": None, "when": None, "clauses": [clause], "tests": []}

    drafts = iter(range(100))

    async def preview_count(day):
        # The author picks both the effective window and the preview date.
        code = f"T-BISECT-{next(drafts)}"
        v = await service.save_draft(
            {**draft, "code": code, "effective_from": day.isoformat(), "effective_to": None}, ALICE
        )
        return (await service.impact_preview(v.id, day)).matched

    assert await _recovered_birth(preview_count) != BORN

    alone = {**clause, "when": f"social_insurance_months == {TARGET_MONTHS}"}
    v = await service.save_draft({**draft, "code": "T-ALONE", "clauses": [alone]}, ALICE)
    p = await service.impact_preview(v.id)
    assert p.matched is None and p.total_amount is None and "fewer than 10" in p.withheld
