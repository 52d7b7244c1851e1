"""Carers: a patient invites someone who helps them to receive their appointment reminders.

The invitation is an ordinary single-use enrolment code for a new carer record, so a carer who
is new to the bot joins through the usual language and consent screens. Someone who already
uses the bot accepts the same link in one step. Either side can end the link at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    STAFF_ROLES,
    Appointment,
    AppointmentStatus,
    CarerLink,
    EnrolmentCode,
    Person,
    PersonStatus,
    Priority,
    Role,
)
from bot.plans import Plans
from bot.services import appointments, audit, outbox
from bot.services.enrolment import IssuedCode, code_hash, issue_enrolment_code

# People who may invite a carer: those whose own appointments are reminded.
MAY_INVITE = frozenset({Role.PATIENT, Role.YOUNG_PERSON})
INVITE_VALID_DAYS = 7
CARER_CODE = "carer"
MAX_CARERS = 3


class CarerRefused(ValueError):
    """Why an invitation or acceptance cannot go ahead (a short machine-readable reason)."""


@dataclass(frozen=True)
class CarerView:
    link_id: int
    carer_name: str
    accepted: bool


async def active_links(session: AsyncSession, patient_id: int) -> list[CarerLink]:
    return list(
        (
            await session.exec(
                select(CarerLink).where(
                    col(CarerLink.patient_id) == patient_id, col(CarerLink.removed_at).is_(None)
                )
            )
        ).all()
    )


async def carers_of(session: AsyncSession, patient_id: int) -> list[CarerView]:
    """The patient's carers, for /carer: those who accepted, and invitations still open."""
    views = []
    for link in await active_links(session, patient_id):
        carer = await session.get(Person, link.carer_id)
        if carer is None:
            continue
        views.append(
            CarerView(link.id or 0, carer.display_name, accepted=link.accepted_at is not None)
        )
    return views


async def invite(
    session: AsyncSession, patient: Person, *, now: datetime, timezone: str
) -> IssuedCode:
    if Role(patient.role) not in MAY_INVITE or patient.id is None:
        raise CarerRefused("not_a_patient")
    # Unused invitations from earlier are withdrawn: only the newest link works.
    for link in await active_links(session, patient.id):
        if link.accepted_at is None:
            await _withdraw_invitation(session, link, now)
    if len(await appointments.receiving_carers(session, patient.id)) >= MAX_CARERS:
        raise CarerRefused("too_many")
    placeholder = Person(
        role=Role.CARER,
        display_name="",
        language=patient.language,
        timezone=timezone,
        status=PersonStatus.INVITED,
        registered_by=audit.person_actor(patient.id),
        created_at=now,
        updated_at=now,
    )
    session.add(placeholder)
    await session.flush()
    assert placeholder.id is not None
    session.add(CarerLink(patient_id=patient.id, carer_id=placeholder.id, created_at=now))
    code, expires_at = await issue_enrolment_code(
        session, placeholder, now=now, valid_days=INVITE_VALID_DAYS, purpose=CARER_CODE
    )
    await audit.record(
        session,
        actor=audit.person_actor(patient.id),
        action="carer.invite",
        person_id=patient.id,
        at=now,
    )
    return IssuedCode(code=code, person_id=placeholder.id, expires_at=expires_at, reissued=False)


async def _withdraw_invitation(session: AsyncSession, link: CarerLink, now: datetime) -> None:
    link.removed_at = now
    placeholder = await session.get(Person, link.carer_id)
    if placeholder is not None and placeholder.status == PersonStatus.INVITED:
        await session.delete(placeholder)


async def accept_as_existing_user(
    session: AsyncSession, person: Person, raw_code: str, *, now: datetime, plans: Plans
) -> Person | None:
    """Someone already using the bot opens a carer link. Returns the patient they now help,
    or None when the code is not a carer invitation (it is then handled as any /start)."""
    code = (
        await session.exec(
            select(EnrolmentCode).where(col(EnrolmentCode.code_hash) == code_hash(raw_code))
        )
    ).one_or_none()
    if code is None or code.purpose != CARER_CODE:
        return None
    if code.used_at is not None or code.revoked_at is not None:
        raise CarerRefused("used")
    if code.expires_at <= now:
        raise CarerRefused("expired")
    placeholder = await session.get(Person, code.person_id)
    link = (
        await session.exec(select(CarerLink).where(col(CarerLink.carer_id) == code.person_id))
    ).first()
    if placeholder is None or link is None or link.removed_at is not None:
        raise CarerRefused("used")
    if person.id == link.patient_id:
        raise CarerRefused("own_link")
    if Role(person.role) in STAFF_ROLES:
        raise CarerRefused("staff")
    # The link and the used code move to the person who accepted; the placeholder goes.
    code.used_at = now
    code.person_id = link.carer_id = person.id or 0
    await session.flush()
    await session.delete(placeholder)
    return await _accepted(session, link, person, now=now, plans=plans)


async def on_joined(
    session: AsyncSession, carer: Person, *, now: datetime, plans: Plans
) -> list[Person]:
    """A new carer agreed and joined through their invitation: their links start."""
    links = (
        await session.exec(
            select(CarerLink).where(
                col(CarerLink.carer_id) == carer.id,
                col(CarerLink.accepted_at).is_(None),
                col(CarerLink.removed_at).is_(None),
            )
        )
    ).all()
    patients = []
    for link in links:
        patient = await _accepted(session, link, carer, now=now, plans=plans)
        if patient is not None:
            patients.append(patient)
    return patients


async def _accepted(
    session: AsyncSession, link: CarerLink, carer: Person, *, now: datetime, plans: Plans
) -> Person | None:
    link.accepted_at = now
    patient = await session.get(Person, link.patient_id)
    if patient is None:
        return None
    await audit.record(
        session,
        actor=audit.person_actor(carer.id),
        action="carer.accept",
        person_id=patient.id,
        at=now,
    )
    await outbox.queue(
        session,
        template_key="carer_joined",
        dedupe_key=f"carer:{link.id}:joined",
        due_at=now,
        priority=Priority.REMINDER,
        params={"carer_name": carer.display_name},
        person_id=patient.id,
    )
    # Appointments already booked: the carer gets their remaining reminders too.
    for appointment in (
        await session.exec(
            select(Appointment).where(
                col(Appointment.person_id) == patient.id,
                col(Appointment.status) == AppointmentStatus.BOOKED,
                col(Appointment.starts_at) > now,
            )
        )
    ).all():
        if appointment.answer != "cant_come":
            await appointments.plan_reminders(session, appointment, plans=plans, now=now)
    return patient


async def remove(
    session: AsyncSession, *, by: Person, link_id: int, now: datetime
) -> tuple[Person, Person]:
    """Ends a link, by the patient or by the carer. Returns (patient, carer)."""
    link = await session.get(CarerLink, link_id)
    if (
        link is None
        or link.removed_at is not None
        or by.id
        not in (
            link.patient_id,
            link.carer_id,
        )
    ):
        raise CarerRefused("no_such_link")
    link.removed_at = now
    patient = await session.get(Person, link.patient_id)
    carer = await session.get(Person, link.carer_id)
    assert patient is not None and carer is not None
    if link.accepted_at is None:
        await _withdraw_invitation(session, link, now)
    else:
        # Their reminders about this patient stop at once.
        appointment_ids = (
            await session.exec(
                select(Appointment.id).where(col(Appointment.person_id) == patient.id)
            )
        ).all()
        await outbox.cancel_pending_for_person(
            session,
            carer.id or 0,
            reason="carer removed",
            topics=[appointments.topic(a) for a in appointment_ids if a is not None],
        )
        other = carer if by.id == patient.id else patient
        await outbox.queue(
            session,
            template_key="carer_removed",
            dedupe_key=f"carer:{link.id}:removed",
            due_at=now,
            priority=Priority.REMINDER,
            params={
                "patient_name": patient.display_name,
                "carer_name": carer.display_name,
                "to": "carer" if other is carer else "patient",
            },
            person_id=other.id,
        )
    await audit.record(
        session,
        actor=audit.person_actor(by.id),
        action="carer.remove",
        person_id=patient.id,
        at=now,
    )
    return patient, carer


async def cared_for(session: AsyncSession, carer_id: int) -> list[tuple[CarerLink, Person]]:
    rows = (
        await session.exec(
            select(CarerLink, Person)
            .join(Person, col(Person.id) == col(CarerLink.patient_id))
            .where(
                col(CarerLink.carer_id) == carer_id,
                col(CarerLink.removed_at).is_(None),
                col(CarerLink.accepted_at).is_not(None),
            )
        )
    ).all()
    return [(link, patient) for link, patient in rows]
