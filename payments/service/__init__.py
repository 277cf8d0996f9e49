"""The service of payments/: entitlements, budgets, batches and maker-checker, the payment runner, the ledger,
receipts and reconciliation. Other parts of the platform call these names."""
from payments.service.batches import (BatchCreated, approve_batch, cancel_batch, create_batch, get_batch,  # noqa: F401
                                      list_batches, reject_batch, request_id_for)
from payments.service.budget import BudgetUsage, alerts as budget_alerts, usage as budget_usage  # noqa: F401
from payments.service.entitlements import (account_verified, entitlement_counts, entitlements_of_subject,  # noqa: F401
                                           get_entitlement, record_entitlements)
from payments.service.exceptions import (abandon_payment, exceptions_queue, payments_of_batch,  # noqa: F401
                                         payments_of_subject, record_return, reissue_payments)
from payments.service.ledger import check_balances, subject_paid, version_balances  # noqa: F401
from payments.service.receipts import (receipt_facts, receipt_of_payment, receipt_standing,  # noqa: F401
                                       receipts_of_batch, receipts_of_subject)
from payments.service.reconcile import ReconciliationResult, differences_of, list_runs, reconcile  # noqa: F401
from payments.service.notices import notify_payments  # noqa: F401
from payments.service.runs import (Chunk, Progress, finish_if_done, has_active, progress, run_batch,  # noqa: F401
                                   start_batch)  # noqa: F401
from payments.service.sources import (create_entitlement_from_application, policy_facts_of,  # noqa: F401
                                      refresh_account, refresh_entitlements)
from payments.service.transfer import RunnerOptions, pay_range  # noqa: F401
