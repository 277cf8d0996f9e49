"""Tables of eligibility/: profiles (typed columns per contract field) and their previous versions, active rule sets,
matches, feeds.

Profile columns are typed so that a compiled rule can filter in SQL: money in integer fen (`*_fen`),
dates as integers YYYYMMDD (`*_ymd`, so derived years/months are integer arithmetic in both dialects),
tags as `;a;b;` text (membership is a LIKE), a missing value is NULL.
"""

from piccolo.columns import BigInt, Boolean, Date, Integer, Text, Timestamptz, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table


class _EnterpriseColumns:
    """The columns of an enterprise profile, the same in its table and in its previous versions. A table redefining
    one (the profile table's unique subject_id) keeps it in this place: Piccolo orders columns by first definition."""

    subject_id = Varchar(length=18, index=True)
    name = Text()
    region_code = Varchar(length=6)
    industry_code = Varchar(length=5)
    scale = Varchar(length=8)
    founded_on_ymd = Integer()
    employees = BigInt()
    revenue_fen = BigInt()
    tax_paid_fen = BigInt()
    rd_expense_fen = BigInt(null=True, default=None)
    unemployment_insurance_paid_fen = BigInt(null=True, default=None)
    new_graduate_hires = BigInt(null=True, default=None)
    high_tech = Boolean()
    specialized = Varchar(length=16)
    credit_rating = Varchar(length=1)
    blacklisted = Boolean()
    tags = Text(null=True, default=None)
    bank_name = Text(null=True, default=None)
    bank_account = Varchar(length=32, null=True, default=None)
    digest = Varchar(length=64)


class _TalentColumns:
    """The columns of a talent profile, the same in its table and in its previous versions (as _EnterpriseColumns)."""

    subject_id = Varchar(length=18, index=True)
    name = Text()
    region_code = Varchar(length=6)
    education = Varchar(length=16)
    graduated_on_ymd = Integer(null=True, default=None)
    arrived_on_ymd = Integer()
    social_insurance_months = BigInt()
    employer_uscc = Varchar(length=18, null=True, default=None)
    title = Varchar(length=16, null=True, default=None)
    tags = Text(null=True, default=None)
    bank_name = Text(null=True, default=None)
    bank_account = Varchar(length=32, null=True, default=None)
    birth_on_ymd = Integer()
    digest = Varchar(length=64)


class EnterpriseProfile(_EnterpriseColumns, Table, tablename="eligibility_enterprise"):
    """一企一档: one enterprise, keyed by its USCC."""

    subject_id = Varchar(length=18, unique=True)  # the UNIQUE constraint is its index
    region_code = Varchar(length=6, index=True)
    updated_at = Timestamptz()
    feed = Varchar(length=64, null=True, default=None)  # the feed that wrote this version (NULL: a full-record file)


class TalentProfile(_TalentColumns, Table, tablename="eligibility_talent"):
    """一人一档: one talent, keyed by the ID number; the birth date is kept for the derived age."""

    subject_id = Varchar(length=18, unique=True)  # the UNIQUE constraint is its index
    region_code = Varchar(length=6, index=True)
    updated_at = Timestamptz()
    feed = Varchar(length=64, null=True, default=None)


class EnterpriseProfileVersion(_EnterpriseColumns, Table, tablename="eligibility_enterprise_version"):
    """A previous version of an enterprise profile, kept when a change replaced it: the same columns (and digest) as
    eligibility_enterprise, valid from the time it was written (``valid_from``) to the time it was replaced."""

    feed = Varchar(length=64, null=True, default=None)
    valid_from = Timestamptz()
    valid_to = Timestamptz()


class TalentProfileVersion(_TalentColumns, Table, tablename="eligibility_talent_version"):
    """A previous version of a talent profile (as EnterpriseProfileVersion)."""

    feed = Varchar(length=64, null=True, default=None)
    valid_from = Timestamptz()
    valid_to = Timestamptz()


class ActiveRuleSet(Table, tablename="eligibility_active_ruleset"):
    """A rule set in force for matching (policies/ activates on publish, deactivates on suspend)."""

    key = Varchar(length=160, unique=True, index=True)
    code = Varchar(length=128, index=True)
    subject = Varchar(length=16)
    ruleset = Text()  # RuleSet as JSON
    activated_at = Timestamptz()


class Match(Table, tablename="eligibility_match"):
    """A stored match of a rule set (policy version) and a subject. Idempotent through match_digest, which is unique
    with the rule set and subject it digests (match_identity): a run's matches, inserted in subject order, then
    extend that index instead of landing at random in an index of digests."""

    ruleset_key = Varchar(length=160)  # match_identity leads with it
    version_id = BigInt(null=True, default=None, index=True)
    code = Varchar(length=128)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=18, index=True)
    clauses = Text()  # ';'-joined clause codes, in clause order
    amount_fen = BigInt()
    as_of = Date()
    profile_digest = Varchar(length=64)
    rule_digest = Varchar(length=64)
    match_digest = Varchar(length=64)
    created_at = Timestamptz()
    # kit.vocab.MatchState: one current row per rule set and subject at most (standing.py keeps it so); a withdrawn
    # row keeps why the subject stopped qualifying (the failing conditions, in words) and when.
    state = Varchar(length=12, default="current")
    withdrawn_reason = Text(default="")
    withdrawn_at = Timestamptz(null=True, default=None)
    # When the match was handed on to its notice (app.flows.notify_matches marks it after the notice is committed);
    # NULL while it waits. A partial index (version_id, id) WHERE notified_at IS NULL AND state = 'current' (migration
    # 2026-12-03T15:00:01) keeps the notice pass proportional to the matches still waiting.
    notified_at = Timestamptz(null=True, default=None)

    match_identity = Unique(["ruleset_key", "subject_id", "match_digest"])


class Feed(Table, tablename="eligibility_feed"):
    """A data-exchange feed allowed to upsert profiles through the API, with the SHA-256 of its key."""

    name = Varchar(length=64, unique=True)
    kind = Varchar(length=16)
    key_sha256 = Varchar(length=64, unique=True)
    active = Boolean(default=True)
    created_at = Timestamptz()
    # The fields this feed owns, ';'-joined (its rows change only these); NULL: a full-record feed.
    fields = Text(null=True, default=None)


class CorrectionRequest(Table, tablename="eligibility_correction_request"):
    """A data correction asked of the feed that owns the field (an objection upheld with a correction,
    payments.service.corrections): pending until the feed's import delivers the proposed value (accepted) or the
    feed's refusal is recorded (rejected, with its reason). The profile is never changed by the request itself."""

    feed = Varchar(length=64, index=True)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=40, index=True)
    field = Varchar(length=64)
    old_value = Text(null=True, default=None)
    proposed_value = Text(null=True, default=None)
    objection_id = Integer(index=True)
    officer = Varchar(length=64)
    status = Varchar(length=16, default="pending", index=True)  # pending | accepted | rejected
    reason = Text(default="")  # the feed's reason for a rejection
    created_at = Timestamptz()
    decided_at = Timestamptz(null=True, default=None)
    decided_by = Varchar(length=64, default="")
