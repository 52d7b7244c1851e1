"""NHS Health Checks for people without diabetes: who can have one, when, and the invitation.

Eligibility follows the NHS Health Check programme (OHID): aged 40 to 74; no diabetes, heart
disease, heart failure, atrial fibrillation, stroke or TIA, kidney disease, high blood
pressure, peripheral arterial disease or familial hypercholesterolaemia; not taking a statin;
and no check in the last 5 years. The bot decides only whether to invite and when; whether a
condition rules someone out is their own answer, and "not sure" sends them to their practice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    EnrolmentCode,
    HealthCheck,
    HealthCheckStatus,
    Person,
    PersonStatus,
    Practice,
    Priority,
    Role,
)
from bot.plans import Plans
from bot.services import audit, outbox
from bot.services.enrolment import (
    InvalidField,
    check_date_of_birth,
    check_external_id,
    check_language,
    check_name,
    check_ods_code,
    ensure_practice,
    issue_enrolment_code,
)

MIN_AGE, MAX_AGE, INTERVAL_YEARS = 40, 74, 5


class Reason(StrEnum):
    """Why someone is not invited now; each has its own kind explanation."""

    TOO_YOUNG = "too_young"
    TOO_OLD = "too_old"
    CONDITION = "condition"
    STATIN = "statin"
    UNSURE = "unsure"
    RECENT = "recent"


class Step(StrEnum):
    INTRO = "intro"
    BIRTH_DATE = "birth_date"
    LAST_CHECK = "last_check"
    LAST_CHECK_DATE = "last_check_date"
    CONDITIONS = "conditions"
    STATINS = "statins"


class LastCheck(StrEnum):
    NEVER = "never"
    RECENT = "recent"  # less than 5 years ago: the month is asked next
    LONG_AGO = "long_ago"


class YesNo(StrEnum):
    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class Answer(StrEnum):
    """What the person pressed under an invitation."""

    BOOKED = "booked"
    DONE = "done"
    DECLINED = "declined"


class InvalidAnswer(ValueError):
    """A typed answer that could not be read; the reason is a key the reply explains."""


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: Reason | None = None
    due_on: date | None = None  # when a check can be had, for TOO_YOUNG and RECENT


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def assess(
    *,
    born: date,
    last_check: date | None,
    has_condition: YesNo,
    takes_statin: YesNo,
    today: date,
) -> Eligibility:
    """Whether to invite now; if not, why, and when a check becomes possible."""
    if has_condition is YesNo.YES:
        return Eligibility(False, Reason.CONDITION)
    if takes_statin is YesNo.YES:
        return Eligibility(False, Reason.STATIN)
    if has_condition is YesNo.UNSURE or takes_statin is YesNo.UNSURE:
        return Eligibility(False, Reason.UNSURE)
    too_old_from = add_years(born, MAX_AGE + 1)
    if today >= too_old_from:
        return Eligibility(False, Reason.TOO_OLD)
    due_on = add_years(born, MIN_AGE)
    reason = Reason.TOO_YOUNG
    if last_check is not None and add_years(last_check, INTERVAL_YEARS) > max(due_on, today):
        due_on, reason = add_years(last_check, INTERVAL_YEARS), Reason.RECENT
    if due_on >= too_old_from:
        return Eligibility(False, Reason.TOO_OLD if reason is Reason.RECENT else reason, None)
    if due_on > today:
        return Eligibility(False, reason, due_on)
    return Eligibility(True)


def parse_day_month_year(raw: str, today: date) -> date:
    text = raw.strip().replace(".", "/").replace("-", "/").replace(" ", "/")
    parts = [p for p in text.split("/") if p]
    try:
        if len(parts) == 3 and len(parts[0]) == 4:
            year, month, day = (int(p) for p in parts)
        elif len(parts) == 3:
            day, month, year = (int(p) for p in parts)
        else:
            raise ValueError
        born = date(year, month, day)
    except ValueError:
        raise InvalidAnswer("birth_date_format") from None
    if born > today:
        raise InvalidAnswer("birth_date_future")
    if age_on(born, today) > 120:
        raise InvalidAnswer("birth_date_format")
    return born


def parse_month_year(raw: str, today: date) -> date:
    """ "06/2023" → 1 June 2023: the first of the month, so a check is never reminded late."""
    text = raw.strip().replace(".", "/").replace("-", "/").replace(" ", "/")
    parts = [p for p in text.split("/") if p]
    try:
        if len(parts) != 2:
            raise ValueError
        first, second = parts
        month, year = (int(first), int(second)) if len(second) == 4 else (int(second), int(first))
        day = date(year, month, 1)
    except ValueError:
        raise InvalidAnswer("month_year_format") from None
    if day > today:
        raise InvalidAnswer("month_year_future")
    return day


# The questions, asked one at a time and saved as answered (principle 2) ----------------------


async def for_person(session: AsyncSession, person_id: int) -> HealthCheck | None:
    return (
        await session.exec(select(HealthCheck).where(col(HealthCheck.person_id) == person_id))
    ).one_or_none()


async def start_questions(session: AsyncSession, person: Person, *, now: datetime) -> HealthCheck:
    assert person.id is not None
    check = await for_person(session, person.id)
    if check is None:
        check = HealthCheck(person_id=person.id, source="self", created_at=now)
        session.add(check)
    check.status, check.step, check.updated_at = HealthCheckStatus.ASKING, Step.INTRO, now
    await session.flush()
    return check


@dataclass(frozen=True)
class Progress:
    """Where the questions stand after an answer: the next step, or the outcome."""

    check: HealthCheck
    next_step: Step | None
    eligibility: Eligibility | None = None


async def answer(
    session: AsyncSession,
    person: Person,
    *,
    step: Step,
    value: str,
    now: datetime,
    plans: Plans,
) -> Progress:
    """Saves one answer. A typed answer that cannot be read raises InvalidAnswer and keeps
    the step, so the question is simply asked again."""
    assert person.id is not None
    check = await for_person(session, person.id)
    if check is None or check.status != HealthCheckStatus.ASKING or check.step != step:
        raise InvalidAnswer("stale")
    today = now.astimezone(ZoneInfo(person.timezone)).date()
    next_step: Step | None
    if step is Step.INTRO:
        next_step = Step.BIRTH_DATE
    elif step is Step.BIRTH_DATE:
        person.date_of_birth = parse_day_month_year(value, today)
        next_step = Step.LAST_CHECK
    elif step is Step.LAST_CHECK:
        choice = LastCheck(value)
        check.last_check_on = None
        next_step = Step.LAST_CHECK_DATE if choice is LastCheck.RECENT else Step.CONDITIONS
    elif step is Step.LAST_CHECK_DATE:
        check.last_check_on = parse_month_year(value, today)
        next_step = Step.CONDITIONS
    elif step is Step.CONDITIONS:
        check.has_condition = YesNo(value).value
        next_step = Step.STATINS
    else:
        check.takes_statin = YesNo(value).value
        next_step = None
    check.step, check.updated_at = (next_step.value if next_step else None), now
    if next_step is not None:
        await session.flush()
        return Progress(check, next_step)
    assert person.date_of_birth is not None
    result = assess(
        born=person.date_of_birth,
        last_check=check.last_check_on,
        has_condition=YesNo(check.has_condition or "unsure"),
        takes_statin=YesNo(check.takes_statin or "unsure"),
        today=today,
    )
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="health_check.assess",
        person_id=person.id,
        detail=f"outcome={result.reason or 'eligible'}",
        at=now,
    )
    await _settle(session, check, person, result, now=now, plans=plans, invite_in_chat=True)
    return Progress(check, None, result)


async def _settle(
    session: AsyncSession,
    check: HealthCheck,
    person: Person,
    result: Eligibility,
    *,
    now: datetime,
    plans: Plans,
    invite_in_chat: bool,
    invite_on: date | None = None,
) -> None:
    check.reason = result.reason.value if result.reason else None
    check.due_on = result.due_on
    await outbox.cancel_pending_for_topic(session, topic(check), reason="health check re-assessed")
    if result.eligible:
        check.status = HealthCheckStatus.INVITED
        check.invited_at = now
        await plan_invitation(
            session,
            check,
            person,
            day=invite_on or now.astimezone(ZoneInfo(person.timezone)).date(),
            now=now,
            plans=plans,
            skip_invitation=invite_in_chat,
        )
    elif result.due_on is not None:
        # Too young, or checked recently: invited on the day it becomes due.
        check.status = HealthCheckStatus.NOT_YET
        await plan_invitation(session, check, person, day=result.due_on, now=now, plans=plans)
    else:
        check.status = HealthCheckStatus.INELIGIBLE
    await session.flush()


async def how_to_book(session: AsyncSession, person: Person) -> dict[str, str]:
    """The practice's phone and booking link, as it says them now; without a practice (a
    member of the public who joined alone) the invitation says to ask one."""
    practice = await session.get(Practice, person.practice_ods) if person.practice_ods else None
    return {
        "phone": practice.phone if practice else "",
        "booking_url": practice.booking_url if practice else "",
    }


def topic(check: HealthCheck) -> str:
    return f"health_check:{check.id}"


async def plan_invitation(
    session: AsyncSession,
    check: HealthCheck,
    person: Person,
    *,
    day: date,
    now: datetime,
    plans: Plans,
    skip_invitation: bool = False,
    invite_at: datetime | None = None,
) -> int:
    """Queues the invitation (offset 0) and its reminders from `day`, as the plan says.
    `skip_invitation`: it was given in the chat already; `invite_at`: it goes at that moment
    instead (someone who joined after their day came)."""
    assert check.id is not None and person.id is not None
    zone = ZoneInfo(person.timezone)
    anchor = datetime.combine(day, time(12, 0), tzinfo=zone)
    params = {"health_check_id": check.id, **await how_to_book(session, person)}
    queued = 0
    for event in plans.health_check_invitations:
        if skip_invitation and event.offset == 0:
            continue
        if invite_at is not None and event.offset == 0:
            due = invite_at
        else:
            due = event.send_time(anchor, zone)
            if due <= now:
                continue
        if await outbox.queue(
            session,
            template_key=event.template,
            dedupe_key=f"hc:{check.id}:{day.isoformat()}:{event.key}",
            due_at=due,
            priority=Priority.REMINDER,
            params=params,
            person_id=person.id,
            topic=topic(check),
        ):
            queued += 1
    return queued


async def respond(
    session: AsyncSession, person: Person, *, choice: str, now: datetime, plans: Plans
) -> HealthCheck:
    """Booked, had it, or not interested: the reminders stop; "had it" plans the next one."""
    assert person.id is not None
    given = Answer(choice)
    check = await for_person(session, person.id)
    today = now.astimezone(ZoneInfo(person.timezone)).date()
    invited = check is not None and (
        check.status
        in (HealthCheckStatus.INVITED, HealthCheckStatus.BOOKED, HealthCheckStatus.DECLINED)
        # A planned invitation went out on the day the check became due.
        or (check.status == HealthCheckStatus.NOT_YET and check.due_on and check.due_on <= today)
    )
    if check is None or not invited:
        raise InvalidAnswer("stale")
    check.answered_at, check.updated_at = now, now
    await outbox.cancel_pending_for_topic(session, topic(check), reason=f"answered {given}")
    if given is Answer.BOOKED:
        check.status = HealthCheckStatus.BOOKED
    elif given is Answer.DECLINED:
        check.status = HealthCheckStatus.DECLINED
    else:
        check.status, check.last_check_on = HealthCheckStatus.DONE, today
        check.due_on = add_years(today, INTERVAL_YEARS)
        if person.date_of_birth and check.due_on < add_years(person.date_of_birth, MAX_AGE + 1):
            await plan_invitation(session, check, person, day=check.due_on, now=now, plans=plans)
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action=f"health_check.{given.value}",
        person_id=person.id,
        at=now,
    )
    await session.flush()
    return check


# Cohorts: a practice or council sends the people it has found eligible ----------------------


@dataclass
class CohortRecord:
    """One person of a cohort, as the sender describes them (CSV row or API item)."""

    external_id: str
    name: str
    date_of_birth: str
    practice: str
    language: str = "en"
    last_check_on: str | None = None
    priority: int | str | None = None


@dataclass
class CohortEntry:
    person: Person
    check: HealthCheck
    code: str | None  # the enrolment code to send them, for someone not yet joined
    code_expires_at: datetime | None
    invite_on: date | None  # the day of their invitation (None: not due yet)
    created: bool


class InvalidCohortRecord(ValueError):
    """Every wrong record of a cohort: `records` pairs each one's index with its problems;
    `index` and `problems` are the first's."""

    def __init__(
        self,
        problems: list[InvalidField],
        records: list[tuple[int, list[InvalidField]]] | None = None,
    ) -> None:
        self.records = records or [(0, problems)]
        self.index, self.problems = self.records[0]
        super().__init__(
            "; ".join(
                f"record {index}: {p.field}: {p.message}"
                for index, wrong in self.records
                for p in wrong
            )
        )


# What a person did or was told stands when their cohort is sent again.
ACTED = frozenset(
    {
        HealthCheckStatus.INVITED,
        HealthCheckStatus.BOOKED,
        HealthCheckStatus.DONE,
        HealthCheckStatus.DECLINED,
        HealthCheckStatus.INELIGIBLE,
        HealthCheckStatus.ASKING,
    }
)


def _check_cohort_record(record: CohortRecord, today: date) -> tuple[dict, list[InvalidField]]:
    problems: list[InvalidField] = []
    values: dict = {}
    checks = (
        ("external_id", lambda: check_external_id(record.external_id)),
        ("name", lambda: check_name(record.name)),
        ("date_of_birth", lambda: check_date_of_birth(record.date_of_birth, today)),
        ("practice", lambda: check_ods_code(record.practice)),
        ("language", lambda: check_language(record.language or "en")),
    )
    for name, check in checks:
        try:
            values[name] = check()
        except InvalidField as problem:
            problems.append(InvalidField(name, problem.message))
    values["last_check_on"] = None
    if record.last_check_on not in (None, ""):
        try:
            last: date | None = date.fromisoformat(str(record.last_check_on).strip())
        except ValueError:
            last = None
            problems.append(
                InvalidField("last_check_on", f"{record.last_check_on!r} is not a date YYYY-MM-DD")
            )
        if last is not None and last > today:
            problems.append(InvalidField("last_check_on", "the last check is in the future"))
        elif last is not None:
            values["last_check_on"] = last
    try:
        priority = int(str(record.priority)) if record.priority not in (None, "") else 0
        if not 0 <= priority <= 9:
            raise ValueError
        values["priority"] = priority
    except ValueError:
        problems.append(InvalidField("priority", "a whole number from 0 (lowest) to 9"))
    born = values.get("date_of_birth")
    if born is not None:
        result = assess(
            born=born,
            last_check=values["last_check_on"],
            has_condition=YesNo.NO,
            takes_statin=YesNo.NO,
            today=today,
        )
        age = age_on(born, today)
        if result.reason is Reason.TOO_OLD and age <= MAX_AGE:
            problems.append(
                InvalidField(
                    "last_check_on",
                    f"aged {age} and checked less than 5 years ago: the next check would fall "
                    "after their 75th birthday, when the NHS Health Check no longer applies",
                )
            )
        elif result.reason in (Reason.TOO_YOUNG, Reason.TOO_OLD):
            problems.append(
                InvalidField("date_of_birth", f"aged {age}: the NHS Health Check is for 40 to 74")
            )
        values["eligibility"] = result
    return values, problems


async def import_cohort(
    session: AsyncSession,
    records: list[CohortRecord],
    *,
    source: str,
    actor: str,
    now: datetime,
    plans: Plans,
    per_day: int,
    timezone: str,
    valid_days: int,
) -> list[CohortEntry]:
    """Adds a cohort: each person gets an at-risk record and an enrolment code to be sent to
    them. Invitation days are handed out highest priority first, `per_day` a day, so a batch
    larger than a day's sending reaches the most urgent first. Exclusions (conditions,
    statins) are the sender's to have checked in its records. All or nothing: a wrong record
    raises InvalidCohortRecord with its index."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    checked: list[tuple[int, CohortRecord, dict]] = []
    wrong: list[tuple[int, list[InvalidField]]] = []
    for index, record in enumerate(records):
        values, problems = _check_cohort_record(record, today)
        if problems:
            wrong.append((index, problems))
        checked.append((index, record, values))
    if wrong:
        raise InvalidCohortRecord(wrong[0][1], wrong)
    # Highest priority first; the sender's order within a priority.
    order = sorted(checked, key=lambda item: (-item[2]["priority"], item[0]))
    entries: dict[int, CohortEntry] = {}
    due_now = 0
    for index, _record, values in order:
        values["index"] = index
        result: Eligibility = values["eligibility"]
        invite_on: date | None = None
        if result.eligible:
            invite_on = today + timedelta(days=due_now // max(per_day, 1))
            due_now += 1
        entries[index] = await _add_to_cohort(
            session,
            values,
            result,
            invite_on=invite_on,
            source=source,
            actor=actor,
            now=now,
            plans=plans,
            timezone=timezone,
            valid_days=valid_days,
        )
    return [entries[index] for index in range(len(records))]


async def _add_to_cohort(
    session: AsyncSession,
    values: dict,
    result: Eligibility,
    *,
    invite_on: date | None,
    source: str,
    actor: str,
    now: datetime,
    plans: Plans,
    timezone: str,
    valid_days: int,
) -> CohortEntry:
    await ensure_practice(session, values["practice"])
    person = (
        await session.exec(select(Person).where(col(Person.external_id) == values["external_id"]))
    ).one_or_none()
    created = person is None
    if person is None:
        person = Person(
            role=Role.AT_RISK,
            external_id=values["external_id"],
            display_name=values["name"],
            timezone=timezone,
            status=PersonStatus.INVITED,
            registered_by=actor,
            created_at=now,
        )
        session.add(person)
    elif Role(person.role) is not Role.AT_RISK:
        raise InvalidCohortRecord(
            [InvalidField("external_id", "this id belongs to someone who is not in a cohort")],
            [(values["index"], [InvalidField("external_id", "this id belongs to a patient")])],
        )
    person.display_name, person.date_of_birth = values["name"], values["date_of_birth"]
    person.practice_ods, person.updated_at = values["practice"], now
    if person.telegram_user_id is None:
        person.language = values["language"]
    await session.flush()
    assert person.id is not None
    check = await for_person(session, person.id)
    new_check = check is None
    if check is None:
        check = HealthCheck(person_id=person.id, created_at=now)
        session.add(check)
    # Someone who has already been invited and answered (booked, had it, not interested), or
    # been told they are not eligible, keeps where they are: a cohort sent again only
    # updates their details. Only people still waiting for their day are re-planned.
    acted = not new_check and check.status in ACTED
    check.source, check.priority, check.updated_at = f"cohort:{source}", values["priority"], now
    if values["last_check_on"] is not None or not acted:
        check.last_check_on = values["last_check_on"] or check.last_check_on
    if not acted:
        check.has_condition, check.takes_statin, check.step = YesNo.NO.value, YesNo.NO.value, None
    await session.flush()
    code = expires_at = None
    # A person sent again keeps the code already posted to them while it still works.
    if person.telegram_user_id is None and not await has_working_code(session, person, now):
        code, expires_at = await issue_enrolment_code(
            session, person, now=now, valid_days=valid_days
        )
    joined = person.status == PersonStatus.ACTIVE
    if acted:
        invite_on = None
    elif result.eligible:
        await outbox.cancel_pending_for_topic(session, topic(check), reason="cohort sent again")
        # Until they join, the day waits in due_on; joining plans the invitation.
        check.status, check.reason, check.due_on = HealthCheckStatus.NOT_YET, None, invite_on
        if joined and invite_on is not None:
            await plan_invitation(session, check, person, day=invite_on, now=now, plans=plans)
    else:
        await _settle(session, check, person, result, now=now, plans=plans, invite_in_chat=False)
    await audit.record(
        session,
        actor=actor,
        action="health_check.cohort",
        person_id=person.id,
        detail=f"priority={check.priority}",
        at=now,
    )
    return CohortEntry(person, check, code, expires_at, invite_on, created)


async def has_working_code(session: AsyncSession, person: Person, now: datetime) -> bool:
    return (
        await session.exec(
            select(EnrolmentCode.id).where(
                col(EnrolmentCode.person_id) == person.id,
                col(EnrolmentCode.used_at).is_(None),
                col(EnrolmentCode.revoked_at).is_(None),
                col(EnrolmentCode.expires_at) > now,
            )
        )
    ).first() is not None


async def on_joined(session: AsyncSession, person: Person, *, now: datetime, plans: Plans) -> bool:
    """Someone from a cohort joined: their invitation is planned for their day, or sent now
    if that day has come (it is never skipped for having joined late)."""
    assert person.id is not None
    check = await for_person(session, person.id)
    if check is None or check.status != HealthCheckStatus.NOT_YET or check.due_on is None:
        return False
    zone = ZoneInfo(person.timezone)
    today = now.astimezone(zone).date()
    if check.due_on > today:
        await plan_invitation(session, check, person, day=check.due_on, now=now, plans=plans)
        return True
    check.status, check.invited_at = HealthCheckStatus.INVITED, now
    await plan_invitation(session, check, person, day=today, now=now, plans=plans, invite_at=now)
    return True
