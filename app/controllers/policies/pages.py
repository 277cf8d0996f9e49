"""The officer's and reviewer's pages under /policies: list, the policy form, a version's detail and its steps."""

from __future__ import annotations

from typing import Any

import yaml
from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_200_OK

from app import publication
from app.auth.guards import current_user, requires
from app.controllers.evidence import pack_read
from app.controllers.policies.common import AUTHORS, REVIEWERS, STAFF, STATUS_LABELS, actor_of, as_of_date
from app.controllers.policies.tests_form import field_options, form_tests, tests_from_form
from app.evidence import POLICY
from app.exports import Column, export, one_chunk, subject_columns
from app.i18n import error_text, lang_of
from app.paging import pager_of, paging
from app.progress import publication_progress
from eligibility import service as eligibility
from kit.i18n import _l
from kit.money import fen_to_yuan
from kit.paging import PageRequest
from kit.time import china_today
from kit.vocab import Role, SubjectKind
from policies import packs, service
from policies.errors import PackRefused, PolicyError, PolicyNotFound
from policies.schemas import ImpactPreview, PackProblem, PolicyContent, VersionRead


def _ctx(request: Request, **extra) -> dict[str, Any]:
    user = current_user(request)
    return {
        "user": user,
        "role": user["role"],
        "status_labels": STATUS_LABELS,
        "today": china_today(),
        "profile_fields": field_options(),
        **extra,
    }


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
    "tests": form_tests(None),
}


def _form_values(content: PolicyContent) -> dict[str, Any]:
    d = content.model_dump(mode="json")
    out = {**EMPTY, **{k: ("" if v is None else v) for k, v in d.items() if k not in ("clauses", "tests")}}
    out["top_up"] = "true" if content.top_up else "false"
    out["clauses"] = d["clauses"] or EMPTY["clauses"]
    out["tests"] = form_tests(content)  # the form's test blocks; the YAML box starts empty
    out["tests_yaml"] = ""
    return out


def _policy_from_form(form: FormMultiDict) -> tuple[dict[str, Any], dict[str, Any], list[PackProblem]]:
    """(pack-shaped policy, the values to show again, form-level problems) from the posted form."""
    values: dict[str, Any] = {k: (form.get(k) or "").strip() for k in EMPTY if k not in ("clauses", "tests")}
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
    form_cases, values["tests"] = tests_from_form(form, values["subject"])
    policy: dict[str, Any] = {
        k: v for k, v in values.items() if k not in ("tests_yaml", "clauses", "tests") and v != ""
    }
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
                PackProblem.of(
                    _l("the tests are not valid YAML: {problem}"),
                    {"problem": getattr(exc, "problem", exc)},
                    policy_code=values["code"] or None,
                    field="tests",
                    line=mark.line + 1 if mark else None,
                )
            )
            tests = None
        if tests is not None:
            policy["tests"] = tests
    elif form_cases:
        policy["tests"] = form_cases
    return policy, values, problems


@get(
    "/policies",
    guards=[requires(*STAFF)],
    include_in_schema=False,
    dependencies={"paging": paging(service.POLICY_SORTS)},
)
async def list_page(
    request: Request, paging: PageRequest, status: str | None = None, subject: str | None = None
) -> Template:
    page = await service.policy_page(paging, status or None, subject or None)
    pager = pager_of(request, page, ("项", "policies"), q=paging.q, status=status, subject=subject)
    return Template(
        "policies/list.html",
        context=_ctx(request, rows=page.items, pager=pager, q=paging.q, status=status or "", subject=subject or ""),
    )


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
    matching = await publication_progress(version.id, as_of or None)
    auditor = current_user(request)["role"] == Role.AUDITOR
    return Template(
        "policies/detail.html",
        context=_ctx(
            request,
            pack=await pack_read(POLICY, version.code) if auditor else None,
            pack_api=f"/api/oversight/policies/{version.code}/evidence-pack",
            pack_form=f"/oversight/policies/{version.code}/evidence-pack",
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
            matching=matching if matching and not matching.done else None,
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
    day = form.get("as_of") if step == "publish" else None  # the matching job is named by its date
    return Redirect(f"/policies/{v.code}?v={v.id}&msg={step}" + (f"&as_of={day}" if day else ""))


# ---------------------------------------------------------------------------------- downloads (app/exports.py)

MATCH_COLUMNS = [
    *subject_columns(),
    Column("name", "名称", "Name", datum="subject_name"),
    Column("clauses", "符合条款", "Clauses"),
    Column("amount", "金额（元）", "Amount (yuan)", value=lambda m: fen_to_yuan(m.amount_fen)),
    Column("as_of", "判定日期", "Decided as of"),
    Column("bank_account", "收款账户", "Account", datum="account"),
]
IMPACT_COLUMNS = [
    Column("item", "项目", "Item"),
    Column("subject", "对象", "Subject"),
    Column("before", "之前（元）", "Before (yuan)"),
    Column("after", "之后（元）", "After (yuan)"),
]


@get("/policies/versions/{version_id:int}/matches/export", guards=[requires(*STAFF)], include_in_schema=False)
async def matches_export(request: Request, version_id: int, format: str = "csv") -> Stream:
    """A version's current matches (who, which clauses, how much), CSV or Excel."""
    v = await service.read_version(version_id)
    rows = eligibility.match_chunks(version_id)
    return export(request, format, f"{v.code}-v{v.number}-matches", MATCH_COLUMNS, rows, sheet="匹配结果")


def _impact_rows(p: ImpactPreview, en: bool) -> list[dict[str, Any]]:
    """The preview as lines: its figures, then the subjects added, removed and whose amount changes (ids masked)."""

    def count(n: int | None) -> str:
        return "" if n is None else str(n)

    figures = [
        (("判定日期", "As of"), p.as_of.isoformat(), None),
        (("匹配数", "Subjects matched"), count(p.matched), None),
        (("总金额（元）", "Total (yuan)"), "", p.total_amount),
        (("预算（元）", "Budget (yuan)"), "", p.budget),
        (("预算余额（元）", "Budget left (yuan)"), "", p.budget_left),
        (("已发布版本匹配数", "Matched by the published version"), count(p.published_matched), None),
        (("已发布版本总金额（元）", "Total of the published version (yuan)"), "", p.published_total_amount),
        (("未计数原因", "Why no count"), p.withheld or "", None),
    ]
    label = {
        "added": ("新增对象", "Added"),
        "removed": ("不再符合", "Removed"),
        "changed": ("金额变化", "Amount changed"),
    }
    lines = [{"item": name[en], "subject": text, "after": value} for name, text, value in figures]
    lines += [{"item": label["added"][en], "subject": s} for s in p.added]
    lines += [{"item": label["removed"][en], "subject": s} for s in p.removed]
    lines += [
        {"item": label["changed"][en], "subject": c.subject_id, "before": c.before, "after": c.after}
        for c in p.amount_changed
    ]
    return lines


WINNER_GROUPS = {"winners": ("新增受益", "Winner"), "losers": ("不再受益", "Loser"), "changed": ("金额变化", "Changed")}


def _winner_columns(en: bool) -> list[Column]:
    return [
        Column("group", "分组", "Group", value=lambda r: WINNER_GROUPS[r["group"]][en]),
        *subject_columns(),
        Column("name", "名称", "Name", datum="subject_name"),
        Column("region_code", "行政区划", "Region code"),
        Column("before", "已发布版本金额（元）", "Published version (yuan)"),
        Column("after", "本版本金额（元）", "This version (yuan)"),
        Column("difference", "差额（元）", "Difference (yuan)"),
    ]


@get("/policies/versions/{version_id:int}/winners-losers/export", guards=[requires(*STAFF)], include_in_schema=False)
async def winners_losers_export(request: Request, version_id: int, format: str = "csv", as_of: str = "") -> Stream:
    """Every winner, loser and changed amount of the page's comparison (the same bounds as its preview), CSV or Excel,
    masked by the export's columns."""
    v = await service.read_version(version_id)
    small = v.status == "in_review" and current_user(request)["role"] in REVIEWERS  # as the page (_review_preview)
    _, chunks = await service.winners_losers_export(version_id, as_of_date(as_of.strip() or None), small_counts=small)
    if chunks is None:
        raise PolicyNotFound(
            _l("there is nothing to compare: the code has no other published version, or the preview counts nothing")
        )
    name = f"{v.code}-v{v.number}-winners-losers"
    return export(request, format, name, _winner_columns(lang_of(request) == "en"), chunks, sheet="受益变化")


@get("/policies/versions/{version_id:int}/impact/export", guards=[requires(*STAFF)], include_in_schema=False)
async def impact_export(request: Request, version_id: int, format: str = "csv", as_of: str = "") -> Stream:
    """The impact preview the page shows (the same bounds on counts), CSV or Excel."""
    v = await service.read_version(version_id)
    preview = await service.impact_preview(version_id, as_of_date(as_of.strip() or None))
    rows = one_chunk(_impact_rows(preview, lang_of(request) == "en"))
    return export(request, format, f"{v.code}-v{v.number}-impact", IMPACT_COLUMNS, rows, sheet="影响预估")


route_handlers = [
    matches_export,
    winners_losers_export,
    impact_export,
    list_page,
    new_page,
    edit_page,
    save_page,
    detail_page,
    tests_page,
    impact_page,
    step_page,
]
