"""The public policy library (政策库, /library and /api/public/policies) and the policy calculator (政策计算器,
/library/calculator and POST /api/public/calculator): no login, nothing personal shown, nothing entered stored."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import JSONBody
from litestar.response import Template

from app.auth.guards import PUBLIC, current_user
from app.i18n import api_lang_of, lang_of
from app.paging import paged_json
from app.schemas.errors import errors
from app.schemas.library import (
    CalculatorRequest,
    CalculatorVerdict,
    LibraryClauseRead,
    LibraryGuideRead,
    LibraryPolicyDetail,
    LibraryPolicyRead,
)
from eligibility import service as eligibility_service
from eligibility.fields import DATE, PERSONAL, Field, rule_fields
from eligibility.plain import REGIONS, SECTIONS
from eligibility.schemas import Explanation
from kit.errors import Invalid, NotFound
from kit.i18n import _l
from kit.money import format_cny, yuan_to_fen
from kit.paging import Page
from kit.time import china_today
from kit.vocab import SubjectKind
from policies.service import library

PAGE_SIZE = 20
# A talent's age comes from the ID number's birth date; the calculator asks for the date alone.
_NOT_ASKED = ("uscc", "name", "id_number", "employer_uscc", "bank_name", "bank_account")  # no one is named
BIRTH_DATE = Field("birth_date", DATE, "出生日期", "date of birth", required=False)
KINDS = (SubjectKind.ENTERPRISE.value, SubjectKind.TALENT.value)


def _fen(value: str | None, name: str) -> int | None:
    if value is None or not str(value).strip():
        return None
    try:
        yuan = Decimal(str(value).strip())
    except InvalidOperation:
        raise Invalid(_l("{name} must be an amount in yuan"), name=name) from None
    if not yuan.is_finite() or yuan < 0 or yuan > Decimal("1e12"):  # NaN compares by raising: a 500 before
        raise Invalid(_l("{name} must be an amount in yuan"), name=name)
    return yuan_to_fen(yuan)


def _filter(q: str, region: str, industry: str, issuer: str, subject: str, amount_min: str, amount_max: str):
    return library.LibraryFilter(
        q=q.strip()[:100],
        region=region.strip()[:12],
        industry=industry.strip()[:12],
        issuer=issuer.strip()[:64],
        subject=subject if subject in KINDS else "",
        amount_min_fen=_fen(amount_min, "amount_min"),
        amount_max_fen=_fen(amount_max, "amount_max"),
    )


def _read(row: dict) -> LibraryPolicyRead:
    cap = row.get("cap_per_subject_fen")
    return LibraryPolicyRead(
        code=row["code"],
        title=row["title"],
        issuer=row["issuer"],
        subject=row["subject"],
        mode=row["mode"],
        effective_from=row["effective_from"],
        effective_to=row["effective_to"],
        summary=row["summary"] or "",
        source=row["source"] or "",
        max_amount=None if cap is None else format_cny(int(cap)),
        url=f"/library/{row['code']}",
    )


async def _detail(code: str, lang: str) -> LibraryPolicyDetail:
    row = await library.library_policy(code)
    if row is None:
        raise NotFound(_l("no published policy {code}"), code=code)
    ex = await library.conditions_in_words(int(row["id"]), row["subject"], lang)
    guide = row["guide"]
    return LibraryPolicyDetail(
        **_read(row).model_dump(),
        guide=LibraryGuideRead(**guide.model_dump()) if guide else None,
        conditions=[c.requirement or c.text for c in (ex.policy.conditions if ex.policy else [])],
        clauses=[
            LibraryClauseRead(
                title=c.title or (c.code or ""),
                conditions=[x.requirement or x.text for x in c.conditions],
                amount=c.amount_text,
            )
            for c in ex.clauses
        ],
        combine=row["combine"],
    )


def _bounded_page(page: int) -> int:
    if page < 1 or page > 10_000_000:
        raise Invalid(_l("page must be between 1 and 10000000"))
    return page


@get("/api/public/policies", opt={PUBLIC: True}, tags=["public"], responses=errors(422, guarded=False))
async def api_policies(
    q: str = "",
    region: str = "",
    industry: str = "",
    issuer: str = "",
    subject: str = "",
    amount_min: str = "",
    amount_max: str = "",
    page: int = 1,
    size: int = PAGE_SIZE,
) -> Response[list[LibraryPolicyRead]]:
    """Published policies, anonymous: search q (Chinese words, segmented), filters region and industry (a code: the
    policies open to it), issuer, subject (enterprise | talent), amount_min / amount_max (yuan, on the most one
    subject gets); a page of them by code (size ≤ 100), the total in X-Total-Count."""
    if size < 1 or size > 100:
        raise Invalid(_l("size must be between 1 and 100"))
    f = _filter(q, region, industry, issuer, subject, amount_min, amount_max)
    found = await library.library_page(f, _bounded_page(page), size)
    return paged_json(found.map(_read))


@get("/api/public/policies/{code:str}", opt={PUBLIC: True}, tags=["public"], responses=errors(404, guarded=False))
async def api_policy(request: Request, code: str) -> LibraryPolicyDetail:
    """One published policy with its conditions and clauses in plain words (Chinese unless Accept-Language or the
    lang cookie asks for English)."""
    return await _detail(code, api_lang_of(request))


def _verdict(ex: Explanation, title: str) -> CalculatorVerdict:
    missing = [
        c.plain
        for group in ([ex.policy] if ex.policy else []) + [c for c in ex.clauses]
        if not group.met
        for c in group.conditions
        if c.met is not True and c.plain
    ]
    return CalculatorVerdict(
        code=ex.code,
        title=title,
        eligible=ex.eligible,
        in_effect=ex.in_effect,
        amount=ex.amount,
        amount_text=format_cny(yuan_to_fen(ex.amount)),
        summary=ex.plain_summary,
        missing=list(dict.fromkeys(missing)),
    )


async def _calculate(kind: str, facts: dict, as_of: dt.date, lang: str) -> list[CalculatorVerdict]:
    if kind not in KINDS:
        raise Invalid(_l("kind must be enterprise or talent"))
    allowed = calculator_fields(kind)
    facts = {k: v for k, v in facts.items() if k in allowed and v not in (None, "")}
    return [_verdict(ex, title) for title, ex in await library.calculate(kind, facts, as_of, lang)]


def calculator_fields(kind: str) -> dict:
    """The fields a visitor may enter for ``kind`` (none that identifies someone)."""
    out = {
        name: f
        for name, f in rule_fields(kind).items()
        if not f.derived and name not in PERSONAL[kind] and name not in _NOT_ASKED
    }
    if kind == SubjectKind.TALENT:
        out["birth_date"] = BIRTH_DATE
    return out


@post(
    "/api/public/calculator",
    opt={PUBLIC: True},
    tags=["public"],
    status_code=200,
    responses=errors(422, guarded=False),
)
async def api_calculator(request: Request, data: JSONBody[CalculatorRequest]) -> list[CalculatorVerdict]:
    """Every published policy for the subject kind judged on the facts given, by the engine that pays: verdict,
    amount and what is missing. Nothing sent is stored or logged."""
    return await _calculate(data.kind, dict(data.facts), data.as_of or china_today(), api_lang_of(request))


def _choices(lang: str) -> dict[str, Any]:
    zh = lang != "en"
    return {
        "regions": [(code, z if zh else e) for code, (z, e) in REGIONS.items()],
        "sections": [(code, z if zh else e) for code, (z, e) in SECTIONS.items()],
    }


@get("/library", opt={PUBLIC: True}, include_in_schema=False)
async def library_page(
    request: Request,
    q: str = "",
    region: str = "",
    industry: str = "",
    issuer: str = "",
    subject: str = "",
    amount_min: str = "",
    amount_max: str = "",
    page: int = 1,
) -> Template:
    f = _filter(q, region, industry, issuer, subject, amount_min, amount_max)
    found: Page[LibraryPolicyRead] = (await library.library_page(f, _bounded_page(page), PAGE_SIZE)).map(_read)
    params = {
        "q": f.q, "region": f.region, "industry": f.industry, "issuer": f.issuer, "subject": f.subject,
        "amount_min": amount_min, "amount_max": amount_max,
    }  # fmt: skip
    return Template(
        "library/list.html",
        context={
            "found": found,
            "params": params,
            "issuers": await library.issuers(),
            **_choices(lang_of(request)),
        },
    )


@get("/library/calculator", opt={PUBLIC: True}, include_in_schema=False)
async def calculator_page(request: Request, kind: str = "enterprise") -> Template:
    kind = kind if kind in KINDS else "enterprise"
    return Template("library/calculator.html", context=_calculator_context(request, kind, {}, None, None))


def _calculator_context(
    request: Request, kind: str, facts: dict, results: Any, as_of: dt.date | None, used_own: bool = False
) -> dict:
    user = current_user(request)
    return {
        "kind": kind,
        "fields": list(calculator_fields(kind).values()),
        "facts": facts,
        "results": results,
        "as_of": (as_of or china_today()).isoformat(),
        "own": bool(user and user.get("subject_id")),
        "used_own": used_own,
        **_choices(lang_of(request)),
    }


@post("/library/calculator", opt={PUBLIC: True}, include_in_schema=False)
async def calculator_submit(request: Request) -> Template:
    form = dict(await request.form())
    kind = str(form.get("kind") or "enterprise")
    kind = kind if kind in KINDS else "enterprise"
    try:
        as_of = dt.date.fromisoformat(str(form.get("as_of") or "")) if form.get("as_of") else china_today()
    except ValueError:
        raise Invalid(_l("as_of must be a date (YYYY-MM-DD)")) from None
    user = current_user(request)
    facts = {k: str(v) for k, v in form.items() if k in calculator_fields(kind) and str(v).strip()}
    if form.get("own") and user and user.get("subject_id"):
        kind = user["subject_kind"]
        own = await eligibility_service.get_profile(kind, user["subject_id"])
        facts = {k: v for k, v in (own or {}).items() if k in calculator_fields(kind) and v is not None}
        results = [
            _verdict(ex, title)
            for title, ex in await library.calculate(kind, own or {}, as_of, lang_of(request), stored=True)
        ]
    else:
        results = await _calculate(kind, facts, as_of, lang_of(request))
    used_own = bool(form.get("own") and user and user.get("subject_id"))
    return Template(
        "library/calculator.html", context=_calculator_context(request, kind, facts, results, as_of, used_own)
    )


@get("/library/{code:str}", opt={PUBLIC: True}, include_in_schema=False)
async def library_policy_page(request: Request, code: str) -> Template:
    user = current_user(request)
    # a logged-in subject may object to not being matched: the way to its own page of the policy
    subject_kind = user.get("subject_kind") if user and user.get("subject_id") else None
    return Template(
        "library/policy.html", context={"p": await _detail(code, lang_of(request)), "subject_kind": subject_kind}
    )


route_handlers = [
    api_policies,
    api_policy,
    api_calculator,
    library_page,
    calculator_page,
    calculator_submit,
    library_policy_page,
]
