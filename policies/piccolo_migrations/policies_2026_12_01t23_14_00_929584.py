from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Varchar

ID = "2026-12-01T23:14:00:929584"
VERSION = "1.38.0"
DESCRIPTION = "policies_version.status: the choices of kit.vocab.VersionStatus"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="policies", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="PolicyVersion",
        tablename="policies_version",
        column_name="status",
        db_column_name="status",
        params={
            "choices": Enum(
                "VersionStatus",
                {
                    "DRAFT": "draft",
                    "IN_REVIEW": "in_review",
                    "PUBLISHED": "published",
                    "SUSPENDED": "suspended",
                    "RETIRED": "retired",
                    "SUPERSEDED": "superseded",
                    "REJECTED": "rejected",
                },
            )
        },
        old_params={"choices": None},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
