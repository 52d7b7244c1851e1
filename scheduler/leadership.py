"""Exactly one process dispatches the outbox at a time (principle 8).

With PostgreSQL the dispatcher holds a session-level advisory lock on a connection of its own;
if the process dies, PostgreSQL drops the connection and the lock, and the next process to try
takes over. With SQLite there is one process by design, so the role is always held.
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.db import Database
from bot.services import outbox

log = logging.getLogger(__name__)

# A fixed 64-bit key: "diab" "ridg" as two ASCII words.
DISPATCH_LOCK_KEY = 0x64696162_72696467


class DispatchLeadership:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: AsyncConnection | None = None
        # The lock lives as long as its PostgreSQL session, so its connection must never go
        # back to a pool: closing it has to end the session and free the lock.
        self._lock_engine: AsyncEngine | None = (
            create_async_engine(db.url, poolclass=NullPool, hide_parameters=True)
            if db.is_postgres
            else None
        )

    @property
    def held(self) -> bool:
        return not self.db.is_postgres or self._connection is not None

    async def acquire(self) -> bool:
        """True while this process may dispatch. Cheap to call before every run."""
        if not self.db.is_postgres:
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("lost the dispatch lock connection; will try to take it again")
                await self._drop()
        assert self._lock_engine is not None
        connection = await self._lock_engine.connect()
        try:
            got = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:key)"), {"key": DISPATCH_LOCK_KEY}
                )
            ).scalar_one()
            await connection.commit()
        except Exception:
            await connection.close()
            raise
        if not got:
            await connection.close()
            return False
        self._connection = connection
        # Holding the lock proves no other dispatcher is alive, so rows left `sending` belong
        # to one that died: hand them back now rather than waiting for their leases.
        async with self.db.session() as session:
            released = await outbox.release_orphans(session)
        log.info("took the dispatch role; %d in-flight rows handed back", released)
        return True

    async def _drop(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()
            except Exception:
                log.debug("closing the dispatch lock connection failed", exc_info=True)
            self._connection = None

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": DISPATCH_LOCK_KEY}
                )
            finally:
                await self._drop()
        if self._lock_engine is not None:
            await self._lock_engine.dispose()
