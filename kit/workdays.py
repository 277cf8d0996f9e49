"""Chinese working days (工作日): official holidays and the swapped weekends (调休), from the ``chinesecalendar``
package, which follows the 国务院办公厅 notices each year (1.11.0 covers 2004–2026).

Deadlines that a rule states in working days (an objection's answer, a 公示 period) are counted here. A day in a
year the package does not know yet (its notice is not published, or the package is not updated) counts Monday to
Friday as working days, logged once per year and process (``FALLBACK_YEARS`` lists them); ``covered(day)`` says
whether the official schedule was used.

``add_workdays(day, n)`` is the n-th working day after ``day`` (before it for a negative n; ``day`` itself for 0);
``workdays_between(a, b)`` counts the working days after ``a`` up to and including ``b`` (negative when b < a), so
``workdays_between(a, add_workdays(a, n)) == n``.
"""

from __future__ import annotations

import datetime as dt
import logging

import chinese_calendar

from kit.time import CHINA, UTC, in_china

_ONE = dt.timedelta(days=1)
log = logging.getLogger("zhida")
# The years counted Monday to Friday because the package has no schedule for them: each logged once per process
# (a warning an operator acts on: update chinesecalendar once the year's 国务院办公厅 notice is out).
FALLBACK_YEARS: set[int] = set()


def _fallback(day: dt.date) -> bool:
    if day.year not in FALLBACK_YEARS:
        FALLBACK_YEARS.add(day.year)
        log.warning(
            "working days of %s: no official holiday schedule in chinesecalendar %s; counting Monday to Friday "
            "(update the package once that year's notice is published)",
            day.year,
            getattr(chinese_calendar, "__version__", "?"),
        )
    return day.weekday() < 5


def covered(day: dt.date) -> bool:
    """Whether ``day``'s year is in the package's official schedule."""
    try:
        chinese_calendar.is_workday(day)
    except NotImplementedError:
        return False
    return True


def is_workday(day: dt.date) -> bool:
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:  # a year without a published schedule: Monday to Friday, logged once
        return _fallback(day)


def add_workdays(day: dt.date, n: int) -> dt.date:
    step = _ONE if n >= 0 else -_ONE
    left = abs(n)
    while left:
        day += step
        if is_workday(day):
            left -= 1
    return day


def workdays_between(start: dt.date, end: dt.date) -> int:
    if end < start:
        return -workdays_between(end, start)
    count, day = 0, start
    while day < end:
        day += _ONE
        count += is_workday(day)
    return count


def end_of_day(day: dt.date) -> dt.datetime:
    """The instant a day in China ends (midnight Beijing time at its end), in UTC (as stored)."""
    return dt.datetime.combine(day + _ONE, dt.time(), CHINA).astimezone(UTC)


def deadline(start: dt.datetime, n: int) -> dt.datetime:
    """The end (Beijing time) of the n-th working day after the China date of the instant ``start``."""
    return end_of_day(add_workdays(in_china(start).date(), n))


def workdays_left(moment: dt.datetime, due: dt.datetime) -> int:
    """Working days from the China date of ``moment`` to that of ``due`` (the day ``due`` ends counts as the
    last; 0 on the due day, negative when overdue)."""
    last = in_china(due - dt.timedelta(microseconds=1)).date()
    return workdays_between(in_china(moment).date(), last)
