from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T04:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "an index on policies_version (policy, number): the officer's list finds each policy's latest version by it "
    "(a province's library of 17,000 policies pages in tens of milliseconds)"
)


def _engine():
    from policies.tables import PolicyVersion

    return PolicyVersion._meta.db


async def forwards_sql() -> None:
    await _engine().run_ddl(
        "CREATE INDEX IF NOT EXISTS policies_version_policy_number ON policies_version (policy, number)"
    )


async def backwards_sql() -> None:
    await _engine().run_ddl("DROP INDEX IF EXISTS policies_version_policy_number")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="policies", description=DESCRIPTION)
    manager.add_raw(forwards_sql)
    manager.add_raw_backwards(backwards_sql)
    return manager
