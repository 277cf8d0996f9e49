"""What each role has to do, as counts on its home page: one SQL COUNT per card, each linking to the filtered list.

app/ wires every domain, so the home is the one place that counts across them; each count is a ``COUNT(*)`` in the
database (never a Python loop over a table). The only work done here beyond counting is running the tests of the
officer's own drafts (a handful of rows, bounded by ``DRAFTS_TESTED``), since a test's result is not stored.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from piccolo.columns.combination import Or

from app.auth.throttle import ANY_SOURCE
from app.tables import AuditEntry, LoginThrottle, RoleGrant, StaffMessage, User
from eligibility.tables import CorrectionRequest
from kit import workdays
from kit.time import now
from kit.vocab import (
    STAFF_ROLES,
    BatchStatus,
    EntitlementState,
    PaymentException,
    PaymentStatus,
    Role,
    VersionStatus,
)
from notifications.recipients import recipient_key
from notifications.tables import Notice
from payments.tables import Batch, Entitlement, Payment
from policies import service as policies
from policies.applications.schemas import ACCOUNT_VERIFIER_ROLES, OFFICER_ROLES
from policies.applications.tables import Application, Objection, SubjectAccount
from policies.tables import PolicyVersion

NEAR_DEADLINE = 3  # working days: an objection due by the end of the third working day (or overdue) is "near"
RECENT = dt.timedelta(days=1)  # the auditor's "recent" entries: the last 24 hours
DRAFTS_TESTED = 50


@dataclass(frozen=True)
class Card:
    """One to-do on a home page: a count, what it counts (zh, en) and the list that shows those rows."""

    key: str
    count: int
    zh: str
    en: str
    href: str
    urgent: bool = False  # shown highlighted when count > 0


async def _officer_drafts(me: str) -> list[Card]:
    drafts = await PolicyVersion.count().where(
        (PolicyVersion.status == VersionStatus.DRAFT) & (PolicyVersion.author == me)
    )
    ids = await (
        PolicyVersion.select(PolicyVersion.id)
        .where((PolicyVersion.status == VersionStatus.DRAFT) & (PolicyVersion.author == me))
        .order_by(PolicyVersion.id, ascending=False)
        .limit(DRAFTS_TESTED)
    )
    failing = 0
    for row in ids:
        outcomes = await policies.run_version_tests(row["id"])
        failing += any(not o.passed for o in outcomes)
    return [
        Card("drafts", drafts, "我的草稿", "My drafts", "/policies?status=draft"),
        Card("tests_failing", failing, "测试未通过的草稿", "Drafts with failing tests", "/policies?status=draft", True),
    ]


async def _reviewer(me: str) -> list[Card]:
    n = await PolicyVersion.count().where(
        (PolicyVersion.status == VersionStatus.IN_REVIEW) & (PolicyVersion.author != me)
    )
    return [Card("to_review", n, "待我审核的政策", "Policies to review", "/policies?status=in_review", True)]


async def _applications(me: str, at: dt.datetime) -> list[Card]:
    """Applications waiting for a decision this officer may take (not one they approved first), and objections
    due within NEAR_DEADLINE or overdue."""
    waiting = await Application.count().where(
        (Application.status == "submitted")
        | ((Application.status == "first_approved") & (Application.first_approver != me))
    )
    near = await Objection.count().where(
        (Objection.status == "open") & (Objection.due_at <= workdays.deadline(at, NEAR_DEADLINE))
    )
    return [
        Card("applications", waiting, "待决定的申请", "Applications to decide", "/applications?status=submitted"),
        Card(
            "objections_due",
            near,
            "3 个工作日内到期的异议",
            "Objections due within 3 working days",
            "/applications/objections",
            True,
        ),
        Card(
            "corrections_pending",
            await CorrectionRequest.count().where(CorrectionRequest.status == "pending"),
            "待数据源处理的更正请求",
            "Correction requests awaiting the data feed",
            "/applications/corrections?status=pending",
        ),
    ]


async def _maker() -> list[Card]:
    payable = await Entitlement.count().where(
        (Entitlement.state == EntitlementState.PAYABLE) & Entitlement.batch_id.is_null()
    )
    exceptions = await Payment.count().where(Payment.exception == PaymentException.OPEN)
    changed = await Entitlement.count().where(Entitlement.state == EntitlementState.AMOUNT_CHANGED)
    return [
        Card("payable", payable, "待制批的应发款项", "Payable, not in a batch", "/finance"),
        Card("exceptions", exceptions, "待处理异常", "Exceptions to handle", "/finance/exceptions", True),
        Card("amount_changed", changed, "金额变更待确认", "Changed amounts to accept", "/finance/exceptions", True),
    ]


async def _checker(me: str) -> list[Card]:
    n = await Batch.count().where(
        ((Batch.status == BatchStatus.CREATED) | ((Batch.status == BatchStatus.CHECKED) & (Batch.checker != me)))
        & (Batch.maker != me)
    )
    return [Card("to_approve", n, "待我审核的批次", "Batches to approve", "/finance", True)]


async def _accounts() -> list[Card]:
    n = await SubjectAccount.count().where(SubjectAccount.status == "unverified")
    return [Card("accounts", n, "待核验的收款账户", "Accounts to verify", "/applications/accounts", True)]


async def _auditor(at: dt.datetime) -> list[Card]:
    recent = await AuditEntry.count().where(AuditEntry.at >= at - RECENT)
    total = await AuditEntry.count()
    return [
        Card("recent_audit", recent, "近 24 小时审计记录", "Audit entries, last 24 hours", "/audit"),
        Card("verify", total, "哈希链条目（校验）", "Chain entries (verify)", "/audit"),
    ]


async def _admin(me: str) -> list[Card]:
    pending = await User.count().where(Or(User.activation_hash.is_not_null(), User.password_hash == ""))
    grants = await RoleGrant.count().where((RoleGrant.status == "pending") & (RoleGrant.requested_by != me))
    locked = await LoginThrottle.count().where(
        LoginThrottle.slot.like(f"{ANY_SOURCE}|%") & (LoginThrottle.blocked_until > int(time.time()))
    )
    return [
        Card(
            "pending_activation", pending, "待激活账号", "Accounts awaiting activation", "/admin/users?filter=pending"
        ),
        Card("grants", grants, "待我确认的授权", "Role grants to confirm", "/admin/users#grants", True),
        Card("locked", locked, "已锁定的用户名", "Locked user names", "/admin/users?filter=locked", True),
    ]


async def subject_cards(kind: str, subject_id: str) -> list[Card]:
    """An enterprise's or a talent's to-do on its portal home, each a COUNT over its own rows: notices unread,
    applications under review, objections answered, its receiving account being verified or sent back, money
    waiting for an account, and payments the bank returned that are not yet handled."""
    mine_notices = Notice.recipient_key == recipient_key(kind, subject_id)
    unread = await Notice.count().where(mine_notices & Notice.read_at.is_null())
    reviewing = await Application.count().where(
        (Application.subject_kind == kind)
        & (Application.subject_id == subject_id)
        & Application.status.is_in(["submitted", "first_approved"])
    )
    answered = await Objection.count().where(
        (Objection.subject_kind == kind) & (Objection.subject_id == subject_id) & (Objection.status == "answered")
    )
    account = (SubjectAccount.subject_kind == kind) & (SubjectAccount.subject_id == subject_id)
    verifying = await SubjectAccount.count().where(account & (SubjectAccount.status == "unverified"))
    rejected = await SubjectAccount.count().where(account & (SubjectAccount.status == "rejected"))
    waiting = await Entitlement.count().where(
        (Entitlement.subject_kind == kind)
        & (Entitlement.subject_id == subject_id)
        & (Entitlement.state == EntitlementState.WAITING_ACCOUNT)
    )
    returned = await Payment.count().where(
        (Payment.subject_kind == kind)
        & (Payment.subject_id == subject_id)
        & Payment.status.is_in([PaymentStatus.REJECTED, PaymentStatus.RETURNED])
        & (Payment.exception == PaymentException.OPEN)
    )
    return [
        Card("unread", unread, "未读消息", "Unread notices", "/portal/inbox", True),
        Card(
            "account_rejected",
            rejected,
            "收款账户被退回，请重新填写",
            "Account sent back: correct it",
            "#account",
            True,
        ),
        Card("waiting_account", waiting, "待提供收款账户的款项", "Money waiting for your account", "#account", True),
        Card("payments_returned", returned, "银行退回的款项", "Payments the bank returned", "#account", True),
        Card("account_verifying", verifying, "收款账户核验中", "Account being verified", "#account"),
        Card("applications", reviewing, "审核中的申请", "Applications under review", "#policies"),
        Card("objections_answered", answered, "已答复的异议", "Objections answered", "#objections"),
    ]


async def cards_for(username: str, role: str) -> list[Card]:
    """The to-do cards of ``role`` as ``username`` sees them (four-eyes: never one's own work to check)."""
    at = now()
    cards: list[Card] = []
    if role in STAFF_ROLES:  # the staff inbox: deadline reminders and escalations addressed to this user
        unread = await StaffMessage.count().where((StaffMessage.username == username) & StaffMessage.read_at.is_null())
        cards.append(Card("staff_messages", unread, "未读消息", "Unread messages", "/staff/inbox", True))
    if role == Role.POLICY_OFFICER:
        cards += await _officer_drafts(username)
    if role == Role.POLICY_REVIEWER:
        cards += await _reviewer(username)
    if role in OFFICER_ROLES:
        cards += await _applications(username, at)
    if role == Role.FINANCE_MAKER:
        cards += await _maker()
    if role == Role.FINANCE_CHECKER:
        cards += await _checker(username)
    if role in ACCOUNT_VERIFIER_ROLES:
        cards += await _accounts()
    if role == Role.AUDITOR:
        cards += await _auditor(at)
    if role == Role.ADMIN:
        cards += await _admin(username)
    return cards
