"""The login throttle: every attempt is counted before its password is checked, by one atomic statement per
(source, user name), with an exponential back-off per source; a user name is locked only after failures from many
sources, and only an administrator lifts that lock (`zhida users unlock NAME`).

So 40 parallel guesses from one place get at most ``login_max_failures`` password checks, and a stranger guessing
from elsewhere only slows down themselves, never the owner. Rows live in app_login_throttle: ``<source>|<name>``
for a source's count, ``*|<name>`` for the lock of a name.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.config import get_settings
from app.tables import LoginThrottle

STALE_SECONDS = 24 * 3600  # a source's count starts again after a day without attempts
LOCKED_FOREVER = 2**62  # blocked_until of a name lock: until an administrator lifts it
ANY_SOURCE = "*"


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is not even checked: the name is locked (``locked``) or this source must wait ``seconds``."""

    locked: bool
    seconds: int


def _slot(source: str, username: str) -> str:
    return f"{source[:128]}|{username[:64]}"


def _backoff_sql(n: str, free: int, base: int, cap: int) -> str:
    """Seconds to wait after attempt ``n`` (an SQL expression): none before ``free`` attempts, then base, 2·base, …
    up to ``cap``. Written with CASE and a shift so that SQLite and PostgreSQL compute the same."""
    steps = 0
    while base << steps < cap:
        steps += 1
    return (
        f"(CASE WHEN {n} < {free} THEN 0 WHEN {n} - {free} >= {steps} THEN {cap} "
        f"ELSE {base} * (1 << ({n} - {free})) END)"
    )


async def reserve_attempt(source: str, username: str) -> Refusal | None:
    """Count this attempt before its password is checked; a Refusal when it may not be checked at all."""
    settings = get_settings()
    at = int(time.time())
    lock = await LoginThrottle.select(LoginThrottle.blocked_until).where(
        LoginThrottle.slot == _slot(ANY_SOURCE, username)
    )
    if lock and lock[0]["blocked_until"] > at:
        return Refusal(locked=True, seconds=0)
    free = max(1, settings.login_max_failures)
    base = max(1, settings.login_backoff_seconds)
    cap = max(base, settings.login_lockout_minutes * 60)
    # Numbers are ours (ints), written into the statement; only the names are parameters.
    stale = at - STALE_SECONDS
    n = f"(CASE WHEN app_login_throttle.last_at < {stale} THEN 1 ELSE app_login_throttle.failures + 1 END)"
    first_block = at + base if free <= 1 else 0
    # One statement takes the attempt's number and sets the wait it causes: concurrent attempts queue on the row,
    # and each sees the block the one before it set (ON CONFLICT … WHERE re-reads the row on PostgreSQL). An attempt
    # that causes no wait leaves no block (0, not its own time): ``at`` is read before the statement runs, so a
    # concurrent attempt whose statement comes later may carry an earlier second, and a block of "until now" would
    # refuse it though nobody must wait (issue 19: simultaneous right logins of one account were refused with 429).
    backoff = _backoff_sql(n, free, base, cap)
    taken = await LoginThrottle.raw(
        "INSERT INTO app_login_throttle (slot, username, source, failures, blocked_until, last_at) "
        f"VALUES ({{}}, {{}}, {{}}, 1, {first_block}, {at}) "
        f"ON CONFLICT (slot) DO UPDATE SET failures = {n}, "
        f"blocked_until = CASE WHEN {backoff} = 0 THEN 0 ELSE {at} + {backoff} END, last_at = {at} "
        f"WHERE app_login_throttle.blocked_until <= {at} "
        "RETURNING failures",
        _slot(source, username),
        username[:64],
        source[:128],
    )
    if taken:
        return None
    row = await LoginThrottle.select(LoginThrottle.blocked_until).where(LoginThrottle.slot == _slot(source, username))
    wait = (row[0]["blocked_until"] - at) if row else 1
    return Refusal(locked=False, seconds=max(1, int(wait)))


async def attempt_failed(source: str, username: str) -> bool:
    """After a wrong password (the attempt is counted already): lock the name when its failures come from many
    sources. True when this failure locked it."""
    settings = get_settings()
    since = int(time.time()) - STALE_SECONDS
    rows = await LoginThrottle.raw(
        "SELECT count(*) AS sources, coalesce(sum(failures), 0) AS failures FROM app_login_throttle "
        f"WHERE username = {{}} AND source <> {{}} AND last_at >= {since}",
        username[:64],
        ANY_SOURCE,
    )
    sources, failures = int(rows[0]["sources"]), int(rows[0]["failures"])
    if sources < settings.login_name_lock_sources or failures < settings.login_name_lock_failures:
        return False
    await LoginThrottle.raw(
        "INSERT INTO app_login_throttle (slot, username, source, failures, blocked_until, last_at) "
        f"VALUES ({{}}, {{}}, {{}}, {failures}, {LOCKED_FOREVER}, {int(time.time())}) "
        "ON CONFLICT (slot) DO NOTHING",
        _slot(ANY_SOURCE, username),
        username[:64],
        ANY_SOURCE,
    )
    return True


async def attempt_succeeded(source: str, username: str) -> None:
    """The right password: this source's count for the name starts again."""
    await LoginThrottle.delete().where(LoginThrottle.slot == _slot(source, username))


async def is_locked(username: str) -> bool:
    lock = await LoginThrottle.select(LoginThrottle.blocked_until).where(
        LoginThrottle.slot == _slot(ANY_SOURCE, username)
    )
    return bool(lock) and lock[0]["blocked_until"] > int(time.time())


async def lift(username: str) -> int:
    """Lift the lock of ``username`` and every source's back-off for it; returns how many rows went."""
    gone = await LoginThrottle.delete().where(LoginThrottle.username == username[:64]).returning(LoginThrottle.id)
    return len(gone)


async def take_quota(source: str, kind: str, per_hour: int) -> bool:
    """One use of an anonymous action ``kind`` by ``source``, at most ``per_hour`` in an hour (a window that starts
    with the first use): False when the quota is used up. One atomic statement, as for logins; the row's name is
    ``~kind``, which no account can have, so it never counts towards a name's lock."""
    at = int(time.time())
    name = f"~{kind}"[:64]
    window = at - 3600
    taken = await LoginThrottle.raw(
        "INSERT INTO app_login_throttle (slot, username, source, failures, blocked_until, last_at) "
        f"VALUES ({{}}, {{}}, {{}}, 1, 0, {at}) "
        "ON CONFLICT (slot) DO UPDATE SET "
        f"failures = CASE WHEN app_login_throttle.last_at < {window} THEN 1 ELSE app_login_throttle.failures + 1 END, "
        f"last_at = CASE WHEN app_login_throttle.last_at < {window} THEN {at} ELSE app_login_throttle.last_at END "
        f"WHERE app_login_throttle.last_at < {window} OR app_login_throttle.failures < {max(1, int(per_hour))} "
        "RETURNING failures",
        _slot(source, name),
        name,
        source[:128],
    )
    return bool(taken)
