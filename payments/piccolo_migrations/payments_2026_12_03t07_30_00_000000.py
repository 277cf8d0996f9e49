from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pay_entitlement.publicity_until and .held_by: 公示 before paying, and an objection holding an entitlement"

_PARAMS = {
    "null": True,
    "primary_key": False,
    "unique": False,
    "index": False,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Entitlement",
        tablename="pay_entitlement",
        column_name="publicity_until",
        db_column_name="publicity_until",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={"default": None, **_PARAMS},
        schema=None,
    )
    manager.add_column(
        table_class_name="Entitlement",
        tablename="pay_entitlement",
        column_name="held_by",
        db_column_name="held_by",
        column_class_name="Integer",
        column_class=Integer,
        params={"default": None, **_PARAMS},
        schema=None,
    )
    return manager
