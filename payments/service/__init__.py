"""The service of payments/: entitlements, budgets, batches and maker-checker, the payment runner, the ledger,
receipts and reconciliation. Other parts of the platform call these names."""

from payments.service.batches import (  # noqa: F401
    BATCH_SORTS,
    BatchCreated,
    approve_batch,
    batch_page,
    cancel_batch,
    create_batch,
    get_batch,
    left_out_of,
    list_batches,
    payable_by_policy,
    reject_batch,
)
from payments.service.budget import BudgetUsage  # noqa: F401
from payments.service.budget import alerts as budget_alerts  # noqa: F401
from payments.service.budget import usage as budget_usage  # noqa: F401
from payments.service.entitlements import (  # noqa: F401
    account_verified,
    entitlement_counts,
    entitlements_of_subject,
    get_entitlement,
    prior_payments,
    record_entitlements,
)
from payments.service.exceptions import (  # noqa: F401
    PAYMENT_SORTS,
    abandon_payment,
    exceptions_page,
    exceptions_queue,
    payment_chunks,
    payments_of_batch,
    payments_of_subject,
    payments_page,
    record_return,
    reissue_payments,
    reissue_refusals,
)
from payments.service.ledger import check_balances, subject_paid, version_balances  # noqa: F401
from payments.service.local_run import run_batch  # noqa: F401
from payments.service.notices import notify_payments  # noqa: F401
from payments.service.payment_rows import request_id_for  # noqa: F401
from payments.service.receipts import (  # noqa: F401
    receipt_facts,
    receipt_of_payment,
    receipt_standing,
    receipts_of_batch,
    receipts_of_subject,
)
from payments.service.reconcile import (  # noqa: F401
    DIFFERENCE_SORTS,
    ReconciliationResult,
    difference_chunks,
    differences_of,
    differences_page,
    list_runs,
    reconcile,
)
from payments.service.reverify import (  # noqa: F401
    accept_amount,
    check_entitlements,
    held_out,
    tell_withdrawn,
    withdraw_unqualified,
)
from payments.service.risk import RULES as RISK_RULES  # noqa: F401
from payments.service.risk import (  # noqa: F401
    RiskSettings,  # noqa: F401
    get_flag,
    list_flags,
)
from payments.service.risk import clear as clear_flag  # noqa: F401
from payments.service.risk import confirm as confirm_flag  # noqa: F401
from payments.service.risk import scan as risk_scan  # noqa: F401
from payments.service.runs import (  # noqa: F401
    Chunk,
    Progress,
    finish_if_done,
    has_active,
    progress,
    start_batch,
)
from payments.service.sources import (  # noqa: F401
    create_entitlement_from_application,
    policy_facts_of,
    refresh_account,
    refresh_entitlements,
)
from payments.service.transfer import RunnerOptions, pay_range  # noqa: F401
