"""The officer's and reviewer's pages under /policies: list, the policy form, a version's detail and its steps."""

from __future__ import annotations

from typing import Any

import yaml
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_200_OK

from app import publication
from app.auth.guards import current_user, requires
from app.controllers.policies.common import AUTHORS, REVIEWERS, STAFF, STATUS_LABELS, actor_of, as_of_date
from app.i18n import error_text, lang_of
from kit.i18n import _l
from kit.time import china_today
from kit.vocab import SubjectKind
from policies import packs, service
from policies.errors import PackRefused, PolicyError
from policies.schemas import PackProblem, PolicyContent, VersionRead


def _ctx(request: Request, **extra) -> dict[str, Any]:
    user = current_user(request)
    return {"user": user, "role": user["role"], "status_labels": STATUS_LABELS, "today": china_today(), **extra}


EMPTY = {
    "code": "",
    "title": "",
    "issuer": "",
    "subject": SubjectKind.TALENT.value,
    "mode": "auto",
    "effective_from": "",
    "effective_to": "",
    "budget": "",
    "once": "lifetime",
    "top_up": "false",
    "cap_per_subject": "",
    "combine": "first",
    "exclusive_group": "",
    "when": "",
    "source": "",
    "summary": "",
    "clauses": [{"code": "", "title": "", "when": "", "amount": ""}],
    "tests_yaml": "",
}


def _form_values(content: PolicyContent) -> dict[str, Any]:
    d = content.model_dump(mode="json")
    out = {**EMPTY, **{k: ("" if v is None else v) for k, v in d.items() if k not in ("clauses", "tests")}}
    out["top_up"] = "true" if content.top_up else "false"
    out["clauses"] = d["clauses"] or EMPTY["clauses"]
    out["tests_yaml"] = packs.tests_yaml(content)
    return out


def _policy_from_form(form: FormMultiDict) -> tuple[dict[str, Any], dict[str, Any], list[PackProblem]]:
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
    if "top_up" in policy:  # the form's yes/no; anything else is left for the pack reader to refuse
        policy["top_up"] = {"true": True, "false": False}.get(policy["top_up"], policy["top_up"])
    policy["clauses"] = [
        {k: v for k, v in c.items() if v != "" or k != "title"}
        for c in values["clauses"]
        if (c["code"] + c["when"] + c["amount"])
    ]
    problems = []
    if values["tests_yaml"]:
        try:
            tests = packs.limits.safe_load(values["tests_yaml"])  # bounded: no alias bomb through the form
        except packs.limits.PackLimit as exc:
            problems.append(exc.problem.model_copy(update={"policy_code": values["code"] or None, "field": "tests"}))
            tests = None
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
                service.update_draft(version_id, policy, actor_of(request))
                if version_id
                else service.save_draft(policy, actor_of(request))
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
    preview, error = await _review_preview(request, version, as_of)
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


async def _review_preview(request: Request, version: VersionRead, as_of: str) -> tuple[Any, str]:
    """The reviewer sees who and how much (and any budget shortfall to confirm) before deciding, without asking."""
    if version.status != "in_review" or current_user(request)["role"] not in REVIEWERS:
        return None, ""
    try:
        # The reviewer shapes no rule and decides on what publication would pay: the small count is shown (as in the
        # preview stored with the publication), so a shortfall is never hidden from the one who must confirm it.
        return await service.impact_preview(version.id, as_of_date(as_of), small_counts=True), ""
    except PolicyError as exc:
        return None, error_text(lang_of(request), exc)


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
    if ctx["preview"] is None:
        ctx["preview"] = (await _review_preview(request, version, ctx["as_of"]))[0]
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
        preview = await service.impact_preview(version_id, as_of_date(as_of))
        return await _detail_with(request, version_id, preview=preview, as_of=as_of)
    except PolicyError as exc:
        return await _detail_with(request, version_id, error=error_text(lang_of(request), exc), as_of=as_of)


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
    actor = actor_of(request)
    try:
        if step == "submit":
            v = await service.submit(version_id, actor)
        elif step == "publish":
            as_of = as_of_date(form.get("as_of") or None)
            # The page's form carries the content the reviewer was shown; an edit since then is refused.
            v = await publication.publish(
                version_id,
                actor,
                as_of=as_of,
                content_hash=(form.get("content_hash") or "").strip(),
                accept_shortfall=form.get("accept_shortfall") == "yes",
            )
        elif step == "reject":
            v = await service.reject(version_id, actor, reason)
        elif step == "new-draft":
            v = await service.new_draft_from(version_id, actor)
        elif step in ("suspend", "resume", "retire"):
            code = (await service.read_version(version_id)).code
            v = await getattr(service, step)(code, actor, reason)
        else:
            raise PolicyError(_l("unknown step {step!r}"), step=step, status=404)
    except PolicyError as exc:
        return await _detail_with(
            request, version_id, error=error_text(lang_of(request), exc), error_detail=getattr(exc, "problems", None)
        )
    return Redirect(f"/policies/{v.code}?v={v.id}&msg={step}")


route_handlers = [
    list_page,
    new_page,
    edit_page,
    save_page,
    detail_page,
    tests_page,
    impact_page,
    step_page,
]
