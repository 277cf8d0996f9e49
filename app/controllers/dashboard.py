"""资金监管看板 (/oversight/dashboard): the finance and audit dashboard — money paid, pending and returned by policy,
month and region, each policy's fund against its cap, risk flags by rule and state — with the filters as GET
parameters (policy, from, to, region), ECharts charts (served from our own static files) and every table as CSV or
Excel. The figures are app/dashboard.py's SQL aggregates; the page shows them, the charts draw the same numbers."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Stream, Template

from app import dashboard as dash
from app.auth.guards import requires
from app.controllers.oversight import STATE_LABELS
from app.exports import Column, export, one_chunk
from app.i18n import gettext as translated
from app.i18n import lang_of
from eligibility.plain import REGIONS
from kit.errors import AppError
from kit.money import format_yuan
from kit.vocab import Role
from payments.service.risk import RULE_BY_CODE

MONEY_ROLES = (Role.AUDITOR, Role.FINANCE_MAKER, Role.FINANCE_CHECKER, Role.ADMIN)
VIEWERS = requires(*MONEY_ROLES)


class UnknownTable(AppError):
    status = 400


def region_name(code: str, lang: str = "zh") -> str:
    if not code:
        return "未登记" if lang != "en" else "not recorded"
    zh, en = REGIONS.get(code, (code, code))
    return f"{en if lang == 'en' else zh}（{code}）" if code in REGIONS else code


def _yuan(key: str) -> Any:
    return lambda r: format_yuan(int(r[key]))


def _title(rule: str) -> str:
    return RULE_BY_CODE[rule].title if rule in RULE_BY_CODE else rule


_MONEY = [
    Column("paid_fen", "已拨付（元）", "Paid (yuan)", value=_yuan("paid_fen")),
    Column("paid_n", "已拨付笔数", "Paid (payments)"),
    Column("pending_fen", "在途（元）", "Pending (yuan)", value=_yuan("pending_fen")),
    Column("pending_n", "在途笔数", "Pending (payments)"),
    Column("returned_fen", "退汇（元）", "Returned (yuan)", value=_yuan("returned_fen")),
    Column("returned_n", "退汇笔数", "Returned (payments)"),
]
TABLES: dict[str, tuple[str, str, list[Column]]] = {
    "policy": ("按政策", "by-policy", [Column("key", "政策", "Policy"), *_MONEY]),
    "month": ("按月份", "by-month", [Column("key", "月份（北京时间）", "Month (Beijing time)"), *_MONEY]),
    "region": (
        "按区县",
        "by-region",
        [Column("key", "区县", "District", value=lambda r: region_name(r["key"])), *_MONEY],
    ),
    "budget": (
        "预算使用",
        "budget",
        [
            Column("key", "政策", "Policy"),
            Column("budget_fen", "预算（元）", "Budget (yuan)", value=_yuan("budget_fen")),
            Column("used_fen", "已使用（元）", "Used (yuan)", value=_yuan("used_fen")),
            Column("left_fen", "剩余（元）", "Left (yuan)", value=_yuan("left_fen")),
            Column("pct", "使用率（%）", "Used (%)"),
        ],
    ),
    "flags": (
        "风险标记",
        "flags",
        [
            Column("rule", "规则", "Rule"),
            Column("rule_title", "规则名称", "Rule title"),
            Column("state", "状态", "State", value=lambda r: r["state_label"]),
            Column("n", "数量", "Count"),
            Column("fen", "涉及金额（元）", "Amount (yuan)", value=_yuan("fen")),
        ],
    ),
}


async def tables(f: dash.Filters) -> dict[str, list[dict[str, Any]]]:
    return {
        "policy": await dash.money_by("policy", f),
        "month": await dash.money_by("month", f),
        "region": await dash.money_by("region", f),
        "budget": await dash.budgets(f),
        "flags": await dash.flags(f),
    }


def _charts(t: dict[str, list[dict[str, Any]]], lang: str) -> dict[str, Any]:
    """What dashboard.js draws: the same figures as the tables, in yuan (numbers, two decimals)."""

    def y(fen: int) -> float:
        return round(fen / 100, 2)

    def money(rows: list[dict[str, Any]], label: Any = lambda k: k) -> dict[str, Any]:
        return {
            "labels": [label(r["key"]) for r in rows],
            "paid": [y(r["paid_fen"]) for r in rows],
            "pending": [y(r["pending_fen"]) for r in rows],
            "returned": [y(r["returned_fen"]) for r in rows],
        }

    rules = sorted({r["rule"] for r in t["flags"]})
    states = [s for s in ("open", "confirmed", "cleared") if any(r["state"] == s for r in t["flags"])]
    counts = {(r["rule"], r["state"]): r["n"] for r in t["flags"]}
    en = lang == "en"
    return {
        "month": money(t["month"]),
        "policy": money(t["policy"]),
        "region": money(t["region"], lambda k: region_name(k, lang)),
        "budget": {
            "labels": [r["key"] for r in t["budget"]],
            "pct": [r["pct"] for r in t["budget"]],
        },
        "flags": {
            "labels": [translated(lang, RULE_BY_CODE[r].title) if r in RULE_BY_CODE else r for r in rules],
            "series": [
                {"name": STATE_LABELS[s][1 if en else 0], "data": [counts.get((r, s), 0) for r in rules]}
                for s in states
            ],
        },
        "names": {
            "paid": "Paid" if en else "已拨付",
            "pending": "Pending" if en else "在途",
            "returned": "Returned" if en else "退汇",
            "used": "Used (%)" if en else "已使用（%）",
            "left": "Left (%)" if en else "剩余（%）",
            "yuan": "yuan" if en else "元",
        },
    }


@get("/oversight/dashboard", guards=[VIEWERS], include_in_schema=False)
async def dashboard_page(
    request: Request,
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
) -> Template:
    f = dash.Filters.of(policy, date_from, date_to, region)
    t = await tables(f)
    lang = lang_of(request)
    total = {k: sum(r[k] for r in t["policy"]) for k in ("paid_fen", "pending_fen", "returned_fen")}
    return Template(
        "oversight/dashboard.html",
        context={
            "f": f,
            "t": t,
            "total": total,
            "charts": _charts(t, lang),
            "choices": await dash.choices(),
            "region_name": lambda c: region_name(c, lang),
            "rule_titles": {r.code: r.title for r in RULE_BY_CODE.values()},
            "state_labels": STATE_LABELS,
            "yuan": format_yuan,
            "query": "&".join(f"{k}={v}" for k, v in _query(f).items() if v),
        },
    )


def _query(f: dash.Filters) -> dict[str, str]:
    return {"policy": f.policy, "date_from": f.date_from, "date_to": f.date_to, "region": f.region}


@get("/oversight/dashboard/export", guards=[VIEWERS], include_in_schema=False)
async def dashboard_export(
    request: Request,
    table: str = "policy",
    format: str = "csv",
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
) -> Stream:
    """One of the dashboard's tables, with the same filters, as CSV or Excel."""
    if table not in TABLES:
        raise UnknownTable(f"没有这张表 / no such table: {table[:20]!r}")
    f = dash.Filters.of(policy, date_from, date_to, region)
    sheet, name, columns = TABLES[table]
    rows = (await tables(f))[table]
    if table == "flags":  # the rule's title and the state in the reader's language, as the headers are
        lang = lang_of(request)
        en = 1 if lang == "en" else 0
        rows = [
            {
                **r,
                "rule_title": translated(lang, _title(r["rule"])),
                "state_label": STATE_LABELS.get(r["state"], (r["state"], r["state"]))[en],
            }
            for r in rows
        ]
    return export(request, format, f"dashboard-{name}", columns, one_chunk(rows), sheet=sheet)


route_handlers = [dashboard_page, dashboard_export]
