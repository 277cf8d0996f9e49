from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T07:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "policies_search_token: the public library's word index (jieba), written at publication"

_PARAMS = {
    "null": False,
    "primary_key": False,
    "unique": False,
    "index": True,
    "index_method": IndexMethod.btree,
    "choices": None,
    "db_column_name": None,
    "secret": False,
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="policies", description=DESCRIPTION)
    manager.add_table(class_name="SearchToken", tablename="policies_search_token", schema=None, columns=None)
    manager.add_column(
        table_class_name="SearchToken",
        tablename="policies_search_token",
        column_name="version_id",
        db_column_name="version_id",
        column_class_name="Integer",
        column_class=Integer,
        params={"default": 0, **_PARAMS},
        schema=None,
    )
    manager.add_column(
        table_class_name="SearchToken",
        tablename="policies_search_token",
        column_name="token",
        db_column_name="token",
        column_class_name="Varchar",
        column_class=Varchar,
        params={"length": 64, "default": "", **_PARAMS},
        schema=None,
    )
    return manager
