"""What staff hear about their patients: the practice's staff chat (or its staff directly), and
a young person's named worker. Every note names the person, so it carries their topic and goes
when they are erased."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    STAFF_ROLES,
    Appointment,
    Person,
    PersonStatus,
    Practice,
    Priority,
    Transition,
)
from bot.plans import AppointmentKind
from bot.services import outbox
from bot.working_days import next_working_moment


def person_topic(person_id: int) -> str:
    """The outbox topic of messages to staff about a person (they name the person)."""
    return f"person:{person_id}"


async def _staff_chats(
    session: AsyncSession, practice_ods: str | None
) -> tuple[list[int], list[int]]:
    """Where a practice hears about its patients: its staff group, or else its staff directly."""
    if not practice_ods:
        return [], []
    practice = await session.get(Practice, practice_ods)
    if practice is not None and practice.staff_chat_id:
        return [practice.staff_chat_id], []
    staff = (
        await session.exec(
            select(Person.id).where(
                col(Person.practice_ods) == practice_ods,
                col(Person.role).in_([role.value for role in STAFF_ROLES]),
                col(Person.status) == PersonStatus.ACTIVE,
            )
        )
    ).all()
    return [], [person_id for person_id in staff if person_id is not None]


async def tell_practice(
    session: AsyncSession,
    practice_ods: str | None,
    *,
    template_key: str,
    dedupe_key: str,
    params: dict[str, Any],
    now: datetime,
) -> bool:
    chats, people = await _staff_chats(session, practice_ods)
    note = {
        "template_key": template_key,
        "due_at": now,
        "priority": Priority.REMINDER,
        "params": params,
        "topic": person_topic(int(params["person_id"])),
    }
    await outbox.queue_many(
        session,
        [
            {**note, "dedupe_key": f"{dedupe_key}:chat:{c}", "chat_id": c, "chat_language": "en"}
            for c in chats
        ]
        + [{**note, "dedupe_key": f"{dedupe_key}:staff:{p}", "person_id": p} for p in people],
    )
    return bool(chats or people)


async def tell_worker(
    session: AsyncSession,
    transition: Transition,
    young_person: Person,
    *,
    template_key: str,
    dedupe_key: str,
    params: dict[str, object],
    now: datetime,
    due_at: datetime | None = None,
) -> None:
    """To the named worker's own chat when they use diabridge, else to the practice."""
    params = {
        **params,
        "person_id": young_person.id,
        "patient_name": young_person.display_name,
        "worker": transition.named_worker,
    }
    worker = await session.get(Person, transition.worker_id) if transition.worker_id else None
    if worker is not None and worker.status == PersonStatus.ACTIVE:
        await outbox.queue(
            session,
            template_key=template_key,
            dedupe_key=f"{dedupe_key}:worker",
            due_at=due_at or now,
            priority=Priority.ADVICE_LINE,
            params=params,
            person_id=worker.id,
            topic=person_topic(young_person.id or 0),
        )
        return
    await tell_practice(
        session,
        young_person.practice_ods,
        template_key=template_key,
        dedupe_key=dedupe_key,
        params=params,
        now=due_at or now,
    )


async def missed_transition_clinic(
    session: AsyncSession, appointment: Appointment, *, now: datetime
) -> bool:
    """A missed transition clinic: the named worker hears within one working day (at once
    in working hours, else at 09:00 on the next working day)."""
    if appointment.kind != AppointmentKind.TRANSITION_CLINIC:
        return False
    transition = (
        await session.exec(
            select(Transition).where(
                col(Transition.person_id) == appointment.person_id,
                col(Transition.active).is_(True),
            )
        )
    ).one_or_none()
    person = await session.get(Person, appointment.person_id)
    if transition is None or person is None:
        return False
    await tell_worker(
        session,
        transition,
        person,
        template_key="worker_missed_clinic",
        dedupe_key=f"appt:{appointment.id}:missed:worker",
        params={"starts_at": appointment.starts_at.isoformat()},
        now=now,
        due_at=next_working_moment(now),
    )
    return True


async def in_transition(session: AsyncSession, person_id: int) -> bool:
    return (
        await session.exec(
            select(Transition.id).where(
                col(Transition.person_id) == person_id, col(Transition.active).is_(True)
            )
        )
    ).first() is not None
