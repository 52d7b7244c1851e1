"""A linked person's own account: language, pausing, seeing and erasing their data, blocking."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import LANGUAGES
from bot.models import (
    AdviceRequest,
    AdviceStatus,
    Appointment,
    AppointmentEvent,
    AuditEvent,
    CareFlag,
    CareGoal,
    CarePlan,
    CareResult,
    CarerLink,
    CodeAttempt,
    CourseEnrolment,
    EnrolmentCode,
    EnrolmentSession,
    GoalCheckIn,
    HealthCheck,
    OutboxMessage,
    Person,
    PersonStatus,
    Practice,
    PreReview,
    Priority,
    TopicRating,
    Transition,
    TransitionAnswer,
)
from bot.services import audit, outbox
from bot.services.care_plans import check_in_topic
from bot.services.staff_notices import person_topic

WELCOME_FOLLOWUP_HOUR = 10


async def person_for_telegram(session: AsyncSession, telegram_user_id: int) -> Person | None:
    return (
        await session.exec(select(Person).where(col(Person.telegram_user_id) == telegram_user_id))
    ).one_or_none()


async def language_for_telegram(session: AsyncSession, telegram_user_id: int) -> str | None:
    """The language we already know for this account, linked or half-way through joining."""
    person = await person_for_telegram(session, telegram_user_id)
    if person is not None:
        return person.language
    state = await session.get(EnrolmentSession, telegram_user_id)
    return state.language if state else None


async def set_language(session: AsyncSession, person: Person, language: str, now: datetime) -> None:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}")
    # Queued messages are rendered at send time, so they follow the new language by themselves.
    person.language = language
    person.updated_at = now
    session.add(person)


async def pause(session: AsyncSession, person: Person, now: datetime) -> None:
    person.paused_at = now
    person.updated_at = now
    session.add(person)
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="person.pause",
        person_id=person.id,
        at=now,
    )


async def resume(session: AsyncSession, person: Person, chat_id: int, now: datetime) -> bool:
    """/start from someone already linked. Returns True if they had paused or blocked us."""
    was_away = person.paused_at is not None or person.status != PersonStatus.ACTIVE
    person.paused_at = None
    person.status = PersonStatus.ACTIVE
    person.telegram_chat_id = chat_id
    person.updated_at = now
    session.add(person)
    if was_away:
        await audit.record(
            session,
            actor=audit.person_actor(person.id),
            action="person.resume",
            person_id=person.id,
            at=now,
        )
    return was_away


async def queue_welcome_followup(
    session: AsyncSession, person: Person, now: datetime, zone_name: str | None = None
) -> None:
    """The day after joining, at 10:00 their time: a short note of what the bot can do."""
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(zone_name or person.timezone)
    local_next_day = (now.astimezone(zone) + timedelta(days=1)).date()
    due = datetime(
        local_next_day.year,
        local_next_day.month,
        local_next_day.day,
        WELCOME_FOLLOWUP_HOUR,
        tzinfo=zone,
    )
    assert person.id is not None
    await outbox.queue(
        session,
        template_key="welcome_followup",
        dedupe_key=f"welcome_followup:{person.id}",
        due_at=due,
        priority=Priority.EDUCATION,
        person_id=person.id,
    )


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


async def export_personal_data(session: AsyncSession, person: Person, now: datetime) -> dict:
    """Everything stored about this person, for /mydata (UK GDPR right of access)."""
    assert person.id is not None
    practice = await session.get(Practice, person.practice_ods) if person.practice_ods else None
    messages = (
        await session.exec(
            select(OutboxMessage)
            .where(col(OutboxMessage.person_id) == person.id)
            .order_by(col(OutboxMessage.due_at))
        )
    ).all()
    events = (
        await session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.person_id) == person.id)
            .order_by(col(AuditEvent.at))
        )
    ).all()
    appointment_rows = (
        await session.exec(
            select(Appointment)
            .where(col(Appointment.person_id) == person.id)
            .order_by(col(Appointment.starts_at))
        )
    ).all()
    history: dict[int, list[AppointmentEvent]] = {}
    for event in (
        await session.exec(
            select(AppointmentEvent)
            .where(col(AppointmentEvent.appointment_id).in_([a.id for a in appointment_rows]))
            .order_by(col(AppointmentEvent.at), col(AppointmentEvent.id))
        )
    ).all():
        history.setdefault(event.appointment_id, []).append(event)
    flags = (await session.exec(select(CareFlag).where(col(CareFlag.person_id) == person.id))).all()
    health_check = (
        await session.exec(select(HealthCheck).where(col(HealthCheck.person_id) == person.id))
    ).one_or_none()
    programme = (
        await session.exec(select(Transition).where(col(Transition.person_id) == person.id))
    ).one_or_none()
    transition_answers = (
        await session.exec(
            select(TransitionAnswer).where(col(TransitionAnswer.person_id) == person.id)
        )
    ).all()
    courses = (
        await session.exec(
            select(CourseEnrolment).where(col(CourseEnrolment.person_id) == person.id)
        )
    ).all()
    ratings = (
        await session.exec(select(TopicRating).where(col(TopicRating.person_id) == person.id))
    ).all()
    # Advice requests a GP sent, and hypo follow-ups about a patient (not drafts).
    advice_requests = (
        await session.exec(
            select(AdviceRequest)
            .where(
                (col(AdviceRequest.requester_id) == person.id)
                | (col(AdviceRequest.patient_id) == person.id),
                col(AdviceRequest.status) != AdviceStatus.CANCELLED,
            )
            .order_by(col(AdviceRequest.created_at))
        )
    ).all()
    care = await _care_planning_export(session, person)
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="person.export",
        person_id=person.id,
        at=now,
    )
    return {
        "exported_at": now.isoformat(),
        "person": {
            key: _iso(getattr(person, key))
            for key in (
                "id",
                "role",
                "display_name",
                "nhs_number",
                "date_of_birth",
                "practice_ods",
                "language",
                "timezone",
                "telegram_user_id",
                "status",
                "paused_at",
                "consented_at",
                "registered_by",
                "created_at",
                "updated_at",
            )
        },
        "practice": {"ods_code": practice.ods_code, "name": practice.name} if practice else None,
        "messages": [
            {
                "template": m.template_key,
                "due_at": _iso(m.due_at),
                "status": m.status,
                "sent_at": _iso(m.sent_at),
            }
            for m in messages
        ],
        "record_history": [{"at": _iso(e.at), "by": e.actor, "action": e.action} for e in events],
        "appointments": [
            {
                "kind": a.kind,
                "starts_at": _iso(a.starts_at),
                "location": a.location,
                "clinician": a.clinician,
                "status": a.status,
                "your_answer": a.answer,
                "history": [
                    {"at": _iso(e.at), "event": e.event} for e in history.get(a.id or 0, [])
                ],
            }
            for a in appointment_rows
        ],
        "nhs_health_check": (
            {
                "status": health_check.status,
                "last_check_on": _iso(health_check.last_check_on),
                "has_a_listed_condition": health_check.has_condition,
                "takes_a_statin": health_check.takes_statin,
                "due_on": _iso(health_check.due_on),
                "answered_at": _iso(health_check.answered_at),
            }
            if health_check
            else None
        ),
        "transition_programme": (
            {
                "started_on": _iso(programme.started_on),
                "named_worker": programme.named_worker,
                "active": programme.active,
                "answers": {
                    a.question: {"answer": a.answer, "at": _iso(a.answered_at)}
                    for a in transition_answers
                },
            }
            if programme
            else None
        ),
        "diabetes_type": person.diabetes_type,
        "diagnosed_on": _iso(person.diagnosed_on),
        "courses": [
            {
                "course": c.course_id,
                "status": c.status,
                "lesson_hour": c.delivery_hour,
                "next_lesson": c.next_lesson,
                "started_at": _iso(c.started_at),
                "paused_at": _iso(c.paused_at),
            }
            for c in courses
        ],
        "page_ratings": [
            {
                "topic": r.topic_id,
                "language": r.language,
                "helpful": r.helpful,
                "at": _iso(r.rated_at),
            }
            for r in ratings
        ],
        "care_team_flags": [
            {"kind": f.kind, "raised_at": _iso(f.raised_at), "resolved_at": _iso(f.resolved_at)}
            for f in flags
        ],
        "advice_line": [
            {
                "reference": r.reference,
                "kind": r.kind,
                "status": r.status,
                "area": r.area,
                "urgency": r.urgency,
                "occurred_at": _iso(r.occurred_at),
                "submitted_at": _iso(r.submitted_at),
                "due_at": _iso(r.due_at),
                "first_answer_at": _iso(r.first_answer_at),
                "closed_at": _iso(r.closed_at),
                "outcome": r.outcome,
            }
            for r in advice_requests
        ],
        **care,
    }


async def _care_planning_export(session: AsyncSession, person: Person) -> dict[str, Any]:
    """Results, the agenda answered before each annual review, and the care plans with their
    goals and the person's check-in answers."""
    person_id = person.id
    results = (
        await session.exec(
            select(CareResult)
            .where(col(CareResult.person_id) == person_id)
            .order_by(col(CareResult.taken_on), col(CareResult.measure))
        )
    ).all()
    reviews = (
        await session.exec(
            select(PreReview, Appointment)
            .join(Appointment, col(Appointment.id) == col(PreReview.appointment_id))
            .where(col(PreReview.person_id) == person_id)
            .order_by(col(Appointment.starts_at))
        )
    ).all()
    plans = (
        await session.exec(
            select(CarePlan)
            .where(col(CarePlan.person_id) == person_id)
            .order_by(col(CarePlan.recorded_at), col(CarePlan.id))
        )
    ).all()
    goals = (
        await session.exec(
            select(CareGoal)
            .where(col(CareGoal.care_plan_id).in_([p.id for p in plans]))
            .order_by(col(CareGoal.position))
        )
    ).all()
    check_ins = (
        await session.exec(
            select(GoalCheckIn)
            .where(col(GoalCheckIn.person_id) == person_id)
            .order_by(col(GoalCheckIn.round))
        )
    ).all()
    return {
        "treatment": person.treatment,
        "results": [
            {
                "measure": r.measure,
                "taken_on": _iso(r.taken_on),
                "value": r.value,
                "value2": r.value2,
                "outcome": r.outcome,
                "from": r.source,
                "recorded_at": _iso(r.recorded_at),
            }
            for r in results
        ],
        "annual_review_preparation": [
            {
                "review_at": _iso(review.starts_at),
                "results_sent_at": _iso(p.results_sent_at),
                "topics": list(p.topics),
                "what_matters_most": p.own_words,
                "confidence": p.confidence,
                "hypos": p.hypos,
                "drives": p.drives,
                "mood_interest": p.mood_interest,
                "mood_down": p.mood_down,
                "agenda_finished_at": _iso(p.agenda_finished_at),
                "summary_sent_at": _iso(p.summary_sent_at),
            }
            for p, review in reviews
        ],
        "care_plans": [
            {
                "recorded_at": _iso(plan.recorded_at),
                "recorded_by": plan.recorded_by,
                "current": plan.current,
                "next_review_on": _iso(plan.next_review_on),
                "targets": dict(plan.targets),
                "contacts": list(plan.contacts),
                "goals": [
                    {
                        "goal": goal.goal,
                        "actions": list(goal.actions),
                        "check_ins": [
                            {
                                "round": c.round,
                                "answer": c.answer,
                                "new_goal": c.new_goal,
                                "at": _iso(c.answered_at),
                            }
                            for c in check_ins
                            if c.goal_id == goal.id
                        ],
                    }
                    for goal in goals
                    if goal.care_plan_id == plan.id
                ],
            }
            for plan in plans
        ],
    }


async def erase(session: AsyncSession, person: Person, now: datetime) -> None:
    """/forget: the person's record, codes, messages and attempts go. The audit trail keeps
    only that an erasure happened, under the old id, with nothing that identifies them."""
    person_id = person.id
    telegram_user_id = person.telegram_user_id
    await session.exec(  # type: ignore[call-overload]
        delete(OutboxMessage).where(
            (col(OutboxMessage.person_id) == person_id)
            # What the practice was told about them names them: it goes too.
            | (col(OutboxMessage.topic) == person_topic(person_id or 0))
            # So does a carer's copy of "your care plan is ready", which names them.
            | (col(OutboxMessage.topic) == check_in_topic(person_id or 0))
        )
    )
    # Carer invitations they sent and nobody accepted: the waiting placeholder records go.
    unaccepted = select(CarerLink.carer_id).where(
        col(CarerLink.patient_id) == person_id, col(CarerLink.accepted_at).is_(None)
    )
    await session.exec(  # type: ignore[call-overload]
        delete(Person).where(
            col(Person.id).in_(unaccepted), col(Person.status) == PersonStatus.INVITED
        )
    )
    # Care planning: check-in answers, goals, plans, the agenda answers and the results.
    plan_ids = select(CarePlan.id).where(col(CarePlan.person_id) == person_id)
    await session.exec(  # type: ignore[call-overload]
        delete(GoalCheckIn).where(col(GoalCheckIn.person_id) == person_id)
    )
    await session.exec(  # type: ignore[call-overload]
        delete(CareGoal).where(col(CareGoal.care_plan_id).in_(plan_ids))
    )
    for care_table in (CarePlan, PreReview, CareResult):
        await session.exec(  # type: ignore[call-overload]
            delete(care_table).where(col(care_table.person_id) == person_id)
        )
    appointment_ids = select(Appointment.id).where(col(Appointment.person_id) == person_id)
    await session.exec(  # type: ignore[call-overload]
        delete(AppointmentEvent).where(col(AppointmentEvent.appointment_id).in_(appointment_ids))
    )
    await session.exec(  # type: ignore[call-overload]
        delete(Appointment).where(col(Appointment.person_id) == person_id)
    )
    await session.exec(  # type: ignore[call-overload]
        delete(CareFlag).where(col(CareFlag.person_id) == person_id)
    )
    for table in (HealthCheck, Transition, TransitionAnswer, CourseEnrolment, TopicRating):
        await session.exec(  # type: ignore[call-overload]
            delete(table).where(col(table.person_id) == person_id)
        )
    await session.exec(  # type: ignore[call-overload]
        delete(EnrolmentCode).where(col(EnrolmentCode.person_id) == person_id)
    )
    # A GP's unsent advice request goes; sent ones are the specialist team's clinical record
    # and stay, no longer linked to the account (as do hypo follow-ups about a patient).
    await session.exec(  # type: ignore[call-overload]
        delete(AdviceRequest).where(
            col(AdviceRequest.requester_id) == person_id,
            col(AdviceRequest.status).in_([AdviceStatus.DRAFT, AdviceStatus.CANCELLED]),
        )
    )
    if telegram_user_id is not None:
        await session.exec(  # type: ignore[call-overload]
            delete(CodeAttempt).where(col(CodeAttempt.telegram_user_id) == telegram_user_id)
        )
        await session.exec(  # type: ignore[call-overload]
            delete(EnrolmentSession).where(
                col(EnrolmentSession.telegram_user_id) == telegram_user_id
            )
        )
    # Earlier audit details may name a practice or role; the erased person's rows are blanked.
    for event in (
        await session.exec(select(AuditEvent).where(col(AuditEvent.person_id) == person_id))
    ).all():
        event.detail = ""
    await session.delete(person)
    await audit.record(
        session,
        actor=audit.person_actor(person_id),
        action="person.erase",
        person_id=person_id,
        at=now,
    )


async def deactivate(
    session: AsyncSession,
    *,
    now: datetime,
    telegram_user_id: int | None = None,
    person_id: int | None = None,
    reason: str,
) -> Person | None:
    """The person blocked the bot: stop trying, and cancel what was waiting for them."""
    if person_id is not None:
        person = await session.get(Person, person_id)
    elif telegram_user_id is not None:
        person = await person_for_telegram(session, telegram_user_id)
    else:
        person = None
    if person is None or person.id is None:
        return None
    person.status = PersonStatus.INACTIVE
    person.updated_at = now
    session.add(person)
    await outbox.cancel_pending_for_person(session, person.id, reason=reason)
    await audit.record(
        session,
        actor="telegram",
        action="person.deactivate",
        person_id=person.id,
        detail=reason,
        at=now,
    )
    return person
