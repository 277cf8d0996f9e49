"""The public policy library (政策库) and calculator (政策计算器): published versions for anyone, searched through a
word index (jieba) written at publication, and every live policy judged on facts someone enters, by the explainer
the portal and ``zhida explain`` use (eligibility/explain.py). Nothing here writes what a visitor enters."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jieba

from eligibility.errors import ProfileInvalid
from eligibility.explain import explain_profile
from eligibility.profiles import normalize_profile
from eligibility.schemas import Explanation, RuleSet
from kit.db import bulk_insert, raw
from kit.paging import Page
from kit.vocab import VersionStatus
from policies.service.common import guide_of
from policies.service.reading import ruleset_of

jieba.setLogLevel(logging.WARNING)  # its "Building prefix dict" lines are not ours to log

_WORD = re.compile(r"[0-9A-Za-z\u4e00-\u9fff]")
_PREFIX = re.compile(r"\b(region_code|industry_code)\s*=~\s*\"\^([0-9A-Za-z]+)\"")
_COLUMNS = (
    "v.id, v.code, v.number, v.title, v.issuer, v.subject, v.mode, v.effective_from, v.effective_to, v.budget_fen, "
    "v.cap_per_subject_fen, v.summary, v.source, v.published_at"
)
MAX_TOKENS = 8  # words of a query used (a longer query is cut): each is one indexed lookup


def words(text: str) -> list[str]:
    """The search words of ``text``: jieba's search-mode cut (long words and their parts), lower-cased, without
    punctuation, each at most 64 characters."""
    out = []
    for w in jieba.cut_for_search(text or ""):
        w = w.strip().lower()
        if w and _WORD.search(w) and w not in out:
            out.append(w[:64])
    return out


def _facets(prefix: str, field: str, texts: Iterable[str]) -> set[str]:
    found = {f"{prefix}:{p}" for t in texts for f, p in _PREFIX.findall(t or "") if f == field}
    return found or {f"{prefix}:*"}


def tokens_of(row: dict, clause_whens: list[str], clause_titles: list[str]) -> list[str]:
    """Every index token of one version: its words and its facets (region, industry, issuer)."""
    text = " ".join([row["title"], row["summary"] or "", row["issuer"], row["source"] or "", *clause_titles])
    found = set(words(text)) | {row["code"].lower()}
    whens = [row.get("when_expr") or "", *clause_whens]
    found |= _facets("region", "region_code", whens) | _facets("industry", "industry_code", whens)
    found |= {f"issuer:{i.strip()}"[:64] for i in re.split(r"[、,，;；]", row["issuer"]) if i.strip()}
    return sorted(found)


async def index_versions(version_ids: list[int]) -> int:
    """(Re)writes the index rows of these versions; returns how many rows were written."""
    if not version_ids:
        return 0
    marks = ", ".join("{}" for _ in version_ids)
    rows = await raw(
        f"SELECT id, code, title, issuer, summary, source, when_expr FROM policies_version WHERE id IN ({marks})",
        *version_ids,
    )
    clauses = await raw(
        f"SELECT version, title, when_expr FROM policies_clause WHERE version IN ({marks}) ORDER BY position",
        *version_ids,
    )
    by_version: dict[int, list[dict]] = {}
    for c in clauses:
        by_version.setdefault(int(c["version"]), []).append(c)
    await raw(f"DELETE FROM policies_search_token WHERE version_id IN ({marks})", *version_ids)
    out = []
    for r in rows:
        cs = by_version.get(int(r["id"]), [])
        out += [(int(r["id"]), t) for t in tokens_of(r, [c["when_expr"] for c in cs], [c["title"] for c in cs])]
    await bulk_insert("policies_search_token", ("version_id", "token"), out, types=("bigint", "text"))
    return len(out)


async def index_missing(limit: int = 2000) -> int:
    """Indexes published versions that have no index rows yet (versions published before the index existed, or
    written below the services); returns how many versions it indexed."""
    ids = [
        int(r["id"])
        for r in await raw(
            "SELECT v.id FROM policies_version v WHERE v.status = {} AND NOT EXISTS "
            "(SELECT 1 FROM policies_search_token t WHERE t.version_id = v.id) LIMIT {}",
            VersionStatus.PUBLISHED.value,
            limit,
        )
    ]
    for start in range(0, len(ids), 500):
        await index_versions(ids[start : start + 500])
    return len(ids)


@dataclass(frozen=True)
class LibraryFilter:
    """What a visitor narrows the library by; amounts are the most a subject can get (封顶), in fen."""

    q: str = ""
    region: str = ""
    industry: str = ""
    issuer: str = ""
    subject: str = ""
    amount_min_fen: int | None = None
    amount_max_fen: int | None = None


def _prefixes(prefix: str, code: str) -> list[str]:
    code = re.sub(r"[^0-9A-Za-z]", "", code)[:12]
    return [f"{prefix}:*"] + [f"{prefix}:{code[:i]}" for i in range(1, len(code) + 1)]


def _where(f: LibraryFilter) -> tuple[str, list[Any]]:
    parts = ["v.status = {}"]
    args: list[Any] = [VersionStatus.PUBLISHED.value]

    def any_of(tokens: list[str]) -> None:
        marks = ", ".join("{}" for _ in tokens)
        parts.append(f"v.id IN (SELECT t.version_id FROM policies_search_token t WHERE t.token IN ({marks}))")
        args.extend(tokens)

    for w in words(f.q)[:MAX_TOKENS]:
        any_of([w])
    if f.region:
        any_of(_prefixes("region", f.region))
    if f.industry:
        any_of(_prefixes("industry", f.industry))
    if f.issuer:
        any_of([f"issuer:{f.issuer.strip()}"[:64]])
    if f.subject in ("enterprise", "talent"):
        parts.append("v.subject = {}")
        args.append(f.subject)
    if f.amount_min_fen is not None:
        parts.append("v.cap_per_subject_fen >= {}")
        args.append(f.amount_min_fen)
    if f.amount_max_fen is not None:
        parts.append("v.cap_per_subject_fen <= {}")
        args.append(f.amount_max_fen)
    return " AND ".join(parts), args


async def library_page(f: LibraryFilter, page: int, size: int) -> Page[dict]:
    """One page of the published policies that match ``f`` (every word of ``q``, each facet), by code."""
    await index_missing()
    where, args = _where(f)
    total = (await raw(f"SELECT COUNT(*) AS n FROM policies_version v WHERE {where}", *args))[0]["n"]
    rows = await raw(
        f"SELECT {_COLUMNS} FROM policies_version v WHERE {where} ORDER BY v.code LIMIT {{}} OFFSET {{}}",
        *args,
        size,
        (page - 1) * size,
    )
    return Page(rows, int(total), page, size)


async def issuers() -> list[str]:
    """The issuers of the published policies (the filter's choices), each department once."""
    rows = await raw(
        "SELECT DISTINCT t.token FROM policies_search_token t JOIN policies_version v ON v.id = t.version_id "
        "WHERE v.status = {} AND t.token LIKE 'issuer:%' ORDER BY t.token",
        VersionStatus.PUBLISHED.value,
    )
    return [r["token"].split(":", 1)[1] for r in rows]


async def library_policy(code: str) -> dict | None:
    """The published version of ``code`` (its row, with ``guide``: its PolicyGuide or None), or None."""
    rows = await raw(
        f"SELECT {_COLUMNS}, v.when_expr, v.combine, v.guide_json FROM policies_version v WHERE v.code = {{}} AND v.status = {{}}",
        code,
        VersionStatus.PUBLISHED.value,
    )
    return {**rows[0], "guide": guide_of(rows[0])} if rows else None


async def conditions_in_words(version_id: int, kind: str, lang: str) -> Explanation:
    """The version's conditions as sentences (the explanation of a subject with no data: each condition's
    ``requirement``, each clause's ``amount_text``)."""
    ruleset = await ruleset_of(version_id)
    return explain_profile(ruleset, "", {}, ruleset.effective_from, lang)


# A published version's content never changes: its rule set is read once, kept under its id AND its content hash. An
# id alone is not enough: a database emptied and refilled (a restore, the test suite's RESTART IDENTITY) gives the
# same id to another policy, and the calculator judged a visitor by the rules of a policy no longer there.
_RULESETS: dict[tuple[int, str], RuleSet] = {}


async def _ruleset(version_id: int, content_hash: str) -> RuleSet:
    key = (version_id, content_hash)
    if key not in _RULESETS:
        _RULESETS[key] = await ruleset_of(version_id)
    return _RULESETS[key]


def facts_profile(kind: str, facts: dict) -> dict:
    """What a visitor entered as the stored form of a profile: normalized as an import would (a malformed value is
    refused with the field named, a missing one stays missing). A talent's ``birth_date`` (YYYY-MM-DD) stands for the
    ID number the calculator never asks for: the age is derived from it, as from the ID number's birth date."""
    facts = dict(facts)
    born = facts.pop("birth_date", None)
    profile = normalize_profile(kind, facts, partial=True)
    if kind == "talent" and born not in (None, ""):
        try:
            profile["birth_date"] = born if isinstance(born, dt.date) else dt.date.fromisoformat(str(born).strip())
        except ValueError:
            raise ProfileInvalid([("birth_date", "must be a date (YYYY-MM-DD)")]) from None
    return profile


async def calculate(
    kind: str, facts: dict, as_of: dt.date, lang: str, *, stored: bool = False
) -> list[tuple[str, Explanation]]:
    """Every published policy of ``kind`` judged on ``facts`` as of ``as_of`` by the explainer a stored subject's
    explanation comes from, as (title, explanation) by code; ``facts`` as ``facts_profile`` reads them, or a
    subject's own stored profile when ``stored``. Nothing is written."""
    profile = facts if stored else facts_profile(kind, facts)
    rows = await raw(
        "SELECT id, title, content_hash FROM policies_version WHERE status = {} AND subject = {} ORDER BY code",
        VersionStatus.PUBLISHED.value,
        kind,
    )
    return [
        (r["title"], explain_profile(await _ruleset(int(r["id"]), r["content_hash"]), "", profile, as_of, lang))
        for r in rows
    ]
