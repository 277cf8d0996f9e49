from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T00:46:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "matches stored before match states: only the latest of each rule set and subject stays current"


def _engine():
    from eligibility.tables import Match

    return Match._meta.db


async def mark_superseded() -> None:
    """Matches stored before this migration: the latest row of each rule set and subject stays current (what
    matches_for used to return), the older ones are superseded."""
    await _engine().run_ddl(
        "UPDATE eligibility_match SET state = 'superseded' WHERE EXISTS (SELECT 1 FROM eligibility_match n "
        "WHERE n.ruleset_key = eligibility_match.ruleset_key AND n.subject_id = eligibility_match.subject_id "
        "AND n.id > eligibility_match.id)"
    )


async def forwards():
    # A migration of its own: a manager runs its raw steps before its column changes.
    manager = MigrationManager(migration_id=ID, app_name="eligibility", description=DESCRIPTION)
    manager.add_raw(mark_superseded)
    return manager
