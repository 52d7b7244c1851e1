"""Appointments and their reminders: book, move, cancel, answer, attendance.

Booking plans the reminders of the kind's plan into the outbox (principle 4); moving re-plans
them under a new revision; cancelling cancels them. The person's answers and the clinic's
attendance marks are kept as events with their times, and what the clinic must know is queued
to the practice's staff chat.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    Appointment,
    AppointmentAnswer,
    AppointmentEvent,
    AppointmentStatus,
    CareFlag,
    CarerLink,
    Person,
    PersonStatus,
    Practice,
    Priority,
)
from bot.plans import AppointmentKind, Plans
from bot.services import audit, outbox, staff_notices
from bot.services.enrolment import InvalidField, check_ods_code
from bot.services.staff_notices import tell_practice

MISSED_FLAG = "missed_appointments"
MISSED_WINDOW = timedelta(days=365)
MISSED_FLAG_THRESHOLD = 2

# Fields a sender may set; the rest are the service's own. A change of the first kind moves
# the appointment (a new answer is needed); of the second, only corrects what reminders say.
MOVE_FIELDS = ("kind", "starts_at", "duration_minutes")
DETAIL_FIELDS = ("location", "address", "directions", "clinician", "phone")
FIELD_LIMITS = {
    "external_id": 100,
    "location": 200,
    "address": 300,
    "directions": 500,
    "clinician": 200,
    "phone": 40,
}


class InvalidRecord(ValueError):
    """Every wrong field of one record, so the sender can fix them all at once."""

    def __init__(self, problems: list[InvalidField]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class NotFound(LookupError):
    pass


@dataclass
class AppointmentRecord:
    """An appointment as a sender describes it (API body or CSV row), before checking."""

    external_id: str
    kind: str
    starts_at: datetime | str
    nhs_number: str | None = None
    patient_external_id: str | None = None
    duration_minutes: int | str | None = None
    location: str = ""
    address: str = ""
    directions: str = ""
    clinician: str = ""
    phone: str = ""
    practice: str | None = None


@dataclass
class Outcome:
    appointment: Appointment
    created: bool = False
    replanned: bool = False
    reminders_queued: int = 0
    flags: list[str] = field(default_factory=list)


def topic(appointment_id: int) -> str:
    return f"appointment:{appointment_id}"


def parse_time(raw: datetime | str, field_name: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 time; without an offset it is taken as local time in `zone`."""
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            raise InvalidField(
                field_name, f"{raw!r} is not a date and time like 2026-12-01T10:30"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def check_record(
    record: AppointmentRecord, *, now: datetime, zone: ZoneInfo, creating: bool
) -> tuple[dict[str, Any], list[InvalidField]]:
    problems: list[InvalidField] = []
    values: dict[str, Any] = {}
    external_id = (record.external_id or "").strip()
    if not external_id:
        problems.append(
            InvalidField("external_id", "your system's id for the appointment is missing")
        )
    values["external_id"] = external_id
    kinds = [kind.value for kind in AppointmentKind]
    if record.kind not in kinds:
        problems.append(
            InvalidField(
                "kind",
                f"{record.kind!r} is not a kind of appointment; use one of {', '.join(kinds)}",
            )
        )
    values["kind"] = record.kind
    try:
        starts_at = parse_time(record.starts_at, "starts_at", zone)
        if creating and starts_at <= now:
            problems.append(InvalidField("starts_at", "the appointment is in the past"))
        elif starts_at > now + timedelta(days=2 * 366):
            problems.append(
                InvalidField("starts_at", "the appointment is more than two years ahead")
            )
        values["starts_at"] = starts_at
    except InvalidField as problem:
        problems.append(problem)
    duration = record.duration_minutes
    if duration in (None, ""):
        values["duration_minutes"] = 30
    else:
        try:
            minutes = int(str(duration))
            if not 5 <= minutes <= 8 * 60:
                raise ValueError
            values["duration_minutes"] = minutes
        except ValueError:
            problems.append(
                InvalidField(
                    "duration_minutes", f"{duration!r} is not a number of minutes from 5 to 480"
                )
            )
    for name in DETAIL_FIELDS:
        text = (getattr(record, name) or "").strip()
        if len(text) > FIELD_LIMITS[name]:
            problems.append(InvalidField(name, f"longer than {FIELD_LIMITS[name]} characters"))
        values[name] = text
    if len(external_id) > FIELD_LIMITS["external_id"]:
        problems.append(InvalidField("external_id", "longer than 100 characters"))
    if record.practice:
        try:
            values["practice_ods"] = check_ods_code(record.practice)
        except InvalidField as problem:
            problems.append(InvalidField("practice", problem.message))
    return values, problems


async def find_patient(
    session: AsyncSession, *, nhs_number: str | None, patient_external_id: str | None
) -> Person:
    from bot.services.enrolment import check_nhs_number

    if patient_external_id:
        person = (
            await session.exec(select(Person).where(col(Person.external_id) == patient_external_id))
        ).one_or_none()
        if person is None:
            raise InvalidField(
                "patient_external_id", "no patient has this id; add the patient first"
            )
        return person
    if not nhs_number:
        raise InvalidField("nhs_number", "give the patient's NHS number or patient_external_id")
    try:
        number = check_nhs_number(nhs_number)
    except InvalidField as problem:
        raise InvalidField("nhs_number", problem.message) from None
    person = (
        await session.exec(select(Person).where(col(Person.nhs_number) == number))
    ).one_or_none()
    if person is None:
        raise InvalidField("nhs_number", "no patient has this NHS number; add the patient first")
    return person


async def by_external_id(session: AsyncSession, external_id: str) -> Appointment | None:
    return (
        await session.exec(select(Appointment).where(col(Appointment.external_id) == external_id))
    ).one_or_none()


async def get(session: AsyncSession, appointment_id: int) -> Appointment:
    appointment = await session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound(f"no appointment {appointment_id}")
    return appointment


async def _event(
    session: AsyncSession, appointment: Appointment, event: str, actor: str, at: datetime
) -> None:
    assert appointment.id is not None
    session.add(AppointmentEvent(appointment_id=appointment.id, event=event, actor=actor, at=at))


async def save(
    session: AsyncSession,
    record: AppointmentRecord,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
    default_zone: ZoneInfo,
) -> Outcome:
    """Books a new appointment, or updates the one with the same sender's id.

    A change of time, place or kind re-plans the reminders; anything else keeps them.
    """
    existing = await by_external_id(session, (record.external_id or "").strip())
    values, problems = check_record(record, now=now, zone=default_zone, creating=existing is None)
    person: Person | None = None
    try:
        person = await find_patient(
            session, nhs_number=record.nhs_number, patient_external_id=record.patient_external_id
        )
    except InvalidField as problem:
        if existing is None or record.nhs_number or record.patient_external_id:
            problems.append(problem)
    if values.get("practice_ods") and await session.get(Practice, values["practice_ods"]) is None:
        problems.append(
            InvalidField(
                "practice",
                "no practice has this ODS code: register its patients first, or set it up with "
                "`diabridge practice set`",
            )
        )
    if existing is not None and person is not None and person.id != existing.person_id:
        problems.append(InvalidField("nhs_number", "this appointment belongs to another patient"))
    if existing is not None and existing.status != AppointmentStatus.BOOKED:
        problems.append(
            InvalidField(
                "external_id",
                f"this appointment is already {existing.status} and cannot be changed",
            )
        )
    if problems:
        raise InvalidRecord(problems)
    if existing is None:
        assert person is not None and person.id is not None
        appointment = Appointment(
            person_id=person.id,
            practice_ods=values.get("practice_ods") or person.practice_ods,
            source=source,
            created_at=now,
            updated_at=now,
            **{k: v for k, v in values.items() if k != "practice_ods"},
        )
        session.add(appointment)
        await session.flush()
        await _event(session, appointment, "booked", actor, now)
        await audit.record(
            session,
            actor=actor,
            action="appointment.book",
            person_id=appointment.person_id,
            detail=f"appointment={appointment.id} kind={appointment.kind}",
            at=now,
        )
        queued = await plan_reminders(session, appointment, plans=plans, now=now)
        return Outcome(appointment, created=True, reminders_queued=queued)

    appointment = existing
    if values["starts_at"] != appointment.starts_at and values["starts_at"] <= now:
        raise InvalidRecord([InvalidField("starts_at", "an appointment cannot move into the past")])
    moved = any(getattr(appointment, name) != values[name] for name in MOVE_FIELDS)
    details_changed = any(getattr(appointment, name) != values[name] for name in DETAIL_FIELDS)
    practice_changed = (
        "practice_ods" in values and values["practice_ods"] != appointment.practice_ods
    )
    if not (moved or details_changed or practice_changed):
        return Outcome(appointment)
    for name in (*MOVE_FIELDS, *DETAIL_FIELDS):
        setattr(appointment, name, values[name])
    if practice_changed:
        appointment.practice_ods = values["practice_ods"]
    appointment.updated_at = now
    event = "moved" if moved else "details_changed"
    await _event(session, appointment, event, actor, now)
    await audit.record(
        session,
        actor=actor,
        action=f"appointment.{event}",
        person_id=appointment.person_id,
        detail=f"appointment={appointment.id} revision={appointment.revision + 1}",
        at=now,
    )
    if moved:
        # A new time needs a new answer: "I'll be there" was about the old one.
        appointment.answer, appointment.answered_at = None, None
    elif not details_changed or appointment.answer == AppointmentAnswer.CANT_COME:
        # A new practice only, or the person is not coming: nothing to re-send.
        return Outcome(appointment)
    # Reminders carry the time and place as planned, so any change re-plans them.
    appointment.revision += 1
    await outbox.cancel_pending_for_topic(
        session, topic(appointment.id or 0), reason="appointment changed"
    )
    queued = await plan_reminders(session, appointment, plans=plans, now=now)
    return Outcome(appointment, replanned=True, reminders_queued=queued)


async def cancel(
    session: AsyncSession, appointment: Appointment, *, now: datetime, actor: str
) -> int:
    """The clinic cancelled: the remaining reminders are cancelled, nothing else is sent."""
    if appointment.status != AppointmentStatus.BOOKED:
        raise InvalidField("status", f"the appointment is already {appointment.status}")
    appointment.status = AppointmentStatus.CANCELLED
    appointment.updated_at = now
    await _event(session, appointment, "cancelled", actor, now)
    await audit.record(
        session,
        actor=actor,
        action="appointment.cancel",
        person_id=appointment.person_id,
        detail=f"appointment={appointment.id}",
        at=now,
    )
    return await outbox.cancel_pending_for_topic(
        session, topic(appointment.id or 0), reason="appointment cancelled"
    )


async def receiving_carers(session: AsyncSession, patient_id: int) -> list[Person]:
    """Carers who get the patient's reminders now: accepted, not removed, still using the bot."""
    return list(
        (
            await session.exec(
                select(Person)
                .join(CarerLink, col(CarerLink.carer_id) == col(Person.id))
                .where(
                    col(CarerLink.patient_id) == patient_id,
                    col(CarerLink.removed_at).is_(None),
                    col(CarerLink.accepted_at).is_not(None),
                    col(Person.status) == PersonStatus.ACTIVE,
                )
            )
        ).all()
    )


async def recipients(session: AsyncSession, person: Person) -> list[tuple[Person, Person]]:
    """Who receives a person's reminders: (recipient, whose appointment it is). The person
    themselves and the carers they invited, whose copies say whose appointment it is."""
    assert person.id is not None
    return [(person, person)] + [
        (carer, person) for carer in await receiving_carers(session, person.id)
    ]


def reminder_rows(
    appointment: Mapping[str, Any],
    receivers: Sequence[tuple[Person, Person]],
    *,
    plans: Plans,
    now: datetime,
    young: bool,
) -> Iterator[dict[str, Any]]:
    """The outbox rows (as `outbox.queue` arguments) of one revision of an appointment, for
    each (recipient, whose appointment). A send time already past is skipped. The one place
    that decides what a reminder carries, for booking one by one and for bulk imports."""
    appointment_id, starts_at, kind = (
        appointment["id"],
        appointment["starts_at"],
        appointment["kind"],
    )
    revision = appointment["revision"]
    for recipient, patient in receivers:
        zone = ZoneInfo(recipient.timezone)
        for event in plans.for_kind(kind):
            due = event.send_time(starts_at, zone)
            if due <= now or due >= starts_at:
                continue
            params: dict[str, Any] = {
                "appointment_id": appointment_id,
                "kind": kind,
                "starts_at": starts_at.isoformat(),
                "duration_minutes": appointment["duration_minutes"],
                "buttons": [button.value for button in event.buttons],
                "calendar": event.calendar,
                "revision": revision,
                **{name: appointment[name] for name in DETAIL_FIELDS},
            }
            if recipient.id != patient.id:
                params["for_name"] = patient.display_name
            # A young person in the transition programme gets the young wording for every
            # kind; a carer's copy keeps the adult wording.
            template = event.template
            if young and recipient.id == patient.id and template == "appointment_reminder":
                template = "young_appointment_reminder"
            yield {
                "template_key": template,
                "dedupe_key": f"appt:{appointment_id}:r{revision}:{event.key}:{recipient.id}",
                "due_at": due,
                "priority": Priority.REMINDER,
                "params": params,
                "person_id": recipient.id,
                "topic": topic(appointment_id),
                "expires_at": starts_at,
            }


def as_values(appointment: Appointment) -> dict[str, Any]:
    return {
        "id": appointment.id,
        "kind": appointment.kind,
        "starts_at": appointment.starts_at,
        "duration_minutes": appointment.duration_minutes,
        "revision": appointment.revision,
        **{name: getattr(appointment, name) for name in DETAIL_FIELDS},
    }


async def plan_reminders(
    session: AsyncSession, appointment: Appointment, *, plans: Plans, now: datetime
) -> int:
    """Queues the plan's reminders for this revision."""
    assert appointment.id is not None
    person = await session.get(Person, appointment.person_id)
    if person is None:
        return 0
    rows = reminder_rows(
        as_values(appointment),
        await recipients(session, person),
        plans=plans,
        now=now,
        young=await staff_notices.in_transition(session, person.id or 0),
    )
    return await outbox.queue_many(session, list(rows))


# The person's answers --------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerOutcome:
    appointment: Appointment
    answer: AppointmentAnswer
    already: bool  # the same answer was given before: nothing new was sent to the clinic
    clinic_told: bool
    practice_phone: str


async def _practice_phone(session: AsyncSession, appointment: Appointment) -> str:
    if appointment.phone:
        return appointment.phone
    practice = (
        await session.get(Practice, appointment.practice_ods) if appointment.practice_ods else None
    )
    return practice.phone if practice else ""


async def answer(
    session: AsyncSession,
    *,
    person: Person,
    appointment_id: int,
    choice: str,
    now: datetime,
) -> AnswerOutcome:
    """Records what the person pressed under a reminder and tells the clinic what it must act on."""
    try:
        given = AppointmentAnswer(choice)
    except ValueError:
        raise NotFound(f"unknown answer {choice!r}") from None
    appointment = await session.get(Appointment, appointment_id)
    if appointment is None or appointment.person_id != person.id:
        raise NotFound("not this person's appointment")
    allowed_status = (
        AppointmentStatus.MISSED if given == AppointmentAnswer.REBOOK else AppointmentStatus.BOOKED
    )
    if appointment.status != allowed_status:
        raise InvalidField("status", appointment.status)
    phone = await _practice_phone(session, appointment)
    if appointment.answer == given.value:
        return AnswerOutcome(
            appointment, given, already=True, clinic_told=False, practice_phone=phone
        )
    earlier = appointment.answer
    appointment.answer, appointment.answered_at, appointment.updated_at = given.value, now, now
    actor = audit.person_actor(person.id)
    await _event(session, appointment, f"answer:{given.value}", actor, now)
    clinic_told = False
    # The clinic hears of anything it must act on, including a change of mind back to "I'll
    # be there" after asking to change or cancel.
    if given != AppointmentAnswer.ATTEND or earlier is not None:
        clinic_told = await tell_practice(
            session,
            appointment.practice_ods,
            template_key="clinic_appointment_answer",
            dedupe_key=f"appt:{appointment.id}:answer:{given.value}:{int(now.timestamp())}",
            params={
                "appointment_id": appointment.id,
                "external_id": appointment.external_id,
                "kind": appointment.kind,
                "starts_at": appointment.starts_at.isoformat(),
                "answer": given.value,
                "patient_name": person.display_name,
                "person_id": person.id,
            },
            now=now,
        )
    if given == AppointmentAnswer.CANT_COME:
        await outbox.cancel_pending_for_topic(
            session, topic(appointment_id), reason="person cannot come"
        )
    return AnswerOutcome(
        appointment, given, already=False, clinic_told=clinic_told, practice_phone=phone
    )


# Attendance, marked by the clinic -------------------------------------------------------------


async def mark_attendance(
    session: AsyncSession, appointment: Appointment, *, attended: bool, now: datetime, actor: str
) -> Outcome:
    if appointment.status not in (
        AppointmentStatus.BOOKED,
        AppointmentStatus.ATTENDED,
        AppointmentStatus.MISSED,
    ):
        raise InvalidField("status", f"the appointment is {appointment.status}")
    if appointment.starts_at > now:
        raise InvalidField("attended", "the appointment has not started yet")
    new_status = AppointmentStatus.ATTENDED if attended else AppointmentStatus.MISSED
    if appointment.status == new_status:
        return Outcome(appointment)
    corrected = appointment.status == AppointmentStatus.MISSED
    appointment.status, appointment.updated_at = new_status, now
    if corrected:
        # Marked missed by mistake: the "we missed you" not yet sent is withdrawn, and a
        # missed-appointments flag that no longer holds is resolved.
        await outbox.cancel_pending_for_topic(
            session, topic(appointment.id or 0), reason="attendance corrected"
        )
        await session.flush()
        if await missed_count(session, appointment.person_id, now=now) < MISSED_FLAG_THRESHOLD:
            for flag in await open_flags(session, appointment.person_id):
                if flag.kind == MISSED_FLAG:
                    flag.resolved_at = now
    await _event(session, appointment, new_status.value, actor, now)
    await audit.record(
        session,
        actor=actor,
        action=f"appointment.{new_status.value}",
        person_id=appointment.person_id,
        detail=f"appointment={appointment.id}",
        at=now,
    )
    outcome = Outcome(appointment)
    if attended:
        return outcome
    assert appointment.id is not None
    await staff_notices.missed_transition_clinic(session, appointment, now=now)
    await outbox.queue(
        session,
        template_key="appointment_missed",
        dedupe_key=f"appt:{appointment.id}:missed",
        due_at=now,
        priority=Priority.REMINDER,
        params={
            "appointment_id": appointment.id,
            "kind": appointment.kind,
            "starts_at": appointment.starts_at.isoformat(),
            "phone": await _practice_phone(session, appointment),
        },
        person_id=appointment.person_id,
        topic=topic(appointment.id),
    )
    missed = await missed_count(session, appointment.person_id, now=now)
    if missed >= MISSED_FLAG_THRESHOLD:
        flag = await raise_flag(
            session,
            appointment.person_id,
            kind=MISSED_FLAG,
            detail=f"{missed} missed appointments in 12 months",
            now=now,
        )
        if flag is not None:
            outcome.flags.append(MISSED_FLAG)
            person = await session.get(Person, appointment.person_id)
            await tell_practice(
                session,
                appointment.practice_ods,
                template_key="clinic_missed_flag",
                dedupe_key=f"flag:{flag.id}",
                params={
                    "person_id": appointment.person_id,
                    "patient_name": person.display_name if person else "",
                    "missed": missed,
                },
                now=now,
            )
    return outcome


async def missed_count(session: AsyncSession, person_id: int, *, now: datetime) -> int:
    return int(
        (
            await session.exec(
                select(func.count()).where(
                    col(Appointment.person_id) == person_id,
                    col(Appointment.status) == AppointmentStatus.MISSED,
                    col(Appointment.starts_at) >= now - MISSED_WINDOW,
                )
            )
        ).one()
    )


async def raise_flag(
    session: AsyncSession, person_id: int, *, kind: str, detail: str, now: datetime
) -> CareFlag | None:
    """Raises a flag unless one of this kind is still open; returns the new flag."""
    open_flag = (
        await session.exec(
            select(CareFlag).where(
                col(CareFlag.person_id) == person_id,
                col(CareFlag.kind) == kind,
                col(CareFlag.resolved_at).is_(None),
            )
        )
    ).first()
    if open_flag is not None:
        open_flag.detail = detail
        return None
    flag = CareFlag(person_id=person_id, kind=kind, detail=detail, raised_at=now)
    session.add(flag)
    await session.flush()
    return flag


async def open_flags(session: AsyncSession, person_id: int) -> list[CareFlag]:
    return list(
        (
            await session.exec(
                select(CareFlag).where(
                    col(CareFlag.person_id) == person_id, col(CareFlag.resolved_at).is_(None)
                )
            )
        ).all()
    )


async def history(session: AsyncSession, appointment_id: int) -> list[AppointmentEvent]:
    return list(
        (
            await session.exec(
                select(AppointmentEvent)
                .where(col(AppointmentEvent.appointment_id) == appointment_id)
                .order_by(col(AppointmentEvent.at), col(AppointmentEvent.id))
            )
        ).all()
    )
