import re

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.constraints import Unique

ID = "2026-11-22T10:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = ("match identity: UNIQUE (ruleset_key, subject_id, match_digest) instead of UNIQUE (match_digest) and the "
               "ruleset_key index")


class _RawManager(MigrationManager):
    """Records the changes below for Piccolo's schema snapshot, and leaves carrying them out to the raw steps: SQLite
    can neither drop a UNIQUE nor add a constraint with ALTER TABLE, so there the table is rebuilt."""

    async def _run_alter_columns(self, backwards: bool = False):
        pass

    async def _run_add_constraints(self, backwards: bool = False):
        pass


def _engine():
    from eligibility.tables import Match

    return Match._meta.db


async def _sqlite_rebuild(engine, create_sql: str) -> None:
    """Rebuild eligibility_match with ``create_sql`` (same columns), keeping its rows and id sequence."""
    await engine.run_ddl(create_sql.replace('"eligibility_match"', '"eligibility_match_rebuilt"', 1))
    await engine.run_ddl("INSERT INTO eligibility_match_rebuilt SELECT * FROM eligibility_match")
    await engine.run_ddl("DROP TABLE eligibility_match")
    await engine.run_ddl("ALTER TABLE eligibility_match_rebuilt RENAME TO eligibility_match")
    for column in ("version_id", "subject_id"):
        await engine.run_ddl(f"CREATE INDEX eligibility_match_{column} ON eligibility_match ({column})")


async def _current_sql() -> str:
    from eligibility.tables import Match

    rows = await Match.raw("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'eligibility_match'")
    return rows[0]["sql"]


async def forwards_sql() -> None:
    engine = _engine()
    if engine.engine_type == "postgres":
        # In the migration's transaction: eligibility_match is locked while the new index is built (seconds per
        # million matches), and a constraint not named as Piccolo names it fails the migration instead of staying.
        await engine.run_ddl('ALTER TABLE eligibility_match DROP CONSTRAINT "eligibility_match_match_digest_key"')
        await engine.run_ddl("DROP INDEX IF EXISTS eligibility_match_ruleset_key")
        await engine.run_ddl("ALTER TABLE eligibility_match ADD CONSTRAINT match_identity "
                             "UNIQUE (ruleset_key, subject_id, match_digest)")
        return
    sql = await _current_sql()
    new, n = re.subn(r'("match_digest" VARCHAR\(64\)) UNIQUE', r"\1", sql)
    if n != 1:
        raise RuntimeError(f"eligibility_match is not as the earlier migrations made it: {sql}")
    new = new.rstrip()[:-1] + ', CONSTRAINT match_identity UNIQUE ("ruleset_key", "subject_id", "match_digest"))'
    await _sqlite_rebuild(engine, new)


async def backwards_sql() -> None:
    engine = _engine()
    if engine.engine_type == "postgres":
        await engine.run_ddl("ALTER TABLE eligibility_match DROP CONSTRAINT IF EXISTS match_identity")
        await engine.run_ddl("CREATE INDEX eligibility_match_ruleset_key ON eligibility_match (ruleset_key)")
        await engine.run_ddl('ALTER TABLE eligibility_match ADD CONSTRAINT "eligibility_match_match_digest_key" '
                             "UNIQUE (match_digest)")
        return
    sql = await _current_sql()
    new = re.sub(r',\s*CONSTRAINT match_identity UNIQUE \([^)]*\)', "", sql)
    new = new.replace('"match_digest" VARCHAR(64)', '"match_digest" VARCHAR(64) UNIQUE', 1)
    await _sqlite_rebuild(engine, new)
    await engine.run_ddl("CREATE INDEX eligibility_match_ruleset_key ON eligibility_match (ruleset_key)")


async def forwards():
    manager = _RawManager(migration_id=ID, app_name="eligibility", description=DESCRIPTION)
    manager.add_raw(forwards_sql)
    manager.add_raw_backwards(backwards_sql)

    manager.alter_column(
        table_class_name="Match",
        tablename="eligibility_match",
        column_name="ruleset_key",
        db_column_name="ruleset_key",
        params={"index": False},
        old_params={"index": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Match",
        tablename="eligibility_match",
        column_name="match_digest",
        db_column_name="match_digest",
        params={"unique": False},
        old_params={"unique": True},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.add_constraint(
        table_class_name="Match",
        tablename="eligibility_match",
        constraint_name="match_identity",
        constraint_class=Unique,
        params={
            "columns": ["ruleset_key", "subject_id", "match_digest"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    return manager
