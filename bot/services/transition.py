"""Young people moving from children's to adult diabetes services (about 13 to 25).

The readiness checklist follows the shape of NHS "Ready Steady Go" transition questionnaires
(Southampton Children's Hospital): statements in three areas, each answered yes / getting
there / not yet. A missed transition clinic reaches the named worker within one working day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    STAFF_ROLES,
    Appointment,
    AppointmentStatus,
    OutboxStatus,
    Person,
    Priority,
    Role,
    Transition,
    TransitionAnswer,
)
from bot.plans import Plans
from bot.services import appointments, audit, outbox, staff_notices
from bot.services.enrolment import InvalidField
from bot.services.health_checks import age_on
from bot.working_days import next_working_moment


class Area(StrEnum):
    KNOWING = "knowing"  # knowing my diabetes
    MANAGING = "managing"  # managing it day to day
    ADULT_SERVICES = "adult_services"  # finding my way in adult services


class Readiness(StrEnum):
    YES = "yes"
    GETTING_THERE = "getting_there"
    NOT_YET = "not_yet"


class CheckIn(StrEnum):
    GOOD = "good"
    COULD_BE_BETTER = "better"
    TALK = "talk"


# The checklist as data: (area, key). The words are in bot/transition_messages.py.
CHECKLIST: tuple[tuple[Area, str], ...] = (
    (Area.KNOWING, "my_type"),
    (Area.KNOWING, "hba1c"),
    (Area.KNOWING, "hypos"),
    (Area.KNOWING, "sick_days"),
    (Area.MANAGING, "own_treatment"),
    (Area.MANAGING, "prescriptions"),
    (Area.MANAGING, "alcohol_exercise_driving"),
    (Area.ADULT_SERVICES, "own_appointments"),
    (Area.ADULT_SERVICES, "speak_alone"),
    (Area.ADULT_SERVICES, "who_to_call"),
)
STATEMENT_KEYS = tuple(key for _, key in CHECKLIST)
MIN_AGE, MAX_AGE = 13, 25
CHECK_INS_AHEAD = 12
CHECK_IN_TIME = time(17, 0)  # after school or college


async def active_for(session: AsyncSession, person_id: int) -> Transition | None:
    return (
        await session.exec(
            select(Transition).where(
                col(Transition.person_id) == person_id, col(Transition.active).is_(True)
            )
        )
    ).one_or_none()


def topic(transition: Transition) -> str:
    return f"transition:{transition.id}"


async def enrol(
    session: AsyncSession,
    person: Person,
    *,
    started_on: date,
    named_worker: str,
    worker_id: int | None,
    actor: str,
    source: str,
    now: datetime,
    plans: Plans,
) -> Transition:
    """Puts a young person in the transition programme (or updates it): their reminders
    change to the young wording and the monthly check-ins are planned."""
    assert person.id is not None
    problems = []
    if person.date_of_birth is not None:
        age = age_on(person.date_of_birth, now.astimezone(ZoneInfo(person.timezone)).date())
        if not MIN_AGE <= age <= MAX_AGE:
            problems.append(
                InvalidField(
                    "date_of_birth", f"the patient is {age}; the programme is for 13 to 25"
                )
            )
    if not named_worker.strip() or len(named_worker) > 200:
        problems.append(InvalidField("named_worker", "give the named worker's name"))
    if worker_id is not None:
        worker = await session.get(Person, worker_id)
        if worker is None or Role(worker.role) not in STAFF_ROLES:
            problems.append(InvalidField("named_worker_id", "no member of staff has this id"))
    if problems:
        raise appointments.InvalidRecord(problems)
    transition = (
        await session.exec(select(Transition).where(col(Transition.person_id) == person.id))
    ).one_or_none()
    joining = transition is None or not transition.active
    if transition is None:
        transition = Transition(
            person_id=person.id, started_on=started_on, named_worker=named_worker, created_at=now
        )
        session.add(transition)
    transition.started_on, transition.named_worker = started_on, named_worker.strip()
    transition.worker_id, transition.active = worker_id, True
    transition.source, transition.updated_at = source, now
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="transition.enrol",
        person_id=person.id,
        detail=f"transition={transition.id}",
        at=now,
    )
    await outbox.cancel_pending_for_topic(session, topic(transition), reason="re-planned")
    if joining:
        await outbox.queue(
            session,
            template_key="transition_welcome",
            dedupe_key=f"transition:{transition.id}:welcome:{now:%Y-%m-%d}",
            due_at=now,
            priority=Priority.REMINDER,
            params={"worker": transition.named_worker},
            person_id=person.id,
        )
    await _plan_check_ins(session, transition, person, now=now)
    await _replan_appointments(session, person, now=now, plans=plans)
    return transition


async def end(
    session: AsyncSession, person: Person, *, actor: str, now: datetime, plans: Plans
) -> bool:
    assert person.id is not None
    transition = await active_for(session, person.id)
    if transition is None:
        return False
    transition.active, transition.updated_at = False, now
    await outbox.cancel_pending_for_topic(session, topic(transition), reason="programme ended")
    await audit.record(session, actor=actor, action="transition.end", person_id=person.id, at=now)
    await session.flush()
    await _replan_appointments(session, person, now=now, plans=plans)
    return True


async def _replan_appointments(
    session: AsyncSession, person: Person, *, now: datetime, plans: Plans
) -> None:
    """Booked appointments get their reminders again, in the wording that now fits."""
    for appointment in (
        await session.exec(
            select(Appointment).where(
                col(Appointment.person_id) == person.id,
                col(Appointment.status) == AppointmentStatus.BOOKED,
                col(Appointment.starts_at) > now,
            )
        )
    ).all():
        if appointment.answer == "cant_come":
            continue
        appointment.revision += 1
        await outbox.cancel_pending_for_topic(
            session, appointments.topic(appointment.id or 0), reason="wording changed"
        )
        await appointments.plan_reminders(session, appointment, plans=plans, now=now)


async def _plan_check_ins(
    session: AsyncSession, transition: Transition, person: Person, *, now: datetime
) -> None:
    """A check-in each month, on the day of the month the programme started, at 17:00."""
    zone = ZoneInfo(person.timezone)
    today = now.astimezone(zone).date()
    day = min(transition.started_on.day, 28)
    # Planned afresh whenever the programme changes (the earlier rows were cancelled), so
    # each planning has its own dedupe keys.
    planning = await outbox.count_for_topic(session, topic(transition))
    month = date(today.year, today.month, 1)
    planned = 0
    while planned < CHECK_INS_AHEAD:
        due = datetime.combine(month.replace(day=day), CHECK_IN_TIME, tzinfo=zone)
        if due <= now:  # this month's check-in day has gone: start with the next
            month = (month + timedelta(days=32)).replace(day=1)
            continue
        await outbox.queue(
            session,
            template_key="transition_check_in",
            dedupe_key=f"transition:{transition.id}:check_in:{month:%Y-%m}:p{planning}",
            due_at=due,
            priority=Priority.REMINDER,
            params={"month": f"{month:%Y-%m}", "worker": transition.named_worker},
            person_id=person.id,
            topic=topic(transition),
        )
        planned += 1
        month = (month + timedelta(days=32)).replace(day=1)


# The checklist ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AreaProgress:
    area: Area
    ready: int
    getting_there: int
    total: int


async def answers(session: AsyncSession, person_id: int) -> dict[str, str]:
    return {
        row.question: row.answer
        for row in (
            await session.exec(
                select(TransitionAnswer).where(col(TransitionAnswer.person_id) == person_id)
            )
        ).all()
    }


def next_statement(given: dict[str, str]) -> str | None:
    return next((key for key in STATEMENT_KEYS if key not in given), None)


def progress(given: dict[str, str]) -> list[AreaProgress]:
    result = []
    for area in Area:
        keys = [key for a, key in CHECKLIST if a is area]
        result.append(
            AreaProgress(
                area,
                ready=sum(given.get(k) == Readiness.YES for k in keys),
                getting_there=sum(given.get(k) == Readiness.GETTING_THERE for k in keys),
                total=len(keys),
            )
        )
    return result


async def _save_answer(
    session: AsyncSession, person_id: int, question: str, answer: str, now: datetime
) -> None:
    row = (
        await session.exec(
            select(TransitionAnswer).where(
                col(TransitionAnswer.person_id) == person_id,
                col(TransitionAnswer.question) == question,
            )
        )
    ).one_or_none()
    if row is None:
        row = TransitionAnswer(person_id=person_id, question=question, answer=answer)
        session.add(row)
    row.answer, row.answered_at = answer, now


async def answer_statement(
    session: AsyncSession, person: Person, *, key: str, answer: str, now: datetime
) -> dict[str, str]:
    """Saves one checklist answer; when the list is complete, the named worker sees it."""
    assert person.id is not None
    if key not in STATEMENT_KEYS:
        raise InvalidField("statement", key)
    transition = await active_for(session, person.id)
    if transition is None:
        raise InvalidField("transition", "not in the programme")
    await _save_answer(session, person.id, key, Readiness(answer).value, now)
    await session.flush()
    given = await answers(session, person.id)
    if next_statement(given) is None:
        await staff_notices.tell_worker(
            session,
            transition,
            person,
            template_key="worker_readiness",
            dedupe_key=f"transition:{transition.id}:readiness:{now:%Y-%m-%d}",
            params={
                "progress": [
                    [p.area.value, p.ready, p.getting_there, p.total] for p in progress(given)
                ]
            },
            now=now,
        )
    return given


async def restart_checklist(session: AsyncSession, person: Person) -> None:
    """To answer again (progress is a moving target): statements only, check-ins stay."""
    for row in (
        await session.exec(
            select(TransitionAnswer).where(
                col(TransitionAnswer.person_id) == person.id,
                col(TransitionAnswer.question).in_(STATEMENT_KEYS),
            )
        )
    ).all():
        await session.delete(row)
    await session.flush()


async def check_in(
    session: AsyncSession, person: Person, *, month: str, answer: str, now: datetime
) -> Transition:
    assert person.id is not None
    given = CheckIn(answer)
    transition = await active_for(session, person.id)
    if transition is None:
        raise InvalidField("transition", "not in the programme")
    await _save_answer(session, person.id, f"check_in:{month}", given.value, now)
    if given is CheckIn.TALK:
        await staff_notices.tell_worker(
            session,
            transition,
            person,
            template_key="worker_talk_request",
            dedupe_key=f"transition:{transition.id}:talk:{month}",
            params={},
            now=now,
            due_at=next_working_moment(now),
        )
    return transition


async def top_up_check_ins(session: AsyncSession, *, now: datetime) -> int:
    """Keeps a year of monthly check-ins ahead for everyone in the programme (a daily job):
    when fewer than half are left, the next twelve are planned afresh. Returns how many
    young people were topped up."""
    topped = 0
    for programme, person in (
        await session.exec(
            select(Transition, Person)
            .join(Person, col(Person.id) == col(Transition.person_id))
            .where(col(Transition.active).is_(True))
        )
    ).all():
        # The programme's topic holds only its check-ins.
        pending = await outbox.count_for_topic(
            session, topic(programme), status=OutboxStatus.PENDING
        )
        if pending >= CHECK_INS_AHEAD // 2:
            continue
        await outbox.cancel_pending_for_topic(session, topic(programme), reason="topped up")
        await _plan_check_ins(session, programme, person, now=now)
        topped += 1
    return topped
