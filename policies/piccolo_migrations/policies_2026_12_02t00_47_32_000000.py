from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from enum import Enum
from piccolo.columns.column_types import Varchar

ID = "2026-12-02T00:47:32:000000"
VERSION = "1.38.0"
DESCRIPTION = "policies_version.status: a published version waiting for its effective_from is 'scheduled'"

_OLD = {
    "DRAFT": "draft",
    "IN_REVIEW": "in_review",
    "PUBLISHED": "published",
    "SUSPENDED": "suspended",
    "RETIRED": "retired",
    "SUPERSEDED": "superseded",
    "REJECTED": "rejected",
}
_NEW = {
    "DRAFT": "draft",
    "IN_REVIEW": "in_review",
    "PUBLISHED": "published",
    "SCHEDULED": "scheduled",
    "SUSPENDED": "suspended",
    "RETIRED": "retired",
    "SUPERSEDED": "superseded",
    "REJECTED": "rejected",
}


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="policies", description=DESCRIPTION
    )

    # Choices live in the code only (a varchar, no database constraint): nothing changes in the tables.
    manager.alter_column(
        table_class_name="PolicyVersion",
        tablename="policies_version",
        column_name="status",
        db_column_name="status",
        params={"choices": Enum("VersionStatus", _NEW)},
        old_params={"choices": Enum("VersionStatus", _OLD)},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
