"""NHS Health Checks: who can have one and when, the questions in the chat, the invitation and
its reminders, in English, Hindi and Urdu."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select

from bot.health_check_messages import outcome
from bot.i18n import LANGUAGE_NAMES, translator
from bot.models import HealthCheck, HealthCheckStatus, OutboxMessage, OutboxStatus, Person
from bot.services.health_checks import Reason, YesNo, add_years, assess
from tests.fake_bot_api import UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, press, running_bot

LONDON = ZoneInfo("Europe/London")
LANGS = ["en", "hi", "ur"]
TODAY = date(2026, 11, 23)


def check(born: date, last: date | None = None, condition="no", statin="no"):
    return assess(
        born=born,
        last_check=last,
        has_condition=YesNo(condition),
        takes_statin=YesNo(statin),
        today=TODAY,
    )


@pytest.mark.parametrize(
    ("born", "eligible", "reason", "due_on"),
    [
        # 39, turning 40 tomorrow: not yet, due on the birthday.
        (date(1986, 11, 24), False, Reason.TOO_YOUNG, date(2026, 11, 24)),
        (date(1986, 11, 23), True, None, None),  # 40 today
        (date(1952, 11, 24), True, None, None),  # 74, the last day before 75
        (date(1951, 11, 23), False, Reason.TOO_OLD, None),  # 75 today
        (date(1990, 2, 28), False, Reason.TOO_YOUNG, date(2030, 2, 28)),
    ],
)
def test_age_40_to_74_inclusive(born, eligible, reason, due_on):
    result = check(born)
    assert (result.eligible, result.reason, result.due_on) == (eligible, reason, due_on)


def test_a_check_4_years_11_months_ago_is_due_in_a_month():
    result = check(date(1970, 5, 1), last=date(2021, 12, 23))
    assert not result.eligible
    assert result.reason is Reason.RECENT and result.due_on == date(2026, 12, 23)
    # Exactly five years ago: due today.
    assert check(date(1970, 5, 1), last=date(2021, 11, 23)).eligible


def test_a_next_check_after_turning_75_is_never_offered():
    assert check(date(1952, 1, 1), last=date(2023, 1, 1)).reason is Reason.TOO_OLD


@pytest.mark.parametrize(
    ("condition", "statin", "reason"),
    [
        ("yes", "no", Reason.CONDITION),
        ("no", "yes", Reason.STATIN),
        ("unsure", "no", Reason.UNSURE),
        ("no", "unsure", Reason.UNSURE),
    ],
)
def test_conditions_and_statins_rule_it_out_and_not_sure_goes_to_the_practice(
    condition, statin, reason
):
    result = check(date(1970, 5, 1), condition=condition, statin=statin)
    assert not result.eligible and result.reason is reason


def test_29_february_birthdays():
    assert add_years(date(1984, 2, 29), 40) == date(2024, 2, 29)
    assert add_years(date(1984, 2, 29), 41) == date(2025, 2, 28)


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


async def join_at_risk(bot: BotUnderTest, user: UserSim, language: str) -> None:
    t = translator(language)
    await bot.send(user.text("/start"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), LANGUAGE_NAMES[language]))
    await bot.send(
        press(bot.fake, user, bot.last(user.user_id), t._("I want to learn and lower my risk"))
    )
    await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("✅ I agree")))
    # The welcome follow-up is another test's business; here only Health Check messages count.
    async with bot.db.session() as session:
        for row in (await session.exec(select(OutboxMessage))).all():
            row.status = OutboxStatus.CANCELLED


def check_language(text: str, language: str) -> None:
    if language != "en":
        assert_no_english(text.replace("riskscore.diabetes.org.uk", ""))


@pytest.mark.parametrize("language", LANGS)
async def test_an_eligible_person_answers_and_is_invited_then_reminded(bot, language):
    user = UserSim(820_001, first_name="Joe")
    t = translator(language)
    asked_at = datetime(2026, 11, 23, 15, 0, tzinfo=LONDON)
    with time_machine.travel(asked_at, tick=False):
        await join_at_risk(bot, user, language)
        await bot.send(user.text("/healthcheck"))
        intro = bot.last(user.user_id)
        check_language(intro.text, language)
        await bot.send(press(bot.fake, user, intro, t._("▶️ Start")))
        assert (
            t._("What is your date of birth? Type it like 25/03/1970 (day/month/year).")
            in bot.last(user.user_id).text
        )
        # A typo is explained and the question stays.
        await bot.send(user.text("31/02/1970"))
        retry = bot.last(user.user_id).text
        assert (
            t._(
                "I could not read that date. Please type your date of birth like 25/03/1970 "
                "(day/month/year)."
            )
            in retry
        )
        check_language(retry, language)
        await bot.send(user.text("14/07/1971"))
        last = bot.last(user.user_id)
        await bot.send(press(bot.fake, user, last, t._("5 years ago or more")))
        conditions = bot.last(user.user_id)
        check_language(conditions.text, language)
        assert button_texts(bot.fake, conditions) == [
            t._("Yes, one or more"),
            t._("No, none of these"),
            t._("Not sure"),
        ]
        await bot.send(press(bot.fake, user, conditions, t._("No, none of these")))
        await bot.send(user.press(bot.last(user.user_id), t._("No")))
    invitation = bot.last(user.user_id)
    assert t._("🩺 <b>You can have your free NHS Health Check</b>") in invitation.text
    check_language(invitation.text, language)
    assert button_texts(bot.fake, invitation) == [
        t._("📅 I've booked it"),
        t._("✅ I've had it"),
        t._("🚫 Not interested"),
    ]
    async with bot.db.session() as session:
        [row] = (await session.exec(select(HealthCheck))).all()
        assert row.status == HealthCheckStatus.INVITED and row.has_condition == "no"
        due = sorted(
            m.due_at
            for m in (await session.exec(select(OutboxMessage))).all()
            if m.template_key == "health_check_reminder"
        )
    # 14 and 28 days later at 10:00 London time.
    assert due == [
        datetime(2026, 12, 7, 10, 0, tzinfo=LONDON),
        datetime(2026, 12, 21, 10, 0, tzinfo=LONDON),
    ]
    with time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=LONDON), tick=False):
        await bot.dispatch()
        reminder = bot.last(user.user_id)
        assert t._("🩺 A reminder: you can still have your free NHS Health Check.") in (
            plain(reminder.text)
        )
        await bot.send(press(bot.fake, user, reminder, t._("📅 I've booked it")))
    check_language(bot.last(user.user_id).text, language)
    async with bot.db.session() as session:
        statuses = [
            m.status
            for m in (await session.exec(select(OutboxMessage))).all()
            if m.template_key == "health_check_reminder"
        ]
        assert statuses == [OutboxStatus.SENT, OutboxStatus.CANCELLED]


@pytest.mark.parametrize("language", LANGS)
async def test_someone_too_young_is_told_kindly_when_and_reminded_on_their_birthday(bot, language):
    user = UserSim(820_101, first_name="Khadija")
    t = translator(language)
    with time_machine.travel(datetime(2026, 11, 23, 15, 0, tzinfo=LONDON), tick=False):
        await join_at_risk(bot, user, language)
        await bot.send(user.text("/healthcheck"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("▶️ Start")))
        await bot.send(user.text("1987-01-15"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("Never, or I don't know")))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("No, none of these")))
        await bot.send(user.press(bot.last(user.user_id), t._("No")))
    told = bot.last(user.user_id).text
    assert t.date(date(2027, 1, 15), "long") in plain(told)
    check_language(told, language)
    with time_machine.travel(datetime(2027, 1, 15, 10, 0, tzinfo=LONDON), tick=False):
        await bot.dispatch()
    assert t._("🩺 <b>You can have your free NHS Health Check</b>") in bot.last(user.user_id).text
    # The invitation's buttons work on the day it came.
    with time_machine.travel(datetime(2027, 1, 15, 11, 0, tzinfo=LONDON), tick=False):
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("✅ I've had it")))
    assert t.date(date(2032, 1, 15), "long") in plain(bot.last(user.user_id).text)


async def test_a_check_last_month_year_and_a_condition_are_explained(bot):
    user = UserSim(820_201)
    t = translator("ur")
    with time_machine.travel(datetime(2026, 11, 23, 15, 0, tzinfo=LONDON), tick=False):
        await join_at_risk(bot, user, "ur")
        await bot.send(user.text("/healthcheck"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("▶️ Start")))
        await bot.send(user.text("01/05/1970"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("Less than 5 years ago")))
        await bot.send(user.text("13/2024"))
        assert t._("I could not read that. Please type the month and year, like 06/2023.") in (
            plain(bot.last(user.user_id).text)
        )
        await bot.send(user.text("12/2021"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("Yes, one or more")))
        await bot.send(user.press(bot.last(user.user_id), t._("No")))
    told = bot.last(user.user_id).text
    assert_no_english(told)
    assert plain(outcome(t, Reason.CONDITION, None).text) in plain(told)
    async with bot.db.session() as session:
        [row] = (await session.exec(select(HealthCheck))).all()
        assert row.status == HealthCheckStatus.INELIGIBLE and row.reason == "condition"
        assert row.last_check_on == date(2021, 12, 1)
        assert (
            await session.exec(
                select(OutboxMessage).where(OutboxMessage.template_key == "health_check_invitation")
            )
        ).all() == []


async def test_a_patient_with_diabetes_is_told_their_review_covers_it(bot):
    issued = await bot.register_patient(language="hi")
    user = UserSim(820_301)
    from tests.test_e2e_journeys import join_with_code

    await join_with_code(bot, user, issued.code, "hi")
    await bot.send(user.text("/healthcheck"))
    t = translator("hi")
    assert (
        t._(
            "The NHS Health Check is for people who do not have diabetes. Your yearly diabetes "
            "review covers these checks and more."
        )
        in bot.last(user.user_id).text
    )


async def test_mydata_shows_the_answers_and_forget_erases_them(bot):
    user = UserSim(820_401)
    t = translator("en")
    with time_machine.travel(datetime(2026, 11, 23, 15, 0, tzinfo=LONDON), tick=False):
        await join_at_risk(bot, user, "en")
        await bot.send(user.text("/healthcheck"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("▶️ Start")))
        await bot.send(user.text("14/07/1971"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("Never, or I don't know")))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("Not sure")))
        await bot.send(user.press(bot.last(user.user_id), t._("No")))
        assert "ask them about an NHS Health Check" in bot.last(user.user_id).text
        await bot.send(user.text("/mydata"))
    export = json.loads(bot.last(user.user_id).document[1])
    assert export["person"]["date_of_birth"] == "1971-07-14"
    assert export["nhs_health_check"]["has_a_listed_condition"] == "unsure"
    await bot.send(user.text("/forget"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), "Yes, erase my data"))
    async with bot.db.session() as session:
        assert (await session.exec(select(HealthCheck))).all() == []


async def test_a_cohort_is_invited_highest_priority_first_a_days_sending_at_a_time(bot):
    from bot.plans import load_plans
    from bot.services.health_checks import CohortRecord, InvalidCohortRecord, import_cohort

    now = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
    records = [
        CohortRecord("C-1", "Joe Bloggs", "1970-05-01", "Y01234", "en", None, 0),
        CohortRecord("C-2", "Anna Shah", "1965-01-01", "Y01234", "hi", "2019-03-01", 5),
        CohortRecord("C-3", "Khadija Ahmed", "1972-09-09", "Y01234", "ur", None, 5),
        # Checked 4 years 11 months ago: enrolled, invited when due.
        CohortRecord("C-4", "Brian Smith", "1960-02-02", "Y01234", "en", "2021-12-23", 9),
    ]
    async with bot.db.session() as session:
        entries = await import_cohort(
            session,
            records,
            source="test",
            actor="cli:test",
            now=now,
            plans=load_plans(bot.settings.plans_file),
            per_day=2,
            timezone="Europe/London",
            valid_days=14,
        )
    assert [e.invite_on for e in entries] == [
        date(2026, 11, 24),  # priority 0 waits for the second day
        date(2026, 11, 23),
        date(2026, 11, 23),
        None,
    ]
    assert entries[3].check.status == HealthCheckStatus.NOT_YET
    assert entries[3].check.due_on == date(2026, 12, 23)
    assert all(e.code for e in entries)

    # Khadija joins with her code the same day: her invitation comes at once, in Urdu.
    user = UserSim(820_501)
    from tests.test_e2e_journeys import join_with_code

    with time_machine.travel(now, tick=False):
        await join_with_code(bot, user, entries[2].code, "ur")
        await bot.dispatch()
    t = translator("ur")
    [invitation] = [
        m
        for m in bot.said_to(user.user_id)
        if t._("📅 I've booked it") in button_texts(bot.fake, m)
    ]
    assert plain(t._("🩺 <b>You can have your free NHS Health Check</b>")) in plain(invitation.text)
    assert_no_english(invitation.text)

    # A record that is wrong stops the whole cohort, naming the record and field.
    with pytest.raises(InvalidCohortRecord) as refused:
        async with bot.db.session() as session:
            await import_cohort(
                session,
                [CohortRecord("C-9", "Young Person", "1990-01-01", "Y01234")],
                source="test",
                actor="cli:test",
                now=now,
                plans=load_plans(bot.settings.plans_file),
                per_day=2,
                timezone="Europe/London",
                valid_days=14,
            )
    assert refused.value.index == 0
    assert "40 to 74" in refused.value.problems[0].message


async def test_a_cohort_sent_again_leaves_alone_whoever_has_already_answered(bot):
    from bot.plans import load_plans
    from bot.services.health_checks import CohortRecord, import_cohort, respond

    now = datetime(2026, 11, 23, 9, 0, tzinfo=LONDON)
    plans = load_plans(bot.settings.plans_file)

    async def send_cohort(at: datetime):
        async with bot.db.session() as session:
            return await import_cohort(
                session,
                [CohortRecord("C-1", "Joe Bloggs", "1970-05-01", "Y01234")],
                source="test",
                actor="cli:test",
                now=at,
                plans=plans,
                per_day=10,
                timezone="Europe/London",
                valid_days=14,
            )

    [entry] = await send_cohort(now)
    user = UserSim(820_601)
    from tests.test_e2e_journeys import join_with_code

    with time_machine.travel(now, tick=False):
        await join_with_code(bot, user, entry.code, "en")
    async with bot.db.session() as session:
        person = await session.get(Person, entry.person.id)
        await respond(session, person, choice="done", now=now, plans=plans)
    later = datetime(2026, 12, 1, 9, 0, tzinfo=LONDON)
    [again] = await send_cohort(later)
    assert again.code is None and again.invite_on is None
    async with bot.db.session() as session:
        [row] = (await session.exec(select(HealthCheck))).all()
        assert row.status == HealthCheckStatus.DONE and row.last_check_on == date(2026, 11, 23)
        pending = [
            m.due_at.date()
            for m in (await session.exec(select(OutboxMessage))).all()
            if m.status == OutboxStatus.PENDING and m.template_key.startswith("health_check")
        ]
    # Only the next check, five years on (and its reminders), is planned.
    assert min(pending) == date(2031, 11, 23)
