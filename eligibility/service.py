"""Services of eligibility/: profiles, stored matches, explanations; the active rule sets (rulesets.py) re-exported."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

from piccolo.table import Table

from eligibility import feeds, history, owned, store
from eligibility.errors import EligibilityError, ProfileInvalid, ProfileNotFound
from eligibility.explain import explain_profile
from eligibility.fields import KINDS
from eligibility.history import profile_versions
from eligibility.profiles import field_names, normalize_profile, row_digest
from eligibility.replay import replay_decision, replay_decisions
from eligibility.rulesets import activate_ruleset, active_rulesets, deactivate_ruleset
from eligibility.schemas import Explanation, RuleSet, StoredMatch
from eligibility.tables import Match
from kit import db
from kit.audit import Actor
from kit.db import codes, from_row
from kit.i18n import _l
from kit.paging import chunks
from kit.time import china_today
from kit.vocab import MatchState, SubjectKind


def _table(kind: str) -> type[Table]:
    """The profile table of ``kind``; an unknown kind is refused with a reason (not a KeyError)."""
    if kind not in KINDS:
        raise EligibilityError(_l("unknown subject kind {kind!r}"), kind=kind)
    return store.TABLES[kind]


async def get_profile(kind: str, subject_id: str) -> dict | None:
    """The normalized stored profile (fields of profiles.md; talents also ``birth_date``), or None."""
    table = _table(kind)
    rows = await table.raw(f"SELECT * FROM {table._meta.tablename} WHERE subject_id = {{}}", subject_id)
    return store.from_row(kind, rows[0]) if rows else None


async def find_profile(subject_id: str) -> tuple[str, dict] | None:
    """(kind, profile) for a subject id of either kind."""
    for kind in KINDS:
        p = await get_profile(kind, subject_id)
        if p is not None:
            return kind, p
    return None


async def regions_of(kind: str, subject_ids: list[str], chunk: int = 500) -> dict[str, tuple[str, str]]:
    """{subject id: (region code, name)} of the stored profiles among ``subject_ids`` (for the impact preview's
    breakdown), read in chunks of ``chunk`` ids."""
    table = _table(kind)
    out: dict[str, tuple[str, str]] = {}
    for i in range(0, len(subject_ids), chunk):
        part = subject_ids[i : i + chunk]
        rows = await table.select(table.subject_id, table.region_code, table.name).where(table.subject_id.is_in(part))
        out.update({r["subject_id"]: (r["region_code"], r["name"]) for r in rows})
    return out


async def count_profiles(kind: str) -> int:
    table = _table(kind)
    rows = await table.raw(f"SELECT COUNT(*) AS n FROM {table._meta.tablename}")
    return int(rows[0]["n"])


async def upsert_profile(kind: str, raw: dict, *, actor: Actor, feed: str | None = None) -> tuple[str, str]:
    """Validate and upsert one profile (the data-exchange API). Returns (subject_id, inserted|updated|unchanged).

    ``feed``: the feed sending it; one that owns fields (eligibility/feeds.py) changes only those: a key the record
    lacks keeps the stored value, an explicit null clears it (eligibility/owned.py). Otherwise the record is the
    whole profile (profiles.md). The version it replaces is kept (eligibility/history.py)."""
    stored_feed = await feeds.feed_named(feed) if feed else None
    owns = stored_feed["owns"] if stored_feed and stored_feed["kind"] == kind else None
    if owns is None:
        profile = normalize_profile(kind, raw)
        row = store.to_row(kind, profile)
    else:
        names = field_names(kind)
        values, carried = owned.validate_owned(
            kind, feed or "", owns, [raw.get(n, owned.ABSENT) for n in names], china_today()
        )
    table = store.TABLES[kind]
    engine = table._meta.db
    pg = engine.engine_type == "postgres"
    async with engine.transaction() as tx:
        if owns is not None:
            merged, refused = await owned.merge(kind, feed or "", [(0, values, carried)], tx.connection, pg)
            if refused:
                raise ProfileInvalid([(f, r) for _, f, r in refused])
            row = merged[0][:-1]
        sid = row[0]
        digest = row_digest(row)
        old = await db.raw(f"SELECT digest FROM {table._meta.tablename} WHERE subject_id = {{}}", sid)
        if old and old[0]["digest"] == digest:
            return sid, "unchanged"
        outcome = "updated" if old else "inserted"
        now = dt.datetime.now(dt.UTC)
        if old:
            await history.keep_previous(kind, [sid], tx.connection, pg, now)
        await store.executemany(tx.connection, store.upsert_sql(kind, pg), [[*row, digest, now, feed]], pg)
        await actor.record(
            f"eligibility.profile_{outcome}",
            f"{kind}_profile",
            sid,
            before={"digest": old[0]["digest"]} if old else None,
            after={"digest": digest},
            detail={"feed": feed, **({"owns": list(owns)} if owns else {})} if feed else None,
        )
    return sid, outcome


def _stored(row: dict, profile: dict | None = None) -> StoredMatch:
    as_of = row["as_of"]
    if isinstance(as_of, str):
        as_of = dt.date.fromisoformat(as_of[:10])
    return from_row(
        StoredMatch,
        row,
        clauses=codes(row["clauses"] or ""),
        amount_fen=int(row["amount_fen"]),
        as_of=as_of,
        name=(profile or {}).get("name"),
        bank_name=(profile or {}).get("bank_name"),
        bank_account=(profile or {}).get("bank_account"),
        state=row.get("state") or MatchState.CURRENT,
        withdrawn_reason=row.get("withdrawn_reason") or "",
    )


async def _profiles_of(pairs: list[tuple[str, str]]) -> dict[str, dict[str, dict]]:
    """The profiles of (subject_kind, subject_id) pairs, by kind then subject id, 500 ids a statement."""
    by_kind: dict[str, dict[str, dict]] = {}
    for kind in {k for k, _ in pairs}:
        ids = sorted({sid for k, sid in pairs if k == kind})
        table = store.TABLES[kind]
        got: dict[str, dict] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            cond, args = db.in_list(chunk)
            for r in await db.raw(f"SELECT * FROM {table._meta.tablename} WHERE subject_id {cond}", *args):
                got[r["subject_id"]] = store.from_row(kind, r)
        by_kind[kind] = got
    return by_kind


async def _with_profiles(rows: list[dict]) -> list[StoredMatch]:
    by_kind = await _profiles_of([(r["subject_kind"], r["subject_id"]) for r in rows])
    return [_stored(r, by_kind.get(r["subject_kind"], {}).get(r["subject_id"])) for r in rows]


async def with_profiles(matches: list[StoredMatch]) -> list[StoredMatch]:
    """``matches`` (read with ``profiles=False``) with their profiles' names and bank details filled in."""
    by_kind = await _profiles_of([(str(m.subject_kind), m.subject_id) for m in matches])
    out = []
    for m in matches:
        profile = by_kind.get(str(m.subject_kind), {}).get(m.subject_id) or {}
        fields = {k: profile.get(k) for k in ("name", "bank_name", "bank_account")}
        out.append(m.model_copy(update=fields))
    return out


async def matches_for(key_or_version_id: str | int, *, history: bool = False) -> list[StoredMatch]:
    """The current matches of a rule set (by key, or by policy version id): one per subject that qualifies on its
    latest evaluation, sorted by subject id; a withdrawn or superseded match is not among them.
    ``history=True`` returns every row, whatever its state."""
    if isinstance(key_or_version_id, int):
        q = Match.select().where(Match.version_id == key_or_version_id)
    else:
        q = Match.select().where(Match.ruleset_key == key_or_version_id)
    if not history:
        q = q.where(Match.state == MatchState.CURRENT)
    rows = await q.order_by(Match.subject_id).order_by(Match.id)
    if not history:
        latest: dict[str, dict] = {}
        for r in rows:
            latest[r["subject_id"]] = r
        rows = list(latest.values())
    return await _with_profiles(rows)


async def match_chunks(version_id: int) -> AsyncIterator[list[StoredMatch]]:
    """The current matches of a policy version in id order, a chunk at a time with their profiles' names and
    accounts (an export: never every match in memory). standing.py keeps one current row per subject."""
    where = [Match.version_id == version_id, Match.state == MatchState.CURRENT]
    async for rows in chunks(Match, where):
        yield await _with_profiles(rows)


async def unnotified_matches(
    version_id: int, *, subject_ids: list[str] | None = None, limit: int = 2000, profiles: bool = True
) -> list[StoredMatch]:
    """Up to ``limit`` current matches of a policy version not yet marked handed on (``mark_notified``), in id order,
    with their profiles' names and accounts (without, when ``profiles=False``: a caller that can drop most of them
    first loads the rest with ``with_profiles``); only those of ``subject_ids`` when given. Read through the partial
    index eligibility_match_unnotified, so the cost follows the matches still waiting, not every stored match."""
    if subject_ids is not None and not subject_ids:
        return []
    # The state is written as a literal: a planner uses a partial index only when the query's WHERE implies the
    # index's, and a bound parameter implies nothing.
    sql = (
        "SELECT * FROM eligibility_match WHERE version_id = {} AND notified_at IS NULL "
        f"AND state = '{MatchState.CURRENT.value}'"
    )
    args: list = [version_id]
    if subject_ids is not None:
        cond, more = db.in_list(sorted(set(subject_ids)))
        sql += f" AND subject_id {cond}"
        args += more
    rows = await db.raw(sql + f" ORDER BY id LIMIT {int(limit)}", *args)
    return await _with_profiles(rows) if profiles else [_stored(r) for r in rows]


async def mark_notified(match_ids: list[int], *, now: dt.datetime | None = None) -> None:
    """Mark matches as handed on to their notices: ``unnotified_matches`` no longer returns them. The caller marks a
    match only after its notice is committed, so a crash in between leaves it unmarked and the next pass takes it
    again (the notice key keeps the notice single)."""
    at = now or dt.datetime.now(dt.UTC)
    for i in range(0, len(match_ids), 500):
        cond, args = db.in_list(list(match_ids[i : i + 500]))
        await db.raw(f"UPDATE eligibility_match SET notified_at = {{}} WHERE id {cond}", at, *args)


async def withdrawn_matches(version_id: int, subject_ids: list[str] | None = None) -> list[StoredMatch]:
    """The matches of a policy version withdrawn because the subject no longer qualifies (with the failing
    conditions), of subjects with no current match of it; optionally only of these subjects."""
    q = Match.select().where((Match.version_id == version_id) & (Match.state == MatchState.WITHDRAWN))
    if subject_ids is not None:
        if not subject_ids:
            return []
        q = q.where(Match.subject_id.is_in(list(subject_ids)))
    rows = await q.order_by(Match.subject_id).order_by(Match.id)
    current = (
        {
            r["subject_id"]
            for r in await Match.select(Match.subject_id).where(
                (Match.version_id == version_id) & (Match.state == MatchState.CURRENT)
            )
        }
        if rows
        else set()
    )
    latest: dict[str, dict] = {}
    for r in rows:
        if r["subject_id"] not in current:
            latest[r["subject_id"]] = r
    return await _with_profiles(list(latest.values()))


async def matches_of_subject(subject_id: str) -> list[StoredMatch]:
    rows = await Match.select().where(Match.subject_id == subject_id).order_by(Match.id)
    return await _with_profiles(rows)


async def get_match(match_id: int) -> StoredMatch | None:
    rows = await Match.select().where(Match.id == match_id)
    return (await _with_profiles(rows))[0] if rows else None


async def explain(ruleset: RuleSet, subject_id: str, as_of: dt.date, lang: str = "zh") -> Explanation:
    """Why a subject does or does not qualify: every condition with its value, met or not, near misses."""
    profile = await get_profile(ruleset.subject, subject_id)
    if profile is None:
        kind_zh = "企业" if ruleset.subject == SubjectKind.ENTERPRISE else "人才"
        raise ProfileNotFound(
            _l("no {subject} profile {subject_id} ({kind_zh}档案不存在)"),
            subject=ruleset.subject,
            subject_id=subject_id,
            kind_zh=kind_zh,
        )
    return explain_profile(ruleset, subject_id, profile, as_of, lang)


async def explain_decision(ruleset: RuleSet, match: StoredMatch, lang: str = "zh") -> Explanation:
    """The explanation of a stored decision: as of the date it was judged, on the profile version it used (the
    current profile when that version is not kept), so a subject paid last year reads why it was paid, not that the
    policy has since expired."""
    version = await history.version_with_digest(match.subject_kind, match.subject_id, match.profile_digest)
    if version is None:
        return await explain(ruleset, match.subject_id, match.as_of, lang)
    return explain_profile(ruleset, match.subject_id, version.profile, match.as_of, lang)


__all__ = [
    "activate_ruleset",
    "deactivate_ruleset",
    "active_rulesets",
    "get_profile",
    "find_profile",
    "upsert_profile",
    "matches_for",
    "withdrawn_matches",
    "matches_of_subject",
    "get_match",
    "explain",
    "explain_decision",
    "profile_versions",
    "replay_decision",
    "replay_decisions",
]
