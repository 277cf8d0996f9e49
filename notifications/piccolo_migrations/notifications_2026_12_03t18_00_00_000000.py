from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notifications_recipient.readings_enabled: the opt-in to 政策解读 of policies not yet met (default off)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="notifications", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Recipient",
        tablename="notifications_recipient",
        column_name="readings_enabled",
        db_column_name="readings_enabled",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
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
