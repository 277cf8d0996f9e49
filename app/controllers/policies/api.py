"""The policies JSON API under /api/policies: list, read, author, check, test, preview and the lifecycle steps."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Request, Response, get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app import publication
from app.auth.guards import requires
from app.controllers.policies.common import AUTHORS, REVIEWERS, STAFF, SUBJECT_KINDS, actor_of, as_of_date
from app.i18n import api_lang_of, render
from app.paging import API_SIZE, paged_json, paging
from app.schemas.errors import errors
from app.schemas.policies import (
    ExpressionCheckRead,
    PackLoadRead,
    PolicyRead,
    PolicySummaryRead,
    VersionDiffRead,
    VersionSummaryRead,
)
from eligibility.rules import check_expression
from kit.i18n import _l
from kit.paging import PageRequest
from kit.text import NotUtf8, decode_utf8
from kit.vocab import Role, SubjectKind
from policies import packs, service
from policies.errors import PackRefused, PolicyError
from policies.schemas import ImpactPreview, PackProblem, PublishedVersion, TestOutcome, VersionRead


@get(
    "/api/policies",
    guards=[requires(*STAFF)],
    tags=["policies"],
    responses=errors(),
    dependencies={"paging": paging(service.POLICY_SORTS, size=API_SIZE)},
)
async def api_list(
    paging: PageRequest, status: str | None = None, subject: str | None = None
) -> Response[list[PolicySummaryRead]]:
    """Policies with their latest version; search (q) in code, title and issuer; a page of them (page, size, sort:
    code, title, issuer, status, budget, created; ``-`` first for descending), the total in X-Total-Count."""
    page = await service.policy_page(paging, status, subject)
    return paged_json(page.map(PolicySummaryRead.model_validate))


@get("/api/policies/published", guards=[requires()], tags=["policies"], responses=errors())
async def api_published(subject: str | None = None) -> list[PublishedVersion]:
    """Currently published versions (budget in fen)."""
    return await service.list_published(subject)


@get("/api/policies/{code:str}", guards=[requires(*STAFF)], tags=["policies"], responses=errors(404))
async def api_policy(code: str) -> PolicyRead:
    """Every version of a policy (newest first) and the latest one in full."""
    versions = await service.versions_of(code)
    latest = await service.read_version(versions[0]["id"])
    return PolicyRead(code=code, versions=[VersionSummaryRead.model_validate(v) for v in versions], latest=latest)


@post(
    "/api/policies",
    guards=[requires(*AUTHORS)],
    tags=["policies"],
    status_code=HTTP_201_CREATED,
    responses=errors(409, 422),
)
async def api_save_draft(request: Request, data: JSONBody[dict[str, Any]]) -> VersionRead:
    """Store a policy (pack-shaped JSON) as the draft of its code; a published code gets a new version."""
    return await service.save_draft(data, actor_of(request))


@post(
    "/api/policies/packs",
    guards=[requires(*AUTHORS)],
    tags=["policies"],
    status_code=HTTP_201_CREATED,
    responses=errors(409, 422),
)
async def api_load_pack(request: Request) -> list[PackLoadRead]:
    """Load a YAML pack (the request body, as `zhida policies load`): all its policies or, refused, none."""
    try:
        text = decode_utf8(await request.body())  # strict: a GBK pack is refused, never stored as U+FFFD
    except NotUtf8 as exc:
        raise PackRefused([PackProblem(line=exc.line, message=exc.message)], "request body") from None
    # Reading a pack (YAML, rules, its own tests) is work its author decides the size of: a worker thread does it,
    # so one officer's pack never holds every other request.
    contents = await anyio.to_thread.run_sync(packs.read_pack_text, text, "request body")
    stored = await service.store_contents(contents, actor_of(request))
    return [PackLoadRead(code=v.code, number=v.number, id=v.id, status=v.status, outcome=o) for v, o in stored]


@post(
    "/api/policies/check",
    guards=[requires(*AUTHORS, Role.POLICY_REVIEWER)],
    tags=["policies"],
    status_code=HTTP_200_OK,
    responses=errors(),
)
async def api_check(request: Request, data: JSONBody[dict[str, Any]]) -> ExpressionCheckRead:
    """The rule editor's live check: problems of one expression and, for a condition, the live match count."""
    subject = str(data["subject"]) if data.get("subject") in SUBJECT_KINDS else SubjectKind.TALENT
    expression, part, policy_when = (
        str(data.get("expression") or ""),
        data.get("part") or "when",
        data.get("policy_when"),
    )
    # The parse and check run in a worker thread (off the event loop); the service's check then reads their result
    # from eligibility's check cache.
    await anyio.to_thread.run_sync(_check_texts, subject, expression, part, policy_when)
    checked = await service.check_expression(
        subject,
        expression,
        part,
        policy_when=policy_when or None,
        as_of=as_of_date(data.get("as_of")),
        count=bool(data.get("count", True)),
    )
    # The problems in the reader's language (the editor's page sends its own): English unless Chinese is asked for.
    lang = api_lang_of(request)
    for p in checked.get("problems", []):
        if p.get("template"):
            p["message"] = render(lang, p["template"], p.get("params"))
        if p.get("hint_template"):
            p["hint"] = render(lang, p["hint_template"], p.get("hint_params"))
    return ExpressionCheckRead.model_validate(checked)


def _check_texts(subject: Any, expression: str, part: Any, policy_when: Any) -> None:
    """What service.check_expression checks, so that it finds every answer in the cache."""
    when, amount = (expression, "0") if part == "when" else ("true", expression)
    check_expression(str(subject), when, None, "when")
    check_expression(str(subject), amount, None, "amount")
    if policy_when:
        check_expression(str(subject), str(policy_when), None, "when")


@get("/api/policies/versions/{version_id:int}", guards=[requires(*STAFF)], tags=["policies"], responses=errors(404))
async def api_version(version_id: int) -> VersionRead:
    return await service.read_version(version_id)


@put(
    "/api/policies/versions/{version_id:int}",
    guards=[requires(*AUTHORS)],
    tags=["policies"],
    responses=errors(404, 409, 422),
)
async def api_update_draft(request: Request, version_id: int, data: JSONBody[dict[str, Any]]) -> VersionRead:
    """Change a draft; any version that left draft answers 409 (a change is a new version)."""
    return await service.update_draft(version_id, data, actor_of(request))


@get(
    "/api/policies/versions/{version_id:int}/export",
    guards=[requires(*STAFF)],
    tags=["policies"],
    media_type="application/yaml",
    responses=errors(404),
)
async def api_export(version_id: int) -> Response:
    """The version as a YAML pack (loading it gives the same version)."""
    row = await service.read_version(version_id)
    return Response(
        await service.export_version(version_id),
        media_type="application/yaml; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{row.code}-v{row.number}.yaml"'},
    )


@post(
    "/api/policies/versions/{version_id:int}/new-draft",
    guards=[requires(*AUTHORS)],
    tags=["policies"],
    status_code=HTTP_201_CREATED,
    responses=errors(404, 409),
)
async def api_new_draft(request: Request, version_id: int) -> VersionRead:
    return await service.new_draft_from(version_id, actor_of(request))


@post(
    "/api/policies/versions/{version_id:int}/tests",
    guards=[requires(*STAFF)],
    tags=["policies"],
    status_code=HTTP_200_OK,
    responses=errors(404),
)
async def api_run_tests(version_id: int) -> list[TestOutcome]:
    return await service.run_version_tests(version_id)


@get(
    "/api/policies/versions/{version_id:int}/impact",
    guards=[requires(*STAFF)],
    tags=["policies"],
    responses=errors(404, 409, 422),
)
async def api_impact(version_id: int, as_of: str | None = None) -> ImpactPreview:
    """Shadow run of the version (and the diff with the published one)."""
    return await service.impact_preview(version_id, as_of_date(as_of))


@get(
    "/api/policies/versions/{version_id:int}/diff", guards=[requires(*STAFF)], tags=["policies"], responses=errors(404)
)
async def api_diff(version_id: int) -> list[VersionDiffRead]:
    """What the version changes in the text of the published version (fields and clauses, before and after)."""
    return [VersionDiffRead.model_validate(d) for d in await service.diff_with_published(version_id)]


@get(
    "/api/policies/versions/{version_id:int}/publication-impact",
    guards=[requires(*STAFF)],
    tags=["policies"],
    responses=errors(404),
)
async def api_stored_impact(version_id: int) -> ImpactPreview | None:
    """The impact preview stored when the version was published (null before)."""
    return await service.stored_impact(version_id)


@post(
    "/api/policies/versions/{version_id:int}/submit",
    guards=[requires(*AUTHORS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
    responses=errors(404, 409),
)
async def api_submit(request: Request, version_id: int) -> VersionRead:
    return await service.submit(version_id, actor_of(request))


@post(
    "/api/policies/versions/{version_id:int}/publish",
    guards=[requires(*REVIEWERS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
    responses=errors(404, 409, 422),
)
async def api_publish(request: Request, version_id: int, data: JSONBody[dict[str, Any] | None] = None) -> VersionRead:
    """Publish a version in review: `as_of` (the impact preview's date), `content_hash` (the content the reviewer saw:
    refused if the version changed since), `accept_shortfall` (true to publish although the preview commits more
    than the budget; recorded in the audit trail). A version dated from a later day answers status "scheduled"."""
    body = data or {}
    pinned = body.get("content_hash")
    return await publication.publish(
        version_id,
        actor_of(request),
        as_of=as_of_date(body.get("as_of")),
        content_hash=str(pinned) if pinned is not None else None,
        accept_shortfall=body.get("accept_shortfall") is True,
    )


@post(
    "/api/policies/versions/{version_id:int}/reject",
    guards=[requires(*REVIEWERS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
    responses=errors(404, 409),
)
async def api_reject(request: Request, version_id: int, data: JSONBody[dict[str, Any]]) -> VersionRead:
    return await service.reject(version_id, actor_of(request), str(data.get("reason") or ""))


@post(
    "/api/policies/{code:str}/{step:str}",
    guards=[requires(*REVIEWERS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
    responses=errors(404, 409),
)
async def api_lifecycle(
    request: Request, code: str, step: str, data: JSONBody[dict[str, Any] | None] = None
) -> VersionRead:
    """suspend | resume | retire the live version of CODE (with a reason)."""
    if step not in ("suspend", "resume", "retire"):
        raise PolicyError(_l("unknown step {step!r}; steps are suspend, resume, retire"), step=step, status=404)
    return await getattr(service, step)(code, actor_of(request), str((data or {}).get("reason") or ""))


route_handlers = [
    api_list,
    api_published,
    api_policy,
    api_save_draft,
    api_load_pack,
    api_check,
    api_version,
    api_update_draft,
    api_export,
    api_new_draft,
    api_run_tests,
    api_impact,
    api_diff,
    api_stored_impact,
    api_submit,
    api_publish,
    api_reject,
    api_lifecycle,
]
