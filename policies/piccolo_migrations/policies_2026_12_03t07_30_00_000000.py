from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "policies_version.publicity_days: working days the payees are publicly shown (公示) before paying; "
    "policies_objection.origin, .contact, .outcome, .reminded_at, .escalated_at"
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="policies", description=DESCRIPTION)

    manager.add_column(
        table_class_name="PolicyVersion",
        tablename="policies_version",
        column_name="publicity_days",
        db_column_name="publicity_days",
        column_class_name="Integer",
        column_class=Integer,
        params={
            "default": 0,
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

    for name, cls, params in (
        ("origin", Varchar, {"length": 16, "default": "subject", "null": False}),
        ("contact", Varchar, {"length": 200, "default": "", "null": False}),
        ("outcome", Varchar, {"length": 16, "default": "", "null": False}),
        ("reminded_at", Timestamptz, {"default": None, "null": True}),
        ("escalated_at", Timestamptz, {"default": None, "null": True}),
    ):
        manager.add_column(
            table_class_name="Objection",
            tablename="policies_objection",
            column_name=name,
            db_column_name=name,
            column_class_name=cls.__name__,
            column_class=cls,
            params={
                **params,
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
