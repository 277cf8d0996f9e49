"""Tables of payments/: entitlements, budgets, batches, payments, the ledger, receipts and reconciliation.

Other domains' rows (policy versions, profiles, matches, applications) are referred to by plain ids:
no foreign key leaves this app. Amounts are integer fen (``*_fen``). Times the runner compares in SQL
(``due_ms``, ``claimed_until_ms``) are epoch milliseconds so SQLite and PostgreSQL compare them alike. Statuses and
states take their values from kit.vocab (``choices=``). ``id: Serial`` declares Piccolo's implicit primary key for the
type checker only: an assigned column would be a new column.
"""

from piccolo.columns import BigInt, Boolean, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.table import Table

from kit.vocab import BatchStatus, EntitlementState, PaymentException, PaymentStatus


class Entitlement(Table, tablename="pay_entitlement"):
    """享受资格: what one subject is owed under a policy (code) for one period, as decided by one of its versions.

    ``right_key`` names the right: "{policy_code}|{period}|{subject_kind}|{subject_id}", the period "" (once for a
    lifetime), the year (per_year) or the version number (per_version). A right is paid once; with ``top_up`` a later,
    higher version adds a row paying the difference (its ``key`` is "{right_key}#{n}", the first row's is the
    right_key itself).
    """

    id: Serial

    key = Varchar(length=200, unique=True)  # right_key, or right_key#n for the n-th top-up of the right
    right_key = Varchar(length=200, default="", index=True)
    period = Varchar(length=16, default="")  # "" (lifetime), a year (per_year) or a version number (per_version)
    version_id = Integer(index=True)
    policy_code = Varchar(length=64, index=True)
    policy_version = Integer()
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    source = Varchar(length=16)  # auto (免申即享 match) | application (依申请)
    source_ref = Varchar(length=64, default="")  # the match or application id
    amount_fen = BigInt()
    clause_codes = Text(default="")  # ';'-joined, in clause order
    exclusive_group = Varchar(length=64, null=True, default=None)
    effective_from = Varchar(length=10, default="")  # the version's, for the 就高 tie-break
    state = Varchar(length=16, index=True, choices=EntitlementState)
    reason = Text(default="")  # why payable / excluded / waiting, shown to the subject
    payee_name = Varchar(length=128, default="")
    bank_name = Varchar(length=128, default="")
    payee_account = Varchar(length=64, default="")
    batch_id = Integer(null=True, default=None, index=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # amount_changed: what the subject qualifies for now, waiting for the finance maker to accept it (reverify.py)
    pending_amount_fen = BigInt(null=True, default=None)
    pending_clause_codes = Text(default="")
    # 公示: a policy with publicity_days shows a new entitlement publicly until this instant (the end of its last
    # working day, Beijing time); not payable before. An open objection holds it (``held_by``) until decided.
    publicity_until = Timestamptz(null=True, default=None)
    held_by = Integer(null=True, default=None)  # the id of the open objection that holds it out of every batch


class HeldOut(Table, tablename="pay_held_out"):
    """资格复核: an entitlement held out of the money because its subject, on the current data, no longer qualified
    for the policy version it came from (withdrawn) or qualified for another amount (amount_changed): at a re-match,
    at batch creation, or at the start of a run (then its payment is withheld, never sent). What finance and the
    subject see; the entitlement itself carries its latest state."""

    id: Serial

    entitlement_id = Integer(index=True)
    payment_id = Integer(null=True, default=None)
    batch_id = Integer(null=True, default=None)
    stage = Varchar(length=16)  # match | batch | run
    outcome = Varchar(length=16)  # withdrawn | amount_changed
    version_id = Integer()
    policy_code = Varchar(length=64)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    amount_fen = BigInt()
    new_amount_fen = BigInt(null=True, default=None)
    reason = Text(default="")
    created_at = Timestamptz()


class Budget(Table, tablename="pay_budget"):
    """A policy version's budget and the facts receipts cite. The fund is one per policy code: the latest version's
    row states it (and carries its alert level), every version's commitments count against it, and reservations lock
    the code's rows (budget.lock).

    What is committed is not stored here: it is the ledger's balance (one source of truth).
    """

    id: Serial

    version_id = Integer(unique=True)
    policy_code = Varchar(length=64)
    policy_version = Integer()
    budget_fen = BigInt()
    alert_level = Integer(default=0)  # the highest alert raised so far: 0, 80 or 95 (percent used)
    policy_facts = Text(default="{}")  # title, issuer, clause titles…: what receipts cite, as of the version
    updated_at = Timestamptz()


class Batch(Table, tablename="pay_batch"):
    """代发批次: payments a finance maker proposes and one or two different checkers approve."""

    id: Serial

    policy_code = Varchar(length=64, default="")  # "" for a batch built from a selection
    title = Varchar(length=200, default="")
    status = Varchar(length=16, index=True, choices=BatchStatus)
    maker = Varchar(length=64)
    total_fen = BigInt(default=0)
    payment_count = Integer(default=0)
    needs_second_checker = Boolean(default=False)
    checker = Varchar(length=64, null=True, default=None)
    checked_at = Timestamptz(null=True, default=None)
    second_checker = Varchar(length=64, null=True, default=None)
    second_checked_at = Timestamptz(null=True, default=None)
    reissue = Boolean(default=False)  # a batch of re-issues (退汇重发): its budget is already reserved
    run_count = Integer(default=0)  # how many times `batch run` started it: part of its jobs' ids
    closed_by = Varchar(length=64, null=True, default=None)  # who rejected or cancelled it
    close_reason = Text(default="")
    created_at = Timestamptz()
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


class Payment(Table, tablename="pay_payment"):
    """One transfer to one payee; its status follows created → submitted → accepted → settled | rejected | unknown."""

    id: Serial

    batch_id = Integer(index=True)
    entitlement_id = Integer(index=True)
    attempt = Integer(default=1)  # 1, then 2, 3… for re-issues (退汇重发) of the same entitlement
    reissue_of = Integer(null=True, default=None)
    version_id = Integer(index=True)
    policy_code = Varchar(length=64)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    payee_name = Varchar(length=128)
    payee_account = Varchar(length=64)
    amount_fen = BigInt()
    request_id = Varchar(length=64, unique=True)  # the bank's idempotency key, the same for every retry
    status = Varchar(length=16, index=True, choices=PaymentStatus)
    tries = Integer(default=0)
    due_ms = BigInt(default=0)  # not to be worked on before this time (backoff, settlement polling)
    claimed_by = Varchar(length=48, null=True, default=None)
    claimed_until_ms = BigInt(default=0)
    bank_transfer_id = Varchar(length=64, default="")
    reason = Varchar(length=64, default="")  # the bank's rejection reason, or why it is held
    # where the payment stands in the exceptions queue ("" when in none)
    exception = Varchar(length=16, default="", index=True, choices=PaymentException)
    settled_on = Varchar(length=10, default="", index=True)  # YYYY-MM-DD, bank time (Asia/Shanghai)
    submitted_at = Timestamptz(null=True, default=None)
    settled_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class LedgerEntry(Table, tablename="pay_ledger_entry"):
    """复式记账: one leg of a balanced journal, integer fen, debit positive; append-only, never edited."""

    id: Serial

    journal = Varchar(length=64, index=True)
    entry_type = Varchar(length=16)  # commit | payment | settlement | return | reversal
    account = Varchar(length=16)  # budget | committed | in_transit | paid
    version_id = Integer(index=True)
    batch_id = Integer(null=True, default=None)
    payment_id = Integer(null=True, default=None, index=True)
    subject_kind = Varchar(length=16, null=True, default=None)
    subject_id = Varchar(length=32, null=True, default=None, index=True)
    amount_fen = BigInt()
    # "{payment_id}:{entry_type}:{account}" for a payment's legs: the database refuses a second one.
    unique_key = Varchar(length=96, null=True, default=None, unique=True)
    created_at = Timestamptz()


class Receipt(Table, tablename="pay_receipt"):
    """回单: the facts of one settled payment, written in the settlement's transaction; the PDF is made later."""

    id: Serial

    payment_id = Integer(unique=True)
    code = Varchar(length=32, unique=True)  # the public verification code
    batch_id = Integer(index=True)
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    facts = Text()  # ReceiptFacts as JSON
    content_digest = Varchar(length=64)
    created_at = Timestamptz()


class ReconciliationRun(Table, tablename="pay_reconciliation_run"):
    """对账: one comparison of the ledger with the bank statement of a date."""

    id: Serial

    statement_date = Varchar(length=10, index=True)
    matched = Integer(default=0)
    differences = Integer(default=0)
    bank_lines = Integer(default=0)
    ledger_lines = Integer(default=0)
    actor = Varchar(length=64, default="")
    created_at = Timestamptz()


class ReconciliationDifference(Table, tablename="pay_reconciliation_difference"):
    """One difference found by a reconciliation run; reported to finance, never corrected automatically."""

    id: Serial

    run_id = Integer(index=True)
    kind = Varchar(length=24)  # reconcile.KINDS: missing_at_bank, unknown_to_us, amount_differs, status_differs, …
    request_id = Varchar(length=64, default="")
    transfer_id = Varchar(length=64, default="")
    payment_id = Integer(null=True, default=None)
    bank_amount_fen = BigInt(null=True, default=None)
    ledger_amount_fen = BigInt(null=True, default=None)
    detail = Text(default="")


class NoticeOutbox(Table, tablename="pay_notice_outbox"):
    """Notices owed for payments whose state just changed (payment_sent, money_arrived, payment_returned): written in
    the transaction of the change and removed once the notices are written, so none is lost when a worker dies
    between the commit and queueing the notice job (a sweep picks up rows left behind)."""

    id: Serial

    kind = Varchar(length=32)
    payment_ids = Text()  # comma-separated payment ids
    created_at = Timestamptz()


class RiskFlag(Table, tablename="pay_risk_flag"):
    """风险拦截: one risk rule (payments/service/risk.py) that found one entitlement suspicious, with the facts and the
    query's figures that triggered it (``evidence``, JSON). An open or confirmed flag holds the entitlement out of
    batches and runs; an auditor clears it (a high-severity one needs a second, different auditor) or confirms it.
    One row per rule and entitlement (``key``): a later scan refreshes an open flag's evidence, never duplicates it."""

    id: Serial

    key = Varchar(length=96, unique=True)  # "{rule}|{entitlement_id}"
    rule = Varchar(length=32, index=True)
    severity = Varchar(length=8, index=True)  # low | medium | high
    entitlement_id = Integer(index=True)
    policy_code = Varchar(length=64, default="")
    subject_kind = Varchar(length=16)
    subject_id = Varchar(length=32, index=True)
    amount_fen = BigInt(default=0)
    evidence = Text(default="{}")
    state = Varchar(length=16, index=True)  # open | cleared | confirmed
    first_cleared_by = Varchar(length=64, null=True, default=None)  # a high flag's first auditor (four-eyes)
    first_cleared_at = Timestamptz(null=True, default=None)
    first_reason = Text(default="")
    decided_by = Varchar(length=64, null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()  # the last scan that found it (or the last decision)
