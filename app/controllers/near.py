"""Near misses in aggregate (/oversight/near): per policy (active rule set), clause and condition, how many subjects
fail only that condition and are within P % of its threshold ("1,240 enterprises within 10% of the R&D threshold").
The same roles as the other dashboards; the figures are eligibility/near.py's, from the explanations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Request, get
from litestar.response import Stream, Template

from app import dashboard as dash
from app.controllers.dashboard import VIEWERS, region_name
from app.exports import Column, export, one_chunk
from app.i18n import lang_of
from eligibility.near import near_misses
from eligibility.rulesets import active_rulesets
from kit.time import in_china

DEFAULT_WITHIN = Decimal(10)


def _within(value: str | None) -> Decimal:
    try:
        d = Decimal((value or "").strip() or DEFAULT_WITHIN)
    except InvalidOperation:
        return DEFAULT_WITHIN
    return min(max(d, Decimal(0)), Decimal(100)) if d.is_finite() else DEFAULT_WITHIN


def _pct_text(d: Decimal) -> str:
    s = format(d, "f")
    return s.rstrip("0").rstrip(".") if "." in s else s


async def near_rows(policy: str, within: Decimal, lang: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows (one per rule set, clause and condition) and the policy codes to choose from."""
    today = in_china(dt.datetime.now(dt.UTC)).date()
    rulesets = await active_rulesets()
    out = []
    for rs in rulesets:
        if policy and rs.code != policy:
            continue
        for nm in await near_misses(rs, within, today, lang):
            out.append(
                {
                    "key": f"{rs.key}|{nm.clause_code}|{nm.expression}",
                    "ruleset": rs.key,
                    "policy_code": rs.code,
                    "subject": str(rs.subject),
                    "clause": nm.clause_title or nm.clause_code,
                    "clause_code": nm.clause_code,
                    "condition": nm.text,
                    "expression": nm.expression,
                    "threshold": nm.threshold,
                    "only_this": nm.only_this,
                    "within": nm.within,
                }
            )
    return out, sorted({rs.code for rs in rulesets})


@get("/oversight/near", guards=[VIEWERS], include_in_schema=False)
async def near_page(request: Request, policy: str | None = None, within: str | None = None) -> Template:
    lang = lang_of(request)
    pct = _within(within)
    code = (policy or "").strip()[:64]
    rows, codes = await near_rows(code, pct, lang)
    f = dash.Filters(policy=code)
    return Template(
        "oversight/near.html",
        context={
            "f": f,
            "rows": rows,
            "within": _pct_text(pct),
            "choices": {"policies": codes, "regions": []},
            "region_name": lambda c: region_name(c, lang),
            "query": "&".join(f"{k}={v}" for k, v in (("policy", code), ("within", _pct_text(pct))) if v),
        },
    )


COLUMNS = [
    Column("policy_code", "政策", "Policy"),
    Column("ruleset", "规则版本", "Rule set"),
    Column("clause", "条款", "Clause"),
    Column("condition", "条件", "Condition"),
    Column("threshold", "门槛", "Threshold", value=lambda r: str(r["threshold"])),
    Column("only_this", "仅差此条件（个）", "Failing only this (subjects)"),
    Column("within", "在门槛范围内（个）", "Within the distance (subjects)"),
]


@get("/oversight/near/export", guards=[VIEWERS], include_in_schema=False)
async def near_export(
    request: Request, format: str = "csv", policy: str | None = None, within: str | None = None
) -> Stream:
    rows, _ = await near_rows((policy or "").strip()[:64], _within(within), lang_of(request))
    return export(request, format, "near-misses", COLUMNS, one_chunk(rows), sheet="差一点符合")


route_handlers = [near_page, near_export]
