"""The outbox: every proactive message is a row here before it is a Telegram message.

Planners `queue()` rows (a dedupe key makes a second run a no-op). The dispatcher `claim_due()`s
rows under a lease, and records each outcome. A row whose lease ran out (its dispatcher died)
is claimed again by the next run.

The one window in which a message can be sent twice: Telegram accepted the message, and the
process died before the dispatcher recorded it as sent (it records sends in batches every
0.1 s or 100 rows; a batch whose write had not committed is in the window too). The row is
still `sending` under a lease that
will expire, so the next dispatcher sends it again. Everything else is at most once.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import OutboxMessage, OutboxStatus, Person, Priority

ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class ClaimedMessage:
    message: OutboxMessage
    person: Person | None


async def queue(
    session: AsyncSession,
    *,
    template_key: str,
    dedupe_key: str,
    due_at: datetime,
    priority: Priority,
    params: dict[str, Any] | None = None,
    person_id: int | None = None,
    chat_id: int | None = None,
    chat_language: str | None = None,
    topic: str | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Queues one message; returns False when the dedupe key was already queued."""
    if (person_id is None) == (chat_id is None):
        raise ValueError("a message goes to exactly one of a person or a chat")
    values = {
        "template_key": template_key,
        "dedupe_key": dedupe_key,
        "due_at": due_at,
        "priority": int(priority),
        "params": params or {},
        "person_id": person_id,
        "chat_id": chat_id,
        "chat_language": chat_language,
        "topic": topic,
        "expires_at": expires_at,
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "created_at": datetime.now(due_at.tzinfo),
    }
    bind = session.bind
    dialect = bind.dialect.name if bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxMessage).values(values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    result = await session.exec(statement)  # type: ignore[call-overload]
    return bool(result.rowcount)


async def queue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """`queue` for many rows (each a dict of its arguments) in one statement; a dedupe key
    already queued is skipped. Returns how many were queued."""
    if not rows:
        return 0
    now = datetime.now(UTC)
    values = [
        {
            "person_id": None,
            "chat_id": None,
            "chat_language": None,
            "topic": None,
            "expires_at": None,
            "params": {},
            **row,
            "priority": int(row["priority"]),
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "created_at": now,
        }
        for row in rows
    ]
    bind = session.bind
    insert = pg_insert if bind is not None and bind.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxMessage)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(OutboxMessage.id))
    )
    connection = await session.connection()
    return len((await connection.execute(statement, values)).all())


def _due(now: datetime) -> Any:
    return or_(
        and_(col(OutboxMessage.status) == OutboxStatus.PENDING, col(OutboxMessage.due_at) <= now),
        and_(
            col(OutboxMessage.status) == OutboxStatus.SENDING,
            col(OutboxMessage.lease_expires_at) < now,
        ),
    )


async def claim_due(
    session: AsyncSession,
    *,
    now: datetime,
    worker_id: str,
    limit: int,
    lease_seconds: float,
) -> list[ClaimedMessage]:
    """Leases up to `limit` due rows to this worker, most urgent first."""
    candidates = (
        select(OutboxMessage.id)
        .where(_due(now))
        .order_by(col(OutboxMessage.priority), col(OutboxMessage.due_at), col(OutboxMessage.id))
        .limit(limit)
    )
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        # Two dispatchers racing never see the same row: each skips what the other holds.
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list((await session.exec(candidates)).all())
    if not ids:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    # The due condition is repeated so a row claimed by someone else in between is left alone.
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids), _due(now))
        .values(
            status=OutboxStatus.SENDING,
            leased_by=worker_id,
            lease_expires_at=lease_until,
        )
    )
    rows = (
        await session.exec(
            select(OutboxMessage, Person)
            .join(Person, col(Person.id) == col(OutboxMessage.person_id), isouter=True)
            .where(
                col(OutboxMessage.id).in_(ids),
                col(OutboxMessage.leased_by) == worker_id,
                col(OutboxMessage.status) == OutboxStatus.SENDING,
                col(OutboxMessage.lease_expires_at) == lease_until,
            )
            .order_by(col(OutboxMessage.priority), col(OutboxMessage.due_at), col(OutboxMessage.id))
        )
    ).all()
    return [ClaimedMessage(message=m, person=p) for m, p in rows]


async def _finish(session: AsyncSession, message_id: int, worker_id: str, **values: Any) -> None:
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == message_id,
            col(OutboxMessage.leased_by) == worker_id,
            col(OutboxMessage.status) == OutboxStatus.SENDING,
        )
        .values(**values)
    )


async def mark_sent_many(
    session: AsyncSession, worker_id: str, sent: list[tuple[int, int | None, datetime]]
) -> None:
    """Records many sends in one statement (the dispatcher batches them for throughput)."""
    if not sent:
        return
    statement = (
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id) == bindparam("row_id"),
            col(OutboxMessage.leased_by) == worker_id,
            col(OutboxMessage.status) == OutboxStatus.SENDING,
        )
        .values(
            status=OutboxStatus.SENT,
            telegram_message_id=bindparam("telegram_id"),
            sent_at=bindparam("at"),
            attempts=OutboxMessage.attempts + 1,
            lease_expires_at=None,
        )
    )
    connection = await session.connection()
    await connection.execute(
        statement,
        [{"row_id": row_id, "telegram_id": tid, "at": at} for row_id, tid, at in sent],
    )


async def reschedule(
    session: AsyncSession,
    message_id: int,
    worker_id: str,
    *,
    due_at: datetime,
    error: str | None,
    count_attempt: bool,
) -> None:
    values: dict[str, Any] = {
        "status": OutboxStatus.PENDING,
        "due_at": due_at,
        "lease_expires_at": None,
        "leased_by": None,
    }
    if error is not None:
        values["last_error"] = error[:ERROR_TEXT_LIMIT]
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    await _finish(session, message_id, worker_id, **values)


async def mark_failed(
    session: AsyncSession, message_id: int, worker_id: str, *, error: str, count_attempt: bool
) -> None:
    values: dict[str, Any] = {
        "status": OutboxStatus.FAILED,
        "last_error": error[:ERROR_TEXT_LIMIT],
        "lease_expires_at": None,
    }
    if count_attempt:
        values["attempts"] = OutboxMessage.attempts + 1
    await _finish(session, message_id, worker_id, **values)


async def mark_cancelled(
    session: AsyncSession, message_id: int, worker_id: str, *, reason: str
) -> None:
    await _finish(
        session,
        message_id,
        worker_id,
        status=OutboxStatus.CANCELLED,
        last_error=reason[:ERROR_TEXT_LIMIT],
        lease_expires_at=None,
    )


async def extend_leases(
    session: AsyncSession, worker_id: str, *, until: datetime, message_ids: list[int]
) -> None:
    """The dispatcher's heartbeat: rows still in its hands keep their lease."""
    if not message_ids:
        return
    await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(message_ids),
            col(OutboxMessage.leased_by) == worker_id,
            col(OutboxMessage.status) == OutboxStatus.SENDING,
        )
        .values(lease_expires_at=until)
    )


async def release_orphans(session: AsyncSession) -> int:
    """Hands back every `sending` row. Only the holder of the dispatch lock may call this:
    holding it proves no other dispatcher is alive to own those rows."""
    result = await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(col(OutboxMessage.status) == OutboxStatus.SENDING)
        .values(status=OutboxStatus.PENDING, lease_expires_at=None, leased_by=None)
    )
    return int(result.rowcount or 0)


async def _cancel_pending(session: AsyncSession, *conditions: Any, reason: str) -> int:
    result = await session.exec(  # type: ignore[call-overload]
        update(OutboxMessage)
        .where(
            *conditions,
            # A row already `sending` is checked again by the dispatcher just before it sends.
            col(OutboxMessage.status) == OutboxStatus.PENDING,
        )
        .values(
            status=OutboxStatus.CANCELLED,
            last_error=reason[:ERROR_TEXT_LIMIT],
            lease_expires_at=None,
        )
    )
    return int(result.rowcount or 0)


async def cancel_pending_for_person(
    session: AsyncSession, person_id: int, *, reason: str, topics: list[str] | None = None
) -> int:
    """Cancels what waits for one person; with `topics`, only what is about those things."""
    conditions = [col(OutboxMessage.person_id) == person_id]
    if topics is not None:
        conditions.append(col(OutboxMessage.topic).in_(topics))
    return await _cancel_pending(session, *conditions, reason=reason)


async def pending_for_person(session: AsyncSession, person_id: int) -> list[OutboxMessage]:
    return list(
        (
            await session.exec(
                select(OutboxMessage)
                .where(
                    col(OutboxMessage.person_id) == person_id,
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                )
                .order_by(col(OutboxMessage.due_at))
            )
        ).all()
    )


async def status_counts(session: AsyncSession) -> Counter[str]:
    rows = (
        await session.exec(
            select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
        )
    ).all()
    return Counter({status: count for status, count in rows})


async def oldest_pending_due(session: AsyncSession) -> datetime | None:
    return (
        await session.exec(
            select(func.min(OutboxMessage.due_at)).where(
                col(OutboxMessage.status) == OutboxStatus.PENDING
            )
        )
    ).one()


async def cancel_pending_for_topic(session: AsyncSession, topic: str, *, reason: str) -> int:
    """Cancels what a planner queued about one thing (an appointment moved or cancelled)."""
    return await _cancel_pending(session, col(OutboxMessage.topic) == topic, reason=reason)


async def cancel_pending_by_key(session: AsyncSession, dedupe_key: str, *, reason: str) -> int:
    """Cancels one planned message by its dedupe key (a unique index: one row looked at, where a
    topic's rows are found by scanning everything pending on SQLite)."""
    return await _cancel_pending(
        session, col(OutboxMessage.dedupe_key) == dedupe_key, reason=reason
    )


async def count_for_topic(
    session: AsyncSession, topic: str, *, status: OutboxStatus | None = None
) -> int:
    conditions = [col(OutboxMessage.topic) == topic]
    if status is not None:
        conditions.append(col(OutboxMessage.status) == status)
    return int((await session.exec(select(func.count()).where(*conditions))).one())


async def for_topic(session: AsyncSession, topic: str) -> list[OutboxMessage]:
    return list(
        (
            await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.topic) == topic)
                .order_by(col(OutboxMessage.due_at), col(OutboxMessage.id))
            )
        ).all()
    )
