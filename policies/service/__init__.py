"""The policy lifecycle (draft → in_review → published → suspended / retired), versions, own tests, impact preview.

A version's content is written only while it is a draft; every other step changes its status alone.
Services take the acting user as ``actor`` (``.name``, ``.role``, ``await actor.record(...)``) and record
each step in the audit trail inside the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt

from kit.vocab import VersionStatus
from policies.packs import bundled_pack_paths
from policies.service.drafts import load_pack, load_pack_text, new_draft_from, save_draft, store_contents, update_draft
from policies.service.lifecycle import (
    activate_due,
    export_version,
    missing_tests,
    publish,
    publish_version,
    publishable_version,
    reject,
    resume,
    retire,
    submit,
    suspend,
)
from policies.service.preview import (
    check_expression,
    diff_with_published,
    impact_preview,
    run_version_tests,
    set_prior_lookup,
    stored_impact,
    winners_losers_export,
)
from policies.service.reading import (
    POLICY_SORTS,
    get_version,
    latest_version,
    list_exclusive_group,
    list_policies,
    list_published,
    policy_page,
    published_ruleset,
    read_version,
    reading_of,
    ruleset_of,
    titles_of,
    versions_of,
)


async def load_and_publish_bundled(officer, reviewer, *, as_of: dt.date | None = None) -> list[str]:
    """`zhida demo`: load every bundled pack as drafts by ``officer`` and publish each by ``reviewer``.

    Idempotent: a pack already published with the same content is left alone. Returns 'CODE@N' keys.
    """
    keys = []
    for path in bundled_pack_paths():
        for version, _ in await load_pack(path, officer):
            if version.status == VersionStatus.IN_REVIEW:  # a bundled pack covers its clauses: loading submits it
                version = await publish_version(version.id, reviewer, as_of=as_of, today=as_of)
            keys.append(f"{version.code}@{version.number}")
    return keys


__all__ = [
    "POLICY_SORTS",
    "policy_page",
    "activate_due",
    "check_expression",
    "diff_with_published",
    "export_version",
    "get_version",
    "reading_of",
    "impact_preview",
    "latest_version",
    "list_exclusive_group",
    "list_policies",
    "list_published",
    "titles_of",
    "load_and_publish_bundled",
    "load_pack",
    "load_pack_text",
    "missing_tests",
    "new_draft_from",
    "publish",
    "publish_version",
    "publishable_version",
    "published_ruleset",
    "read_version",
    "reject",
    "resume",
    "retire",
    "ruleset_of",
    "run_version_tests",
    "save_draft",
    "set_prior_lookup",
    "store_contents",
    "stored_impact",
    "submit",
    "suspend",
    "update_draft",
    "versions_of",
    "winners_losers_export",
]
