from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T18:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "app_staff_message: the staff inbox (deadline reminders and escalations)"

# (name, class, params, index, unique)
_COLUMNS = [
    ("key", Varchar, {"length": 200, "default": ""}, True, True),
    ("username", Varchar, {"length": 64, "default": ""}, True, False),
    ("kind", Varchar, {"length": 32, "default": ""}, False, False),
    ("entity", Varchar, {"length": 32, "default": ""}, False, False),
    ("entity_id", Varchar, {"length": 64, "default": ""}, False, False),
    ("params", Text, {"default": "{}"}, False, False),
    ("link", Text, {"default": ""}, False, False),
    ("created_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ("read_at", Timestamptz, {"default": None, "null": True}, False, False),
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="app", description=DESCRIPTION)
    manager.add_table(class_name="StaffMessage", tablename="app_staff_message", schema=None, columns=None)
    for name, column_class, params, index, unique in _COLUMNS:
        manager.add_column(
            table_class_name="StaffMessage",
            tablename="app_staff_message",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params={
                "null": False,
                **params,
                "primary_key": False,
                "unique": unique,
                "index": index,
                "index_method": IndexMethod.btree,
                "choices": None,
                "db_column_name": None,
                "secret": False,
            },
            schema=None,
        )
    return manager
