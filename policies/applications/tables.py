"""Tables of policies.applications: applications, attachments, objections and subjects' receiving accounts."""

from piccolo.columns import BigInt, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class Application(Table, tablename="policies_application"):
    """申请: a subject applies for an apply-mode policy version; officers approve (four eyes above a threshold)
    or reject with a reason."""

    application_no = Varchar(length=32, unique=True, index=True)  # 申请编号 shown to the subject
    version_id = Integer(index=True)
    policy_code = Varchar(length=64, index=True)
    policy_title = Varchar(length=200)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    applicant = Varchar(length=64)  # the username that submitted it
    amount_fen = BigInt()  # what the subject qualifies for by the rules, at submission
    clause_codes = Text(default="")  # ';'-joined
    statement = Text(default="")  # the applicant's own words
    # submitted | first_approved | approved | rejected
    status = Varchar(length=16, index=True)
    needs_two = Integer(default=0)  # 1 when the amount is above the four-eyes threshold
    first_approver = Varchar(length=64, null=True, default=None)
    first_approved_at = Timestamptz(null=True, default=None)
    decided_by = Varchar(length=64, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")  # the rejection reason, or the approval note
    entitlement_id = Integer(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Attachment(Table, tablename="policies_attachment"):
    """A file uploaded with an application, stored under data_dir/attachments/<random name>, outside the web root."""

    application = ForeignKey(references=Application, index=True)
    filename = Varchar(length=128)  # the uploader's name for it, cleaned; never used as a path
    stored_name = Varchar(length=64, unique=True)
    content_type = Varchar(length=32)
    size = Integer()
    sha256 = Varchar(length=64)
    uploaded_at = Timestamptz()


class Objection(Table, tablename="policies_objection"):
    """异议: a subject contests a decision (an application or an entitlement); officers answer before due_at."""

    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    target = Varchar(length=16)  # application | entitlement
    target_id = Integer()
    policy_code = Varchar(length=64)
    policy_title = Varchar(length=200)
    text = Text()
    status = Varchar(length=16, index=True)  # open | answered
    due_at = Timestamptz()
    answer = Text(default="")
    answered_by = Varchar(length=64, null=True, default=None)
    answered_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    # who raised it: the subject in the portal, or anyone from the public 公示 list (a third party, a 12345 agent
    # through the API), with a contact to answer to
    origin = Varchar(length=16, default="subject")  # subject | public | api
    contact = Varchar(length=200, default="")
    # how it ended: dismissed (hold released) | revoked (entitlement revoked, never paid) | corrected (a data
    # correction to the feed that owns the field, then a re-evaluation) | correcting (the correction asked of the
    # feed that owns the field, not delivered yet) | feed_refused (that feed refused it, with its reason); "" while
    # open or for a plain answer
    outcome = Varchar(length=16, default="")
    reminded_at = Timestamptz(null=True, default=None)  # the reminder three working days before due_at
    escalated_at = Timestamptz(null=True, default=None)  # overdue: escalated to a reviewer


class SubjectAccount(Table, tablename="policies_subject_account"):
    """The receiving account a subject confirmed or corrected in the portal. A correction is unverified until
    finance verifies it; no payment goes to an unverified account."""

    subject_key = Varchar(length=56, unique=True)  # kind:subject_id
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    payee_name = Varchar(length=128)
    bank_name = Varchar(length=128)
    account = Varchar(length=64)
    status = Varchar(length=16, index=True)  # verified | unverified | rejected (finance found it wrong)
    source = Varchar(length=16)  # exchange (confirmed as on the profile) | corrected
    confirmed_by = Varchar(length=64)
    confirmed_at = Timestamptz()
    verified_by = Varchar(length=64, null=True, default=None)
    verified_at = Timestamptz(null=True, default=None)
    status_reason = Text(default="")  # why finance rejected it (shown to the subject)
