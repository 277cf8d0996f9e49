"""Tables of policies/: policies, their versions (immutable once published), clauses and own tests."""

from piccolo.columns import BigInt, Boolean, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table

from kit.vocab import VersionStatus


class Policy(Table, tablename="policies_policy"):
    """政策: the stable identity (code) of a policy across its versions."""

    code = Varchar(length=64, unique=True, index=True)
    subject = Varchar(length=16)  # enterprise | talent; fixed for the life of the code
    created_by = Varchar(length=64)
    created_at = Timestamptz()


class PolicyVersion(Table, tablename="policies_version"):
    """One version of a policy. Its content never changes once it leaves draft; a change is a new version."""

    policy = ForeignKey(references=Policy, index=True)
    code = Varchar(length=64, index=True)
    number = Integer()
    status = Varchar(length=16, index=True, default=VersionStatus.DRAFT, choices=VersionStatus)
    title = Varchar(length=200)
    issuer = Varchar(length=200)
    subject = Varchar(length=16)
    mode = Varchar(length=8)  # auto (免申即享) | apply (依申请)
    effective_from = Date()
    effective_to = Date(null=True, default=None)
    budget_fen = BigInt()
    cap_per_subject_fen = BigInt(null=True, default=None)
    combine = Varchar(length=8, default="first")
    once = Varchar(length=16, default="lifetime")  # lifetime | per_year | per_version: how often a subject is paid
    top_up = Boolean(default=False)  # a later version pays only the difference (就高补差)
    publicity_days = Integer(default=0)  # working days the payees are publicly shown (公示) before they are payable
    exclusive_group = Varchar(length=64, null=True, default=None, index=True)
    when_expr = Text(null=True, default=None)
    source = Text(default="")  # the document the policy comes from (文件名、文号)
    summary = Text(default="")
    guide_json = Text(default="")  # 申兑指南 (PolicyGuide as JSON); "" when the pack has none
    content_hash = Varchar(length=64)
    author = Varchar(length=64)
    created_at = Timestamptz()
    submitted_at = Timestamptz(null=True, default=None)
    reviewer = Varchar(length=64, null=True, default=None)
    published_at = Timestamptz(null=True, default=None)
    status_changed_at = Timestamptz(null=True, default=None)
    status_reason = Text(default="")
    impact_json = Text(default="")  # the impact preview shown at publication, kept for the auditor


class Clause(Table, tablename="policies_clause"):
    """条款: one condition and amount of a version, in file order."""

    version = ForeignKey(references=PolicyVersion, index=True)
    position = Integer()
    code = Varchar(length=64)
    title = Varchar(length=200, default="")
    when_expr = Text()
    amount_expr = Text()


class PolicyTest(Table, tablename="policies_test"):
    """A version's own example: a profile, an evaluation date and the expected outcome."""

    version = ForeignKey(references=PolicyVersion, index=True)
    position = Integer()
    name = Varchar(length=200)
    profile_json = Text()
    as_of = Date(null=True, default=None)
    expect_json = Text()


class SearchToken(Table, tablename="policies_search_token"):
    """The library's search index (政策库检索): one row per word of a published version's title, summary, issuer and
    source, cut by jieba, plus facet tokens (``region:3601``, ``industry:C``, ``issuer:…``); written at publication."""

    version_id = Integer(index=True)
    token = Varchar(length=64, index=True)
