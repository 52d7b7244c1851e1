"""Young people moving to adult services: their own wording, the readiness checklist, monthly
check-ins, and the named worker told within one working day of a missed transition clinic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.i18n import translator
from bot.models import OutboxMessage, Person
from bot.plans import load_plans
from bot.services import appointments, outbox, transition
from bot.working_days import next_working_moment
from tests.fake_bot_api import UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, running_bot
from tests.test_appointments import book
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
LANGS = ["en", "hi", "ur"]
AMY_NHS = "401 023 2137"


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


async def young_person_with_worker(bot: BotUnderTest, language: str, now: datetime):
    """Amy (17) joins; Sam, a specialist nurse with a staff account, is her named worker."""
    sam_code = await bot.invite_staff("specialist", "Sam Jones", practice=None)
    sam = UserSim(840_001, first_name="Sam")
    await join_with_code(bot, sam, sam_code.code, "en")
    issued = await bot.register_patient(
        language=language, name="Amy Shah", nhs_number=AMY_NHS, dob="2009-05-01"
    )
    amy = UserSim(840_002, first_name="Amy")
    await join_with_code(bot, amy, issued.code, language)
    async with bot.db.session() as session:
        worker = (
            await session.exec(select(Person).where(col(Person.display_name) == "Sam Jones"))
        ).one()
        person = await session.get(Person, issued.person_id)
        assert person is not None
        await outbox.cancel_pending_for_person(session, person.id, reason="test")
        await outbox.cancel_pending_for_person(session, worker.id, reason="test")
        await transition.enrol(
            session,
            person,
            started_on=date(2026, 9, 15),
            named_worker="Sam",
            worker_id=worker.id,
            actor="api:test",
            source="test",
            now=now,
            plans=load_plans(bot.settings.plans_file),
        )
    return amy, sam


def working_time_examples():
    return [
        (local(2026, 11, 23, 10, 0), local(2026, 11, 23, 10, 0)),  # Monday morning: now
        (local(2026, 11, 20, 17, 30), local(2026, 11, 23, 9, 0)),  # Friday evening
        (local(2026, 12, 24, 18, 0), local(2026, 12, 29, 9, 0)),  # Christmas and Boxing Day
        (local(2027, 3, 25, 16, 0), local(2027, 3, 25, 16, 0)),
        # Thursday after hours: Good Friday and Easter Monday are bank holidays.
        (local(2027, 3, 25, 17, 0), local(2027, 3, 30, 9, 0)),
    ]


@pytest.mark.parametrize(("now", "expected"), working_time_examples())
def test_within_one_working_day_skips_weekends_and_bank_holidays(now, expected):
    assert next_working_moment(now) == expected.astimezone(UTC)


@pytest.mark.parametrize("language", LANGS)
async def test_a_young_person_gets_young_wording_and_works_through_the_checklist(
    bot: BotUnderTest, language
):
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        amy, sam = await young_person_with_worker(bot, language, now)
        await book(bot, local(2026, 11, 20, 10, 30), nhs_number=AMY_NHS, now=now)
    t = translator(language)
    # Even an ordinary annual review reminder is in the young wording.
    with time_machine.travel(local(2026, 11, 13, 10, 0), tick=False):
        await bot.dispatch()
    reminder = next(m for m in reversed(bot.said_to(amy.user_id)) if m.method == "sendMessage")
    assert (
        t._(
            "👋 Hi %(name)s! Your %(what)s is coming up.",
            name="Amy",
            what=t._("annual diabetes review"),
        )
        in reminder.text
    )

    await bot.send(amy.text("/ready"))
    first = bot.last(amy.user_id)
    assert t._("📝 <b>Ready for adult care?</b>") in first.text
    assert button_texts(bot.fake, first) == [
        t._("✅ Yes"),
        t._("🔄 Getting there"),
        t._("⏳ Not yet"),
    ]
    if language != "en":
        assert_no_english(first.text)
    answers = [t._("✅ Yes")] * 6 + [t._("🔄 Getting there")] * 3 + [t._("⏳ Not yet")]
    with time_machine.travel(local(2026, 11, 13, 12, 0), tick=False):
        for label in answers:
            await bot.send(amy.press(bot.last(amy.user_id), label))
    summary = bot.last(amy.user_id).text
    assert plain(t._("📝 <b>Your progress</b>")) in plain(summary)
    # Knowing: 4 of 4 ready; managing: 2 of 3 and 1 getting there; adult services: 0 of 3.
    assert plain(
        t._(
            "%(area)s: %(ready)s of %(total)s ✅, %(getting_there)s 🔄",
            area=t._("🧠 Knowing my diabetes"),
            ready=4,
            total=4,
            getting_there=0,
        )
    ) in plain(summary)
    if language != "en":
        assert_no_english(summary)
    # Sam, the named worker, sees it too (in his own language, English).
    with time_machine.travel(local(2026, 11, 13, 12, 1), tick=False):
        await bot.dispatch()
    worker_note = bot.last(sam.user_id).text
    assert "Amy Shah finished the transition readiness checklist" in worker_note
    assert "Finding my way in adult services: 0 of 3 ✅, 2 🔄" in plain(worker_note)


async def test_monthly_check_in_and_asking_to_talk_reaches_the_worker(bot: BotUnderTest):
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        amy, sam = await young_person_with_worker(bot, "hi", now)
    async with bot.db.session() as session:
        due = [
            m.due_at
            for m in (await session.exec(select(OutboxMessage))).all()
            if m.template_key == "transition_check_in"
        ]
    # Twelve, on the 15th (the day of the month the programme started) at 17:00, from this
    # month's, which is still ahead.
    assert len(due) == 12 and due[0] == local(2026, 11, 15, 17, 0)
    with time_machine.travel(local(2026, 12, 15, 17, 0), tick=False):
        await bot.dispatch()
    t = translator("hi")
    check_in = bot.last(amy.user_id)
    assert_no_english(check_in.text)
    # Sent on a Tuesday evening, the request reaches Sam at 09:00 the next working day.
    with time_machine.travel(local(2026, 12, 15, 18, 0), tick=False):
        await bot.send(amy.press(check_in, t._("💬 I'd like to talk to %(worker)s", worker="Sam")))
    assert_no_english(bot.last(amy.user_id).text)
    with time_machine.travel(local(2026, 12, 15, 18, 1), tick=False):
        await bot.dispatch()
    assert "asked to talk to you" not in (bot.last(sam.user_id).text or "")
    with time_machine.travel(local(2026, 12, 16, 9, 0), tick=False):
        await bot.dispatch()
    assert "Amy Shah asked to talk to you" in bot.last(sam.user_id).text


async def test_a_missed_transition_clinic_alerts_the_worker_within_one_working_day(bot):
    now = local(2026, 12, 1, 9, 0)
    with time_machine.travel(now, tick=False):
        amy, sam = await young_person_with_worker(bot, "ur", now)
        booked = await book(
            bot,
            local(2026, 12, 24, 15, 0),
            kind="transition_clinic",
            nhs_number=AMY_NHS,
            now=now,
        )
    marked_at = local(2026, 12, 24, 18, 0)  # Christmas Eve, after hours
    async with bot.db.session() as session:
        appointment = await appointments.get(session, booked.appointment.id)
        await appointments.mark_attendance(
            session, appointment, attended=False, now=marked_at, actor="api:test"
        )
        [alert] = [
            m
            for m in (await session.exec(select(OutboxMessage))).all()
            if m.template_key == "worker_missed_clinic"
        ]
    assert alert.due_at == local(2026, 12, 29, 9, 0)
    with time_machine.travel(local(2026, 12, 29, 9, 0), tick=False):
        await bot.dispatch()
    assert (
        "Amy Shah missed their transition clinic on 24 December 2026" in bot.last(sam.user_id).text
    )
    # Amy's own "we missed you" is in the young wording, in Urdu.
    missed = next(m for m in reversed(bot.said_to(amy.user_id)) if m.reply_markup)
    assert_no_english(missed.text)


async def test_ready_outside_the_programme_says_who_it_is_for(bot: BotUnderTest):
    issued = await bot.register_patient(language="en")
    user = UserSim(840_101)
    await join_with_code(bot, user, issued.code, "en")
    await bot.send(user.text("/ready"))
    assert "transition programme" in bot.last(user.user_id).text


async def test_check_ins_are_topped_up_so_they_never_run_out(bot: BotUnderTest):
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await young_person_with_worker(bot, "en", now)

    async def pending() -> list[datetime]:
        async with bot.db.session() as session:
            return sorted(
                m.due_at
                for m in (await session.exec(select(OutboxMessage))).all()
                if m.template_key == "transition_check_in" and m.status == "pending"
            )

    # Seven months on, five check-ins have gone and seven are left: nothing to do.
    async with bot.db.session() as session:
        for row in (await session.exec(select(OutboxMessage))).all():
            if row.template_key == "transition_check_in" and row.due_at < local(2027, 4, 1):
                row.status = "sent"
        assert await transition.top_up_check_ins(session, now=local(2027, 4, 1)) == 0
    assert len(await pending()) == 7
    # Nine months on, three are left: a year ahead is planned again.
    async with bot.db.session() as session:
        for row in (await session.exec(select(OutboxMessage))).all():
            if row.template_key == "transition_check_in" and row.due_at < local(2027, 8, 1):
                row.status = "sent"
        assert await transition.top_up_check_ins(session, now=local(2027, 8, 1)) == 1
    due = await pending()
    assert len(due) == 12 and due[0] == local(2027, 8, 15, 17, 0)
