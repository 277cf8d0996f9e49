from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "the 12345 hotline: consent codes and agents' grants (app_hotline_consent, app_hotline_grant)"

_TABLES = {
    ("HotlineConsent", "app_hotline_consent"): [
        ("subject_kind", Varchar, {"length": 16, "default": ""}, False),
        ("subject_id", Varchar, {"length": 18, "default": ""}, True),
        ("code_hash", Varchar, {"length": 64, "default": ""}, False),
        ("created_at", Timestamptz, {"default": TimestamptzNow()}, False),
        ("expires_at", Timestamptz, {"default": TimestamptzNow()}, False),
        ("used_at", Timestamptz, {"default": None, "null": True}, False),
        ("failures", Integer, {"default": 0}, False),
    ],
    ("HotlineGrant", "app_hotline_grant"): [
        ("agent", Varchar, {"length": 64, "default": ""}, True),
        ("subject_kind", Varchar, {"length": 16, "default": ""}, False),
        ("subject_id", Varchar, {"length": 18, "default": ""}, True),
        ("consent_id", Integer, {"default": 0}, False),
        ("created_at", Timestamptz, {"default": TimestamptzNow()}, False),
        ("expires_at", Timestamptz, {"default": TimestamptzNow()}, False),
    ],
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="app", description=DESCRIPTION)
    for (class_name, tablename), columns in _TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params, index in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params={
                    "null": False,
                    **params,
                    "primary_key": False,
                    "unique": False,
                    "index": index,
                    "index_method": IndexMethod.btree,
                    "choices": None,
                    "db_column_name": None,
                    "secret": False,
                },
                schema=None,
            )
    return manager
