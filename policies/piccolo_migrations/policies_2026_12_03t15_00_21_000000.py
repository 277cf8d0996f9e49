from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T15:00:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "policies_version.guide_json: the 申兑指南 (who, materials, processing days, where, contact) of a pack"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="policies", description=DESCRIPTION)

    manager.add_column(
        table_class_name="PolicyVersion",
        tablename="policies_version",
        column_name="guide_json",
        db_column_name="guide_json",
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
