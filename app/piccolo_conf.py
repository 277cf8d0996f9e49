"""Piccolo configuration: the engine comes from ZHIDA_DATABASE_URL."""

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

from app.config import get_settings


class ZhidaSQLiteTransaction(SQLiteTransaction):
    """Piccolo's SQLite transaction, closing its connection on every way out.

    Piccolo opens the connection, then runs BEGIN; when BEGIN fails ("database is locked" after the busy timeout)
    or COMMIT/ROLLBACK fails, the connection was never closed, and each leaked aiosqlite connection keeps a
    non-daemon thread alive, so a command that met a locked database never exited (measured: a 200,000-profile feed
    whose rematch jobs failed that way hung in threading._shutdown until killed)."""

    async def __aenter__(self) -> SQLiteTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            await self.begin()
        except BaseException:
            await self.connection.close()
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            await self.connection.close()
            self.engine.current_transaction.reset(self.context)
        return exception is None


class ZhidaSQLiteEngine(SQLiteEngine):
    """SQLite with IMMEDIATE transactions by default.

    A DEFERRED transaction that reads and then writes fails at once with "database is locked" when
    another writer got there first; IMMEDIATE takes the write lock up front and waits for it, which
    is what every service that changes data wants. Domain code just calls ``engine.transaction()``.
    """

    def transaction(self, transaction_type: TransactionType = TransactionType.immediate, allow_nested: bool = True):
        return ZhidaSQLiteTransaction(engine=self, transaction_type=transaction_type, allow_nested=allow_nested)


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
