"""Working days against the official 2025 and 2026 schedules (国务院办公厅关于2025年/2026年部分节假日安排的通知),
written here from the notices, independently of the calendar package that kit.workdays uses."""

from __future__ import annotations

import datetime as dt

import pytest

from kit import workdays
from kit.time import CHINA

D = dt.date


def _span(a: dt.date, b: dt.date) -> set[dt.date]:
    return {a + dt.timedelta(days=i) for i in range((b - a).days + 1)}


OFFICIAL = {
    2025: {
        "holidays": _span(D(2025, 1, 1), D(2025, 1, 1))  # 元旦
        | _span(D(2025, 1, 28), D(2025, 2, 4))  # 春节
        | _span(D(2025, 4, 4), D(2025, 4, 6))  # 清明
        | _span(D(2025, 5, 1), D(2025, 5, 5))  # 劳动节
        | _span(D(2025, 5, 31), D(2025, 6, 2))  # 端午
        | _span(D(2025, 10, 1), D(2025, 10, 8)),  # 国庆 + 中秋
        "swapped": {D(2025, 1, 26), D(2025, 2, 8), D(2025, 4, 27), D(2025, 9, 28), D(2025, 10, 11)},
    },
    2026: {
        "holidays": _span(D(2026, 1, 1), D(2026, 1, 3))  # 元旦
        | _span(D(2026, 2, 15), D(2026, 2, 23))  # 春节
        | _span(D(2026, 4, 4), D(2026, 4, 6))  # 清明
        | _span(D(2026, 5, 1), D(2026, 5, 5))  # 劳动节
        | _span(D(2026, 6, 19), D(2026, 6, 21))  # 端午
        | _span(D(2026, 9, 25), D(2026, 9, 27))  # 中秋
        | _span(D(2026, 10, 1), D(2026, 10, 7)),  # 国庆
        "swapped": {D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20), D(2026, 10, 10)},
    },
}


def _official_workday(day: dt.date) -> bool:
    year = OFFICIAL[day.year]
    if day in year["swapped"]:
        return True
    return day.weekday() < 5 and day not in year["holidays"]


@pytest.mark.parametrize("year", [2025, 2026])
def test_every_day_of_the_year_agrees_with_the_official_schedule(year):
    days = _span(D(year, 1, 1), D(year, 12, 31))
    assert all(workdays.covered(d) for d in days)
    wrong = sorted(d for d in days if workdays.is_workday(d) != _official_workday(d))
    assert wrong == []
    # the swapped weekends are weekends, and every official holiday day is off
    assert all(d.weekday() >= 5 and workdays.is_workday(d) for d in OFFICIAL[year]["swapped"])
    assert not any(workdays.is_workday(d) for d in OFFICIAL[year]["holidays"])


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        # 春节 2025: Friday 1/24, then Sunday 1/26 is a working day, Monday 1/27, then the holiday to 2/4
        (D(2025, 1, 24), 1, D(2025, 1, 26)),
        (D(2025, 1, 24), 2, D(2025, 1, 27)),
        (D(2025, 1, 24), 3, D(2025, 2, 5)),
        # 国庆 2025: Friday 9/26 -> Sunday 9/28 (swapped), Monday 9/29, Tuesday 9/30, then 10/9, Saturday 10/11
        (D(2025, 9, 26), 4, D(2025, 10, 9)),
        (D(2025, 9, 26), 6, D(2025, 10, 11)),
        # 元旦 2026: Wednesday 12/31 -> Sunday 1/4 (swapped)
        (D(2025, 12, 31), 1, D(2026, 1, 4)),
        # 春节 2026: Friday 2/13 -> Saturday 2/14 (swapped) -> Tuesday 2/24 -> ... -> Saturday 2/28 (swapped)
        (D(2026, 2, 13), 1, D(2026, 2, 14)),
        (D(2026, 2, 13), 2, D(2026, 2, 24)),
        (D(2026, 2, 13), 6, D(2026, 2, 28)),
        # 劳动节 2026: Thursday 4/30 -> Wednesday 5/6 ... Saturday 5/9 (swapped)
        (D(2026, 4, 30), 1, D(2026, 5, 6)),
        (D(2026, 4, 30), 4, D(2026, 5, 9)),
        # 国庆 2026: Friday 9/18 -> Sunday 9/20 (swapped); Wednesday 9/30 -> Thursday 10/8; Saturday 10/10 works
        (D(2026, 9, 18), 1, D(2026, 9, 20)),
        (D(2026, 9, 30), 1, D(2026, 10, 8)),
        (D(2026, 9, 30), 3, D(2026, 10, 10)),
        # 15 working days (an objection's answer) from 2026-09-21 spans 中秋 and 国庆
        (D(2026, 9, 21), 15, D(2026, 10, 19)),
        # backwards: three working days before 2026-10-08 is 9/29 (9/30, 9/29, ... 10/1–10/7 off)
        (D(2026, 10, 8), -3, D(2026, 9, 28)),
        (D(2026, 3, 2), 0, D(2026, 3, 2)),
    ],
)
def test_add_workdays_across_the_official_holidays(start, n, expected):
    assert workdays.add_workdays(start, n) == expected
    assert workdays.workdays_between(start, expected) == n


def test_workdays_between_counts_the_official_working_days_of_each_year():
    for year in (2025, 2026):
        first, last = D(year - 1, 12, 31), D(year, 12, 31)
        expected = sum(_official_workday(d) for d in _span(D(year, 1, 1), last))
        assert workdays.workdays_between(first, last) == expected
        assert workdays.workdays_between(last, first) == -expected


def test_a_deadline_ends_at_midnight_beijing_time_of_its_last_working_day():
    # raised 2026-09-30 20:00 Beijing time (12:00 UTC): 3 working days -> 10/8, 10/9, 10/10 (Saturday, swapped)
    raised = dt.datetime(2026, 9, 30, 20, 0, tzinfo=CHINA)
    due = workdays.deadline(raised, 3)
    assert due == dt.datetime(2026, 10, 11, 0, 0, tzinfo=CHINA)
    assert workdays.workdays_left(raised, due) == 3
    assert workdays.workdays_left(dt.datetime(2026, 10, 10, 9, tzinfo=CHINA), due) == 0
    assert workdays.workdays_left(dt.datetime(2026, 10, 12, 9, tzinfo=CHINA), due) == -1


def test_a_year_without_a_published_schedule_counts_monday_to_friday():
    far = D(2031, 6, 2)  # a Monday
    assert not workdays.covered(far)
    assert workdays.add_workdays(far, 5) == D(2031, 6, 9)


def test_a_2030_date_falls_back_to_monday_to_friday_and_is_logged_once(caplog):
    workdays.FALLBACK_YEARS.discard(2030)
    start = D(2030, 9, 27)  # a Friday; 2030's schedule (国庆 10/1–7) is not in the package
    assert not workdays.covered(start) and workdays.covered(D(2026, 10, 1))
    with caplog.at_level("WARNING", logger="zhida"):
        # Monday to Friday only: 9/30, 10/1, 10/2, 10/3, 10/4 (no 国庆 holidays known), and no swapped weekend
        assert workdays.add_workdays(start, 5) == D(2030, 10, 4)
        assert not workdays.is_workday(D(2030, 10, 5)) and workdays.is_workday(D(2030, 10, 1))
        assert workdays.workdays_between(start, D(2030, 12, 31)) > 60
        due = workdays.deadline(dt.datetime(2030, 9, 27, 10, tzinfo=CHINA), 15)
    assert due == dt.datetime(2030, 10, 19, 0, 0, tzinfo=CHINA)  # Friday 10/18 ends: 15 weekdays after 9/27
    warned = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warned) == 1 and "Monday to Friday" in warned[0].getMessage()
    assert 2030 in workdays.FALLBACK_YEARS
    # an official year logs nothing
    caplog.clear()
    with caplog.at_level("WARNING", logger="zhida"):
        workdays.add_workdays(D(2026, 9, 18), 15)
    assert caplog.records == []
