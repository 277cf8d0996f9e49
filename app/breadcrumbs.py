"""Breadcrumbs of the staff pages, read off the request path: 首页 › 资金拨付 › 批次 12. One table of sections, one
partial template (templates/_breadcrumbs.html) included by base.html, so a new page gets its trail without code."""

from __future__ import annotations

from typing import Any

from app.auth.guards import current_user
from kit.vocab import STAFF_ROLES

Crumb = tuple[str, str, str]  # (href, zh, en); the last one is the page itself

# The first path segment's section, and what the second one names (a literal sub-page, or an id/code).
SECTIONS: dict[str, tuple[str, str, str]] = {
    "policies": ("/policies", "政策管理", "Policies"),
    "finance": ("/finance", "资金拨付", "Disbursement"),
    "applications": ("/applications", "申请审核", "Applications"),
    "audit": ("/audit", "审计日志", "Audit trail"),
    "admin": ("/admin/users", "用户管理", "Users"),
    "staff": ("/staff/inbox", "消息", "Messages"),
}
SUBPAGES: dict[tuple[str, str], tuple[str, str]] = {
    ("policies", "new"): ("新建政策", "New policy"),
    ("policies", "save"): ("政策草稿", "Policy draft"),  # the form again, with what kept it from being saved
    ("finance", "exceptions"): ("异常处理", "Exceptions"),
    ("finance", "reconciliation"): ("对账", "Reconciliation"),
    ("applications", "objections"): ("异议处理", "Objections"),
    ("applications", "corrections"): ("数据更正请求", "Correction requests"),
    ("applications", "accounts"): ("账户核验", "Account verification"),
}
# The dashboards (/oversight/<name>): each is a page of its own under the home page (their shared nav links them;
# no section page, since who may open which differs by role).
DASHBOARDS: dict[str, tuple[str, str]] = {
    "cockpit": ("驾驶舱", "Leaders' overview"),
    "funnel": ("政策漏斗", "Policy funnel"),
    "dashboard": ("资金监管看板", "Funds dashboard"),
    "unpaid": ("应享未享", "Eligible but unpaid"),
    "near": ("差一点符合", "Near misses"),
    "service": ("服务看板", "Service dashboard"),
}
# /section/<kind>/<id>: what the id is.
OBJECTS: dict[tuple[str, str], tuple[str, str]] = {
    ("finance", "batches"): ("批次", "Batch"),
    ("policies", "versions"): ("版本", "Version"),
}


def breadcrumbs(path: str) -> list[Crumb]:
    """The trail from the home page to ``path`` (empty on the home page and outside the staff sections)."""
    parts = [p for p in path.split("/") if p]
    if len(parts) == 2 and parts[0] == "oversight" and parts[1] in DASHBOARDS:
        return [("/", "首页", "Home"), (path, *DASHBOARDS[parts[1]])]
    if not parts or parts[0] not in SECTIONS:
        return []
    # Account verification lives under /applications but is finance's page (its verifiers are finance roles, who do
    # not open the review queue): its trail goes through 资金拨付.
    section = "finance" if parts[:2] == ["applications", "accounts"] else parts[0]
    href, zh, en = SECTIONS[section]
    trail: list[Crumb] = [("/", "首页", "Home"), (href, zh, en)]
    if parts[0] in ("admin", "staff"):
        return trail
    if len(parts) >= 2:
        sub = (parts[0], parts[1])
        if sub in SUBPAGES:
            trail.append((f"/{parts[0]}/{parts[1]}", *SUBPAGES[sub]))
        elif sub in OBJECTS and len(parts) >= 3:
            zh_kind, en_kind = OBJECTS[sub]
            trail.append((f"/{'/'.join(parts[:3])}", f"{zh_kind} {parts[2]}", f"{en_kind} {parts[2]}"))
            if len(parts) >= 4 and parts[3] == "edit":
                trail.append((path, "编辑", "Edit"))
        elif parts[0] == "applications":
            trail.append((f"/applications/{parts[1]}", f"申请 {parts[1]}", f"Application {parts[1]}"))
        else:
            trail.append((f"/{parts[0]}/{parts[1]}", parts[1], parts[1]))
    return trail


def page_breadcrumbs(request: Any) -> list[Crumb]:
    """For the templates: the trail of the current request, for staff users only (the portal has its own tabs)."""
    if request is None:
        return []
    me = current_user(request)
    if not me or me.get("role") not in STAFF_ROLES:
        return []
    return breadcrumbs(request.url.path)
