"""Getting ready for the annual review (Year of Care care planning), knowing nothing of Telegram.

Before a booked annual review, as `content/plans.yaml` says (`annual_review_preparation`):
the person gets their results explained, then the agenda questions, each answer saved as it is
given; an unfinished agenda is nudged once; two days before, the clinician who will see them (or
the practice) gets a one-screen summary. `plan()` does all of it once a few minutes, from the one
process that dispatches, so nothing is sent twice.

The results message is built when it is sent out, from the results held then: a result imported
after the review was booked is in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    STAFF_ROLES,
    AdviceKind,
    AdviceRequest,
    Appointment,
    AppointmentStatus,
    CareGoal,
    CarePlan,
    GoalCheckIn,
    Person,
    PersonStatus,
    PreReview,
    Priority,
    Role,
)
from bot.plans import AppointmentKind, Plans, PreparationEvent
from bot.services import audit, care_results, outbox, staff_notices
from bot.services.care_targets import AUDIT_MONTHS, ResultLine, line_from_dict, lines_for_review

# Who is asked: people with diabetes themselves (a carer's copy of results would share them).
PREPARED = frozenset({Role.PATIENT, Role.YOUNG_PERSON})
OWN_WORDS_LIMIT = 1000
# How long after the question was last shown typed words still answer it (`/review` shows it
# again).
WORDS_WAIT = timedelta(hours=48)
# PHQ-2: a total of 3 or more out of 6 is the usual point for asking more (NICE CG91).
LOW_MOOD_SCORE = 3
# A hypo follow-up in this window counts as a severe hypo on the summary.
HYPO_WINDOW = timedelta(days=92)


class AgendaStep(StrEnum):
    TOPICS = "topics"
    WORDS = "words"
    CONFIDENCE = "confidence"
    HYPOS = "hypos"
    DRIVES = "drives"
    MOOD_INTEREST = "mood_interest"
    MOOD_DOWN = "mood_down"
    DONE = "done"


ORDER = list(AgendaStep)


class AgendaTopic(StrEnum):
    SUGAR = "sugar"
    MEDICINES = "medicines"
    WEIGHT = "weight"
    FOOD = "food"
    ACTIVITY = "activity"
    FEET = "feet"
    EYES = "eyes"
    MOOD = "mood"
    HYPOS = "hypos"
    DRIVING = "driving"
    WORK_FAMILY = "work_family"
    OTHER = "other"


class HypoAnswer(StrEnum):
    NONE = "none"
    SELF_TREATED = "self_treated"
    NEEDED_HELP = "needed_help"


class Flag(StrEnum):
    SEVERE_HYPO = "severe_hypo"
    LOW_MOOD = "low_mood"


class AgendaProblem(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "too_long", "empty", "out_of_range", "finished"


def nudge_key(pre_review: PreReview) -> str:
    """The nudge's dedupe key, one per review date; cancelled by it (a unique index: see
    outbox.cancel_pending_by_key)."""
    return f"pre_review:{pre_review.id}:nudge:{int(pre_review.review_at.timestamp())}"


# Planning ------------------------------------------------------------------------------------


@dataclass
class PlanReport:
    results_sent: int = 0
    summaries_sent: int = 0
    more: bool = False


def _latest_send(plans: Plans, review: Appointment, zone: ZoneInfo) -> datetime:
    """Results are worth sending while the summary is still to come (or, without a summary
    step, up to a day before the review)."""
    summary = plans.preparation("pre_review_summary")
    if summary is not None:
        return summary.send_time(review.starts_at, zone)
    return review.starts_at - timedelta(days=1)


# One run's share, so a busy day is done in several short transactions, not one long one that
# would hold up everyone else's writes (SQLite has one writer).
BATCH = 50


async def plan(
    session: AsyncSession, *, plans: Plans, now: datetime, batch: int = BATCH
) -> PlanReport:
    """Sends what is due, at most `batch` results and `batch` summaries; `more` says to run
    again (in a new transaction) at once."""
    report = PlanReport()
    # First, so a moved review's summary is planned for its new date in this same run.
    await _follow_moved_reviews(session, plans, now)
    results_event = plans.preparation("pre_review_results")
    if results_event is not None:
        report.results_sent, more = await _send_results(session, plans, results_event, now, batch)
        report.more |= more
    summary_event = plans.preparation("pre_review_summary")
    if summary_event is not None:
        report.summaries_sent, more = await _send_summaries(session, summary_event, now, batch)
        report.more |= more
    await _drop_nudges_of_cancelled(session, now)
    return report


async def _reviews_in_reach(
    session: AsyncSession, event: PreparationEvent, now: datetime, *conditions: Any
) -> list[tuple[Appointment, Person, PreReview | None]]:
    """Booked annual reviews of people with diabetes whose `event` can have come: its offset
    plus a day for the delivery time. The caller checks each one's exact send time."""
    reach = timedelta(**{event.unit: -event.offset}) + timedelta(days=1)
    rows = await session.exec(
        select(Appointment, Person, PreReview)
        .join(Person, col(Person.id) == col(Appointment.person_id))
        .outerjoin(PreReview, col(PreReview.appointment_id) == col(Appointment.id))
        .where(
            col(Appointment.kind) == AppointmentKind.ANNUAL_REVIEW,
            col(Appointment.status) == AppointmentStatus.BOOKED,
            col(Appointment.starts_at) > now,
            col(Appointment.starts_at) <= now + reach,
            col(Person.role).in_([role.value for role in PREPARED]),
            *conditions,
        )
        .order_by(col(Appointment.starts_at))
    )
    return list(rows.all())


async def _send_results(
    session: AsyncSession, plans: Plans, event: PreparationEvent, now: datetime, batch: int
) -> tuple[int, bool]:
    rows = await _reviews_in_reach(
        session,
        event,
        now,
        col(PreReview.id).is_(None),
        col(Person.status) == PersonStatus.ACTIVE,
    )
    sent = 0
    for review, person, _ in rows:
        zone = ZoneInfo(person.timezone)
        if event.send_time(review.starts_at, zone) > now or now >= _latest_send(
            plans, review, zone
        ):
            continue
        if sent == batch:
            return sent, True
        await start(session, review, person, plans=plans, now=now)
        sent += 1
    return sent, False


async def start(
    session: AsyncSession, review: Appointment, person: Person, *, plans: Plans, now: datetime
) -> PreReview:
    """Sends the results and the agenda's first question, and plans the one nudge."""
    assert review.id is not None and person.id is not None
    pre_review = PreReview(
        appointment_id=review.id,
        person_id=person.id,
        review_at=review.starts_at,
        results_sent_at=now,
        created_at=now,
    )
    session.add(pre_review)
    await session.flush()
    assert pre_review.id is not None
    view = await results_view(session, person, on_day=_local_day(review.starts_at, person))
    await outbox.queue(
        session,
        template_key="pre_review_results",
        dedupe_key=f"pre_review:{pre_review.id}:results",
        due_at=now,
        priority=Priority.REMINDER,
        params={
            "pre_review_id": pre_review.id,
            "review_at": review.starts_at.isoformat(),
            "clinician": review.clinician,
            **view,
        },
        person_id=person.id,
        topic=f"pre_review:{pre_review.id}",
        expires_at=review.starts_at,
    )
    await _plan_nudge(session, pre_review, person, plans=plans, now=now)
    return pre_review


async def _plan_nudge(
    session: AsyncSession, pre_review: PreReview, person: Person, *, plans: Plans, now: datetime
) -> None:
    """The one reminder after the results, if it can still come before the review."""
    nudge = plans.preparation("pre_review_agenda_nudge")
    if nudge is None or pre_review.results_sent_at is None:
        return
    due = nudge.send_time(pre_review.results_sent_at, ZoneInfo(person.timezone))
    if due <= now - timedelta(minutes=5) or due >= pre_review.review_at:
        return
    await outbox.queue(
        session,
        template_key="pre_review_agenda_nudge",
        dedupe_key=nudge_key(pre_review),
        due_at=due,
        priority=Priority.REMINDER,
        params={"pre_review_id": pre_review.id, "review_at": pre_review.review_at.isoformat()},
        person_id=person.id,
        topic=f"pre_review:{pre_review.id}",
        expires_at=pre_review.review_at,
    )


def _local_day(moment: datetime, person: Person) -> date:
    return moment.astimezone(ZoneInfo(person.timezone)).date()


async def current_plan_targets(session: AsyncSession, person_id: int) -> dict[str, Any]:
    plan_row = (
        await session.exec(
            select(CarePlan).where(col(CarePlan.person_id) == person_id, col(CarePlan.current))
        )
    ).first()
    return dict(plan_row.targets) if plan_row else {}


async def results_view(session: AsyncSession, person: Person, *, on_day: date) -> dict[str, Any]:
    """The results against their targets and the care processes missing in 15 months, as JSON."""
    assert person.id is not None
    results = await care_results.results_of(session, person.id)
    lines = lines_for_review(
        results,
        diabetes_type=person.diabetes_type,
        treatment=person.treatment,
        born=person.date_of_birth,
        on_day=on_day,
        personal=await current_plan_targets(session, person.id),
    )
    since = care_results.months_before(on_day, AUDIT_MONTHS)
    return {
        "lines": [line.as_dict() for line in lines],
        "missing": [p.value for p in care_results.missing_processes(results, since=since)],
    }


async def _send_summaries(
    session: AsyncSession, event: PreparationEvent, now: datetime, batch: int
) -> tuple[int, bool]:
    """Every booked annual review gets its summary, whether or not the person uses the chat
    (their results and missing checks are still worth a look), and a review booked later than
    the summary time gets it at once."""
    rows = await _reviews_in_reach(session, event, now, col(PreReview.summary_sent_at).is_(None))
    sent = 0
    for review, person, pre_review in rows:
        if event.send_time(review.starts_at, ZoneInfo(person.timezone)) > now:
            continue
        if sent == batch:
            return sent, True
        if pre_review is None:
            # Not prepared in the chat: the row only records that the summary went.
            assert review.id is not None and person.id is not None
            pre_review = PreReview(
                appointment_id=review.id,
                person_id=person.id,
                review_at=review.starts_at,
                created_at=now,
            )
            session.add(pre_review)
            await session.flush()
            answers = None
        else:
            answers = pre_review
        summary = await build_summary(session, person, review, answers, now=now)
        told = await tell_clinician(session, review, person, summary, now=now)
        # Marked done either way: with nobody to tell, trying every 5 minutes helps no one; the
        # audit says so, and the API's pre-review view still has it.
        pre_review.summary_sent_at = now
        session.add(pre_review)
        # The agenda goes with the summary as it stands: a nudge after it would be too late.
        await outbox.cancel_pending_by_key(session, nudge_key(pre_review), reason="summary sent")
        await audit.record(
            session,
            actor="system",
            action="pre_review.summary_sent" if told else "pre_review.summary_no_recipient",
            person_id=person.id,
            detail=f"review {review.id}",
            at=now,
        )
        sent += 1
    return sent, False


async def _drop_nudges_of_cancelled(session: AsyncSession, now: datetime) -> None:
    rows = (
        await session.exec(
            select(PreReview)
            .join(Appointment, col(Appointment.id) == col(PreReview.appointment_id))
            .where(
                col(Appointment.status) != AppointmentStatus.BOOKED,
                col(PreReview.agenda_finished_at).is_(None),
                col(PreReview.summary_sent_at).is_(None),
                col(Appointment.updated_at) >= now - timedelta(days=2),
            )
        )
    ).all()
    for pre_review in rows:
        await outbox.cancel_pending_by_key(
            session, nudge_key(pre_review), reason="review cancelled"
        )


async def _follow_moved_reviews(session: AsyncSession, plans: Plans, now: datetime) -> int:
    """A review the practice moved: the nudge follows the new date (or goes, if it would now
    come after the review), and the clinician's summary is due again for the new date."""
    rows = (
        await session.exec(
            select(PreReview, Appointment, Person)
            .join(Appointment, col(Appointment.id) == col(PreReview.appointment_id))
            .join(Person, col(Person.id) == col(PreReview.person_id))
            .where(
                col(Appointment.status) == AppointmentStatus.BOOKED,
                col(Appointment.starts_at) > now,
                col(Appointment.starts_at) != col(PreReview.review_at),
            )
        )
    ).all()
    for pre_review, review, person in rows:
        await outbox.cancel_pending_by_key(session, nudge_key(pre_review), reason="review moved")
        pre_review.review_at = review.starts_at
        pre_review.summary_sent_at = None
        pre_review.updated_at = now
        session.add(pre_review)
        if pre_review.agenda_finished_at is None:
            await _plan_nudge(session, pre_review, person, plans=plans, now=now)
    return len(rows)


async def clinician_for(session: AsyncSession, review: Appointment) -> Person | None:
    """The staff member at the practice whose name the booking gives, when they use diabridge."""
    if not review.clinician.strip() or not review.practice_ods:
        return None
    return (
        await session.exec(
            select(Person).where(
                col(Person.practice_ods) == review.practice_ods,
                func.lower(col(Person.display_name)) == review.clinician.strip().lower(),
                col(Person.role).in_([role.value for role in STAFF_ROLES]),
                col(Person.status) == PersonStatus.ACTIVE,
            )
        )
    ).first()


async def tell_clinician(
    session: AsyncSession, review: Appointment, person: Person, summary: Summary, *, now: datetime
) -> bool:
    """False when nobody can receive it: no named clinician, no staff chat, no staff."""
    params = {"person_id": person.id, **summary.as_dict()}
    # One summary per review date: a moved review's clinician hears again.
    dedupe = f"pre_review:{review.id}:summary:{int(review.starts_at.timestamp())}"
    clinician = await clinician_for(session, review)
    if clinician is not None:
        await outbox.queue(
            session,
            template_key="pre_review_summary",
            dedupe_key=f"{dedupe}:clinician",
            due_at=now,
            priority=Priority.ADVICE_LINE,
            params=params,
            person_id=clinician.id,
            topic=staff_notices.person_topic(person.id or 0),
            expires_at=review.starts_at,
        )
        return True
    return await staff_notices.tell_practice(
        session,
        review.practice_ods or person.practice_ods,
        template_key="pre_review_summary",
        dedupe_key=dedupe,
        params=params,
        now=now,
    )


# The agenda ----------------------------------------------------------------------------------


async def current(session: AsyncSession, person_id: int, *, now: datetime) -> PreReview | None:
    """The person's preparation for their next review, once the results have gone."""
    return (
        await session.exec(
            select(PreReview)
            .join(Appointment, col(Appointment.id) == col(PreReview.appointment_id))
            .where(
                col(PreReview.person_id) == person_id,
                col(Appointment.status) == AppointmentStatus.BOOKED,
                col(Appointment.starts_at) > now,
            )
            .order_by(col(Appointment.starts_at))
        )
    ).first()


async def of_person(session: AsyncSession, pre_review_id: int, person_id: int) -> PreReview | None:
    """A pre-review by id, only if it is this person's (button data can be stale or forged)."""
    row = await session.get(PreReview, pre_review_id)
    return row if row is not None and row.person_id == person_id else None


def _answered(pre_review: PreReview, step: AgendaStep) -> bool:
    match step:
        case AgendaStep.TOPICS:
            return pre_review.agenda_started_at is not None and pre_review.step not in (
                None,
                AgendaStep.TOPICS,
            )
        case AgendaStep.WORDS:
            return pre_review.step not in (None, AgendaStep.TOPICS, AgendaStep.WORDS)
        case AgendaStep.CONFIDENCE:
            return pre_review.confidence is not None
        case AgendaStep.HYPOS:
            return pre_review.hypos is not None
        case AgendaStep.DRIVES:
            return pre_review.hypos != HypoAnswer.NEEDED_HELP or pre_review.drives is not None
        case AgendaStep.MOOD_INTEREST:
            return pre_review.mood_interest is not None
        case AgendaStep.MOOD_DOWN:
            return pre_review.mood_down is not None
        case _:
            return True


def _advance(pre_review: PreReview, after: AgendaStep, now: datetime) -> AgendaStep:
    """Moves to the first question after `after` not yet answered; the end finishes it."""
    for step in ORDER[ORDER.index(after) + 1 :]:
        if step is AgendaStep.DONE or not _answered(pre_review, step):
            pre_review.step = step.value
            break
    if pre_review.step == AgendaStep.DONE and pre_review.agenda_finished_at is None:
        pre_review.agenda_finished_at = now
    pre_review.updated_at = now
    return AgendaStep(pre_review.step)


def step_of(pre_review: PreReview) -> AgendaStep:
    return AgendaStep(pre_review.step) if pre_review.step else AgendaStep.TOPICS


def begin(pre_review: PreReview, now: datetime) -> AgendaStep:
    """Starts the agenda, or says where it stands (a second press continues, never restarts).
    Either way the current question is being shown now (see `waits_for_words`)."""
    if pre_review.agenda_started_at is None:
        pre_review.agenda_started_at = now
        pre_review.step = AgendaStep.TOPICS.value
    pre_review.updated_at = now
    return step_of(pre_review)


def waits_for_words(pre_review: PreReview, now: datetime) -> bool:
    """Typed words are the answer to "what matters most to you now?" only while that question
    is fresh: days later the same words are more likely a search of the library."""
    return (
        pre_review.results_sent_at is not None
        and pre_review.agenda_started_at is not None
        and step_of(pre_review) is AgendaStep.WORDS
        and pre_review.updated_at >= now - WORDS_WAIT
    )


def toggle_topic(pre_review: PreReview, topic: AgendaTopic, now: datetime) -> list[str]:
    """Picks or unpicks a topic; the order they were picked in is kept (it is their order)."""
    begin(pre_review, now)
    topics = list(pre_review.topics)
    if topic.value in topics:
        topics.remove(topic.value)
    else:
        topics.append(topic.value)
    pre_review.topics = topics  # a new list, so the JSON column is written
    pre_review.updated_at = now
    return topics


def topics_done(pre_review: PreReview, now: datetime) -> AgendaStep:
    begin(pre_review, now)
    if step_of(pre_review) is not AgendaStep.TOPICS:
        return step_of(pre_review)
    return _advance(pre_review, AgendaStep.TOPICS, now)


def save_words(pre_review: PreReview, text: str | None, now: datetime) -> AgendaStep:
    """Their own words on what matters most now; None when they skip."""
    if text is not None:
        text = text.strip()
        if not text:
            raise AgendaProblem("empty")
        if len(text) > OWN_WORDS_LIMIT:
            raise AgendaProblem("too_long")
    pre_review.own_words = text
    return _advance(pre_review, AgendaStep.WORDS, now)


def save_confidence(pre_review: PreReview, score: int, now: datetime) -> AgendaStep:
    if not 0 <= score <= 10:
        raise AgendaProblem("out_of_range")
    pre_review.confidence = score
    return _advance(pre_review, AgendaStep.CONFIDENCE, now)


def save_hypos(pre_review: PreReview, answer: HypoAnswer, now: datetime) -> AgendaStep:
    pre_review.hypos = answer.value
    if answer is not HypoAnswer.NEEDED_HELP:
        pre_review.drives = None
    return _advance(pre_review, AgendaStep.HYPOS, now)


def save_drives(pre_review: PreReview, drives: bool, now: datetime) -> AgendaStep:
    pre_review.drives = drives
    return _advance(pre_review, AgendaStep.DRIVES, now)


async def save_mood(
    session: AsyncSession, pre_review: PreReview, step: AgendaStep, score: int, now: datetime
) -> AgendaStep:
    if not 0 <= score <= 3:
        raise AgendaProblem("out_of_range")
    if step is AgendaStep.MOOD_INTEREST:
        pre_review.mood_interest = score
    elif step is AgendaStep.MOOD_DOWN:
        pre_review.mood_down = score
    else:
        raise AgendaProblem("out_of_range")
    after = _advance(pre_review, step, now)
    if after is AgendaStep.DONE:
        await outbox.cancel_pending_by_key(session, nudge_key(pre_review), reason="agenda finished")
    return after


def mood_score(pre_review: PreReview) -> int | None:
    if pre_review.mood_interest is None or pre_review.mood_down is None:
        return None
    return pre_review.mood_interest + pre_review.mood_down


def low_mood(pre_review: PreReview) -> bool:
    score = mood_score(pre_review)
    return score is not None and score >= LOW_MOOD_SCORE


# The clinician's summary ---------------------------------------------------------------------


@dataclass
class GoalProgress:
    goal: str
    answers: list[dict[str, Any]] = field(default_factory=list)  # round, answer, new_goal, on


@dataclass
class Summary:
    person_name: str
    nhs_number: str | None
    date_of_birth: str | None
    review_at: str
    clinician: str
    lines: list[ResultLine]
    missing: list[str]
    agenda_finished: bool
    topics: list[str]
    own_words: str | None
    confidence: int | None
    hypos: str | None
    drives: bool | None
    mood_interest: int | None
    mood_down: int | None
    mood_score: int | None
    flags: list[str]
    goals: list[GoalProgress]

    def as_dict(self) -> dict[str, Any]:
        raw = {key: value for key, value in self.__dict__.items() if key not in ("lines", "goals")}
        raw["lines"] = [line.as_dict() for line in self.lines]
        raw["goals"] = [goal.__dict__ for goal in self.goals]
        return raw


async def _recent_severe_hypo(session: AsyncSession, person_id: int, now: datetime) -> bool:
    found = (
        await session.exec(
            select(func.count()).where(
                col(AdviceRequest.kind) == AdviceKind.HYPO,
                col(AdviceRequest.patient_id) == person_id,
                col(AdviceRequest.created_at) >= now - HYPO_WINDOW,
            )
        )
    ).one()
    return bool(found)


async def goal_progress(session: AsyncSession, person_id: int) -> list[GoalProgress]:
    """The current care plan's goals with every check-in answer since it was recorded."""
    plan_row = (
        await session.exec(
            select(CarePlan).where(col(CarePlan.person_id) == person_id, col(CarePlan.current))
        )
    ).first()
    if plan_row is None:
        return []
    goals = (
        await session.exec(
            select(CareGoal)
            .where(col(CareGoal.care_plan_id) == plan_row.id)
            .order_by(col(CareGoal.position))
        )
    ).all()
    answers = (
        await session.exec(
            select(GoalCheckIn)
            .where(col(GoalCheckIn.goal_id).in_([g.id for g in goals]))
            .order_by(col(GoalCheckIn.round))
        )
    ).all()
    progress = []
    for goal in goals:
        progress.append(
            GoalProgress(
                goal=goal.goal,
                answers=[
                    {
                        "round": a.round,
                        "answer": a.answer,
                        "new_goal": a.new_goal,
                        "answered_on": a.answered_at.date().isoformat(),
                    }
                    for a in answers
                    if a.goal_id == goal.id
                ],
            )
        )
    return progress


async def build_summary(
    session: AsyncSession,
    person: Person,
    review: Appointment,
    pre_review: PreReview | None,
    *,
    now: datetime,
) -> Summary:
    assert person.id is not None
    view = await results_view(session, person, on_day=_local_day(review.starts_at, person))
    flags = []
    hypos = pre_review.hypos if pre_review else None
    if hypos == HypoAnswer.NEEDED_HELP or await _recent_severe_hypo(session, person.id, now):
        flags.append(Flag.SEVERE_HYPO.value)
    if pre_review is not None and low_mood(pre_review):
        flags.append(Flag.LOW_MOOD.value)
    return Summary(
        person_name=person.display_name,
        nhs_number=person.nhs_number,
        date_of_birth=person.date_of_birth.isoformat() if person.date_of_birth else None,
        review_at=review.starts_at.astimezone(UTC).isoformat(),
        clinician=review.clinician,
        lines=[line_from_dict(raw) for raw in view["lines"]],
        missing=view["missing"],
        agenda_finished=bool(pre_review and pre_review.agenda_finished_at),
        topics=list(pre_review.topics) if pre_review else [],
        own_words=pre_review.own_words if pre_review else None,
        confidence=pre_review.confidence if pre_review else None,
        hypos=hypos,
        drives=pre_review.drives if pre_review else None,
        mood_interest=pre_review.mood_interest if pre_review else None,
        mood_down=pre_review.mood_down if pre_review else None,
        mood_score=mood_score(pre_review) if pre_review else None,
        flags=flags,
        goals=await goal_progress(session, person.id),
    )


async def next_review(
    session: AsyncSession, person_id: int, *, now: datetime
) -> Appointment | None:
    return (
        await session.exec(
            select(Appointment)
            .where(
                col(Appointment.person_id) == person_id,
                col(Appointment.kind) == AppointmentKind.ANNUAL_REVIEW,
                col(Appointment.status) == AppointmentStatus.BOOKED,
                col(Appointment.starts_at) > now,
            )
            .order_by(col(Appointment.starts_at))
        )
    ).first()


async def summary_for(session: AsyncSession, person: Person, *, now: datetime) -> Summary | None:
    """The summary for the person's next booked annual review, as it stands now (the API's
    view); None when no annual review is booked."""
    assert person.id is not None
    review = await next_review(session, person.id, now=now)
    if review is None:
        return None
    pre_review = (
        await session.exec(select(PreReview).where(col(PreReview.appointment_id) == review.id))
    ).first()
    return await build_summary(session, person, review, pre_review, now=now)
