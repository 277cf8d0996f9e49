"""The auditor's workbench (风险拦截, /oversight): risk flags by severity and rule, filtered and paged, exported as
CSV or Excel; one flag with its evidence and the decision (clear, confirm: auditors only, a reason each time, a
second auditor for a high-severity flag); the flagged subject's whole history on one page. Personal numbers are
masked for every reader (kit/masking), as in the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect, Stream, Template

from app import oversight
from app.audit_view import _mask_value
from app.auth.guards import current_user, requires
from app.controllers.evidence import pack_read
from app.controllers.payments.common import actor_of
from app.evidence import FLAG
from app.exports import Column, export, subject_columns
from app.i18n import api_lang_of
from app.i18n import gettext as translated
from app.paging import API_SIZE, paged_json, pager_of, paging
from app.schemas.errors import errors
from app.schemas.oversight import RiskFlagRead
from kit.db import raw
from kit.i18n import _l
from kit.masking import mask_account, mask_id_number, scrub_text
from kit.money import format_yuan
from kit.paging import PageRequest, Sorts, chunks, fetch_page
from kit.vocab import Role
from payments import service
from payments.service.risk import RULE_BY_CODE, SEVERITIES
from payments.tables import RiskFlag

# The severities and states the templates translate (``_(f.severity)``): named here so the catalog has them.
LABELS = (_l("high"), _l("medium"), _l("low"))
# "open" is already a msgid of another sense (an open-ended date): the states carry their own pair.
STATE_LABELS = {"open": ("待处理", "open"), "confirmed": ("已确认风险", "confirmed"), "cleared": ("已核销", "cleared")}
READERS = requires(Role.AUDITOR, Role.ADMIN)
DECIDERS = requires(Role.AUDITOR)
STATES = ("open", "confirmed", "cleared")
SEVERITY_CLASS = {"high": "red", "medium": "amber"}  # the badge colours of zhida.css
FLAG_SORTS = Sorts(
    {"id": RiskFlag.id, "severity": RiskFlag.severity, "rule": RiskFlag.rule, "amount": RiskFlag.amount_fen},
    default="-id",
)


def _subject(row: dict[str, Any]) -> str:
    return mask_id_number(row["subject_id"]) if row["subject_kind"] == "talent" else str(row["subject_id"])


def _view(row: dict[str, Any]) -> dict[str, Any]:
    rule = RULE_BY_CODE.get(row["rule"])
    return {**row, "subject": _subject(row), "rule_title": rule.title if rule else row["rule"]}


def _where(state: str | None, severity: str | None, rule: str | None) -> list[Any]:
    return [
        RiskFlag.state == state if state in STATES else None,
        RiskFlag.severity == severity if severity in SEVERITIES else None,
        RiskFlag.rule == rule if rule in RULE_BY_CODE else None,
    ]


async def _counts() -> list[dict[str, Any]]:
    """Flags still holding money (open, confirmed) by rule and severity: the workbench's summary."""
    rows = await raw(
        "SELECT rule, severity, state, COUNT(*) AS n, SUM(amount_fen) AS fen FROM pay_risk_flag "
        "WHERE state IN ('open', 'confirmed') GROUP BY rule, severity, state ORDER BY rule, severity, state"
    )
    return [_view({**dict(r), "subject_kind": "", "subject_id": ""}) for r in rows]


@get("/oversight", guards=[READERS], include_in_schema=False, dependencies={"paging": paging(FLAG_SORTS, size=50)})
async def oversight_page(
    request: Request,
    paging: PageRequest,
    status: str | None = "open",
    severity: str | None = None,
    rule: str | None = None,
    msg: str = "",
) -> Template:
    state = status if status in STATES else None
    page = (await fetch_page(RiskFlag, _where(state, severity, rule), paging, FLAG_SORTS)).map(_view)
    filters = {"status": state or "", "severity": severity or "", "rule": rule or ""}
    return Template(
        "oversight/list.html",
        context={
            "flags": page.items,
            "pager": pager_of(request, page, ("条", "flags"), **filters),
            "filters": filters,
            "rules": list(RULE_BY_CODE.values()),
            "severities": SEVERITIES,
            "states": STATES,
            "counts": await _counts(),
            "state_labels": STATE_LABELS,
            "sev_class": SEVERITY_CLASS,
            "yuan": format_yuan,
            "msg": msg,
        },
    )


FLAG_COLUMNS = [
    Column("id", "编号", "Id"),
    Column("severity", "风险等级", "Severity"),
    Column("rule", "规则", "Rule"),
    Column("state", "状态", "State"),
    Column("entitlement_id", "享受记录", "Entitlement"),
    Column("policy_code", "政策", "Policy"),
    *subject_columns(),
    Column("amount_fen", "金额（元）", "Amount (yuan)", value=lambda r: format_yuan(int(r["amount_fen"]))),
    Column("evidence", "证据", "Evidence", value=lambda r: _evidence_text(r["evidence"])),
    Column("decided_by", "处理人", "Decided by"),
    Column("reason", "理由", "Reason"),
    Column("created_at", "发现时间（北京时间）", "Found (Beijing time)"),
]


def _evidence(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    figures = data.get("figures") or {}
    if "account" in figures:
        figures["account"] = mask_account(str(figures["account"]))
    data["figures"] = _mask_value("", figures)
    return data


def _evidence_text(text: str) -> str:
    return scrub_text(json.dumps(_evidence(text).get("figures", {}), ensure_ascii=False, sort_keys=True))


async def _flag_chunks(where: list[Any]) -> AsyncIterator[list[dict]]:
    async for rows in chunks(RiskFlag, where):
        yield rows


@get("/oversight/export", guards=[READERS], include_in_schema=False)
async def oversight_export(
    request: Request,
    format: str = "csv",
    status: str | None = None,
    severity: str | None = None,
    rule: str | None = None,
) -> Stream:
    """The flags filtered as on the page, oldest first, masked; CSV or Excel."""
    return export(
        request, format, "risk-flags", FLAG_COLUMNS, _flag_chunks(_where(status, severity, rule)), sheet="风险标记"
    )


@get("/oversight/flags/{flag_id:int}", guards=[READERS], include_in_schema=False)
async def flag_page(request: Request, flag_id: int, msg: str = "") -> Template:
    f = await service.get_flag(flag_id)
    f = _view({**f, "evidence": json.dumps(f["evidence"])})
    user = current_user(request)
    history = await oversight.subject_history(f["subject_kind"], f["subject_id"])
    history["flags"] = [{**r, "flag_state": r["state"]} for r in history["flags"]]
    pack = await pack_read(FLAG, flag_id) if user["role"] == Role.AUDITOR else None
    return Template(
        "oversight/flag.html",
        context={
            "f": f,
            "evidence": _evidence(f["evidence"]),
            "history": history,
            "rule_titles": {r.code: r.title for r in RULE_BY_CODE.values()},
            "sev_class": SEVERITY_CLASS,
            "can_decide": user["role"] == Role.AUDITOR and f["state"] in ("open", "confirmed"),
            "second_needed": f["severity"] == "high" and f["first_cleared_by"] and f["state"] == "open",
            "yuan": format_yuan,
            "mask_account": mask_account,
            "state_labels": STATE_LABELS,
            "msg": msg,
            "pack": pack,
            "pack_api": f"/api/oversight/flags/{flag_id}/evidence-pack",
            "pack_form": f"/oversight/flags/{flag_id}/evidence-pack",
        },
    )


@post("/oversight/flags/{flag_id:int}/clear", guards=[DECIDERS], include_in_schema=False)
async def clear_page(request: Request, flag_id: int) -> Redirect:
    form = await request.form()
    state = await service.clear_flag(flag_id, actor=actor_of(request), reason=str(form.get("reason") or ""))
    return Redirect(f"/oversight/flags/{flag_id}?msg={'cleared' if state == 'cleared' else 'first'}")


@post("/oversight/flags/{flag_id:int}/confirm", guards=[DECIDERS], include_in_schema=False)
async def confirm_page(request: Request, flag_id: int) -> Redirect:
    form = await request.form()
    await service.confirm_flag(flag_id, actor=actor_of(request), reason=str(form.get("reason") or ""))
    return Redirect(f"/oversight/flags/{flag_id}?msg=confirmed")


# ---------------------------------------------------------------------------------- JSON API

API_READERS = requires(Role.AUDITOR, Role.FINANCE_MAKER, Role.FINANCE_CHECKER)


def _read(row: dict[str, Any], lang: str) -> RiskFlagRead:
    evidence = row["evidence"] if isinstance(row["evidence"], str) else json.dumps(row["evidence"])
    rule = RULE_BY_CODE.get(row["rule"])
    return RiskFlagRead(
        **{k: row[k] for k in RiskFlagRead.model_fields if k in row and k not in ("subject_id", "evidence")},
        rule_title=translated(lang, rule.title) if rule else row["rule"],
        subject_id=_subject(row),
        amount=format_yuan(int(row["amount_fen"])),
        evidence=_evidence(evidence),
    )


@get(
    "/api/oversight/flags",
    guards=[API_READERS],
    tags=["oversight"],
    responses=errors(),
    dependencies={"paging": paging(FLAG_SORTS, size=API_SIZE)},
)
async def api_flags(
    request: Request,
    paging: PageRequest,
    flag_state: Annotated[str | None, Parameter(query="state", description="open | confirmed | cleared")] = None,
    severity: str | None = None,
    rule: str | None = None,
) -> Response[list[RiskFlagRead]]:
    """Risk flags, newest first unless sorted (id, severity, rule, amount), optionally by state (open | confirmed |
    cleared), severity and rule; a page of them (page, size, sort), the total in X-Total-Count. Auditors and finance
    staff only; talents' ID numbers and every account masked."""
    lang = api_lang_of(request)
    page = await fetch_page(RiskFlag, _where(flag_state, severity, rule), paging, FLAG_SORTS)
    return paged_json(page.map(lambda r: _read(r, lang)))


@get("/api/oversight/flags/{flag_id:int}", guards=[API_READERS], tags=["oversight"], responses=errors(404))
async def api_flag(request: Request, flag_id: int) -> RiskFlagRead:
    """One risk flag with its evidence and decision."""
    return _read(await service.get_flag(flag_id), api_lang_of(request))


route_handlers = [oversight_page, oversight_export, flag_page, clear_page, confirm_page, api_flags, api_flag]
