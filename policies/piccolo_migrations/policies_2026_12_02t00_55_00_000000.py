from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T00:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "policies_version.once and .top_up: how often one subject may be paid under a policy (code)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="policies", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="PolicyVersion",
        tablename="policies_version",
        column_name="once",
        db_column_name="once",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
            "default": "lifetime",
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

    manager.add_column(
        table_class_name="PolicyVersion",
        tablename="policies_version",
        column_name="top_up",
        db_column_name="top_up",
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
