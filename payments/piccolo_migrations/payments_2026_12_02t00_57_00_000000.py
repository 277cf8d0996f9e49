from enum import Enum

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar

ID = "2026-12-02T00:57:00:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "entitlement keys per policy code, period and subject instead of per version (existing rows: the lifetime right, "
    "a second row of the same right numbered #1, #2… in id order); pay_entitlement.key widened to 200; the state "
    "superseded"
)


class _RawManager(MigrationManager):
    """Records the column changes for Piccolo's schema snapshot and leaves carrying them out to the raw step (SQLite
    does not enforce a VARCHAR length; PostgreSQL is altered there)."""

    async def _run_alter_columns(self, backwards: bool = False):
        pass


def _engine():
    from payments.tables import Entitlement

    return Entitlement._meta.db


async def forwards_sql() -> None:
    engine = _engine()
    if engine.engine_type == "postgres":
        await engine.run_ddl("ALTER TABLE pay_entitlement ALTER COLUMN key TYPE VARCHAR(200)")
    # Every existing version has once = lifetime: the right is (code, "", kind, subject). Old keys look like
    # "123:talent:…" and contain no '|', so no new key can collide with one not yet rewritten.
    await engine.run_ddl(
        "UPDATE pay_entitlement SET period = '', "
        "right_key = policy_code || '||' || subject_kind || '|' || subject_id"
    )
    await engine.run_ddl(
        "UPDATE pay_entitlement SET key = CASE WHEN n = 0 THEN right_key ELSE right_key || '#' || CAST(n AS VARCHAR(12)) "
        "END FROM (SELECT e2.id AS eid, (SELECT COUNT(*) FROM pay_entitlement e3 WHERE e3.right_key = e2.right_key "
        "AND e3.id < e2.id) AS n FROM pay_entitlement e2) AS numbered WHERE numbered.eid = pay_entitlement.id"
    )


async def backwards_sql() -> None:
    engine = _engine()
    await engine.run_ddl(
        "UPDATE pay_entitlement SET key = CAST(version_id AS VARCHAR(12)) || ':' || subject_kind || ':' || subject_id"
    )
    if engine.engine_type == "postgres":
        await engine.run_ddl("ALTER TABLE pay_entitlement ALTER COLUMN key TYPE VARCHAR(96)")


async def forwards():
    manager = _RawManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    manager.add_raw(forwards_sql)
    manager.add_raw_backwards(backwards_sql)

    manager.alter_column(
        table_class_name="Entitlement",
        tablename="pay_entitlement",
        column_name="key",
        db_column_name="key",
        params={"length": 200},
        old_params={"length": 96},
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    manager.alter_column(
        table_class_name="Entitlement",
        tablename="pay_entitlement",
        column_name="state",
        db_column_name="state",
        params={
            "choices": Enum(
                "EntitlementState",
                {
                    "WAITING_ACCOUNT": "waiting_account",
                    "PAYABLE": "payable",
                    "EXCLUDED": "excluded",
                    "BATCHED": "batched",
                    "PAID": "paid",
                    "ABANDONED": "abandoned",
                    "SUPERSEDED": "superseded",
                },
            )
        },
        old_params={
            "choices": Enum(
                "EntitlementState",
                {
                    "WAITING_ACCOUNT": "waiting_account",
                    "PAYABLE": "payable",
                    "EXCLUDED": "excluded",
                    "BATCHED": "batched",
                    "PAID": "paid",
                    "ABANDONED": "abandoned",
                },
            )
        },
        column_class=Varchar,
        old_column_class=Varchar,
        schema=None,
    )

    return manager
