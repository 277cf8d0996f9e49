"""Profile validation per profiles.md: identifiers' check characters, types, enums, derived fields."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eligibility.errors import ProfileInvalid
from eligibility.fields import whole_months, whole_years
from eligibility.profiles import (
    USCC_ALPHABET,
    id_check_char,
    id_number_problem,
    normalize_profile,
    uscc_check_char,
    uscc_problem,
)
from eligibility.synthetic import generate

ENTERPRISE = {
    "uscc": "91360100000000000M",
    "name": "示例一",
    "region_code": "360111",
    "industry_code": "C3911",
    "scale": "medium",
    "founded_on": "2015-03-01",
    "employees": "210",
    "revenue": "300000000.00",
    "tax_paid": "8000000.00",
    "high_tech": "否",
    "specialized": "none",
    "credit_rating": "A",
    "blacklisted": "0",
    "tags": "首次升规;外贸",
}


def test_uscc_check_character():
    assert uscc_problem("91360100000000000M") is None
    assert uscc_check_char("91360100000000000") == "M"
    assert "check character" in uscc_problem("913601000000000000")
    assert "not allowed" in uscc_problem("91360100000000000I")


USCC_TEXT = st.text(alphabet=USCC_ALPHABET + "IOSVZiao中１ ", min_size=16, max_size=19)


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet=USCC_ALPHABET, min_size=17, max_size=17), other=USCC_TEXT, valid=st.booleans())
def test_uscc_check_agrees_with_the_standard(body, other, valid):
    """GB 32100-2015 computed here independently of the validator's fast path."""
    value = body + uscc_check_char(body) if valid else other
    weights = [pow(3, i, 31) for i in range(17)]
    ok = (
        len(value) == 18
        and all(c in USCC_ALPHABET for c in value)
        and value[17] == USCC_ALPHABET[-sum(USCC_ALPHABET.index(c) * w for c, w in zip(value, weights)) % 31]
    )
    assert (uscc_problem(value) is None) == ok
    if valid:
        assert ok


def test_uscc_with_a_letter_outside_the_alphabet_fails_whatever_its_check_character():
    body = "91360100000000000"
    for i in range(17):
        for bad in "IOSVZa中":
            wrong = body[:i] + bad + body[i + 1 :]
            assert all(uscc_problem(wrong + last) is not None for last in USCC_ALPHABET), wrong


MONEY_TEXT = st.one_of(
    st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{0,3})?\Z"), st.text(alphabet="0123456789.-+ e１²", max_size=8)
)


@settings(max_examples=300, deadline=None)
@given(text=MONEY_TEXT)
@example("9" * 5000)
@example("92233720368547758.07")
@example("92233720368547758.08")
@example("1.5\n")
@example("1.１")
@example("１２")
@example("1.²")
@example("0.")
@example(".5")
@example("1.234")
@example(" 12")
@example("007.5")
def test_money_text_to_fen_is_the_decimal_parse(text):
    """The import's fast money path gives the fen of the general Decimal parse, or refuses the same text."""
    from eligibility.profiles import _Bad, _money_fen, _parse_money

    if text == "92233720368547758.07":  # the largest amount a BIGINT of fen holds
        assert _money_fen(text) == 2**63 - 1
    if text == "1.5\n":  # a trailing newline is whitespace around 1.5 yuan (the old regex read it as 1.05)
        assert _money_fen(text) == 150
    try:
        want = int(_parse_money(text) * 100)
    except _Bad:
        with pytest.raises(_Bad):
            _money_fen(text)
    else:
        assert _money_fen(text) == want


def test_id_number_check_character_and_birth_date():
    body = "36010219900101123"
    assert id_number_problem(body + id_check_char(body)) is None
    assert "check character" in id_number_problem(body + ("0" if id_check_char(body) != "0" else "1"))
    assert "not a valid date" in id_number_problem("360102199013451234")


def test_normalize_types():
    p = normalize_profile("enterprise", ENTERPRISE)
    assert p["revenue"] == Decimal("300000000.00") and p["employees"] == 210
    assert p["high_tech"] is False and p["blacklisted"] is False
    assert p["founded_on"] == dt.date(2015, 3, 1) and p["tags"] == ("首次升规", "外贸")
    assert p["rd_expense"] is None  # empty = missing, not an error


@pytest.mark.parametrize(
    "field,value,reason",
    [
        ("scale", "huge", "must be one of"),
        ("revenue", "1.234", "at most 2 decimals"),
        ("employees", "-1", ">= 0"),
        ("founded_on", "2015/03/01", "YYYY-MM-DD"),
        ("high_tech", "yes", "true/false"),
        ("region_code", "3601", "6 digits"),
        ("industry_code", "c39", "section letter"),
        ("bank_account", "12ab5678", "8-32 digits"),
        ("founded_on", "2999-01-01", "future"),
        ("name", "", "missing"),
    ],
)
def test_each_bad_value_is_named(field, value, reason):
    with pytest.raises(ProfileInvalid) as exc:
        normalize_profile("enterprise", {**ENTERPRISE, field: value})
    assert [f for f, _ in exc.value.problems] == [field]
    assert reason in exc.value.problems[0][1]


def test_partial_profiles_allow_missing_required_fields():
    p = normalize_profile(
        "talent",
        {"id_number": "360102199001011237"[:17] + id_check_char("36010219900101123"), "education": "bachelor"},
        partial=True,
    )
    assert p["arrived_on"] is None and p["birth_date"] == dt.date(1990, 1, 1)


def test_whole_years_and_months_per_contract():
    assert whole_years(dt.date(2000, 2, 29), dt.date(2001, 2, 28)) == 0
    assert whole_years(dt.date(2000, 2, 29), dt.date(2001, 3, 1)) == 1
    assert whole_months(dt.date(2024, 1, 31), dt.date(2024, 2, 29)) == 0
    assert whole_months(dt.date(2024, 1, 31), dt.date(2024, 3, 1)) == 1
    assert whole_months(dt.date(2024, 1, 31), dt.date(2024, 3, 31)) == 2


@pytest.mark.parametrize("kind", ["enterprise", "talent"])
def test_synthetic_profiles_are_valid_and_seeded(kind):
    a = list(generate(kind, 300, seed=7))
    assert a == list(generate(kind, 300, seed=7))
    for p in a:
        normalize_profile(kind, p)


def test_the_default_date_is_today_in_china_whatever_the_servers_time_zone():
    """Effective dates, ages and the publish job's matching mean the date in Beijing. Servers 26 hours apart (UTC-12
    and UTC+14) always disagree on the date, so a server-local 'today' would fail one of them at any hour."""
    import datetime as dt
    import os
    import subprocess
    import sys
    from zoneinfo import ZoneInfo

    code = "from kit.time import china_today; print(china_today().isoformat())"
    for tz in ("Etc/GMT+12", "Pacific/Kiritimati"):
        before = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        out = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, "TZ": tz}, capture_output=True, text=True, check=True
        ).stdout.strip()
        after = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
        assert out in (before, after), (tz, out, before)
