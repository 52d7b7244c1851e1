"""Appointment reminders end to end: planned from content/plans.yaml into the outbox, sent at
the right local time by the real dispatcher through the fake Bot API, answered with buttons."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import time_machine
from sqlmodel import col, select

from bot.i18n import translator
from bot.models import (
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    CareFlag,
    OutboxMessage,
    OutboxStatus,
    Practice,
)
from bot.plans import load_plans
from bot.services import appointments, outbox
from bot.services.appointments import AppointmentRecord, InvalidRecord
from tests.fake_bot_api import UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, press, running_bot
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
LANGS = ["en", "hi", "ur"]
STAFF_CHAT = -100_555


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


async def joined_patient(bot: BotUnderTest, user: UserSim, language: str, **kwargs) -> int:
    issued = await bot.register_patient(language=language, **kwargs)
    await join_with_code(bot, user, issued.code, language)
    async with bot.db.session() as session:
        practice = await session.get(Practice, "Y01234")
        assert practice is not None
        practice.staff_chat_id, practice.phone = STAFF_CHAT, "01632 960123"
        # The welcome follow-up is another test's business; here only reminders are counted.
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return issued.person_id


async def book(
    bot: BotUnderTest,
    starts_at: datetime,
    *,
    kind: str = "annual_review",
    external_id: str = "EMIS-1",
    nhs_number: str = "943 476 5919",
    now: datetime | None = None,
    **details: str,
) -> appointments.Outcome:
    record = AppointmentRecord(
        external_id=external_id,
        kind=kind,
        starts_at=starts_at,
        nhs_number=nhs_number,
        location=details.get("location", "Riverside Surgery"),
        address=details.get("address", "12 High Street"),
        clinician=details.get("clinician", "Nurse Patel"),
        directions=details.get("directions", ""),
        phone=details.get("phone", "01632 960123"),
    )
    async with bot.db.session() as session:
        return await appointments.save(
            session,
            record,
            plans=load_plans(bot.settings.plans_file),
            now=now or datetime.now(UTC),
            actor="api:test",
            source="test",
            default_zone=LONDON,
        )


async def reminders(bot: BotUnderTest, appointment_id: int) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        return await outbox.for_topic(session, appointments.topic(appointment_id))


async def dispatch_at(bot: BotUnderTest, moment: datetime):
    with time_machine.travel(moment, tick=False):
        return await bot.dispatch()


@pytest.mark.parametrize("language", LANGS)
async def test_each_reminder_arrives_at_its_local_time_in_the_persons_language(
    bot: BotUnderTest, language: str
):
    user = UserSim(810_001)
    booked_on = local(2026, 11, 2, 9, 0)
    with time_machine.travel(booked_on, tick=False):
        await joined_patient(bot, user, language)
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=booked_on)
    assert outcome.created and outcome.reminders_queued == 3
    before = len(bot.said_to(user.user_id))

    # Not a minute early: nothing goes at 09:59 a week before.
    report = await dispatch_at(bot, local(2026, 11, 13, 9, 59))
    assert len(bot.said_to(user.user_id)) == before
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    week_before = bot.said_to(user.user_id)[before:]
    # The reminder, then its calendar file.
    assert [m.method for m in week_before] == ["sendMessage", "sendDocument"]
    reminder, calendar = week_before
    t = translator(language)
    text = plain(reminder.text)
    assert t._("annual diabetes review") in text
    assert t.date(local(2026, 11, 20).date(), "full") in text
    assert t.time(local(2026, 11, 20, 10, 30), LONDON) in text
    assert "Riverside Surgery, 12 High Street" in text and "Nurse Patel" in text
    assert "01632 960123" in text
    assert t.ngettext("in %(count)s day", "in %(count)s days", 7, count=7) in reminder.text
    assert button_texts(bot.fake, reminder) == [
        t._("✅ I'll be there"),
        t._("🔁 I need to change it"),
        t._("❌ I can't come"),
    ]
    event = icalendar.Calendar.from_ical(calendar.document[1]).walk("VEVENT")[0]
    assert event.decoded("dtstart") == local(2026, 11, 20, 10, 30)
    assert str(event["summary"]) == t._("annual diabetes review")
    if language != "en":
        assert_no_english(reminder.text.replace("Riverside Surgery, 12 High Street", ""))

    # The evening before at 18:00, then two hours before.
    await dispatch_at(bot, local(2026, 11, 19, 18, 0))
    assert t._("tomorrow") in bot.last(user.user_id).text
    await dispatch_at(bot, local(2026, 11, 20, 8, 30))
    assert t._("today") in bot.last(user.user_id).text
    assert report.sent == 0
    rows = await reminders(bot, outcome.appointment.id)
    assert [r.status for r in rows] == [OutboxStatus.SENT] * 3


async def test_reminders_keep_local_time_across_the_clocks_going_back(bot: BotUnderTest):
    user = UserSim(810_101)
    with time_machine.travel(local(2026, 10, 1, 9, 0), tick=False):
        await joined_patient(bot, user, "en")
        # British Summer Time ends on 25 October 2026: the appointment is in GMT, the reminder
        # a week before is still in BST.
        outcome = await book(bot, local(2026, 10, 29, 9, 0))
    due = [r.due_at for r in await reminders(bot, outcome.appointment.id)]
    assert due == [
        datetime(2026, 10, 22, 9, 0, tzinfo=UTC),  # 10:00 BST
        datetime(2026, 10, 28, 18, 0, tzinfo=UTC),  # 18:00 GMT
        datetime(2026, 10, 29, 7, 0, tzinfo=UTC),  # two hours before 09:00 GMT
    ]
    await dispatch_at(bot, datetime(2026, 10, 22, 9, 0, tzinfo=UTC))
    # Sent at 10:00 BST, it shows the visit's own time, 09:00 GMT.
    reminder = plain(bot.said_to(user.user_id)[-2].text)
    assert "09:00" in reminder and "10:00" not in reminder


async def test_a_send_time_already_past_is_skipped_not_sent_late(bot: BotUnderTest):
    user = UserSim(810_201)
    booked_on = local(2026, 11, 17, 12, 0)
    with time_machine.travel(booked_on, tick=False):
        await joined_patient(bot, user, "en")
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=booked_on)
    # Booked three days ahead: the week-before reminder is not planned at all.
    assert [r.template_key for r in await reminders(bot, outcome.appointment.id)] == [
        "appointment_reminder",
        "appointment_reminder",
    ]
    # The service was down all day: at 11:00 the two-hours-before reminder has expired.
    before = len(bot.said_to(user.user_id))
    report = await dispatch_at(bot, local(2026, 11, 20, 11, 0))
    assert report.cancelled == 2 and len(bot.said_to(user.user_id)) == before


async def test_moving_an_appointment_replans_and_cancelling_stops_reminders(bot: BotUnderTest):
    user = UserSim(810_301)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "ur")
        first = await book(bot, local(2026, 11, 20, 10, 30), now=now)
        moved = await book(bot, local(2026, 11, 27, 14, 0), now=now)
    assert moved.replanned and moved.appointment.id == first.appointment.id
    rows = await reminders(bot, first.appointment.id)
    pending = [r for r in rows if r.status == OutboxStatus.PENDING]
    assert [r.due_at for r in pending] == [
        local(2026, 11, 20, 10, 0),
        local(2026, 11, 26, 18, 0),
        local(2026, 11, 27, 12, 0),
    ]
    assert sum(r.status == OutboxStatus.CANCELLED for r in rows) == 3
    # Sending the same record again changes nothing and queues nothing.
    with time_machine.travel(now, tick=False):
        again = await book(bot, local(2026, 11, 27, 14, 0), now=now)
    assert not again.replanned and again.reminders_queued == 0

    async with bot.db.session() as session:
        appointment = await appointments.get(session, first.appointment.id)
        cancelled = await appointments.cancel(session, appointment, now=now, actor="api:test")
    assert cancelled == 3
    before = len(bot.said_to(user.user_id))
    await dispatch_at(bot, local(2026, 11, 20, 10, 0))
    await dispatch_at(bot, local(2026, 11, 27, 12, 0))
    assert len(bot.said_to(user.user_id)) == before


@pytest.mark.parametrize("language", LANGS)
async def test_cant_come_reaches_the_clinic_and_stops_the_reminders(bot: BotUnderTest, language):
    user = UserSim(810_401)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, language)
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    t = translator(language)
    reminder = bot.said_to(user.user_id)[-2]
    pressed_at = local(2026, 11, 13, 10, 5)
    with time_machine.travel(pressed_at, tick=False):
        await bot.send(press(bot.fake, user, reminder, t._("❌ I can't come")))
    reply = bot.last(user.user_id).text
    assert t._("you will get no more reminders") in reply or "01632 960123" in reply
    if language != "en":
        assert_no_english(reply)
    # The reminder's buttons are gone, so the question is not open twice.
    assert bot.fake.buttons(reminder) == []

    async with bot.db.session() as session:
        appointment = await session.get(Appointment, outcome.appointment.id)
        assert appointment is not None
        assert appointment.answer == "cant_come" and appointment.answered_at == pressed_at
        events = (
            await session.exec(
                select(AppointmentEvent.event).where(
                    col(AppointmentEvent.appointment_id) == appointment.id
                )
            )
        ).all()
        assert events == ["booked", "answer:cant_come"]
    rows = await reminders(bot, outcome.appointment.id)
    assert [r.status for r in rows if r.person_id] == [
        OutboxStatus.SENT,
        OutboxStatus.CANCELLED,
        OutboxStatus.CANCELLED,
    ]
    # The clinic's staff chat hears it in English (staff chats are English by default).
    await dispatch_at(bot, local(2026, 11, 13, 10, 6))
    clinic = bot.last(STAFF_CHAT).text
    assert "Irfan Ahmed" in clinic and "cannot come" in clinic and "EMIS-1" in clinic
    assert "9434765919" not in clinic and "943 476 5919" not in clinic


async def test_ill_be_there_is_recorded_without_bothering_the_clinic(bot: BotUnderTest):
    user = UserSim(810_501)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "hi")
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    t = translator("hi")
    reminder = bot.said_to(user.user_id)[-2]
    await bot.send(press(bot.fake, user, reminder, t._("✅ I'll be there")))
    assert t._("Thank you. We have noted that you will be there ✅") in bot.last(user.user_id).text
    await dispatch_at(bot, local(2026, 11, 13, 10, 1))
    assert bot.said_to(STAFF_CHAT) == []
    async with bot.db.session() as session:
        appointment = await session.get(Appointment, outcome.appointment.id)
        assert appointment is not None and appointment.answer == "attend"
    # The later reminders still come: they carry the directions on the day.
    assert [r.status for r in await reminders(bot, outcome.appointment.id)].count(
        OutboxStatus.PENDING
    ) == 2


async def test_a_missed_appointment_gets_a_kind_follow_up_and_two_raise_a_flag(
    bot: BotUnderTest,
):
    user = UserSim(810_601)
    now = local(2026, 3, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "ur")
        first = await book(bot, local(2026, 3, 20, 10, 30), now=now)
        second = await book(bot, local(2026, 11, 20, 10, 30), external_id="EMIS-2", now=now)
    t = translator("ur")

    after_first = local(2026, 3, 20, 15, 0)
    async with bot.db.session() as session:
        appointment = await appointments.get(session, first.appointment.id)
        outcome = await appointments.mark_attendance(
            session, appointment, attended=False, now=after_first, actor="api:test"
        )
    assert outcome.flags == []
    await dispatch_at(bot, after_first)
    missed = bot.last(user.user_id)
    assert "01632 960123" in plain(missed.text)
    assert button_texts(bot.fake, missed) == [t._("📅 Please help me rebook")]
    assert_no_english(missed.text)
    # Rebooking tells the clinic.
    with time_machine.travel(after_first + timedelta(minutes=5), tick=False):
        await bot.send(press(bot.fake, user, missed, t._("📅 Please help me rebook")))
    await dispatch_at(bot, after_first + timedelta(minutes=6))
    assert "asks to rebook" in bot.last(STAFF_CHAT).text

    after_second = local(2026, 11, 20, 15, 0)
    async with bot.db.session() as session:
        appointment = await appointments.get(session, second.appointment.id)
        outcome = await appointments.mark_attendance(
            session, appointment, attended=False, now=after_second, actor="api:test"
        )
        flags = (await session.exec(select(CareFlag))).all()
    assert outcome.flags == ["missed_appointments"]
    assert [f.kind for f in flags] == ["missed_appointments"]
    await dispatch_at(bot, after_second)
    flag_message = bot.last(STAFF_CHAT).text
    assert "Care team flag" in flag_message and "missed 2 appointments" in flag_message


async def test_an_attended_appointment_sends_nothing_and_cannot_be_marked_early(bot):
    user = UserSim(810_701)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "en")
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=now)
    async with bot.db.session() as session:
        appointment = await appointments.get(session, outcome.appointment.id)
        with pytest.raises(appointments.InvalidField):
            await appointments.mark_attendance(
                session, appointment, attended=True, now=now, actor="api:test"
            )
        done = await appointments.mark_attendance(
            session,
            appointment,
            attended=True,
            now=local(2026, 11, 20, 12, 0),
            actor="api:test",
        )
    assert done.appointment.status == AppointmentStatus.ATTENDED


@pytest.mark.parametrize("language", LANGS)
async def test_a_young_person_gets_the_transition_wording(bot: BotUnderTest, language: str):
    user = UserSim(810_801)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(
            bot, user, language, name="Amy Shah", nhs_number="401 023 2137", dob="2009-05-01"
        )
        await book(
            bot,
            local(2026, 11, 20, 16, 0),
            kind="transition_clinic",
            nhs_number="401 023 2137",
            clinician="Sam (transition worker)",
        )
    await dispatch_at(bot, local(2026, 11, 13, 16, 30))
    t = translator(language)
    reminder = bot.said_to(user.user_id)[-2]
    assert (
        t._(
            "👋 Hi %(name)s! Your %(what)s is coming up.",
            name="Amy",
            what=t._("transition clinic appointment"),
        )
        in reminder.text
    )
    assert t._("annual diabetes review") not in reminder.text
    assert button_texts(bot.fake, reminder) == [
        t._("👍 I'll be there"),
        t._("🔁 Need a different time"),
        t._("🙅 Can't make it"),
    ]
    if language != "en":
        assert_no_english(
            reminder.text.replace("Riverside Surgery, 12 High Street", "").replace(
                "Sam (transition worker)", ""
            )
        )


async def test_eye_screening_reminder_warns_about_driving(bot: BotUnderTest):
    user = UserSim(810_901)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "en")
        await book(bot, local(2026, 11, 20, 10, 30), kind="eye_screening", now=now)
    await dispatch_at(bot, local(2026, 11, 6, 10, 0))  # 14 days before
    assert "do not drive" in bot.said_to(user.user_id)[-2].text


async def test_a_bad_record_names_every_wrong_field(bot: BotUnderTest):
    now = local(2026, 11, 2, 9, 0)
    await bot.register_patient(language="en")
    with pytest.raises(InvalidRecord) as refused:
        await book(
            bot, local(2026, 10, 1, 10, 0), kind="annual_reveiw", nhs_number="943 476 5918", now=now
        )
    fields = [problem.field for problem in refused.value.problems]
    assert fields == ["kind", "starts_at", "nhs_number"]
    messages = {p.field: p.message for p in refused.value.problems}
    assert "annual_review" in messages["kind"]
    assert "past" in messages["starts_at"]
    async with bot.db.session() as session:
        assert (await session.exec(select(Appointment))).all() == []


async def test_a_button_for_a_cancelled_appointment_says_so(bot: BotUnderTest):
    user = UserSim(811_001)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "ur")
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    reminder = bot.said_to(user.user_id)[-2]
    async with bot.db.session() as session:
        appointment = await appointments.get(session, outcome.appointment.id)
        await appointments.cancel(session, appointment, now=now, actor="api:test")
    t = translator("ur")
    await bot.send(press(bot.fake, user, reminder, t._("✅ I'll be there")))
    reply = bot.last(user.user_id).text
    assert "999" in plain(reply)
    assert_no_english(reply)


async def test_practice_staff_link_their_group_and_answers_arrive_there(bot: BotUnderTest):
    gp_code = await bot.invite_staff("gp", "Dr Shah")
    gp = UserSim(811_101)
    await join_with_code(bot, gp, gp_code.code, "en")
    patient = UserSim(811_102)
    issued = await bot.register_patient(language="en")
    await join_with_code(bot, patient, issued.code, "en")
    group = {"id": -100_777, "type": "group", "title": "Riverside staff"}

    # A patient cannot make a group the practice's staff chat.
    patient.chat = dict(group)
    await bot.send(patient.text("/practice_chat"))
    assert "Only a GP, practice nurse or admin" in bot.last(-100_777).text
    gp.chat = dict(group)
    await bot.send(gp.text("/practice_chat"))
    assert "now the staff chat of" in bot.last(-100_777).text
    async with bot.db.session() as session:
        practice = await session.get(Practice, "Y01234")
        assert practice is not None and practice.staff_chat_id == -100_777

    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    reminder = [m for m in bot.said_to(patient.user_id) if m.method == "sendMessage"][-1]
    with time_machine.travel(local(2026, 11, 13, 10, 0, 30), tick=False):
        await bot.send(press(bot.fake, patient, reminder, "I need to change it"))
    await dispatch_at(bot, local(2026, 11, 13, 10, 1))
    assert "needs to change" in bot.last(-100_777).text

    # Removed from the group, the bot stops writing there.
    await bot.send(gp._member_update("member", "left"))
    async with bot.db.session() as session:
        practice = await session.get(Practice, "Y01234")
        assert practice is not None and practice.staff_chat_id is None


async def test_without_a_staff_chat_the_practice_staff_hear_directly(bot: BotUnderTest):
    nurse_code = await bot.invite_staff("nurse", "Nurse Patel")
    nurse = UserSim(811_201)
    await join_with_code(bot, nurse, nurse_code.code, "en")
    patient = UserSim(811_202)
    issued = await bot.register_patient(language="hi")
    await join_with_code(bot, patient, issued.code, "hi")
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    reminder = [m for m in bot.said_to(patient.user_id) if m.method == "sendMessage"][-1]
    t = translator("hi")
    with time_machine.travel(local(2026, 11, 13, 10, 0, 30), tick=False):
        await bot.send(press(bot.fake, patient, reminder, t._("❌ I can't come")))
    await dispatch_at(bot, local(2026, 11, 13, 10, 1))
    assert "cannot come" in bot.last(nurse.user_id).text


async def test_mydata_shows_appointments_and_forget_erases_them_and_what_the_clinic_was_told(
    bot: BotUnderTest,
):
    user = UserSim(811_301)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "en")
        await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    reminder = [m for m in bot.said_to(user.user_id) if m.method == "sendMessage"][-1]
    with time_machine.travel(local(2026, 11, 13, 10, 0, 30), tick=False):
        await bot.send(press(bot.fake, user, reminder, "I can't come"))

    await bot.send(user.text("/mydata"))
    export = json.loads(bot.last(user.user_id).document[1])
    [appointment] = export["appointments"]
    assert appointment["kind"] == "annual_review" and appointment["your_answer"] == "cant_come"
    assert [e["event"] for e in appointment["history"]] == ["booked", "answer:cant_come"]

    await bot.send(user.text("/forget"))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), "Yes, erase my data"))
    async with bot.db.session() as session:
        assert (await session.exec(select(Appointment))).all() == []
        assert (await session.exec(select(AppointmentEvent))).all() == []
        # The note queued for the practice's staff chat named them: it is gone too.
        assert (await session.exec(select(OutboxMessage))).all() == []


async def invite_carer(bot: BotUnderTest, patient: UserSim, language: str) -> str:
    t = translator(language)
    await bot.send(patient.text("/carer"))
    screen = bot.last(patient.user_id)
    await bot.send(press(bot.fake, patient, screen, t._("➕ Invite a carer")))
    invitation = plain(bot.last(patient.user_id).text)
    link = next(w for w in invitation.split() if w.startswith("https://t.me/"))
    return link.split("start=")[1]


@pytest.mark.parametrize("language", LANGS)
async def test_a_carer_gets_the_reminders_marked_with_whose_they_are(bot: BotUnderTest, language):
    patient = UserSim(811_401)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, patient, "ur")
        code = await invite_carer(bot, patient, "ur")
        # The carer is new to the bot: the usual language and consent screens, then linked.
        carer = UserSim(811_402, first_name="Elsie")
        await join_with_code(bot, carer, code, language)
        t = translator(language)
        welcome = plain(bot.last(carer.user_id).text)
        assert (
            t._(
                "✅ You will now receive %(name)s's appointment reminders, each marked with their "
                "name. To stop, send /carer.",
                name="Irfan Ahmed",
            )
            in welcome
        )
        outcome = await book(bot, local(2026, 11, 20, 10, 30), now=now)
    assert outcome.reminders_queued == 6  # three each
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    copy = next(
        m
        for m in reversed(bot.said_to(carer.user_id))
        if m.text and t._("annual diabetes review") in m.text
    )
    assert t._("👥 For <b>%(name)s</b>", name="Irfan Ahmed") in copy.text
    assert t._("annual diabetes review") in copy.text
    if language != "en":
        assert_no_english(
            copy.text.replace("Riverside Surgery, 12 High Street", "").replace("Nurse Patel", "")
        )
    # The patient heard that the carer joined, in Urdu.
    joined = translator("ur")._(
        "👥 %(name)s now receives your appointment reminders. You can remove them at any time "
        "with /carer.",
        name="Elsie",
    )
    assert any(plain(joined) in plain(m.text or "") for m in bot.said_to(patient.user_id))

    # The patient removes the carer: the carer's remaining reminders stop.
    with time_machine.travel(local(2026, 11, 13, 11, 0), tick=False):
        await bot.send(patient.text("/carer"))
        tu = translator("ur")
        await bot.send(
            press(
                bot.fake,
                patient,
                bot.last(patient.user_id),
                tu._("✖ Remove %(name)s", name="Elsie"),
            )
        )
    assert "Elsie" in bot.last(patient.user_id).text

    def reminders_to_carer() -> int:
        return sum(
            t._("annual diabetes review") in (m.text or "") for m in bot.said_to(carer.user_id)
        )

    before = reminders_to_carer()
    await dispatch_at(bot, local(2026, 11, 19, 18, 0))
    await dispatch_at(bot, local(2026, 11, 20, 8, 30))
    assert reminders_to_carer() == before
    told = t._("👥 You no longer receive %(name)s's appointment reminders.", name="Irfan Ahmed")
    assert any(plain(told) in plain(m.text or "") for m in bot.said_to(carer.user_id))


async def test_someone_already_using_the_bot_accepts_a_carer_link_in_one_step(bot: BotUnderTest):
    patient = UserSim(811_501)
    await joined_patient(bot, patient, "en")
    code = await invite_carer(bot, patient, "en")
    other = UserSim(811_502, first_name="Khadija")
    issued = await bot.register_patient(
        language="hi", name="Khadija Shah", nhs_number="401 023 2137", dob="1960-01-01"
    )
    await join_with_code(bot, other, issued.code, "hi")
    await bot.send(other.text(f"/start {code}"))
    t = translator("hi")
    assert (
        t._(
            "✅ You will now receive %(name)s's appointment reminders, each marked with "
            "their name. To stop, send /carer.",
            name="Irfan Ahmed",
        )
        in bot.last(other.user_id).text
    )
    # The link works once.
    third = UserSim(811_503)
    issued = await bot.register_patient(
        language="en", name="Brian", nhs_number="943 476 5870", dob="1950-01-01"
    )
    await join_with_code(bot, third, issued.code, "en")
    await bot.send(third.text(f"/start {code}"))
    assert "already been used" in bot.last(third.user_id).text
    # A patient cannot accept their own link.
    own = await invite_carer(bot, patient, "en")
    await bot.send(patient.text(f"/start {own}"))
    assert "your own carer link" in bot.last(patient.user_id).text


async def test_a_new_room_replans_without_asking_again_but_a_new_time_asks_again(bot):
    user = UserSim(811_601)
    now = local(2026, 11, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "en")
        first = await book(bot, local(2026, 11, 20, 10, 30), now=now)
    await dispatch_at(bot, local(2026, 11, 13, 10, 0))
    reminder = [m for m in bot.said_to(user.user_id) if m.method == "sendMessage"][-1]
    with time_machine.travel(local(2026, 11, 13, 10, 1), tick=False):
        await bot.send(press(bot.fake, user, reminder, "I'll be there"))
    later = local(2026, 11, 14, 9, 0)
    with time_machine.travel(later, tick=False):
        changed = await book(bot, local(2026, 11, 20, 10, 30), location="Room 4", now=later)
    assert changed.replanned and changed.appointment.answer == "attend"
    await dispatch_at(bot, local(2026, 11, 19, 18, 0))
    assert "Room 4" in bot.said_to(user.user_id)[-1].text
    with time_machine.travel(later, tick=False):
        moved = await book(bot, local(2026, 11, 21, 10, 30), location="Room 4", now=later)
        with pytest.raises(InvalidRecord) as refused:
            await book(bot, local(2026, 11, 1, 10, 30), location="Room 4", now=later)
    assert moved.appointment.answer is None
    assert refused.value.problems[0].field == "starts_at"
    async with bot.db.session() as session:
        events = await appointments.history(session, first.appointment.id)
    assert [e.event for e in events] == ["booked", "answer:attend", "details_changed", "moved"]


async def test_a_missed_mark_corrected_to_attended_withdraws_the_follow_up_and_the_flag(bot):
    user = UserSim(811_701)
    now = local(2026, 3, 2, 9, 0)
    with time_machine.travel(now, tick=False):
        await joined_patient(bot, user, "en")
        first = await book(bot, local(2026, 3, 20, 10, 30), now=now)
        second = await book(bot, local(2026, 3, 27, 10, 30), external_id="EMIS-2", now=now)
    after = local(2026, 3, 27, 22, 0)  # in quiet hours: the follow-up waits for morning
    async with bot.db.session() as session:
        for booked in (first, second):
            appointment = await appointments.get(session, booked.appointment.id)
            await appointments.mark_attendance(
                session, appointment, attended=False, now=after, actor="api:test"
            )
        appointment = await appointments.get(session, second.appointment.id)
        await appointments.mark_attendance(
            session, appointment, attended=True, now=after, actor="api:test"
        )
        flags = await appointments.open_flags(session, first.appointment.person_id)
    assert flags == []
    before = len(bot.said_to(user.user_id))
    await dispatch_at(bot, local(2026, 3, 28, 9, 0))
    missed_notes = [m for m in bot.said_to(user.user_id)[before:] if "We missed you" in m.text]
    assert len(missed_notes) == 1  # the first appointment's only


async def test_an_unknown_practice_is_a_named_field_not_a_crash(bot: BotUnderTest):
    now = local(2026, 11, 2, 9, 0)
    await bot.register_patient(language="en")
    record = AppointmentRecord(
        external_id="EMIS-9",
        kind="foot_clinic",
        starts_at=local(2026, 11, 20, 10, 30),
        nhs_number="943 476 5919",
        practice="Z99999",
    )
    async with bot.db.session() as session:
        with pytest.raises(InvalidRecord) as refused:
            await appointments.save(
                session,
                record,
                plans=load_plans(bot.settings.plans_file),
                now=now,
                actor="api:test",
                source="test",
                default_zone=LONDON,
            )
    assert [p.field for p in refused.value.problems] == ["practice"]
