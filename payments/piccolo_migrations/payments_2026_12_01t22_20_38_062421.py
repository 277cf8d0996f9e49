from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Varchar

ID = "2026-12-01T22:20:38:062421"
VERSION = "1.38.0"
DESCRIPTION = "statuses, states and exceptions take their values from kit.vocab (choices: no change to the schema)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="payments", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Batch",
        tablename="pay_batch",
        column_name="status",
        db_column_name="status",
        params={
            "choices": Enum(
                "BatchStatus",
                {
                    "CREATED": "created",
                    "CHECKED": "checked",
                    "APPROVED": "approved",
                    "RUNNING": "running",
                    "COMPLETED": "completed",
                    "REJECTED": "rejected",
                    "CANCELLED": "cancelled",
                },
            )
        },
        old_params={"choices": None},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Entitlement",
        tablename="pay_entitlement",
        column_name="state",
        db_column_name="state",
        params={
            "choices": Enum(
                "EntitlementState",
                {
                    "WAITING_ACCOUNT": "waiting_account",
                    "PAYABLE": "payable",
                    "EXCLUDED": "excluded",
                    "BATCHED": "batched",
                    "PAID": "paid",
                    "ABANDONED": "abandoned",
                },
            )
        },
        old_params={"choices": None},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Payment",
        tablename="pay_payment",
        column_name="status",
        db_column_name="status",
        params={
            "choices": Enum(
                "PaymentStatus",
                {
                    "CREATED": "created",
                    "SUBMITTED": "submitted",
                    "ACCEPTED": "accepted",
                    "SETTLED": "settled",
                    "REJECTED": "rejected",
                    "UNKNOWN": "unknown",
                    "RETURNED": "returned",
                    "VOID": "void",
                },
            )
        },
        old_params={"choices": None},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Payment",
        tablename="pay_payment",
        column_name="exception",
        db_column_name="exception",
        params={
            "choices": Enum(
                "PaymentException",
                {
                    "NONE": "",
                    "OPEN": "open",
                    "REISSUED": "reissued",
                    "ABANDONED": "abandoned",
                    "RETURNED": "returned",
                },
            )
        },
        old_params={"choices": None},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
