"""服务看板 (/oversight/service): notices by channel and state, open applications and objections against their
deadlines, processing times (p50 / p95) and the daily trend of notices, with the dashboards' filters (dates, district,
policy) and the issuer; ECharts from our own static files, every table as CSV or Excel. The figures are
app/service_dashboard.py's.

Who may open it: auditors and admins, as on every dashboard (oversight), and policy officers and reviewers — the
people who answer applications and objections and whose work it measures. Finance staff are not among them (their
dashboards are the money ones), nor are enterprises, talents or the hotline."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Stream, Template

from app import service_dashboard as svc
from app.auth.guards import current_user, requires
from app.controllers.dashboard import MONEY_ROLES, UnknownTable, region_name
from app.exports import Column, export, one_chunk
from app.i18n import lang_of
from kit.vocab import Role
from policies.applications.schemas import OFFICER_ROLES

SERVICE_ROLES = (Role.AUDITOR, Role.POLICY_OFFICER, Role.POLICY_REVIEWER, Role.ADMIN)
SERVICE_VIEWERS = requires(*SERVICE_ROLES)

MONEY_DASHBOARDS = ("cockpit", "funnel", "dashboard", "unpaid", "near")


def dashboards_of(request: Any) -> set[str]:
    """The dashboards the signed-in user may open (the shared nav shows only those: no link that answers 403)."""
    me = current_user(request) if request is not None else None
    role = (me or {}).get("role")
    return ({*MONEY_DASHBOARDS} if role in MONEY_ROLES else set()) | ({"service"} if role in SERVICE_ROLES else set())


# (zh, en) of what the page and the exports name
CHANNEL_LABELS = {
    "inbox": ("站内信", "Inbox"),
    "email": ("电子邮件", "Email"),
    "sms": ("短信", "SMS"),
    "webhook": ("网络回调", "Webhook"),
}
STATE_LABELS = {
    "sent": ("已送达", "Sent"),
    "failed": ("失败", "Failed"),
    "deferred": ("延后", "Deferred"),
    "in_progress": ("发送中", "In progress"),
    "skipped": ("未发送", "Skipped"),
    "read": ("已读", "Read"),
}
BAND_LABELS = {
    "overdue": ("已逾期", "Overdue"),
    "due_soon": ("3个工作日内到期", "Due within 3 working days"),
    "later": ("3个工作日后到期", "Due later"),
    "no_deadline": ("无办理时限", "No deadline"),
}
KIND_LABELS = {"application": ("申请", "Applications"), "objection": ("异议", "Objections")}


def _label(labels: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    zh, en = labels.get(key, (key, key))
    return en if lang == "en" else zh


def _na(key: str) -> Any:
    """A cell that does not apply (read of an email, a deadline band of an application): "—"."""
    return lambda r: "—" if r[key] is None else r[key]


def _days(key: str) -> Any:
    return lambda r: "—" if r[key] is None else round(r[key], 2)


TABLES: dict[str, tuple[str, str, list[Column]]] = {
    "channels": (
        "按渠道",
        "service-channels",
        [
            Column("key", "渠道", "Channel", value=lambda r: r["label"]),
            *[Column(s, zh, en, value=_na(s)) for s, (zh, en) in STATE_LABELS.items()],
        ],
    ),
    "deadlines": (
        "办理时限",
        "service-deadlines",
        [
            Column("key", "类别", "Kind", value=lambda r: r["label"]),
            Column("open", "未办结", "Open"),
            *[Column(b, zh, en, value=_na(b)) for b, (zh, en) in BAND_LABELS.items()],
        ],
    ),
    "processing": (
        "办理用时",
        "service-processing",
        [
            Column("key", "类别", "Kind", value=lambda r: r["label"]),
            Column("n", "已办结", "Done"),
            Column("p50", "用时中位数 p50（自然日）", "Time p50 (calendar days)", value=_days("p50")),
            Column("p95", "用时 p95（自然日）", "Time p95 (calendar days)", value=_days("p95")),
        ],
    ),
    "trend": (
        "按日趋势",
        "service-trend",
        [
            Column("key", "日期（北京时间）", "Day (Beijing time)"),
            Column("inbox", "站内信", "Inbox notices"),
            Column("sent", "外部渠道已送达", "Sent on outside channels"),
            Column("failed", "外部渠道失败", "Failed on outside channels"),
        ],
    ),
}


async def service_tables(f: svc.ServiceFilters, lang: str) -> dict[str, list[dict[str, Any]]]:
    chans = await svc.channels(f)
    for r in chans:
        r["label"] = _label(CHANNEL_LABELS, r["key"], lang)
    deadlines = [
        {"key": "application", **await svc.application_bands(f)},
        {"key": "objection", **await svc.objection_bands(f)},
    ]
    processing = [
        {"key": "application", **svc.timing(await svc.application_days(f))},
        {"key": "objection", **svc.timing(await svc.objection_days(f))},
    ]
    for r in deadlines + processing:
        r["label"] = _label(KIND_LABELS, r["key"], lang)
    return {"channels": chans, "deadlines": deadlines, "processing": processing, "trend": await svc.trend(f)}


def _charts(t: dict[str, list[dict[str, Any]]], lang: str) -> dict[str, Any]:
    """What service.js draws: the tables' figures (a state that does not apply is 0 in a chart, "—" in the table)."""
    bands = ("overdue", "due_soon", "later", "no_deadline")
    rows = t["channels"]
    # a bar per channel as long as what it carries: the inbox's notices as unread + read, an outside channel's
    # deliveries by state (read is part of the inbox's sent, so stacking both would count a notice twice)
    series = [
        {
            "key": s,
            "name": _label(STATE_LABELS, s, lang),
            "data": [0 if r["key"] == "inbox" else r[s] or 0 for r in rows],
        }
        for s in ("sent", "failed", "deferred", "in_progress", "skipped")
    ]
    unread = [r["sent"] - r["read"] if r["key"] == "inbox" else 0 for r in rows]
    series.append({"key": "unread", "name": "Unread" if lang == "en" else "未读", "data": unread})
    series.append({"key": "read", "name": _label(STATE_LABELS, "read", lang), "data": [r["read"] or 0 for r in rows]})
    return {
        "channels": {"labels": [r["label"] for r in rows], "series": series},
        "deadlines": {
            "labels": [r["label"] for r in t["deadlines"]],
            "series": [
                {"key": b, "name": _label(BAND_LABELS, b, lang), "data": [r[b] or 0 for r in t["deadlines"]]}
                for b in bands
            ],
        },
        "processing": {
            "labels": [r["label"] for r in t["processing"]],
            "p50": [None if r["p50"] is None else round(r["p50"], 2) for r in t["processing"]],
            "p95": [None if r["p95"] is None else round(r["p95"], 2) for r in t["processing"]],
        },
        "trend": {
            "labels": [r["key"] for r in t["trend"]],
            "inbox": [r["inbox"] for r in t["trend"]],
            "sent": [r["sent"] for r in t["trend"]],
            "failed": [r["failed"] for r in t["trend"]],
        },
        "names": {
            "inbox": "Inbox notices" if lang == "en" else "站内信",
            "sent": "Sent on outside channels" if lang == "en" else "外部渠道已送达",
            "failed": "Failed on outside channels" if lang == "en" else "外部渠道失败",
            "days": "calendar days" if lang == "en" else "自然日",
            "count": "" if lang == "en" else "件",
        },
    }


def _filters(
    policy: str | None, date_from: str | None, date_to: str | None, region: str | None, issuer: str | None
) -> svc.ServiceFilters:
    return svc.ServiceFilters.of(policy, date_from, date_to, region, issuer)


def days_text(d: float | None, lang: str = "zh") -> str:
    if d is None:
        return "—"
    if d < 1:
        return f"{d * 24:.1f} h" if lang == "en" else f"{d * 24:.1f} 小时"
    return f"{d:.1f} days" if lang == "en" else f"{d:.1f} 天"


@get("/oversight/service", guards=[SERVICE_VIEWERS], include_in_schema=False)
async def service_page(
    request: Request,
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
    issuer: str | None = None,
) -> Template:
    f = _filters(policy, date_from, date_to, region, issuer)
    lang = lang_of(request)
    t = await service_tables(f, lang)
    return Template(
        "oversight/service.html",
        context={
            "f": f,
            "t": t,
            "charts": _charts(t, lang),
            "choices": await svc.choices(),
            "region_name": lambda c: region_name(c, lang),
            "days": lambda d: days_text(d, lang),
            "query": "&".join(f"{k}={v}" for k, v in f.query().items() if v),
            "export_base": "/oversight/service/export",
            "states": [(s, _label(STATE_LABELS, s, lang)) for s in STATE_LABELS],
            "bands": [(b, _label(BAND_LABELS, b, lang)) for b in BAND_LABELS],
            # the review queues open to officers and reviewers only: no link that would answer 403
            "case_links": (current_user(request) or {}).get("role") in OFFICER_ROLES,
        },
    )


@get("/oversight/service/export", guards=[SERVICE_VIEWERS], include_in_schema=False)
async def service_export(
    request: Request,
    table: str = "channels",
    format: str = "csv",
    policy: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    region: str | None = None,
    issuer: str | None = None,
) -> Stream:
    """One of the service dashboard's tables, with the same filters, as CSV or Excel."""
    if table not in TABLES:
        raise UnknownTable(f"没有这张表 / no such table: {table[:20]!r}")
    f = _filters(policy, date_from, date_to, region, issuer)
    sheet, name, columns = TABLES[table]
    rows = (await service_tables(f, lang_of(request)))[table]
    return export(request, format, f"dashboard-{name}", columns, one_chunk(rows), sheet=sheet)


route_handlers = [service_page, service_export]
