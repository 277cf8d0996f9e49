from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-22T15:12:45:602324"
VERSION = "1.38.0"
DESCRIPTION = "audit head sealed: app_audit_head.mac (HMAC of seq and last hash under the audit key)"


class _SealingManager(MigrationManager):
    """Piccolo runs raw steps before its own; here the raw step adds the column itself (the add_column below is kept
    for Piccolo's schema snapshot) and then seals the head of a trail written before this migration."""

    async def _run_add_columns(self, backwards: bool = False):
        if backwards:  # going back, Piccolo drops the column as usual
            await super()._run_add_columns(backwards=True)


async def _add_and_seal():
    from app.audit import head_mac
    from app.tables import AuditHead

    await AuditHead._meta.db.run_ddl("ALTER TABLE app_audit_head ADD COLUMN mac VARCHAR(64) NOT NULL DEFAULT ''")
    for head in await AuditHead.raw("SELECT id, seq, hash FROM app_audit_head"):
        await AuditHead.raw("UPDATE app_audit_head SET mac = {} WHERE id = {}", head_mac(int(head["seq"]), head["hash"]),
                            head["id"])


async def forwards():
    manager = _SealingManager(
        migration_id=ID, app_name="app", description=DESCRIPTION
    )
    manager.add_raw(_add_and_seal)

    manager.add_column(
        table_class_name="AuditHead",
        tablename="app_audit_head",
        column_name="mac",
        db_column_name="mac",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
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

    return manager
