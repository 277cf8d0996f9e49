from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-03T18:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "eligibility_correction_request: corrections asked of the feed that owns the field (objections upheld)"


def _params(**kw):
    return {
        "primary_key": False,
        "unique": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **kw,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="eligibility", description=DESCRIPTION)
    manager.add_table(
        class_name="CorrectionRequest", tablename="eligibility_correction_request", schema=None, columns=None
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="feed",
        db_column_name="feed",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default="", index=True, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="subject_kind",
        db_column_name="subject_kind",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=16, default="", index=False, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="subject_id",
        db_column_name="subject_id",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=40, default="", index=True, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="field",
        db_column_name="field",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default="", index=False, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="old_value",
        db_column_name="old_value",
        column_class_name="Text",
        column_class=Text,
        params=_params(default=None, index=False, null=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="proposed_value",
        db_column_name="proposed_value",
        column_class_name="Text",
        column_class=Text,
        params=_params(default=None, index=False, null=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="objection_id",
        db_column_name="objection_id",
        column_class_name="Integer",
        column_class=Integer,
        params=_params(default=0, index=True, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="officer",
        db_column_name="officer",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default="", index=False, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="status",
        db_column_name="status",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=16, default="pending", index=True, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="reason",
        db_column_name="reason",
        column_class_name="Text",
        column_class=Text,
        params=_params(default="", index=False, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(default=TimestamptzNow(), index=False, null=False),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="decided_at",
        db_column_name="decided_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(default=None, index=False, null=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="CorrectionRequest",
        tablename="eligibility_correction_request",
        column_name="decided_by",
        db_column_name="decided_by",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=64, default="", index=False, null=False),
        schema=None,
    )
    return manager
