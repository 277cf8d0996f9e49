from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-11-22T08:12:06:582291"
VERSION = "1.38.0"
DESCRIPTION = "drop indexes nothing reads: profiles.subject_id (its UNIQUE constraint indexes it), match.code"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="eligibility", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="EnterpriseProfile",
        tablename="eligibility_enterprise",
        column_name="subject_id",
        db_column_name="subject_id",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Match",
        tablename="eligibility_match",
        column_name="code",
        db_column_name="code",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="TalentProfile",
        tablename="eligibility_talent",
        column_name="subject_id",
        db_column_name="subject_id",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
