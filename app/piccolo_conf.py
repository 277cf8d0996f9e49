"""Piccolo configuration: the engine comes from ZHIDA_DATABASE_URL."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from app.config import get_settings


class ZhidaSQLiteEngine(SQLiteEngine):
    """SQLite with IMMEDIATE transactions by default.

    A DEFERRED transaction that reads and then writes fails at once with "database is locked" when
    another writer got there first; IMMEDIATE takes the write lock up front and waits for it, which
    is what every service that changes data wants. Domain code just calls ``engine.transaction()``.
    """

    def transaction(self, transaction_type: TransactionType = TransactionType.immediate, allow_nested: bool = True):
        return super().transaction(transaction_type=transaction_type, allow_nested=allow_nested)


def _engine():
    settings = get_settings()
    if settings.is_postgres:
        return PostgresEngine(config={"dsn": settings.database_url}, log_queries=False)
    return ZhidaSQLiteEngine(path=settings.sqlite_path, timeout=60)


DB = _engine()

APP_REGISTRY = AppRegistry(
    apps=[
        "app.piccolo_app",
        "eligibility.piccolo_app",
        "policies.piccolo_app",
        "notifications.piccolo_app",
        "payments.piccolo_app",
    ]
)
