"""HTTP routes of policies: the JSON API under /api/policies and the officer's and reviewer's pages under /policies."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from litestar import Request, Response, get, post, put
from litestar.params import JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.audit import AuditActor
from app.auth.guards import current_user, requires
from app.tasks import enqueue_match_published
from eligibility.fields import china_today
from kit.text import NotUtf8, decode_utf8
from policies import packs, service
from policies.errors import PackRefused, PolicyError
from policies.schemas import ImpactPreview, PackProblem, TestOutcome, VersionRead

STAFF = ("policy_officer", "policy_reviewer", "admin", "auditor")
AUTHORS = ("policy_officer", "admin")
REVIEWERS = ("policy_reviewer", "admin")
STATUS_LABELS = {
    "draft": ("草稿", "draft"),
    "in_review": ("待审核", "in review"),
    "published": ("已发布", "published"),
    "suspended": ("已暂停", "suspended"),
    "retired": ("已废止", "retired"),
    "superseded": ("已被新版本替代", "superseded"),
    "rejected": ("已退回", "rejected"),
}


def _actor(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def _as_of(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PolicyError(f"{value!r} is not a date YYYY-MM-DD") from None


# --------------------------------------------------------------------------- JSON API


@get("/api/policies", guards=[requires(*STAFF)], tags=["policies"])
async def api_list(q: str = "", status: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
    """Policies with their latest version; search in code, title and issuer."""
    return await service.list_policies(q, status, subject)


@get("/api/policies/published", guards=[requires()], tags=["policies"])
async def api_published(subject: str | None = None) -> list[dict[str, Any]]:
    """Currently published versions (budget in fen)."""
    return [p.model_dump(mode="json") for p in await service.list_published(subject)]


@get("/api/policies/{code:str}", guards=[requires(*STAFF)], tags=["policies"])
async def api_policy(code: str) -> dict[str, Any]:
    """Every version of a policy (newest first) and the latest one in full."""
    versions = await service.versions_of(code)
    latest = await service.read_version(versions[0]["id"])
    return {"code": code, "versions": versions, "latest": latest.model_dump(mode="json")}


@post("/api/policies", guards=[requires(*AUTHORS)], tags=["policies"], status_code=HTTP_201_CREATED)
async def api_save_draft(request: Request, data: JSONBody[dict[str, Any]]) -> VersionRead:
    """Store a policy (pack-shaped JSON) as the draft of its code; a published code gets a new version."""
    return await service.save_draft(data, _actor(request))


@post("/api/policies/packs", guards=[requires(*AUTHORS)], tags=["policies"], status_code=HTTP_201_CREATED)
async def api_load_pack(request: Request) -> list[dict[str, Any]]:
    """Load a YAML pack (the request body, as `zhida policies load`): all its policies or, refused, none."""
    try:
        text = decode_utf8(await request.body())  # strict: a GBK pack is refused, never stored as U+FFFD
    except NotUtf8 as exc:
        raise PackRefused([PackProblem(line=exc.line, message=exc.message)], "request body") from None
    stored = await service.load_pack_text(text, _actor(request), source="request body")
    return [{"code": v.code, "number": v.number, "id": v.id, "status": v.status, "outcome": o} for v, o in stored]


@post("/api/policies/check", guards=[requires(*AUTHORS, "policy_reviewer")], tags=["policies"], status_code=HTTP_200_OK)
async def api_check(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
    """The rule editor's live check: problems of one expression and, for a condition, the live match count."""
    subject = data.get("subject") if data.get("subject") in ("enterprise", "talent") else "talent"
    return await service.check_expression(
        subject,
        str(data.get("expression") or ""),
        data.get("part") or "when",
        policy_when=data.get("policy_when") or None,
        as_of=_as_of(data.get("as_of")),
        count=bool(data.get("count", True)),
    )


@get("/api/policies/versions/{version_id:int}", guards=[requires(*STAFF)], tags=["policies"])
async def api_version(version_id: int) -> VersionRead:
    return await service.read_version(version_id)


@put("/api/policies/versions/{version_id:int}", guards=[requires(*AUTHORS)], tags=["policies"])
async def api_update_draft(request: Request, version_id: int, data: JSONBody[dict[str, Any]]) -> VersionRead:
    """Change a draft; any version that left draft answers 409 (a change is a new version)."""
    return await service.update_draft(version_id, data, _actor(request))


@get(
    "/api/policies/versions/{version_id:int}/export",
    guards=[requires(*STAFF)],
    tags=["policies"],
    media_type="application/yaml",
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
)
async def api_new_draft(request: Request, version_id: int) -> VersionRead:
    return await service.new_draft_from(version_id, _actor(request))


@post(
    "/api/policies/versions/{version_id:int}/tests",
    guards=[requires(*STAFF)],
    tags=["policies"],
    status_code=HTTP_200_OK,
)
async def api_run_tests(version_id: int) -> list[TestOutcome]:
    return await service.run_version_tests(version_id)


@get("/api/policies/versions/{version_id:int}/impact", guards=[requires(*STAFF)], tags=["policies"])
async def api_impact(version_id: int, as_of: str | None = None) -> ImpactPreview:
    """Shadow run of the version (and the diff with the published one)."""
    return await service.impact_preview(version_id, _as_of(as_of))


@get("/api/policies/versions/{version_id:int}/diff", guards=[requires(*STAFF)], tags=["policies"])
async def api_diff(version_id: int) -> list[dict[str, Any]]:
    """What the version changes in the text of the published version (fields and clauses, before and after)."""
    return await service.diff_with_published(version_id)


@get("/api/policies/versions/{version_id:int}/publication-impact", guards=[requires(*STAFF)], tags=["policies"])
async def api_stored_impact(version_id: int) -> dict[str, Any] | None:
    """The impact preview stored when the version was published."""
    p = await service.stored_impact(version_id)
    return p.model_dump(mode="json") if p else None


@post(
    "/api/policies/versions/{version_id:int}/submit",
    guards=[requires(*AUTHORS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
)
async def api_submit(request: Request, version_id: int) -> VersionRead:
    return await service.submit(version_id, _actor(request))


@post(
    "/api/policies/versions/{version_id:int}/publish",
    guards=[requires(*REVIEWERS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
)
async def api_publish(request: Request, version_id: int, data: JSONBody[dict[str, Any] | None] = None) -> VersionRead:
    as_of = _as_of((data or {}).get("as_of"))
    pinned = (data or {}).get("content_hash")  # the content the reviewer saw: refused if the version changed since
    version = await service.publish_version(
        version_id, _actor(request), as_of=as_of, content_hash=str(pinned) if pinned is not None else None
    )
    await enqueue_match_published(version.id, as_of)
    return version


@post(
    "/api/policies/versions/{version_id:int}/reject",
    guards=[requires(*REVIEWERS)],
    tags=["policies"],
    status_code=HTTP_200_OK,
)
async def api_reject(request: Request, version_id: int, data: JSONBody[dict[str, Any]]) -> VersionRead:
    return await service.reject(version_id, _actor(request), str(data.get("reason") or ""))


@post("/api/policies/{code:str}/{step:str}", guards=[requires(*REVIEWERS)], tags=["policies"], status_code=HTTP_200_OK)
async def api_lifecycle(
    request: Request, code: str, step: str, data: JSONBody[dict[str, Any] | None] = None
) -> VersionRead:
    """suspend | resume | retire the live version of CODE (with a reason)."""
    if step not in ("suspend", "resume", "retire"):
        raise PolicyError(f"unknown step {step!r}; steps are suspend, resume, retire", status=404)
    return await getattr(service, step)(code, _actor(request), str((data or {}).get("reason") or ""))


# --------------------------------------------------------------------------- pages


def _ctx(request: Request, **extra) -> dict[str, Any]:
    user = current_user(request)
    return {"user": user, "role": user["role"], "status_labels": STATUS_LABELS, **extra}


EMPTY = {
    "code": "",
    "title": "",
    "issuer": "",
    "subject": "talent",
    "mode": "auto",
    "effective_from": "",
    "effective_to": "",
    "budget": "",
    "cap_per_subject": "",
    "combine": "first",
    "exclusive_group": "",
    "when": "",
    "source": "",
    "summary": "",
    "clauses": [{"code": "", "title": "", "when": "", "amount": ""}],
    "tests_yaml": "",
}


def _form_values(content) -> dict[str, Any]:
    d = content.model_dump(mode="json")
    out = {**EMPTY, **{k: ("" if v is None else v) for k, v in d.items() if k not in ("clauses", "tests")}}
    out["clauses"] = d["clauses"] or EMPTY["clauses"]
    out["tests_yaml"] = packs.tests_yaml(content)
    return out


def _policy_from_form(form) -> tuple[dict[str, Any], dict[str, Any], list[PackProblem]]:
    """(pack-shaped policy, the values to show again, form-level problems) from the posted form."""
    values = {k: (form.get(k) or "").strip() for k in EMPTY if k not in ("clauses",)}
    rows = zip(
        form.getall("clause_code", []),
        form.getall("clause_title", []),
        form.getall("clause_when", []),
        form.getall("clause_amount", []),
    )
    values["clauses"] = [
        {"code": c.strip(), "title": t.strip(), "when": w.strip(), "amount": a.strip()}
        for c, t, w, a in rows
        if (c + t + w + a).strip()
    ] or EMPTY["clauses"]
    policy: dict[str, Any] = {k: v for k, v in values.items() if k not in ("tests_yaml", "clauses") and v != ""}
    policy["clauses"] = [
        {k: v for k, v in c.items() if v != "" or k != "title"}
        for c in values["clauses"]
        if (c["code"] + c["when"] + c["amount"])
    ]
    problems = []
    if values["tests_yaml"]:
        try:
            tests = yaml.safe_load(values["tests_yaml"])
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(
                PackProblem(
                    policy_code=values["code"] or None,
                    field="tests",
                    line=mark.line + 1 if mark else None,
                    message=f"the tests are not valid YAML: {getattr(exc, 'problem', exc)}",
                )
            )
            tests = None
        if tests is not None:
            policy["tests"] = tests
    return policy, values, problems


@get("/policies", guards=[requires(*STAFF)], include_in_schema=False)
async def list_page(request: Request, q: str = "", status: str | None = None) -> Template:
    rows = await service.list_policies(q, status or None)
    return Template("policies/list.html", context=_ctx(request, rows=rows, q=q, status=status or ""))


@get("/policies/new", guards=[requires(*AUTHORS)], include_in_schema=False)
async def new_page(request: Request) -> Template:
    return Template(
        "policies/form.html",
        context=_ctx(request, values=EMPTY, version=None, problems=[], today=china_today().isoformat()),
    )


@get("/policies/versions/{version_id:int}/edit", guards=[requires(*AUTHORS)], include_in_schema=False)
async def edit_page(request: Request, version_id: int) -> Template | Redirect:
    v = await service.read_version(version_id)
    if v.status != "draft":
        return Redirect(f"/policies/{v.code}?v={v.id}&msg=locked")
    return Template(
        "policies/form.html",
        context=_ctx(request, values=_form_values(v.content), version=v, problems=[], today=china_today().isoformat()),
    )


@post("/policies/save", guards=[requires(*AUTHORS)], include_in_schema=False, status_code=HTTP_200_OK)
async def save_page(request: Request) -> Template | Redirect:
    form = await request.form()
    policy, values, problems = _policy_from_form(form)
    version_id = int(form.get("version_id") or 0) or None
    version = await service.read_version(version_id) if version_id else None
    if not problems:
        try:
            saved = await (
                service.update_draft(version_id, policy, _actor(request))
                if version_id
                else service.save_draft(policy, _actor(request))
            )
            return Redirect(f"/policies/{saved.code}?v={saved.id}&msg=saved")
        except PackRefused as exc:
            problems = exc.problems
    return Template(
        "policies/form.html",
        status_code=422,
        context=_ctx(request, values=values, version=version, problems=problems, today=china_today().isoformat()),
    )


@get("/policies/{code:str}", guards=[requires(*STAFF)], include_in_schema=False)
async def detail_page(request: Request, code: str, v: int | None = None, msg: str = "", as_of: str = "") -> Template:
    versions = await service.versions_of(code)
    chosen = next((r for r in versions if r["id"] == v), versions[0])
    version = await service.read_version(chosen["id"])
    impact = await service.stored_impact(version.id) if version.status != "draft" else None
    preview, error = None, ""
    if version.status == "in_review" and current_user(request)["role"] in REVIEWERS:
        # The reviewer sees who and how much before deciding, without asking for it.
        try:
            preview = await service.impact_preview(version.id, _as_of(as_of))
        except PolicyError as exc:
            error = exc.message
    return Template(
        "policies/detail.html",
        context=_ctx(
            request,
            version=version,
            versions=versions,
            msg=msg,
            impact=impact,
            preview=preview,
            outcomes=None,
            export=packs.export_yaml(version.content),
            as_of=as_of,
            error=error,
            diff=await _diff(version),
        ),
    )


async def _diff(version: VersionRead) -> list[dict]:
    return await service.diff_with_published(version.id) if version.status in ("draft", "in_review") else []


async def _detail_with(request: Request, version_id: int, **extra) -> Template:
    version = await service.read_version(version_id)
    versions = await service.versions_of(version.code)
    ctx = dict(
        version=version,
        versions=versions,
        msg="",
        impact=await service.stored_impact(version_id),
        preview=None,
        outcomes=None,
        export=packs.export_yaml(version.content),
        as_of="",
        diff=await _diff(version),
    )
    ctx.update(extra)
    return Template("policies/detail.html", context=_ctx(request, **ctx))


@post(
    "/policies/versions/{version_id:int}/tests",
    guards=[requires(*STAFF)],
    include_in_schema=False,
    status_code=HTTP_200_OK,
)
async def tests_page(request: Request, version_id: int) -> Template:
    return await _detail_with(request, version_id, outcomes=await service.run_version_tests(version_id))


@post(
    "/policies/versions/{version_id:int}/impact",
    guards=[requires(*STAFF)],
    include_in_schema=False,
    status_code=HTTP_200_OK,
)
async def impact_page(request: Request, version_id: int) -> Template:
    form = await request.form()
    as_of = (form.get("as_of") or "").strip()
    try:
        preview = await service.impact_preview(version_id, _as_of(as_of))
        return await _detail_with(request, version_id, preview=preview, as_of=as_of)
    except PolicyError as exc:
        return await _detail_with(request, version_id, error=exc.message, as_of=as_of)


@post(
    "/policies/versions/{version_id:int}/{step:str}",
    guards=[requires(*STAFF)],
    include_in_schema=False,
    status_code=HTTP_200_OK,
)
async def step_page(request: Request, version_id: int, step: str) -> Template | Redirect:
    """submit | publish | reject | new-draft, and suspend | resume | retire of the version's code."""
    form = await request.form()
    reason = (form.get("reason") or "").strip()
    actor = _actor(request)
    try:
        if step == "submit":
            v = await service.submit(version_id, actor)
        elif step == "publish":
            as_of = _as_of(form.get("as_of") or None)
            # The page's form carries the content the reviewer was shown; an edit since then is refused.
            v = await service.publish_version(
                version_id, actor, as_of=as_of, content_hash=(form.get("content_hash") or "").strip()
            )
            await enqueue_match_published(v.id, as_of)
        elif step == "reject":
            v = await service.reject(version_id, actor, reason)
        elif step == "new-draft":
            v = await service.new_draft_from(version_id, actor)
        elif step in ("suspend", "resume", "retire"):
            code = (await service.read_version(version_id)).code
            v = await getattr(service, step)(code, actor, reason)
        else:
            raise PolicyError(f"unknown step {step!r}", status=404)
    except PolicyError as exc:
        return await _detail_with(request, version_id, error=exc.message, error_detail=getattr(exc, "problems", None))
    return Redirect(f"/policies/{v.code}?v={v.id}&msg={step}")


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
    list_page,
    new_page,
    edit_page,
    save_page,
    detail_page,
    tests_page,
    impact_page,
    step_page,
]
