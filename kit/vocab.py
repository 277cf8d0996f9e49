"""The platform's vocabulary: roles and the statuses of payments, batches, entitlements and policy versions.

Each is a ``StrEnum``, so a member is the very string stored in the database and compared in SQL
(``PaymentStatus.SETTLED == "settled"``); tables pass ``choices=`` so Piccolo knows the allowed values.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    POLICY_OFFICER = "policy_officer"
    POLICY_REVIEWER = "policy_reviewer"
    FINANCE_MAKER = "finance_maker"
    FINANCE_CHECKER = "finance_checker"
    AUDITOR = "auditor"
    ADMIN = "admin"
    HOTLINE = "hotline"  # a 12345 agent: sees one caller at a time, with the caller's consent code
    ENTERPRISE = "enterprise"
    TALENT = "talent"


SUBJECT_ROLES: tuple[Role, ...] = (Role.ENTERPRISE, Role.TALENT)
STAFF_ROLES: tuple[Role, ...] = tuple(r for r in Role if r not in SUBJECT_ROLES)
# Staff who may read any subject's records: every staff role but the hotline, which reads only a caller who consented.
OFFICE_ROLES: tuple[Role, ...] = tuple(r for r in STAFF_ROLES if r != Role.HOTLINE)


class SubjectKind(StrEnum):
    ENTERPRISE = "enterprise"
    TALENT = "talent"


class PaymentStatus(StrEnum):
    """created → submitted → accepted → settled | rejected | unknown; then returned (退汇) or void (re-issue sent back)."""

    CREATED = "created"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    SETTLED = "settled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"
    RETURNED = "returned"
    VOID = "void"


# A payment still on its way: the runner works on it, and its money is neither paid nor free.
ACTIVE_PAYMENT_STATUSES: tuple[PaymentStatus, ...] = (
    PaymentStatus.CREATED,
    PaymentStatus.SUBMITTED,
    PaymentStatus.ACCEPTED,
    PaymentStatus.UNKNOWN,
)


class PaymentException(StrEnum):
    """Where a payment stands in the exceptions queue ("" when it is in none)."""

    NONE = ""
    OPEN = "open"
    REISSUED = "reissued"
    ABANDONED = "abandoned"
    RETURNED = "returned"
    WITHHELD = "withheld"  # never sent: the subject no longer qualified (or its amount changed) when the run started


class BatchStatus(StrEnum):
    """created → (checked: approved once, waiting for a second checker) → approved → running → completed; or
    rejected / cancelled before it runs."""

    CREATED = "created"
    CHECKED = "checked"
    APPROVED = "approved"
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class EntitlementState(StrEnum):
    WAITING_ACCOUNT = "waiting_account"
    PAYABLE = "payable"
    EXCLUDED = "excluded"
    BATCHED = "batched"
    PAID = "paid"
    ABANDONED = "abandoned"
    # The subject no longer qualifies on its current data (re-verification): not paid; payable again if it qualifies
    # again later. The reason names the failing conditions.
    WITHDRAWN = "withdrawn"
    # Still eligible, for another amount: neither amount is paid until the finance maker accepts the new one.
    AMOUNT_CHANGED = "amount_changed"
    SUPERSEDED = "superseded"  # not paid: the subject's right under the policy is held by another entitlement
    # An objection during its 公示 was upheld with revocation: never paid; it holds the right, so no later version of
    # the policy pays it either.
    REVOKED = "revoked"


class MatchState(StrEnum):
    """A stored match: the subject's standing one for its rule set (current), an older evaluation (superseded), or
    one the subject no longer qualifies for (withdrawn, with the failing conditions)."""

    CURRENT = "current"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class VersionStatus(StrEnum):
    """draft → in_review (submitted) → published, or scheduled (published, in effect from its effective_from) →
    published; then suspended | superseded | retired. A rejection sends in_review back to draft."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    PUBLISHED = "published"
    SCHEDULED = "scheduled"
    SUSPENDED = "suspended"
    RETIRED = "retired"
    SUPERSEDED = "superseded"
    REJECTED = "rejected"


def choices_of(enum: type[StrEnum]) -> tuple[str, ...]:
    """The stored values of an enum, in order."""
    return tuple(m.value for m in enum)
