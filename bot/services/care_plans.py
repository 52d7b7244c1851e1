"""The care plan agreed at the review, and the check-ins on its goals. No Telegram here.

A clinician records the plan (the API, or /careplan in a staff chat): the person's goals, the
actions under each and who does them, personal targets, the next review date and the numbers to
call. The newest plan is the person's plan; an older one is kept, not changed. Each goal gets a
check-in every few weeks (`goal_check_ins` in content/plans.yaml) until the next review; the
answers are shown in the next pre-review summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import CareGoal, CarePlan, GoalCheckIn, Measure, Person, PersonStatus, Priority
from bot.plans import GoalCheckInPlan
from bot.services import audit, outbox
from bot.services.appointments import receiving_carers
from bot.services.care_results import InvalidResult, parse_blood_pressure
from bot.services.carers import cared_for

MAX_GOALS = 5
MAX_ACTIONS = 6
GOAL_LIMIT = 300
ACTION_LIMIT = 300
NEW_GOAL_LIMIT = 300
# Without a next review date, check-ins run for a year.
DEFAULT_SPAN = timedelta(days=365)
# "Change my goal": their words are taken if they type within this time of the press.
NEW_GOAL_WAIT = timedelta(hours=48)
# Daily check-ins for the longest plan (two years) are 731 rounds; nothing real asks more.
MAX_ROUNDS = 1000


class Responsible(StrEnum):
    PERSON = "person"
    CARER = "carer"
    GP = "gp"
    PRACTICE_NURSE = "practice_nurse"
    DIABETES_TEAM = "diabetes_team"
    PHARMACIST = "pharmacist"
    DIETITIAN = "dietitian"


class CheckInAnswer(StrEnum):
    ON_TRACK = "on_track"
    PARTLY = "partly"
    NOT_YET = "not_yet"
    CHANGE = "change"


# Personal targets a clinician may set, and the range that can be meant (a typo is refused).
PERSONAL_TARGET_RANGES: dict[Measure, tuple[float, float, str]] = {
    Measure.HBA1C: (40, 100, "mmol/mol"),
    Measure.CHOLESTEROL: (2.0, 8.0, "mmol/L"),
    Measure.BMI: (18.5, 45, "kg/m2"),
}
SYSTOLIC_TARGET = (100, 180)
DIASTOLIC_TARGET = (50, 110)


class InvalidPlan(ValueError):
    """Every problem with a care plan as sent, each naming the field and how to fix it."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {why}" for where, why in problems))
        self.problems = problems


@dataclass(frozen=True)
class GoalInput:
    goal: str
    actions: list[tuple[str, str]] = field(default_factory=list)  # (action, who)


@dataclass(frozen=True)
class PlanInput:
    goals: list[GoalInput]
    targets: dict[str, Any]
    next_review_on: date | None
    contacts: list[dict[str, str]]


def _check_targets(raw: dict[str, Any], problems: list[tuple[str, str]]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"targets.{key}"
        if key == Measure.BLOOD_PRESSURE:
            try:
                text = value if isinstance(value, str) else "/".join(str(v) for v in value)
                systolic, diastolic = parse_blood_pressure(text)
            except (InvalidResult, TypeError) as error:
                problems.append((where, str(error) or "write it like 140/90"))
                continue
            if not (
                SYSTOLIC_TARGET[0] <= systolic <= SYSTOLIC_TARGET[1]
                and DIASTOLIC_TARGET[0] <= diastolic <= DIASTOLIC_TARGET[1]
                and diastolic < systolic
            ):
                problems.append(
                    (
                        where,
                        f"{text} is not a blood pressure target that can be meant "
                        f"(systolic {SYSTOLIC_TARGET[0]} to {SYSTOLIC_TARGET[1]}, "
                        f"diastolic {DIASTOLIC_TARGET[0]} to {DIASTOLIC_TARGET[1]})",
                    )
                )
                continue
            targets[key] = [systolic, diastolic]
            continue
        try:
            measure = Measure(key)
        except ValueError:
            measure = None
        if measure not in PERSONAL_TARGET_RANGES:
            known = ", ".join([Measure.BLOOD_PRESSURE.value, *PERSONAL_TARGET_RANGES])
            problems.append((where, f"no personal target for {key!r}; use {known}"))
            continue
        low, high, unit = PERSONAL_TARGET_RANGES[measure]
        try:
            number = float(value)
        except (TypeError, ValueError):
            problems.append((where, f"{value!r} is not a number"))
            continue
        if not low <= number <= high:
            problems.append((where, f"{number:g} {unit} is outside {low:g} to {high:g}"))
            continue
        targets[key] = number
    return targets


PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{6,20}$")


def check_plan(
    *,
    goals: list[dict[str, Any]],
    targets: dict[str, Any] | None,
    next_review_on: date | None,
    contacts: list[dict[str, Any]] | None,
    today: date,
) -> PlanInput:
    """A care plan as sent, checked whole: every problem is named at once."""
    problems: list[tuple[str, str]] = []
    if not goals:
        problems.append(("goals", "a care plan needs at least one goal"))
    if len(goals) > MAX_GOALS:
        problems.append(("goals", f"at most {MAX_GOALS} goals; agree the ones that matter most"))
    checked_goals = []
    for index, raw in enumerate(goals[:MAX_GOALS], start=1):
        where = f"goals.{index}"
        text = str(raw.get("goal") or "").strip()
        if not text:
            problems.append((f"{where}.goal", "write the goal in the person's words"))
        elif len(text) > GOAL_LIMIT:
            problems.append((f"{where}.goal", f"at most {GOAL_LIMIT} characters"))
        actions = []
        for number, action in enumerate(raw.get("actions") or [], start=1):
            what = str(action.get("action") or "").strip()
            who = str(action.get("who") or "").strip().lower()
            if not what:
                problems.append((f"{where}.actions.{number}.action", "say what will be done"))
            elif len(what) > ACTION_LIMIT:
                problems.append(
                    (f"{where}.actions.{number}.action", f"at most {ACTION_LIMIT} characters")
                )
            if who not in Responsible.__members__.values():
                known = ", ".join(r.value for r in Responsible)
                problems.append((f"{where}.actions.{number}.who", f"{who!r} is not one of {known}"))
            actions.append((what, who))
        if len(actions) > MAX_ACTIONS:
            problems.append((f"{where}.actions", f"at most {MAX_ACTIONS} actions for a goal"))
        checked_goals.append(GoalInput(text, actions))
    if next_review_on is not None and next_review_on <= today:
        problems.append(("next_review_on", f"{next_review_on.isoformat()} is not in the future"))
    elif next_review_on is not None and next_review_on > today + timedelta(days=2 * 366):
        problems.append(("next_review_on", "more than 2 years away"))
    checked_contacts = []
    for index, contact in enumerate(contacts or [], start=1):
        name = str(contact.get("name") or "").strip()
        phone = str(contact.get("phone") or "").strip()
        if not name or len(name) > 100:
            problems.append((f"contacts.{index}.name", "a name of 1 to 100 characters"))
        if not PHONE.match(phone):
            problems.append((f"contacts.{index}.phone", f"{phone!r} is not a phone number"))
        checked_contacts.append({"name": name, "phone": phone})
    checked_targets = _check_targets(targets or {}, problems)
    if problems:
        raise InvalidPlan(problems)
    return PlanInput(checked_goals, checked_targets, next_review_on, checked_contacts)


def check_in_topic(person_id: int) -> str:
    return f"care_plan:{person_id}"


@dataclass(frozen=True)
class RecordedPlan:
    plan: CarePlan
    goals: list[CareGoal]
    check_ins: int


async def record(
    session: AsyncSession,
    person: Person,
    plan_input: PlanInput,
    *,
    actor: str,
    check_ins: GoalCheckInPlan,
    now: datetime,
) -> RecordedPlan:
    """Saves the plan as the person's current one, tells them (and the carers who get their
    reminders), and plans the goal check-ins in place of the old plan's."""
    assert person.id is not None
    # Two clinicians saving at once must not leave two current plans: the second waits here
    # for the first (PostgreSQL; SQLite has one writer anyway).
    await session.exec(select(Person.id).where(col(Person.id) == person.id).with_for_update())
    await session.exec(  # type: ignore[call-overload]
        update(CarePlan)
        .where(col(CarePlan.person_id) == person.id, col(CarePlan.current))
        .values(current=False)
    )
    await outbox.cancel_pending_for_topic(
        session, check_in_topic(person.id), reason="new care plan"
    )
    plan_row = CarePlan(
        person_id=person.id,
        recorded_by=actor,
        recorded_at=now,
        next_review_on=plan_input.next_review_on,
        targets=plan_input.targets,
        contacts=plan_input.contacts,
        current=True,
    )
    session.add(plan_row)
    await session.flush()
    assert plan_row.id is not None
    goals = []
    for position, goal in enumerate(plan_input.goals, start=1):
        row = CareGoal(
            care_plan_id=plan_row.id,
            position=position,
            goal=goal.goal,
            actions=[{"action": what, "who": who} for what, who in goal.actions],
        )
        session.add(row)
        goals.append(row)
    await session.flush()
    planned = await _plan_check_ins(session, person, plan_row, goals, check_ins)
    await _tell_plan_ready(session, person, plan_row, now)
    await audit.record(
        session,
        actor=actor,
        action="care_plan.record",
        person_id=person.id,
        detail=f"plan {plan_row.id}: {len(goals)} goals, targets {sorted(plan_input.targets)}",
        at=now,
    )
    return RecordedPlan(plan_row, goals, planned)


async def _plan_check_ins(
    session: AsyncSession,
    person: Person,
    plan_row: CarePlan,
    goals: list[CareGoal],
    every: GoalCheckInPlan,
) -> int:
    zone = ZoneInfo(person.timezone)
    start = plan_row.recorded_at.astimezone(zone).date()
    until = plan_row.next_review_on or (start + DEFAULT_SPAN)
    rows = []
    round_ = 1
    while (day := start + every.interval * round_) < until:
        due = datetime.combine(day, every.at, tzinfo=zone)
        for goal in goals:
            rows.append(
                {
                    "template_key": "goal_check_in",
                    "dedupe_key": f"care_plan:{plan_row.id}:goal:{goal.id}:r{round_}",
                    "due_at": due,
                    "priority": Priority.REMINDER,
                    "params": {
                        "care_plan_id": plan_row.id,
                        "goal_id": goal.id,
                        "round": round_,
                        "goal": goal.goal,
                    },
                    "person_id": person.id,
                    "topic": check_in_topic(person.id or 0),
                    # The next round asks again: an old question is not sent late.
                    "expires_at": due + every.interval,
                }
            )
        round_ += 1
    return await outbox.queue_many(session, rows)


async def _tell_plan_ready(
    session: AsyncSession, person: Person, plan_row: CarePlan, now: datetime
) -> None:
    assert person.id is not None
    await outbox.queue(
        session,
        template_key="care_plan_ready",
        dedupe_key=f"care_plan:{plan_row.id}:ready:{person.id}",
        due_at=now,
        priority=Priority.REMINDER,
        params={"care_plan_id": plan_row.id},
        person_id=person.id,
        topic=check_in_topic(person.id),
    )
    for carer in await receiving_carers(session, person.id):
        await outbox.queue(
            session,
            template_key="care_plan_ready",
            dedupe_key=f"care_plan:{plan_row.id}:ready:{carer.id}",
            due_at=now,
            priority=Priority.REMINDER,
            params={"care_plan_id": plan_row.id, "for_name": person.display_name},
            person_id=carer.id,
            topic=check_in_topic(person.id),
        )


async def current_plan(
    session: AsyncSession, person_id: int
) -> tuple[CarePlan, list[CareGoal]] | None:
    plan_row = (
        await session.exec(
            select(CarePlan).where(col(CarePlan.person_id) == person_id, col(CarePlan.current))
        )
    ).first()
    if plan_row is None:
        return None
    goals = (
        await session.exec(
            select(CareGoal)
            .where(col(CareGoal.care_plan_id) == plan_row.id)
            .order_by(col(CareGoal.position))
        )
    ).all()
    return plan_row, list(goals)


async def answer_check_in(
    session: AsyncSession,
    person: Person,
    goal_id: int,
    round_: int,
    answer: CheckInAnswer,
    *,
    now: datetime,
) -> GoalCheckIn | None:
    """Keeps the answer (a second press changes it). None when the goal is not one of this
    person's current goals, or the round is not one that can have been asked (a stale or
    forged button)."""
    assert person.id is not None
    if not 1 <= round_ <= MAX_ROUNDS:
        return None
    found = (
        await session.exec(
            select(CareGoal)
            .join(CarePlan, col(CarePlan.id) == col(CareGoal.care_plan_id))
            .where(
                col(CareGoal.id) == goal_id,
                col(CarePlan.person_id) == person.id,
                col(CarePlan.current),
            )
        )
    ).first()
    if found is None:
        return None
    check_in = (
        await session.exec(
            select(GoalCheckIn).where(
                col(GoalCheckIn.goal_id) == goal_id, col(GoalCheckIn.round) == round_
            )
        )
    ).first()
    if check_in is None:
        check_in = GoalCheckIn(goal_id=goal_id, person_id=person.id, round=round_, answer="")
    check_in.answer = answer.value
    check_in.answered_at = now
    if answer is not CheckInAnswer.CHANGE:
        check_in.new_goal = None
    session.add(check_in)
    await session.flush()
    return check_in


async def awaiting_new_goal(
    session: AsyncSession, person_id: int, *, now: datetime
) -> GoalCheckIn | None:
    """A "change my goal" press on a current goal, still waiting for the new goal in their
    words."""
    return (
        await session.exec(
            select(GoalCheckIn)
            .join(CareGoal, col(CareGoal.id) == col(GoalCheckIn.goal_id))
            .join(CarePlan, col(CarePlan.id) == col(CareGoal.care_plan_id))
            .where(
                col(CarePlan.current),
                col(GoalCheckIn.person_id) == person_id,
                col(GoalCheckIn.answer) == CheckInAnswer.CHANGE,
                col(GoalCheckIn.new_goal).is_(None),
                col(GoalCheckIn.answered_at) >= now - NEW_GOAL_WAIT,
            )
            .order_by(col(GoalCheckIn.answered_at).desc())
        )
    ).first()


class NewGoalProblem(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "empty" or "too_long"


async def save_new_goal(
    session: AsyncSession, check_in: GoalCheckIn, text: str, *, now: datetime
) -> GoalCheckIn:
    text = text.strip()
    if not text:
        raise NewGoalProblem("empty")
    if len(text) > NEW_GOAL_LIMIT:
        raise NewGoalProblem("too_long")
    check_in.new_goal = text
    session.add(check_in)
    await session.flush()
    return check_in


async def plans_to_show(
    session: AsyncSession, person: Person
) -> list[tuple[Person, CarePlan, list[CareGoal]]]:
    """What /myplan shows: the person's own plan, or for a carer the plans of the people who
    linked them (accepted and not removed)."""
    assert person.id is not None
    shown = []
    own = await current_plan(session, person.id)
    if own is not None:
        shown.append((person, *own))
    for _, patient in await cared_for(session, person.id):
        if patient.id is None or patient.status != PersonStatus.ACTIVE:
            continue
        theirs = await current_plan(session, patient.id)
        if theirs is not None:
            shown.append((patient, *theirs))
    return shown
