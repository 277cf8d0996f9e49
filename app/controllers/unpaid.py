"""应享未享 (/oversight/unpaid): subjects eligible (a current match that pays) but unpaid after N days, by the reason,
each reason with its count, amount and a paged list to act on, and the list's download (CSV / Excel). The same roles
as the other dashboards; talents' ID numbers and names masked. The figures are app/unpaid.py's."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Stream, Template

from app import dashboard as dash
from app import unpaid
from app.controllers.dashboard import VIEWERS, UnknownTable, _yuan, region_name
from app.exports import Column, export, one_chunk, subject_columns
from app.i18n import lang_of
from app.paging import pager_of
from kit.masking import mask_id_number, mask_name
from kit.money import format_yuan
from kit.paging import Page
from kit.time import in_china

# (zh, en) of each reason: the page and the export show them in the reader's language
REASON_LABELS = {
    "not_applied": ("未申请（依申请政策）", "Not applied (on-application policy)"),
    "no_account": ("无已核验账户", "No verified account"),
    "held": ("被暂缓（异议 / 公示期 / 风险标记）", "Held (objection / publicity period / risk flag)"),
    "budget": ("预算不足", "Budget used up"),
    "other": ("其他", "Other"),
}
SIZE = 50


def _label(reason: str, lang: str) -> str:
    zh, en = REASON_LABELS[reason]
    return en if lang == "en" else zh


def _view(r: dict[str, Any]) -> dict[str, Any]:
    talent = r["subject_kind"] == "talent"
    return {
        **r,
        "subject": mask_id_number(r["subject_id"]) if talent else r["subject_id"],
        "name": mask_name(r["subject_name"]) if talent else r["subject_name"],
    }


@get("/oversight/unpaid", guards=[VIEWERS], include_in_schema=False)
async def unpaid_page(
    request: Request,
    days: str | None = None,
    policy: str | None = None,
    region: str | None = None,
    reason: str | None = None,
    page: int = 1,
) -> Template:
    f = unpaid.UnpaidFilters.of(days, policy, region)
    lang = lang_of(request)
    groups = await unpaid.summary(f)
    for g in groups:
        g["label"] = _label(g["key"], lang)
    chosen = reason if reason in unpaid.REASONS else next((g["key"] for g in groups if g["n"]), "no_account")
    total = next(g["n"] for g in groups if g["key"] == chosen)
    page = max(1, page)
    rows = await unpaid.listing(chosen, f, limit=SIZE, offset=(page - 1) * SIZE)
    pg = Page([_view(r) for r in rows], total, page, SIZE)
    params = {"days": str(f.days), "policy": f.policy, "region": f.region, "reason": chosen}
    return Template(
        "oversight/unpaid.html",
        context={
            "f": f,
            "groups": groups,
            "chosen": chosen,
            "chosen_label": _label(chosen, lang),
            "rows": pg.items,
            "pager": pager_of(request, pg, ("个", "subjects"), **params),
            "all_n": sum(g["n"] for g in groups),
            "all_fen": sum(g["fen"] for g in groups),
            "choices": await dash.choices(),
            "region_name": lambda c: region_name(c, lang),
            "yuan": format_yuan,
            "beijing_day": lambda v: in_china(dash._ts(v)).strftime("%Y-%m-%d"),
            "query": "&".join(f"{k}={v}" for k, v in params.items() if v and k != "reason"),
        },
    )


COLUMNS = [
    Column("reason", "原因", "Reason", value=lambda r: r["reason_label"]),
    Column("policy_code", "政策", "Policy"),
    *subject_columns(),
    Column("subject_name", "名称", "Name", datum="subject_name"),
    Column("region", "区县", "District", value=lambda r: r["region_label"]),
    Column("amount_fen", "应享金额（元）", "Amount due (yuan)", value=_yuan("amount_fen")),
    Column("matched_at", "匹配日（北京时间）", "Matched on (Beijing time)", value=lambda r: r["matched_on"]),
]
SUMMARY_COLUMNS = [
    Column("key", "原因", "Reason", value=lambda r: r["label"]),
    Column("n", "对象数", "Subjects"),
    Column("fen", "金额（元）", "Amount (yuan)", value=_yuan("fen")),
]


@get("/oversight/unpaid/export", guards=[VIEWERS], include_in_schema=False)
async def unpaid_export(
    request: Request,
    table: str = "list",
    format: str = "csv",
    days: str | None = None,
    policy: str | None = None,
    region: str | None = None,
    reason: str | None = None,
) -> Stream:
    """The summary by reason (table=summary) or the list (table=list: one reason, or all when none is given)."""
    if table not in ("list", "summary"):
        raise UnknownTable(f"没有这张表 / no such table: {table[:20]!r}")
    f = unpaid.UnpaidFilters.of(days, policy, region)
    lang = lang_of(request)
    if table == "summary":
        groups = await unpaid.summary(f)
        for g in groups:
            g["label"] = _label(g["key"], lang)
        return export(request, format, "unpaid-summary", SUMMARY_COLUMNS, one_chunk(groups), sheet="应享未享")
    rows: list[dict[str, Any]] = []
    for r in unpaid.REASONS if reason not in unpaid.REASONS else (reason,):
        rows += await unpaid.listing(r, f)
    for r in rows:
        r["reason_label"] = _label(r["reason"], lang)
        r["region_label"] = region_name(r["region"], lang) if r["region"] else ""
        r["matched_on"] = in_china(dash._ts(r["matched_at"])).strftime("%Y-%m-%d")
    return export(request, format, "unpaid", COLUMNS, one_chunk(rows), sheet="应享未享")


route_handlers = [unpaid_page, unpaid_export]
