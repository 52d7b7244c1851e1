"""The audit trail: who did what to whose record (never clinical text, never NHS numbers)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import AuditEvent, utcnow


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    person_id: int | None = None,
    detail: str = "",
    at: datetime | None = None,
) -> None:
    session.add(
        AuditEvent(
            actor=actor, action=action, person_id=person_id, detail=detail, at=at or utcnow()
        )
    )


def person_actor(person_id: int | None) -> str:
    return f"person:{person_id}"
