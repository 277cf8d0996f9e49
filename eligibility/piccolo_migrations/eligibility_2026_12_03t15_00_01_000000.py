from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-03T15:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "partial index of the current matches still waiting for their notice (the notice pass reads only those)"

INDEX = "eligibility_match_unnotified"


def _engine():
    from eligibility.tables import Match

    return Match._meta.db


async def create_index() -> None:
    # The same statement on SQLite and PostgreSQL; the literal 'current' is what eligibility.service's query repeats.
    await _engine().run_ddl(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON eligibility_match (version_id, id) "
        "WHERE notified_at IS NULL AND state = 'current'"
    )


async def drop_index() -> None:
    await _engine().run_ddl(f"DROP INDEX IF EXISTS {INDEX}")


async def forwards():
    # A migration of its own: a manager runs its raw steps before its column changes, and the column is the
    # previous migration's.
    manager = MigrationManager(migration_id=ID, app_name="eligibility", description=DESCRIPTION)
    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
