"""Property: the SQL push-down path, the rule-engine path and the compiled closures agree on random rules
and random profiles (missing values, boundaries, money rounding), on the database under test."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eligibility.matcher import match_ruleset
from eligibility.profiles import id_check_char, uscc_check_char
from eligibility.rules import check_ruleset, evaluate
from eligibility.rules.closures import CompiledRuleSet
from eligibility.rules.language import rule_values
from eligibility.schemas import RuleClause, RuleSet
from tests.eligibility.helpers import clear_profiles, put_profiles

AS_OF = dt.date(2025, 6, 30)
money = st.decimals(min_value=0, max_value=3000, places=2, allow_nan=False, allow_infinity=False)
maybe = lambda s: st.one_of(st.none(), s)  # noqa: E731
small_int = st.integers(min_value=0, max_value=40)
dates = st.dates(min_value=dt.date(1995, 1, 1), max_value=dt.date(2025, 6, 30))
tags = maybe(
    st.lists(st.sampled_from(["外贸", "首次升规", "绿色工厂"]), min_size=1, max_size=3, unique=True).map(tuple)
)


@st.composite
def enterprise(draw, i: int):
    body = f"91360100{i:09d}"
    return {
        "uscc": body + uscc_check_char(body),
        "name": f"E{i}",
        "region_code": draw(st.sampled_from(["360111", "360102", "110105"])),
        "industry_code": draw(st.sampled_from(["C3911", "I6513", "C", "F5171"])),
        "scale": draw(st.sampled_from(["large", "medium", "small", "micro"])),
        "founded_on": draw(dates),
        "employees": draw(small_int),
        "revenue": draw(money),
        "tax_paid": draw(money),
        "rd_expense": draw(maybe(money)),
        "unemployment_insurance_paid": draw(maybe(money)),
        "new_graduate_hires": draw(maybe(small_int)),
        "high_tech": draw(st.booleans()),
        "specialized": draw(st.sampled_from(["none", "provincial", "little_giant"])),
        "credit_rating": draw(st.sampled_from(list("ABMCD"))),
        "blacklisted": draw(st.booleans()),
        "tags": draw(tags),
        "bank_name": None,
        "bank_account": None,
    }


num_field = st.sampled_from(
    [
        "employees",
        "revenue",
        "tax_paid",
        "rd_expense",
        "unemployment_insurance_paid",
        "new_graduate_hires",
        "years_since_founded",
    ]
)
num_lit = st.one_of(st.integers(0, 3000).map(str), money.map(str))
cmp_op = st.sampled_from(["==", "!=", ">=", ">", "<=", "<"])


@st.composite
def num_expr(draw, depth=0):
    choice = draw(st.integers(0, 5 if depth < 1 else 1))
    if choice <= 1:
        return draw(num_field)
    if choice == 2:
        return f"({draw(num_expr(depth + 1))} {draw(st.sampled_from(['+', '-']))} {draw(num_expr(depth + 1))})"
    if choice == 3:
        return f"({draw(num_field)} * {draw(st.sampled_from(['2', '3', '0.015', '0.5', '1.005']))})"
    if choice == 4:
        return f"$min([{draw(num_field)}, {draw(num_lit)}])"
    return f"(high_tech ? {draw(num_field)} : {draw(num_lit)})"


@st.composite
def atom(draw):
    k = draw(st.integers(0, 7))
    if k <= 2:
        return f"{draw(num_expr())} {draw(cmp_op)} {draw(num_lit)}"
    if k == 3:
        return f'scale {draw(st.sampled_from(["==", "!="]))} "{draw(st.sampled_from(["small", "micro", "large"]))}"'
    if k == 4:
        return f'credit_rating in ["A", "{draw(st.sampled_from(list("BMCD")))}"]'
    if k == 5:
        return f'"{draw(st.sampled_from(["外贸", "首次升规"]))}" in tags'
    if k == 6:
        return draw(
            st.sampled_from(
                [
                    "high_tech",
                    "not blacklisted",
                    'region_code =~ "^3601"',
                    'industry_code =~ "^C"',
                    'region_code =~ "36(01|02)1"',
                    'name =~~ "E1"',
                    'industry_code !~ "C"',
                ]
            )
        )
    return f'founded_on {draw(cmp_op)} d"{draw(dates).isoformat()}"'


@st.composite
def condition(draw, depth=0):
    if depth >= 2 or draw(st.booleans()):
        return draw(atom())
    op = draw(st.sampled_from(["and", "or", "and not"]))
    return f"({draw(condition(depth + 1))}) {op} ({draw(condition(depth + 1))})"


amount = st.one_of(
    num_lit,
    st.sampled_from(
        [
            "tax_paid * 0.015",
            "revenue * 0.005",
            "rd_expense * 0.125",
            "$min([tax_paid * 0.333, 500])",
            "revenue - tax_paid * 2",
            "(high_tech ? 1000.005 : tax_paid * 0.01)",
        ]
    ),
)


@st.composite
def ruleset(draw):
    clauses = [
        RuleClause(code=f"c{i}", when=draw(condition()), amount=draw(amount)) for i in range(draw(st.integers(1, 3)))
    ]
    return RuleSet(
        key="prop@1",
        code="PROP",
        subject="enterprise",
        when=draw(st.one_of(st.none(), condition())),
        combine=draw(st.sampled_from(["first", "sum"])),
        cap_per_subject=draw(st.one_of(st.none(), st.sampled_from([Decimal("100"), Decimal("2500.50")]))),
        effective_from=dt.date(2025, 1, 1),
        clauses=clauses,
    )


@st.composite
def population(draw):
    n = draw(st.integers(1, 12))
    return [draw(enterprise(i)) for i in range(n)]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(rs=ruleset(), profiles=population())
async def test_sql_python_and_closures_agree(fresh_db, rs, profiles):
    assert check_ruleset(rs) == [], check_ruleset(rs)
    await clear_profiles("enterprise")
    await put_profiles("enterprise", profiles)
    sql = await match_ruleset(rs, AS_OF, store=False)
    python = await match_ruleset(rs, AS_OF, store=False, force_python=True)
    assert python.path == "python"
    assert [r.model_dump() for r in sql.results] == [r.model_dump() for r in python.results], (
        f"{sql.path} {sql.fallback_reason}"
    )
    compiled = CompiledRuleSet(rs)
    for p in profiles:
        ev = evaluate(rs, p, AS_OF)
        clauses, total = compiled.evaluate_values(rule_values("enterprise", p, AS_OF))
        assert (ev.clauses, ev.amount) == (clauses, total)


# Few fields and literals, so clauses often bound the same number at the same value (ties of >= and >).
bound_atom = st.builds(
    lambda f, op, v: f"{f} {op} {v}",
    st.sampled_from(["employees", "rd_expense"]),
    st.sampled_from([">=", ">", "<=", "<", "=="]),
    st.sampled_from(["10", "1000", "1000.01"]),
)


@st.composite
def bounded_ruleset(draw):
    """Clauses that are ANDs of bounds on a few numbers (and `high_tech`), so their conditions often imply one
    another across clauses: the case the filter's implied terms are drawn from."""

    def clause(i):
        atoms = draw(st.lists(st.one_of(bound_atom, st.just("high_tech")), min_size=1, max_size=3))
        return RuleClause(code=f"c{i}", when=" and ".join(atoms), amount="rd_expense * 0.1")

    return RuleSet(
        key="bounds@1",
        code="BOUNDS",
        subject="enterprise",
        combine=draw(st.sampled_from(["first", "sum"])),
        effective_from=dt.date(2025, 1, 1),
        clauses=[clause(i) for i in range(draw(st.integers(1, 3)))],
    )


@st.composite
def tied_population(draw):
    """Profiles whose numbers are often exactly the bounds' literals, so `>=` and `>` tell apart."""
    out = []
    for i in range(draw(st.integers(1, 12))):
        p = draw(enterprise(i))
        p["employees"] = draw(st.sampled_from([0, 10, 20, 1000]))
        p["rd_expense"] = draw(
            st.sampled_from([None, Decimal("10"), Decimal("10.5"), Decimal("1000"), Decimal("1000.01")])
        )
        out.append(p)
    return out


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(rs=bounded_ruleset(), profiles=tied_population())
async def test_implied_filter_terms_keep_every_match(fresh_db, rs, profiles):
    """The filter's extra terms (conditions every clause implies: the weakest of like bounds, shared terms) never
    drop a profile the clauses keep, with missing values, ties and strict bounds."""
    from eligibility.rules.language import parse, unparse
    from eligibility.rules.sql import compile_ruleset, implied_conditions

    await clear_profiles("enterprise")
    await put_profiles("enterprise", profiles)
    sql = await match_ruleset(rs, AS_OF, store=False)
    python = await match_ruleset(rs, AS_OF, store=False, force_python=True)
    assert sql.path == "sql"
    assert [r.model_dump() for r in sql.results] == [r.model_dump() for r in python.results]
    implied = implied_conditions([parse("enterprise", cl.when) for cl in rs.clauses])
    terms, _ = compile_ruleset(rs, AS_OF, pg=False)
    assert len(terms) >= len(implied) >= (1 if len(rs.clauses) == 1 else 0)
    # Every implied condition holds for every profile some clause keeps (checked by rule-engine, not SQL).
    for p in profiles:
        if evaluate(rs, p, AS_OF).clauses:
            for n in implied:
                one = rs.model_copy(update={"clauses": [RuleClause(code="i", when=unparse(n), amount="1")]})
                assert evaluate(one, p, AS_OF).clauses == ["i"], unparse(n)


def test_implied_filter_terms_take_the_weakest_like_bound():
    from eligibility.rules.language import parse, unparse
    from eligibility.rules.sql import implied_conditions

    def implied(*whens):
        return sorted(unparse(n) for n in implied_conditions([parse("enterprise", w) for w in whens]))

    assert implied("high_tech and rd_expense >= 1000000", "rd_expense >= 3000000 and employees >= 50") == [
        unparse(parse("enterprise", "rd_expense >= 1000000"))
    ]
    assert implied("rd_expense > 10 and high_tech", "rd_expense >= 10 and high_tech") == sorted(
        [unparse(parse("enterprise", "rd_expense >= 10")), unparse(parse("enterprise", "high_tech"))]
    )
    assert implied("employees > 10", "employees >= 10") == [unparse(parse("enterprise", "employees >= 10"))]
    assert implied("employees == 5", "employees < 7") == [unparse(parse("enterprise", "employees < 7"))]
    assert implied("employees >= 5", "employees <= 7") == []  # opposite directions bound nothing together
    assert implied("employees >= 5 or high_tech", "employees >= 5") == []  # an OR inside a clause implies nothing


async def test_most_random_rules_are_pushed_down(fresh_db):
    """The property above is only worth something if the SQL path is actually taken."""
    from hypothesis import find

    pushed = []

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(rs=ruleset())
    def collect(rs):
        from eligibility.rules.sql import NotCompilable, compile_ruleset

        try:
            compile_ruleset(rs, AS_OF, pg=False)
            pushed.append(True)
        except NotCompilable:
            pushed.append(False)

    collect()
    del find
    assert sum(pushed) >= len(pushed) // 2


@st.composite
def talent(draw, i: int):
    born = draw(st.dates(min_value=dt.date(1960, 1, 1), max_value=dt.date(2005, 12, 31)))
    body = f"360111{born:%Y%m%d}{i:03d}"
    return {
        "id_number": body + id_check_char(body),
        "name": f"T{i}",
        "region_code": draw(st.sampled_from(["360111", "360102", "110105"])),
        "education": draw(st.sampled_from(["doctor", "master", "bachelor", "college", "other"])),
        "graduated_on": draw(maybe(dates)),
        "arrived_on": draw(dates),
        "social_insurance_months": draw(small_int),
        "employer_uscc": None,
        "title": draw(maybe(st.sampled_from(["senior", "deputy_senior", "intermediate", "junior", "none"]))),
        "tags": draw(
            maybe(st.lists(st.sampled_from(["博士后", "外贸"]), min_size=1, max_size=2, unique=True).map(tuple))
        ),
        "bank_name": None,
        "bank_account": None,
        "birth_date": born,
    }


@st.composite
def talent_condition(draw, depth=0):
    if depth >= 2 or draw(st.booleans()):
        k = draw(st.integers(0, 5))
        if k == 0:
            return (
                f"{draw(st.sampled_from(['age', 'months_since_arrival', 'years_since_graduation', 'social_insurance_months']))} "
                f"{draw(cmp_op)} {draw(st.integers(0, 70))}"
            )
        if k == 1:
            return f'education in ["doctor", "{draw(st.sampled_from(["master", "bachelor", "other"]))}"]'
        if k == 2:
            return f'title {draw(st.sampled_from(["==", "!="]))} "senior"'
        if k == 3:
            return '"博士后" in tags'
        if k == 4:
            return (
                f'{draw(st.sampled_from(["arrived_on", "graduated_on"]))} {draw(cmp_op)} d"{draw(dates).isoformat()}"'
            )
        return f"$min([social_insurance_months, 24]) * 500 >= {draw(st.integers(0, 15000))}"
    op = draw(st.sampled_from(["and", "or", "and not"]))
    return f"({draw(talent_condition(depth + 1))}) {op} ({draw(talent_condition(depth + 1))})"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), as_of=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2026, 12, 31)))
async def test_talent_derived_fields_agree_in_sql_and_python(fresh_db, data, as_of):
    clauses = [
        RuleClause(
            code=f"c{i}",
            when=data.draw(talent_condition()),
            amount=data.draw(st.sampled_from(["1000", "$min([social_insurance_months, 24]) * 500.5"])),
        )
        for i in range(data.draw(st.integers(1, 2)))
    ]
    rs = RuleSet(
        key="tprop@1",
        code="TPROP",
        subject="talent",
        effective_from=dt.date(2024, 1, 1),
        clauses=clauses,
        combine=data.draw(st.sampled_from(["first", "sum"])),
    )
    assert check_ruleset(rs) == []
    profiles = [data.draw(talent(i)) for i in range(data.draw(st.integers(1, 10)))]
    await clear_profiles("talent")
    await put_profiles("talent", profiles)
    sql = await match_ruleset(rs, as_of, store=False)
    python = await match_ruleset(rs, as_of, store=False, force_python=True)
    assert [r.model_dump() for r in sql.results] == [r.model_dump() for r in python.results], (
        f"{sql.path} {sql.fallback_reason}"
    )
