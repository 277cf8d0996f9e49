"""HTTP routes of eligibility: the data-exchange upsert API (an API key per feed) and JSON profiles/explanations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from app import flows, jobs
from app.audit import AuditActor
from app.auth.guards import current_user, own_subject, requires
from app.schemas.eligibility import (
    EnterpriseProfileRead,
    ExchangeUpsertRead,
    ProfileRead,
    TalentProfileRead,
    UpsertRejectRead,
    UpsertResultRead,
)
from app.schemas.errors import errors
from eligibility.errors import EligibilityError, FeedRefused, ProfileInvalid, ProfileNotFound
from eligibility.feeds import feed_for_key
from eligibility.incremental import profile_ids_of
from eligibility.records import exchange_rows
from eligibility.schemas import Explanation
from eligibility.service import active_rulesets, explain, get_profile, upsert_profile
from kit.i18n import _l
from kit.masking import mask_account, mask_id_number
from kit.metrics import FEED_ROWS
from kit.time import china_today
from kit.vocab import OFFICE_ROLES, SUBJECT_ROLES, Role, SubjectKind
from policies.service import published_ruleset

SUBJECT_KINDS = tuple(SubjectKind)
# Who reads account and ID numbers whole: finance staff, who pay into those accounts.
WHOLE_NUMBERS = (Role.FINANCE_MAKER, Role.FINANCE_CHECKER)
MAX_ROWS = 5000


async def feed_key(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """The caller must present the API key of an active data-exchange feed for this subject kind."""
    try:
        feed = await feed_for_key(connection.headers.get("x-api-key"))
    except FeedRefused as exc:
        raise NotAuthorizedException(exc.message) from None
    kind = connection.path_params.get("kind")
    if feed["kind"] != kind:
        raise PermissionDeniedException(f"feed {feed['name']} may only send {feed['kind']} profiles")
    connection.scope.setdefault("state", {})["feed"] = feed["name"]


feed_key.roles = ("feed",)  # type: ignore[attr-defined]


def _public_profile(kind: str, profile: dict, role: str | None, own: bool) -> ProfileRead:
    out: dict[str, Any] = {}
    for k, v in profile.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, (dt.date,)):
            v = v.isoformat()
        elif v is not None and not isinstance(v, (bool, int, str)):
            v = str(v)
        out[k] = v
    if not own and role not in WHOLE_NUMBERS:
        out["bank_account"] = mask_account(out.get("bank_account")) or out.get("bank_account")
        if kind == SubjectKind.TALENT:
            out["id_number"] = mask_id_number(out.get("id_number")) or out.get("id_number")
            out["birth_date"] = None
    model = TalentProfileRead if kind == SubjectKind.TALENT else EnterpriseProfileRead
    return model.model_validate(out)


@post("/api/exchange/{kind:str}/profiles", guards=[feed_key], status_code=200, responses=errors(400, 404, 413, 422))
async def exchange_upsert(kind: str, request: Request) -> ExchangeUpsertRead:
    """Upsert profiles (a JSON object or an array of them, the body) from the data exchange; same validation as
    the import. A feed that owns fields changes only those: a key a record lacks keeps the stored value, an explicit
    null clears it. Valid rows are stored even when others are rejected; changed profiles are re-matched as jobs."""
    if kind not in SUBJECT_KINDS:
        raise EligibilityError(_l("kind must be enterprise or talent"), status=404)
    # The body is read here, not by the framework: strict UTF-8 (a BOM allowed), and deep nesting is a 400.
    rows, rejects = exchange_rows(kind, await request.body(), MAX_ROWS)
    feed = (request.scope.get("state") or {}).get("feed", "feed")
    actor = AuditActor(f"feed:{feed}", "data_exchange")
    results: list[UpsertResultRead] = []
    rejected = [UpsertRejectRead(**r) for r in rejects]
    changed = []
    for i, raw in rows:
        try:
            sid, outcome = await upsert_profile(kind, raw, actor=actor, feed=feed)
        except ProfileInvalid as exc:
            rejected += [UpsertRejectRead(index=i, field=f, reason=r) for f, r in exc.problems]
            continue
        results.append(UpsertResultRead(subject_id=sid, outcome=outcome))
        if outcome != "unchanged":
            changed.append(sid)
    await _queue_rematch(kind, changed)
    if changed:  # a correction asked of this feed may have arrived (eligibility.corrections)
        await flows.settle_corrections(feed, actor=actor, queue=await jobs.get_queue())
    counts = {o: sum(1 for r in results if r.outcome == o) for o in ("inserted", "updated", "unchanged")}
    rejected.sort(key=lambda r: r.index)
    refused = len({r.index for r in rejected})
    FEED_ROWS.labels(kind, "imported").inc(len(results))
    FEED_ROWS.labels(kind, "rejected").inc(refused)
    return ExchangeUpsertRead(**counts, rejected=refused, results=results, rejects=rejected)


async def _queue_rematch(kind: str, subject_ids: list[str]) -> None:
    if not subject_ids:
        return
    if not await active_rulesets(kind):
        return
    today = china_today().isoformat()
    # Row ids, not subject ids (a talent's is its ID number): job arguments are logged and kept in Redis.
    for profile_id in await profile_ids_of(kind, subject_ids):
        # No job id: a second change of the same profile must be re-matched too, and storage is idempotent.
        await jobs.enqueue("eligibility.rematch_subject", kind, profile_id, today)


@get("/api/profiles/{kind:str}/{subject_id:str}", guards=[requires(*OFFICE_ROLES)], responses=errors(404))
async def profile_read(kind: str, subject_id: str, request: Request) -> ProfileRead:
    """A stored profile (account and ID numbers masked except for finance staff)."""
    if kind not in SUBJECT_KINDS:
        raise ProfileNotFound(_l("kind must be enterprise or talent"))
    profile = await get_profile(kind, subject_id)
    if profile is None:
        raise ProfileNotFound(_l("no {kind} profile {subject_id}"), kind=kind, subject_id=subject_id)
    user = current_user(request)
    return _public_profile(kind, profile, (user or {}).get("role"), own=False)


@get("/api/my/profile", guards=[requires(*SUBJECT_ROLES)], responses=errors(404))
async def my_profile(request: Request) -> ProfileRead:
    kind, sid = own_subject(request)
    profile = await get_profile(kind, sid)
    if profile is None:
        raise ProfileNotFound(_l("your profile has not arrived from the data exchange yet / 档案尚未归集"))
    return _public_profile(kind, profile, None, own=True)


@get(
    "/api/explain/{code:str}/{subject_id:str}",
    guards=[requires(*OFFICE_ROLES, *SUBJECT_ROLES)],
    responses=errors(404, 409, 422),
)
async def explain_read(
    code: str, subject_id: str, request: Request, as_of: dt.date | None = None, lang: str = "zh"
) -> Explanation:
    """Why a subject does or does not qualify for the published version of a policy."""
    user = current_user(request)
    if user and user.get("subject_id") and user["subject_id"] != subject_id:
        raise PermissionDeniedException("you can only see explanations of your own profile")
    return await explain(
        await published_ruleset(code), subject_id, as_of or china_today(), "en" if lang == "en" else "zh"
    )


route_handlers: list = [exchange_upsert, profile_read, my_profile, explain_read]
