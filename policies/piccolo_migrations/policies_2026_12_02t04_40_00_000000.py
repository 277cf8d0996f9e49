from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T04:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "policies_subject_account.status_reason: why finance rejected a corrected account"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="policies", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="SubjectAccount",
        tablename="policies_subject_account",
        column_name="status_reason",
        db_column_name="status_reason",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
