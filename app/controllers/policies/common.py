"""What the policies routes share: who may do what, status labels, the acting user, dates from a request."""

from __future__ import annotations

import datetime as dt

from litestar import Request

from app import i18n
from app.audit import AuditActor
from app.auth.guards import current_user
from kit.i18n import _l
from kit.vocab import Role, SubjectKind
from policies.errors import PolicyError

STAFF = (Role.POLICY_OFFICER, Role.POLICY_REVIEWER, Role.AUDITOR)
AUTHORS = (Role.POLICY_OFFICER,)
REVIEWERS = (Role.POLICY_REVIEWER,)
SUBJECT_KINDS = tuple(SubjectKind)
STATUS_LABELS = {
    "draft": ("草稿", "draft"),
    "in_review": ("待审核", "in review"),
    "published": ("已发布", "published"),
    "scheduled": ("已发布，待生效", "scheduled"),
    "suspended": ("已暂停", "suspended"),
    "retired": ("已废止", "retired"),
    "superseded": ("已被新版本替代", "superseded"),
    "rejected": ("已退回", "rejected"),
}
i18n.register_states(STATUS_LABELS)  # a refusal naming a state shows its label


def actor_of(request: Request) -> AuditActor:
    user = current_user(request)
    return AuditActor(user["username"], user["role"])


def as_of_date(value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise PolicyError(_l("{value!r} is not a date YYYY-MM-DD"), value=value) from None
