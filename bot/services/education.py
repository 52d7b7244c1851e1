"""The education library's records: who a person's pages are for, "was this helpful?", and
paced courses whose lessons wait in the outbox.

A course's lessons are outbox rows, one per lesson, at the person's chosen local hour,
`every_days` apart. Each plan (a start, a resume, a new hour) has its own topic
"course:<enrolment id>:r<revision>" and begins at `next_lesson`, so the lessons sent are
`next_lesson - 1` plus the plan's sent rows. Pausing or stopping cancels the rows not yet sent
and keeps the place; resuming plans the rest again from the next free slot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import content
from bot.content import ContentError, Course, Library
from bot.models import (
    CourseEnrolment,
    CourseStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Priority,
    Role,
    TopicRating,
)
from bot.services import outbox

log = logging.getLogger(__name__)

# Hours a person can choose for lessons: all outside the default quiet hours (21:00-08:00).
LESSON_HOURS = (9, 13, 18, 20)
# A patient registered this soon after diagnosis is offered the course for their type.
NEWLY_DIAGNOSED_DAYS = 180
# A slot closer than this is too soon to be "the next" one: the person is still reading.
_SLOT_MARGIN = timedelta(minutes=5)


class CourseError(ValueError):
    """A course action that does not fit the course's state (e.g. pausing a stopped one)."""


def audiences_of(person: Person) -> set[str]:
    """Who the library's pages are for, as this person is: what they see first."""
    role = Role(person.role)
    if role is Role.CARER:
        return {"carer"}
    if role is Role.AT_RISK:
        return {"at_risk"}
    types = {person.diabetes_type} & {"type1", "type2"} if person.diabetes_type else set()
    if role is Role.YOUNG_PERSON:
        return {"young_person"} | (types or {"type1"})
    if role is Role.PATIENT:
        return types or {"type1", "type2"}
    return {"type1", "type2", "at_risk", "young_person", "carer", "pregnancy"}


# Ratings -------------------------------------------------------------------------------------


async def rate(
    session: AsyncSession,
    person: Person,
    *,
    topic_id: str,
    language: str,
    helpful: bool,
    now: datetime,
) -> None:
    """Keeps the person's latest answer for the topic (pressing again changes it)."""
    assert person.id is not None
    existing = (
        await session.exec(
            select(TopicRating).where(
                col(TopicRating.person_id) == person.id, col(TopicRating.topic_id) == topic_id
            )
        )
    ).first()
    if existing is None:
        existing = TopicRating(
            person_id=person.id, topic_id=topic_id, language=language, helpful=helpful
        )
    existing.language, existing.helpful, existing.rated_at = language, helpful, now
    session.add(existing)
    await session.flush()


@dataclass(frozen=True)
class RatingCount:
    topic_id: str
    language: str
    helpful: int
    not_helpful: int


async def rating_counts(session: AsyncSession) -> list[RatingCount]:
    """Answers per topic and language, for the content team."""
    rows = (
        await session.exec(
            select(
                TopicRating.topic_id,
                TopicRating.language,
                TopicRating.helpful,
                func.count(),
            ).group_by(
                col(TopicRating.topic_id), col(TopicRating.language), col(TopicRating.helpful)
            )
        )
    ).all()
    counts: dict[tuple[str, str], list[int]] = {}
    for topic_id, language, helpful, count in rows:
        counts.setdefault((topic_id, language), [0, 0])[0 if helpful else 1] += int(count)
    return [RatingCount(t, lang, y, n) for (t, lang), (y, n) in sorted(counts.items())]


async def ratings_of(session: AsyncSession, person_id: int) -> list[TopicRating]:
    return list(
        (
            await session.exec(
                select(TopicRating)
                .where(col(TopicRating.person_id) == person_id)
                .order_by(col(TopicRating.rated_at))
            )
        ).all()
    )


# Courses -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourseProgress:
    course: Course
    enrolment: CourseEnrolment | None
    delivered: int
    next_at: datetime | None

    @property
    def total(self) -> int:
        return len(self.course.lessons)

    @property
    def status(self) -> CourseStatus | None:
        if self.enrolment is None:
            return None
        if self.delivered >= self.total:
            return CourseStatus.FINISHED
        status = CourseStatus(self.enrolment.status)
        if status is CourseStatus.ACTIVE and self.next_at is None:
            # Running, but nothing waits: the lessons were dropped while the person had
            # paused all messages (/stop) or blocked the bot. It carries on like a pause.
            return CourseStatus.PAUSED
        return status


def _topic(enrolment: CourseEnrolment) -> str:
    # Each plan (a start, a resume, a new hour) has its own topic: its sent lessons count on
    # top of `next_lesson`, where the plan began.
    return f"course:{enrolment.id}:r{enrolment.revision}"


async def enrolment_for(
    session: AsyncSession, person_id: int, course_id: str
) -> CourseEnrolment | None:
    return (
        await session.exec(
            select(CourseEnrolment).where(
                col(CourseEnrolment.person_id) == person_id,
                col(CourseEnrolment.course_id) == course_id,
            )
        )
    ).first()


async def _delivered(session: AsyncSession, enrolment: CourseEnrolment) -> int:
    """Lessons sent: those before the current plan began, and the plan's own that are sent
    (or on their way). A paused or stopped course has no plan running."""
    if enrolment.status != CourseStatus.ACTIVE:
        return enrolment.next_lesson - 1
    sent = (
        await session.exec(
            select(func.count()).where(
                col(OutboxMessage.topic) == _topic(enrolment),
                col(OutboxMessage.status).in_([OutboxStatus.SENT, OutboxStatus.SENDING]),
            )
        )
    ).one()
    return enrolment.next_lesson - 1 + int(sent)


async def _close_plan(session: AsyncSession, enrolment: CourseEnrolment) -> int:
    """Cancels the lessons not yet sent and keeps the place for the next plan; returns the
    lessons sent."""
    delivered = await _delivered(session, enrolment)
    await outbox.cancel_pending_for_topic(session, _topic(enrolment), reason="course re-planned")
    enrolment.next_lesson = delivered + 1
    enrolment.revision += 1
    return delivered


async def _next_due(session: AsyncSession, enrolment: CourseEnrolment) -> datetime | None:
    return (
        await session.exec(
            select(func.min(OutboxMessage.due_at)).where(
                col(OutboxMessage.topic) == _topic(enrolment),
                col(OutboxMessage.status) == OutboxStatus.PENDING,
            )
        )
    ).one()


async def progress(session: AsyncSession, person: Person, course: Course) -> CourseProgress:
    assert person.id is not None
    enrolment = await enrolment_for(session, person.id, course.id)
    if enrolment is None:
        return CourseProgress(course, None, 0, None)
    delivered = await _delivered(session, enrolment)
    next_at = (
        await _next_due(session, enrolment) if enrolment.status == CourseStatus.ACTIVE else None
    )
    return CourseProgress(course, enrolment, delivered, next_at)


def next_slot(now: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The next time the clock in the person's zone shows `hour`:00."""
    local = now.astimezone(zone)
    slot = datetime.combine(local.date(), time(hour), zone)
    if slot <= local + _SLOT_MARGIN:
        slot = datetime.combine(local.date() + timedelta(days=1), time(hour), zone)
    return slot


async def _plan_lessons(
    session: AsyncSession,
    person: Person,
    course: Course,
    enrolment: CourseEnrolment,
    now: datetime,
) -> datetime | None:
    """Queues lessons `next_lesson`.. at the chosen hour, `every_days` apart (local days, so a
    lesson keeps its hour across the clocks changing)."""
    assert enrolment.id is not None and person.id is not None
    zone = ZoneInfo(person.timezone)
    first = next_slot(now, zone, enrolment.delivery_hour)
    rows = []
    for number in range(enrolment.next_lesson, len(course.lessons) + 1):
        day: date = first.date() + timedelta(
            days=(number - enrolment.next_lesson) * course.every_days
        )
        due = datetime.combine(day, time(enrolment.delivery_hour), zone)
        rows.append(
            {
                "template_key": "course_lesson",
                "dedupe_key": f"course:{enrolment.id}:r{enrolment.revision}:l{number}",
                "due_at": due,
                "priority": Priority.EDUCATION,
                "params": {
                    "course": course.id,
                    "lesson": number,
                    "topic": course.lessons[number - 1],
                },
                "person_id": person.id,
                "topic": _topic(enrolment),
            }
        )
    if rows:
        await outbox.queue_many(session, rows)
    return rows[0]["due_at"] if rows else None


async def start_course(
    session: AsyncSession,
    person: Person,
    course: Course,
    *,
    delivery_hour: int,
    now: datetime,
    from_beginning: bool = False,
) -> CourseProgress:
    """Starts the course, or takes it up again where it stopped (from lesson 1 when asked,
    or when it was finished)."""
    assert person.id is not None
    if delivery_hour not in LESSON_HOURS:
        raise CourseError(f"lessons come at {', '.join(map(str, LESSON_HOURS))} o'clock")
    enrolment = await enrolment_for(session, person.id, course.id)
    if enrolment is None:
        enrolment = CourseEnrolment(person_id=person.id, course_id=course.id, started_at=now)
        session.add(enrolment)
        await session.flush()
    else:
        running = enrolment.status == CourseStatus.ACTIVE
        if running and await _delivered(session, enrolment) < len(course.lessons):
            # Already running: a new start only changes the hour.
            return await change_time(session, person, course, delivery_hour=delivery_hour, now=now)
        delivered = await _close_plan(session, enrolment)
        if from_beginning or delivered >= len(course.lessons):
            enrolment.next_lesson = 1
            enrolment.started_at = now
    enrolment.status = CourseStatus.ACTIVE
    enrolment.delivery_hour = delivery_hour
    enrolment.paused_at = None
    enrolment.updated_at = now
    session.add(enrolment)
    await session.flush()
    await _plan_lessons(session, person, course, enrolment, now)
    return await progress(session, person, course)


async def _require(
    session: AsyncSession, person: Person, course: Course, *allowed: CourseStatus
) -> CourseEnrolment:
    assert person.id is not None
    enrolment = await enrolment_for(session, person.id, course.id)
    if enrolment is None or CourseStatus(enrolment.status) not in allowed:
        raise CourseError("the course is not in a state for that")
    return enrolment


async def _halt(
    session: AsyncSession, enrolment: CourseEnrolment, status: CourseStatus, now: datetime
) -> None:
    await _close_plan(session, enrolment)
    enrolment.status = status
    enrolment.paused_at = now
    enrolment.updated_at = now
    session.add(enrolment)
    await session.flush()


async def pause_course(
    session: AsyncSession, person: Person, course: Course, *, now: datetime
) -> CourseProgress:
    enrolment = await _require(session, person, course, CourseStatus.ACTIVE)
    await _halt(session, enrolment, CourseStatus.PAUSED, now)
    return await progress(session, person, course)


async def stop_course(
    session: AsyncSession, person: Person, course: Course, *, now: datetime
) -> CourseProgress:
    enrolment = await _require(session, person, course, CourseStatus.ACTIVE, CourseStatus.PAUSED)
    if enrolment.status == CourseStatus.ACTIVE:
        await _halt(session, enrolment, CourseStatus.STOPPED, now)
    else:
        enrolment.status = CourseStatus.STOPPED
        enrolment.updated_at = now
        session.add(enrolment)
        await session.flush()
    return await progress(session, person, course)


async def resume_course(
    session: AsyncSession, person: Person, course: Course, *, now: datetime
) -> CourseProgress:
    enrolment = await _require(
        session, person, course, CourseStatus.PAUSED, CourseStatus.STOPPED, CourseStatus.ACTIVE
    )
    return await start_course(
        session, person, course, delivery_hour=enrolment.delivery_hour, now=now
    )


async def change_time(
    session: AsyncSession, person: Person, course: Course, *, delivery_hour: int, now: datetime
) -> CourseProgress:
    if delivery_hour not in LESSON_HOURS:
        raise CourseError(f"lessons come at {', '.join(map(str, LESSON_HOURS))} o'clock")
    enrolment = await _require(session, person, course, CourseStatus.ACTIVE)
    await _close_plan(session, enrolment)
    enrolment.delivery_hour = delivery_hour
    enrolment.updated_at = now
    session.add(enrolment)
    await session.flush()
    await _plan_lessons(session, person, course, enrolment, now)
    return await progress(session, person, course)


def course_for_diagnosis(library: Library, person: Person) -> Course | None:
    """The course offered to a newly diagnosed person of this type and age group."""
    if person.diabetes_type not in ("type1", "type2"):
        return None
    young = Role(person.role) is Role.YOUNG_PERSON
    fitting = [
        c
        for c in library.courses.values()
        if c.offer_when_diagnosed == person.diabetes_type
        and (("young_person" in c.audiences) == young or person.diabetes_type == "type2")
    ]
    return fitting[0] if fitting else None


async def offer_course_if_new(
    session: AsyncSession, person: Person, *, now: datetime
) -> str | None:
    """A patient the practice registered within NEWLY_DIAGNOSED_DAYS of diagnosis is offered
    the course for their type once (the dedupe key), when they are in the chat: at joining,
    or when the practice sends a new diagnosis for someone already there. Returns the course
    offered. Joining or registering never fails for the library's sake: a library that is
    not fit to show means no offer, and a warning in the log."""
    if (
        person.id is None
        or person.diagnosed_on is None
        or person.telegram_chat_id is None
        or person.status != PersonStatus.ACTIVE
        or person.paused_at is not None
        or (now.date() - person.diagnosed_on).days > NEWLY_DIAGNOSED_DAYS
    ):
        return None
    try:
        library = content.library()
    except ContentError:
        log.warning("course offer: the education library is not fit to show; none offered")
        return None
    course = course_for_diagnosis(library, person)
    if course is None or await enrolment_for(session, person.id, course.id) is not None:
        return None
    queued = await outbox.queue(
        session,
        template_key="course_offer",
        dedupe_key=f"course_offer:{person.id}:{course.id}",
        # A minute after joining, so it follows the welcome rather than racing it.
        due_at=now + timedelta(minutes=1),
        priority=Priority.EDUCATION,
        params={"course": course.id},
        person_id=person.id,
    )
    return course.id if queued else None
