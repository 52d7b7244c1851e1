"""The hypo hotline (Portsmouth): every severe hypo, told by the ambulance service or by the
person, becomes a follow-up in the specialist team's queue, due within one working day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    OPEN_STATUSES,
    AdviceKind,
    AdviceMessage,
    AdviceMessageKind,
    AdviceRequest,
    AdviceStatus,
    OutboxStatus,
    Person,
    PersonStatus,
    Priority,
    Role,
)
from bot.services import advice_line, audit, outbox
from bot.services.advice_line import Targets
from bot.services.enrolment import check_nhs_number


class HypoAction(StrEnum):
    PHONED = "phoned"
    CARE_PLAN_CHANGED = "care_plan_changed"
    REFERRED_TO_EDUCATION = "referred_to_education"
    COULD_NOT_REACH = "could_not_reach"


# Actions that reached the person: the follow-up is done (its "first answer").
CONTACT_ACTIONS = frozenset(
    {HypoAction.PHONED, HypoAction.CARE_PLAN_CHANGED, HypoAction.REFERRED_TO_EDUCATION}
)


class SelfReport(StrEnum):
    """How the person says the hypo was treated."""

    HELP = "help"  # someone else had to help
    AMBULANCE = "ambulance"  # an ambulance came, or they went to hospital


REPORTERS = frozenset({Role.PATIENT, Role.YOUNG_PERSON})
# Pressing the button twice, or telling us again the same day, is one follow-up.
SAME_REPORT = timedelta(hours=24)


@dataclass(frozen=True)
class Callout:
    request: AdviceRequest
    created: bool
    patient_told: bool


def _new_follow_up(
    *,
    nhs_number: str | None,
    patient: Person | None,
    occurred_at: datetime,
    taken_to_hospital: bool | None,
    source: str,
    callout_id: str | None,
    now: datetime,
) -> AdviceRequest:
    return AdviceRequest(
        kind=AdviceKind.HYPO,
        status=AdviceStatus.OPEN,
        nhs_number=nhs_number,
        patient_id=patient.id if patient else None,
        practice_ods=patient.practice_ods if patient else None,
        occurred_at=occurred_at,
        taken_to_hospital=taken_to_hospital,
        source=source,
        callout_id=callout_id,
        created_at=now,
        updated_at=now,
    )


async def _open(
    session: AsyncSession, request: AdviceRequest, targets: Targets, now: datetime
) -> None:
    advice_line.start_clock(request, targets, now)
    session.add(request)
    await session.flush()
    await advice_line.queue_card(session, request, now=now)


async def record_callout(
    session: AsyncSession,
    *,
    nhs_number_text: str,
    occurred_at: datetime,
    taken_to_hospital: bool,
    callout_id: str | None,
    source: str,
    targets: Targets,
    now: datetime,
) -> Callout:
    """A call-out from the ambulance service. Sent again with the same id, nothing changes."""
    number = check_nhs_number(nhs_number_text)
    if callout_id:
        known = (
            await session.exec(
                select(AdviceRequest).where(col(AdviceRequest.callout_id) == callout_id)
            )
        ).first()
        if known is not None:
            return Callout(known, created=False, patient_told=False)
    patient = (await session.exec(select(Person).where(col(Person.nhs_number) == number))).first()
    request = _new_follow_up(
        nhs_number=number,
        patient=patient,
        occurred_at=occurred_at,
        taken_to_hospital=taken_to_hospital,
        source=source,
        callout_id=callout_id,
        now=now,
    )
    await _open(session, request, targets, now)
    await audit.record(
        session,
        actor=source,
        action="hypo.callout",
        person_id=request.patient_id,
        detail=f"request={request.reference}",
        at=now,
    )
    told = False
    if patient is not None and patient.status == PersonStatus.ACTIVE:
        told = await outbox.queue(
            session,
            template_key="hypo_follow_up",
            dedupe_key=f"advice:{request.id}:patient",
            due_at=now,
            priority=Priority.ADVICE_LINE,
            params={
                "occurred_at": occurred_at.isoformat(),
                "due_at": request.due_at.isoformat() if request.due_at else None,
                "source": "ambulance",
            },
            person_id=patient.id,
            topic=advice_line.request_topic(request.id or 0),
        )
    return Callout(request, created=True, patient_told=told)


def may_report(person: Person) -> bool:
    return Role(person.role) in REPORTERS and person.status == PersonStatus.ACTIVE


async def self_report(
    session: AsyncSession, person: Person, how: SelfReport, *, targets: Targets, now: datetime
) -> tuple[AdviceRequest, bool]:
    """The person tells us a hypo needed someone's help. Returns the follow-up, and whether it
    is new (a second report within a day joins the first)."""
    if not may_report(person):
        raise advice_line.NotAllowed("only a patient can ask the team to follow up a hypo")
    recent = (
        await session.exec(
            select(AdviceRequest).where(
                col(AdviceRequest.kind) == AdviceKind.HYPO,
                col(AdviceRequest.patient_id) == person.id,
                col(AdviceRequest.status).in_([s.value for s in OPEN_STATUSES]),
                col(AdviceRequest.created_at) >= now - SAME_REPORT,
            )
        )
    ).first()
    if recent is not None:
        return recent, False
    request = _new_follow_up(
        nhs_number=person.nhs_number,
        patient=person,
        occurred_at=now,
        taken_to_hospital=True if how is SelfReport.AMBULANCE else None,
        source=f"patient:{how.value}",
        callout_id=None,
        now=now,
    )
    await _open(session, request, targets, now)
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="hypo.self_report",
        person_id=person.id,
        detail=f"request={request.reference}",
        at=now,
    )
    return request, True


async def record_action(
    session: AsyncSession,
    request_id: int,
    specialist: Person,
    action: HypoAction,
    *,
    now: datetime,
) -> AdviceRequest:
    """What the team did. Reaching the person (phoned, care plan changed, referred to
    education) is the follow-up done; "could not reach" is kept and the request stays open."""
    request = await advice_line.claim(session, request_id, specialist, now=now)
    if request.kind != AdviceKind.HYPO:
        raise advice_line.InvalidAnswer(advice_line.Problem.NOT_A_STEP)
    session.add(
        AdviceMessage(
            request_id=request_id,
            author_id=specialist.id,
            author_name=advice_line.author_line(specialist),
            kind=AdviceMessageKind.HYPO_ACTION,
            text=action.value,
            at=now,
        )
    )
    if action in CONTACT_ACTIONS:
        request.first_answer_at = request.first_answer_at or now
        request.status = AdviceStatus.ANSWERED
    request.updated_at = now
    await audit.record(
        session,
        actor=audit.person_actor(specialist.id),
        action="hypo.action",
        person_id=request.patient_id,
        detail=f"request={request.reference} action={action.value}",
        at=now,
    )
    return request


async def latest_follow_up(
    session: AsyncSession, person_id: int, *, since: datetime
) -> AdviceRequest | None:
    """The person's newest hypo follow-up created since `since`: the agenda's "one that needed
    help" creates one (or joins one up to SAME_REPORT older), and "Do you drive?", answered
    later, perhaps after a restart, belongs on it."""
    return (
        await session.exec(
            select(AdviceRequest)
            .where(
                col(AdviceRequest.kind) == AdviceKind.HYPO,
                col(AdviceRequest.patient_id) == person_id,
                col(AdviceRequest.created_at) >= since,
            )
            .order_by(col(AdviceRequest.created_at).desc(), col(AdviceRequest.id).desc())
        )
    ).first()


async def record_drives(
    session: AsyncSession, request_id: int, person: Person, drives: bool, *, now: datetime
) -> AdviceRequest:
    """The person's answer to "Do you drive?" on their own hypo follow-up: the team reads it
    with the DVLA rules in mind. Button data can be stale or forged: a request that is not this
    person's hypo follow-up is NotFound, and nothing changes."""
    request = await session.get(AdviceRequest, request_id)
    if (
        request is None
        or request.kind != AdviceKind.HYPO
        or request.patient_id is None
        or request.patient_id != person.id
        or request.status in (AdviceStatus.DRAFT, AdviceStatus.CANCELLED)
    ):
        raise advice_line.NotFound(str(request_id))
    request.drives = drives
    request.updated_at = now
    session.add(request)
    # A card still waiting in the outbox is sent with the answer on it; one already sent is
    # edited by the handler (and shows it anyway once claimed).
    for row in await outbox.for_topic(session, advice_line.request_topic(request_id)):
        if row.template_key == "advice_card" and row.status == OutboxStatus.PENDING:
            row.params = {**row.params, "drives": drives}
            session.add(row)
    await session.flush()
    return request
