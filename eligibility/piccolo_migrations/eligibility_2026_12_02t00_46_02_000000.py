from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T00:46:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "a stored match's state (current, superseded, withdrawn) and why it was withdrawn"


def _params(**kw):
    base = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    base.update(kw)
    return base


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="eligibility", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Match",
        tablename="eligibility_match",
        column_name="state",
        db_column_name="state",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=12, default="current"),
        schema=None,
    )
    manager.add_column(
        table_class_name="Match",
        tablename="eligibility_match",
        column_name="withdrawn_reason",
        db_column_name="withdrawn_reason",
        column_class_name="Text",
        column_class=Text,
        params=_params(default=""),
        schema=None,
    )
    manager.add_column(
        table_class_name="Match",
        tablename="eligibility_match",
        column_name="withdrawn_at",
        db_column_name="withdrawn_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(default=None, null=True),
        schema=None,
    )
    return manager
