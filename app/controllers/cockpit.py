"""驾驶舱 (/oversight/cockpit), the leaders' overview — money paid today / this month / this year, subjects reached,
policies live, the 秒到账 time (approval → settlement, p50 / p95), settled money and payees by industry and by
district, the daily trend — and the per-policy funnel with the budget projection (/oversight/funnel). Same
filters, roles and exports as 资金监管看板 (app/controllers/dashboard.py); the figures are app/dashboard.py's."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Request, get
from litestar.response import Stream, Template

from app import beneficiaries as ben
from app import dashboard as dash
from app.controllers.dashboard import VIEWERS, UnknownTable, _query, _yuan, region_name
from app.exports import Column, export, one_chunk
from app.i18n import lang_of
from eligibility.fields import EDUCATIONS, SCALES
from eligibility.plain import SECTIONS
from kit.money import format_yuan
from kit.time import in_china


def industry_name(code: str, lang: str = "zh") -> str:
    en = lang == "en"
    if code == "talent":
        return "Talents (no industry)" if en else "人才（无行业）"
    if not code:
        return "not recorded" if en else "未登记"
    zh, eng = SECTIONS.get(code, (code, code))
    return f"{code} {eng if en else zh}"


def seconds_text(s: float | None, lang: str = "zh") -> str:
    if s is None:
        return "—"
    en = lang == "en"
    if s < 60:
        return f"{s:.0f} s" if en else f"{s:.0f} 秒"
    if s < 3600:
        return f"{s / 60:.1f} min" if en else f"{s / 60:.1f} 分钟"
    return f"{s / 3600:.1f} h" if en else f"{s / 3600:.1f} 小时"


def _or_dash(key: str, show: Any = None) -> Any:
    """A funnel cell: "—" where the stage does not apply (applied / approved of a 免申即享 policy)."""
    return lambda r: "—" if r[key] is None else (show(r) if show else r[key])


def run_out_text(r: dict[str, Any], lang: str = "zh") -> str:
    en = lang == "en"
    if r["run_out"] == "exhausted":
        return "Already used up" if en else "已用完"
    if r["run_out"] == "never":
        return "Will not run out at the current rate" if en else "按当前速度不会用完"
    return str(r["run_out_on"])


_REACH = [
    Column("paid_fen", "已拨付（元）", "Paid (yuan)", value=_yuan("paid_fen")),
    Column("paid_n", "已拨付笔数", "Paid (payments)"),
    Column("payees", "受益对象数", "Payees"),
]
_STAGE_HEAD = {
    "matched": ("匹配", "Matched"),
    "notified": ("已通知", "Notified"),
    "read": ("已阅读", "Read"),
    "applied": ("已申请", "Applied"),
    "approved": ("已审核通过", "Approved"),
    "entitled": ("已确认享受", "Entitled"),
    "batched": ("已入批次", "In a batch"),
    "paid": ("已拨付", "Paid"),
}
TABLES: dict[str, tuple[str, str, list[Column]]] = {
    "industry": ("按行业", "by-industry", [Column("key", "行业", "Industry", value=lambda r: r["label"]), *_REACH]),
    "district": ("按区县", "by-district", [Column("key", "区县", "District", value=lambda r: r["label"]), *_REACH]),
    "day": (
        "按日趋势",
        "by-day",
        [
            Column("key", "日期（北京时间）", "Day (Beijing time)"),
            Column("paid_fen", "已拨付（元）", "Paid (yuan)", value=_yuan("paid_fen")),
            Column("paid_n", "已拨付笔数", "Paid (payments)"),
            Column("pending_fen", "在途（元）", "Pending (yuan)", value=_yuan("pending_fen")),
            Column("returned_fen", "退汇（元）", "Returned (yuan)", value=_yuan("returned_fen")),
        ],
    ),
    "funnel": (
        "政策漏斗",
        "funnel",
        [
            Column("key", "政策", "Policy"),
            *[
                c
                for s, (zh, en) in _STAGE_HEAD.items()
                for c in (
                    Column(f"{s}_n", f"{zh}（个）", f"{en} (subjects)", value=_or_dash(f"{s}_n")),
                    Column(f"{s}_fen", f"{zh}（元）", f"{en} (yuan)", value=_or_dash(f"{s}_fen", _yuan(f"{s}_fen"))),
                )
            ],
            Column("conversion", "匹配→拨付转化率（%）", "Matched → paid (%)", value=lambda r: r["conversion"] or ""),
        ],
    ),
    "projection": (
        "预算测算",
        "budget-projection",
        [
            Column("key", "政策", "Policy"),
            Column("cap_fen", "预算上限（元）", "Cap (yuan)", value=_yuan("cap_fen")),
            Column("paid_fen", "已拨付（元）", "Paid (yuan)", value=_yuan("paid_fen")),
            Column("in_transit_fen", "在途（元）", "In transit (yuan)", value=_yuan("in_transit_fen")),
            Column("committed_fen", "已占用（元）", "Committed (yuan)", value=_yuan("committed_fen")),
            Column("used_fen", "合计使用（元）", "Used in all (yuan)", value=_yuan("used_fen")),
            Column("remaining_fen", "剩余（元）", "Remaining (yuan)", value=_yuan("remaining_fen")),
            Column("pipeline_fen", "待入批次（元）", "Not yet batched (yuan)", value=_yuan("pipeline_fen")),
            Column("after_fen", "全部拨付后剩余（元）", "Left once all paid (yuan)", value=_yuan("after_fen")),
            Column("daily_fen", "近30日日均使用（元）", "Used a day, last 30 days (yuan)", value=_yuan("daily_fen")),
            Column(
                "run_out_on",
                "预计用完日期（北京时间）",
                "Runs out on (Beijing time)",
                value=lambda r: r["run_out_label"],
            ),
        ],
    ),
}


BANDS = {
    "lt3": ("成立不满3年", "under 3 years"),
    "3to10": ("3年至不满10年", "3 to under 10 years"),
    "ge10": ("10年及以上", "10 years or more"),
    "lt30": ("30岁以下", "under 30"),
    "30to35": ("30岁至不满35岁", "30 to under 35"),
    "35to45": ("35岁至不满45岁", "35 to under 45"),
    "ge45": ("45岁及以上", "45 or over"),
}
_ENUMS = {v: (zh, en) for v, zh, en in (*SCALES, *EDUCATIONS)}


def profile_label(dimension: str, key: str, lang: str = "zh") -> str:
    """How a group of the beneficiary tables reads: a clause code, a district, an industry section, a scale, an
    education or an age band; "" is 未登记 (no profile, or no value)."""
    en = lang == "en"
    if dimension == "region":
        return region_name(key, lang)
    if dimension == "enterprise_industry":
        return industry_name(key, lang)
    if not key:
        return "not recorded" if en else "未登记"
    if dimension == "clause":
        return key
    zh, eng = BANDS.get(key) or _ENUMS.get(key) or (key, key)
    return eng if en else zh


_MONEY_BY = [
    Column("matched_n", "匹配（个）", "Matched (subjects)"),
    Column("matched_fen", "匹配金额（元）", "Matched (yuan)", value=_yuan("matched_fen")),
    Column("entitled_n", "已确认享受（个）", "Entitled (subjects)"),
    Column("entitled_fen", "应享金额（元）", "Entitled (yuan)", value=_yuan("entitled_fen")),
    Column("paid_n", "已拨付（个）", "Paid (subjects)"),
    Column("paid_fen", "已拨付金额（元）", "Paid (yuan)", value=_yuan("paid_fen")),
]
_PROFILE = [
    Column("n", "受益对象（个）", "Beneficiaries"),
    Column("paid_n", "其中已拨付（个）", "Of them paid"),
    Column("entitled_fen", "应享金额（元）", "Entitled (yuan)", value=_yuan("entitled_fen")),
    Column("paid_fen", "已拨付金额（元）", "Paid (yuan)", value=_yuan("paid_fen")),
]
# the tables of the beneficiary section of /oversight/funnel: name → (sheet, file name, dimension, first column)
PROFILE_TABLES = {
    "by_clause": ("按条款", "by-clause", "clause", ("条款", "Clause")),
    "by_region": ("按区县", "by-district", "region", ("区县", "District")),
    "ent_scale": ("企业画像-规模", "enterprises-by-scale", "enterprise_scale", ("企业规模", "Scale")),
    "ent_industry": ("企业画像-行业", "enterprises-by-industry", "enterprise_industry", ("行业", "Industry")),
    "ent_age": ("企业画像-成立年限", "enterprises-by-age", "enterprise_age", ("成立年限", "Years since founded")),
    "tal_education": ("人才画像-学历", "talents-by-education", "talent_education", ("学历", "Education")),
    "tal_age": ("人才画像-年龄", "talents-by-age", "talent_age", ("年龄", "Age")),
}
for _name, (_sheet, _file, _dim, (_zh, _en)) in PROFILE_TABLES.items():
    _first = Column("key", _zh, _en, value=lambda r: r["label"])
    TABLES[_name] = (_sheet, f"policy-{_file}", [_first, *(_MONEY_BY if _dim in ("clause", "region") else _PROFILE)])


async def profile_tables(f: dash.Filters, lang: str) -> dict[str, list[dict[str, Any]]]:
    """The beneficiary section's tables (empty without a policy), each row with its label."""
    out = {}
    for name, (_s, _f, dim, _h) in PROFILE_TABLES.items():
        rows = await (ben.money_by(dim, f) if dim in ("clause", "region") else ben.profile_by(dim, f))
        out[name] = [{**r, "label": profile_label(dim, r["key"], lang)} for r in rows]
    return out


async def cockpit_tables(f: dash.Filters, lang: str) -> dict[str, list[dict[str, Any]]]:
    industry = await dash.reach_by("industry", f)
    district = await dash.reach_by("region", f)
    for r in industry:
        r["label"] = industry_name(r["key"], lang)
    for r in district:
        r["label"] = region_name(r["key"], lang)
    return {"industry": industry, "district": district, "day": await dash.money_by("day", f)}


async def _rows(table: str, f: dash.Filters, lang: str) -> list[dict[str, Any]]:
    if table == "funnel":
        return await dash.funnel(f)
    if table == "projection":
        return [{**r, "run_out_label": run_out_text(r, lang)} for r in await dash.projection(f)]
    if table in PROFILE_TABLES:
        return (await profile_tables(f, lang))[table]
    return (await cockpit_tables(f, lang))[table]


def _y(fen: int) -> float:
    return round(fen / 100, 2)


@get("/oversight/cockpit", guards=[VIEWERS], include_in_schema=False)
async def cockpit_page(
    request: Request,
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
) -> Template:
    f = dash.Filters.of(policy, date_from, date_to, region)
    lang = lang_of(request)
    t = await cockpit_tables(f, lang)
    today = in_china(dt.datetime.now(dt.UTC)).date().isoformat()
    paid = {
        span: sum(r["paid_fen"] for r in t["day"] if r["key"].startswith(today[:n]))
        for span, n in (("today", 10), ("month", 7), ("year", 4))
    }
    secs = await dash.settle_seconds(f)
    timing = {"n": len(secs), "p50": dash.percentile(secs, 50), "p95": dash.percentile(secs, 95)}
    charts = {
        "day": {
            "labels": [r["key"] for r in t["day"]],
            "paid": [_y(r["paid_fen"]) for r in t["day"]],
            "pending": [_y(r["pending_fen"]) for r in t["day"]],
            "returned": [_y(r["returned_fen"]) for r in t["day"]],
        },
        "industry": {
            "labels": [r["label"] for r in t["industry"]],
            "paid": [_y(r["paid_fen"]) for r in t["industry"]],
            "payees": [r["payees"] for r in t["industry"]],
        },
        "district": {
            "labels": [r["label"] for r in t["district"]],
            "paid": [_y(r["paid_fen"]) for r in t["district"]],
            "payees": [r["payees"] for r in t["district"]],
        },
        "names": _names(lang),
    }
    return Template(
        "oversight/cockpit.html",
        context={
            "f": f,
            "t": t,
            "paid": paid,
            "today": today,
            "reached": await dash.reached(f),
            "live": await dash.policies_live(f),
            "timing": timing,
            "seconds": lambda s: seconds_text(s, lang),
            "charts": charts,
            "choices": await dash.choices(),
            "region_name": lambda c: region_name(c, lang),
            "yuan": format_yuan,
            "query": "&".join(f"{k}={v}" for k, v in _query(f).items() if v),
            "export_base": "/oversight/cockpit/export",
        },
    )


def _names(lang: str) -> dict[str, str]:
    en = lang == "en"
    return {
        "paid": "Paid" if en else "已拨付",
        "pending": "Pending" if en else "在途",
        "returned": "Returned" if en else "退汇",
        "payees": "Payees" if en else "受益对象",
        "yuan": "yuan" if en else "元",
        "subjects": "subjects" if en else "个",
        **{s: (en_ if en else zh) for s, (zh, en_) in _STAGE_HEAD.items()},
        "paid_f": "Paid" if en else "已拨付",
        "transit": "In transit" if en else "在途",
        "committed": "Committed" if en else "已占用",
        "pipeline": "Not yet batched" if en else "待入批次",
        "remaining": "Remaining" if en else "剩余",
        "entitled_f": "Entitled" if en else "应享",
        "people": "Subjects" if en else "对象数",
    }


@get("/oversight/funnel", guards=[VIEWERS], include_in_schema=False)
async def funnel_page(
    request: Request,
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
) -> Template:
    f = dash.Filters.of(policy, date_from, date_to, region)
    lang = lang_of(request)
    rows = await dash.funnel(f)
    proj = await dash.projection(f)
    total = {
        f"{s}_{u}": sum(r[f"{s}_{u}"] for r in rows if r[f"{s}_{u}"] is not None)
        for s in dash.STAGES
        for u in ("n", "fen")
    }
    # the chart's applied / approved add up the 依申请 policies only; without one they are left out
    shown = [s for s in dash.STAGES if s not in dash.APPLY_STAGES or any(r["applies"] for r in rows)]
    charts = {
        "funnel": {"stages": shown, "n": [total[f"{s}_n"] for s in shown]},
        "projection": {
            "labels": [r["key"] for r in proj],
            "cap": [_y(r["cap_fen"]) for r in proj],
            "paid": [_y(r["paid_fen"]) for r in proj],
            "transit": [_y(r["in_transit_fen"]) for r in proj],
            "committed": [_y(r["committed_fen"]) for r in proj],
            "pipeline": [_y(r["pipeline_fen"]) for r in proj],
            "remaining": [_y(max(0, r["after_fen"])) for r in proj],
        },
        "names": _names(lang),
    }
    who = await profile_tables(f, lang)
    charts["who"] = {
        name: {
            "labels": [r["label"] for r in rows],
            "entitled": [_y(r["entitled_fen"]) for r in rows],
            "paid": [_y(r["paid_fen"]) for r in rows],
            "n": [r["entitled_n"] if "entitled_n" in r else r["n"] for r in rows],
        }
        for name, rows in who.items()
    }
    return Template(
        "oversight/funnel.html",
        context={
            "f": f,
            "rows": rows,
            "total": total,
            "proj": proj,
            "stages": [(s, _STAGE_HEAD[s][1 if lang == "en" else 0]) for s in dash.STAGES],
            "charts": charts,
            "choices": await dash.choices(),
            "region_name": lambda c: region_name(c, lang),
            "yuan": format_yuan,
            "query": "&".join(f"{k}={v}" for k, v in _query(f).items() if v),
            "export_base": "/oversight/cockpit/export",
            "run_out": lambda r: run_out_text(r, lang),
            "benef": who,
            "as_of": ben.as_of(f).isoformat(),
        },
    )


@get("/oversight/cockpit/export", guards=[VIEWERS], include_in_schema=False)
async def cockpit_export(
    request: Request,
    table: str = "industry",
    format: str = "csv",
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
) -> Stream:
    """A table of the 驾驶舱 or of the funnel page, with the same filters, as CSV or Excel."""
    if table not in TABLES:
        raise UnknownTable(f"没有这张表 / no such table: {table[:20]!r}")
    f = dash.Filters.of(policy, date_from, date_to, region)
    sheet, name, columns = TABLES[table]
    rows = await _rows(table, f, lang_of(request))
    return export(request, format, f"dashboard-{name}", columns, one_chunk(rows), sheet=sheet)


route_handlers = [cockpit_page, funnel_page, cockpit_export]
