"""What every `diabridge` command that touches the database shares: who is acting (for the
audit trail) and one session on an up-to-date database."""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.settings import Settings

T = TypeVar("T")


def actor() -> str:
    """The operating-system user, as the audit trail names a command-line action."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:
        return "cli"


def in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Runs `work` in one committed session, migrating the database first."""

    async def _run() -> T:
        db = Database(settings.database_url)
        try:
            await db.upgrade()
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(_run())
