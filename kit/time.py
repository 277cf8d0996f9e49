"""Time: the platform's zone (China, Asia/Shanghai) and one clock that tests and jobs can replace.

Effective dates, ages, the bank's settlement day and every date a person reads mean the date in China, whatever the
server's own time zone (a UTC server is a day behind from 00:00 to 08:00 Beijing time).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time as _time
from collections.abc import Iterator
from typing import Protocol
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)


class FixedClock:
    """A clock that stands still (or moves only when told): for tests and replays."""

    def __init__(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a FixedClock needs a timezone-aware datetime")
        self.at = at

    def now(self) -> dt.datetime:
        return self.at

    def advance(self, delta: dt.timedelta) -> None:
        self.at = self.at + delta


_clock: Clock = SystemClock()


def clock() -> Clock:
    return _clock


@contextlib.contextmanager
def use_clock(replacement: Clock) -> Iterator[Clock]:
    """Run a block under another clock (tests); the system clock comes back afterwards."""
    global _clock
    previous, _clock = _clock, replacement
    try:
        yield replacement
    finally:
        _clock = previous


def now() -> dt.datetime:
    """The current instant in UTC (what is stored)."""
    return _clock.now().astimezone(UTC)


def now_ms() -> int:
    """Epoch milliseconds (the runner's due/lease times, compared alike in SQLite and PostgreSQL)."""
    if isinstance(_clock, SystemClock):
        return int(_time.time() * 1000)
    return int(_clock.now().timestamp() * 1000)


def china_now() -> dt.datetime:
    """The current instant in China's time."""
    return _clock.now().astimezone(CHINA)


def china_today() -> dt.date:
    """The date when none is given: today in China."""
    return china_now().date()


def in_china(moment: dt.datetime) -> dt.datetime:
    """A stored instant as China's time (a naive one is taken as UTC, as stored)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA)


def format_china(moment: dt.datetime | None, seconds: bool = False) -> str:
    """'2026-12-01 21:30 (北京时间)' style text without the label: 'YYYY-MM-DD HH:MM[:SS]' in China's time."""
    if moment is None:
        return ""
    return in_china(moment).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def beijing_text(moment: dt.datetime | dt.date | str | None, lang: str = "zh", *, seconds: bool = False) -> str:
    """An instant as people in China read it, labelled: "2026-12-02 11:05（北京时间）" / "… (Beijing time)".
    A naive instant is taken as UTC (as stored); text is parsed as ISO 8601 (the JSON the pages read); a date is
    a day, shown as it is."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        if len(moment) <= 10:  # a day ("2026-12-02"), not an instant
            return moment
        try:
            instant = dt.datetime.fromisoformat(moment)
        except ValueError:
            return moment
    elif isinstance(moment, dt.datetime):
        instant = moment
    else:
        return moment.isoformat()
    text = format_china(instant, seconds)
    return f"{text} (Beijing time)" if lang == "en" else f"{text}（北京时间）"
