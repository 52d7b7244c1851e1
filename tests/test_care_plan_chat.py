"""Care planning in the chat, end to end in English, Hindi and Urdu with the fake Bot API and
time-machine: the clinician's one-screen summary two days before the review (to the named
clinician, or the practice's staff chat), /careplan from form to saved rows, /myplan for the
person and their carer, the goal check-ins every 4 weeks with "change my goal" typed in their
own words, and the check-in answers in the next summary."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.i18n import Translator, translator
from bot.models import (
    AuditEvent,
    CareGoal,
    CarePlan,
    GoalCheckIn,
    Measure,
    OutboxMessage,
    Person,
    Practice,
)
from bot.services import appointments, care_plans, care_results, outbox, pre_review
from bot.services.appointments import AppointmentRecord
from bot.services.care_results import ResultValue
from bot.services.pre_review import AgendaStep, AgendaTopic, HypoAnswer
from scheduler.dispatcher import OutboxDispatcher
from scheduler.jobs import build_scheduler, care_planning
from scheduler.leadership import DispatchLeadership
from tests.fake_bot_api import SentMessage, UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, press, running_bot
from tests.test_appointments import invite_carer
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
LANGS = ["en", "hi", "ur"]
NHS = "943 476 5919"
STAFF_CHAT = -100_606

# What a clinician writes, in the person's own language: goals and actions are kept as written.
GOAL = {
    "en": "Walk for 30 minutes five days a week",
    "hi": "हफ़्ते में पाँच दिन 30 मिनट टहलना",
    "ur": "ہفتے میں پانچ دن 30 منٹ چہل قدمی کرنا",
}
WALKING_GROUP = {
    "en": "Join the Tuesday walking group",
    "hi": "मंगलवार वाले टहलने के समूह में जाना",
    "ur": "منگل والے چہل قدمی گروپ میں شامل ہونا",
}
FEET = {
    "en": "Check feet every evening",
    "hi": "हर शाम पैर देखना",
    "ur": "ہر شام پاؤں دیکھنا",
}
SECOND_GOAL = {
    "en": "Fewer sweets with tea",
    "hi": "चाय के साथ कम मिठाई",
    "ur": "چائے کے ساتھ کم مٹھائی",
}
CONTACT = {"en": "Practice nurse", "hi": "प्रैक्टिस नर्स", "ur": "پریکٹس نرس"}
OWN_WORDS = {
    "en": "I want to walk to the mosque again without pain",
    "hi": "मैं फिर से बिना दर्द के मंदिर तक चलना चाहता हूँ",
    "ur": "میں پھر سے بغیر درد کے مسجد تک چلنا چاہتا ہوں",
}
NEW_GOAL = {
    "en": "Walk 15 minutes after dinner",
    "hi": "रात के खाने के बाद 15 मिनट टहलना",
    "ur": "رات کے کھانے کے بعد 15 منٹ چہل قدمی",
}


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def words(t: Translator, message: str, **params: object) -> str:
    """A message's words as the reader sees them: no tags, no direction marks."""
    return html.unescape(re.sub(r"<[^>]+>", "", plain(t._(message, **params))))


def seen(message: SentMessage) -> str:
    return plain(message.plain_text or "")


def check_language(text: str | None, language: str) -> None:
    if language != "en":
        assert_no_english(text or "")


async def joined_patient(
    bot: BotUnderTest, language: str, user_id: int = 950_001
) -> tuple[UserSim, int]:
    issued = await bot.register_patient(language=language, nhs_number=NHS, name="Irfan Ahmed")
    user = UserSim(user_id, first_name="Irfan")
    await join_with_code(bot, user, issued.code, language)
    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None
        # On a sulfonylurea or insulin: NICE's HbA1c target is 53 mmol/mol.
        person.diabetes_type, person.treatment = "type2", "hypo_risk"
        session.add(person)
        practice = await session.get(Practice, "Y01234")
        assert practice is not None
        practice.staff_chat_id = STAFF_CHAT
        session.add(practice)
        # The welcome follow-up is not what these tests are about.
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return user, issued.person_id


async def joined_staff(
    bot: BotUnderTest,
    role: str,
    name: str,
    user_id: int,
    *,
    language: str = "en",
    practice: str | None = "Y01234",
) -> tuple[UserSim, int]:
    issued = await bot.invite_staff(role, name, practice=practice)
    user = UserSim(user_id, first_name=name.split()[-1])
    await join_with_code(bot, user, issued.code, language)
    async with bot.db.session() as session:
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return user, issued.person_id


async def add_results(bot: BotUnderTest, person_id: int) -> None:
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await care_results.record(
            session,
            person,
            [
                ResultValue(Measure.HBA1C, date(2026, 12, 1), 62),
                ResultValue(Measure.HBA1C, date(2025, 12, 3), 58),
                ResultValue(Measure.BLOOD_PRESSURE, date(2026, 12, 1), 150, 85),
            ],
            source="test",
            actor="api:test",
            now=datetime.now(UTC),
        )


async def book_review(
    bot: BotUnderTest, starts_at: datetime, *, clinician: str, external_id: str = "EMIS-R1"
) -> int:
    record = AppointmentRecord(
        external_id=external_id,
        kind="annual_review",
        starts_at=starts_at,
        nhs_number=NHS,
        location="Riverside Surgery",
        address="12 High Street",
        clinician=clinician,
        directions="",
        phone="01632 960123",
    )
    async with bot.db.session() as session:
        outcome = await appointments.save(
            session,
            record,
            plans=bot.ctx.reminder_plans(),
            now=datetime.now(UTC),
            actor="api:test",
            source="test",
            default_zone=LONDON,
        )
        assert outcome.appointment.id is not None
        # The appointment reminders are another test's business.
        await outbox.cancel_pending_for_topic(
            session, appointments.topic(outcome.appointment.id), reason="test"
        )
        return outcome.appointment.id


async def run_job(bot: BotUnderTest, moment: datetime) -> None:
    """The scheduler's care-planning job, as it runs every 5 minutes."""
    with time_machine.travel(moment, tick=False):
        await care_planning(DispatchLeadership(bot.db), bot.db, bot.ctx.reminder_plans())


async def dispatch_at(bot: BotUnderTest, moment: datetime) -> None:
    with time_machine.travel(moment, tick=False):
        await bot.dispatch()


async def summaries(bot: BotUnderTest) -> list[OutboxMessage]:
    async with bot.db.session() as session:
        return list(
            (
                await session.exec(
                    select(OutboxMessage).where(
                        col(OutboxMessage.template_key) == "pre_review_summary"
                    )
                )
            ).all()
        )


async def answer_agenda(bot: BotUnderTest, person_id: int, own_words: str, *, full: bool) -> None:
    """The person's answers, as the agenda's steps save them (the agenda's chat is tested with
    the pre-review messages)."""
    now = datetime.now(UTC)
    async with bot.db.session() as session:
        prep = await pre_review.current(session, person_id, now=now)
        assert prep is not None
        pre_review.toggle_topic(prep, AgendaTopic.FEET, now)
        pre_review.toggle_topic(prep, AgendaTopic.SUGAR, now)
        pre_review.topics_done(prep, now)
        pre_review.save_words(prep, own_words, now)
        if full:
            pre_review.save_confidence(prep, 4, now)
            pre_review.save_hypos(prep, HypoAnswer.NEEDED_HELP, now)
            pre_review.save_drives(prep, True, now)
            await pre_review.save_mood(session, prep, AgendaStep.MOOD_INTEREST, 2, now)
            await pre_review.save_mood(session, prep, AgendaStep.MOOD_DOWN, 2, now)
        session.add(prep)


# The clinician's summary ------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGS)
async def test_the_named_clinician_gets_the_summary_two_days_before_at_eight_with_flags(
    bot: BotUnderTest, language: str
):
    review_at = local(2027, 2, 10, 10, 30)  # a Wednesday
    with time_machine.travel(local(2027, 1, 20, 9, 0), tick=False):
        _, person_id = await joined_patient(bot, language)
        # The nurse reads in her own language; the summary is written in it.
        nurse, _ = await joined_staff(bot, "nurse", "Nurse Patel", 950_101, language=language)
        await add_results(bot, person_id)
        await book_review(bot, review_at, clinician="Nurse Patel")
    await run_job(bot, local(2027, 1, 27, 10, 0))  # 14 days before: the results and the agenda
    with time_machine.travel(local(2027, 1, 28, 19, 0), tick=False):
        await answer_agenda(bot, person_id, OWN_WORDS[language], full=True)
    before = len(bot.said_to(nurse.user_id))

    # Not a minute early.
    await run_job(bot, local(2027, 2, 8, 7, 55))
    assert await summaries(bot) == []
    await run_job(bot, local(2027, 2, 8, 8, 0))
    await dispatch_at(bot, local(2027, 2, 8, 8, 0))
    [summary] = bot.said_to(nurse.user_id)[before:]
    # The practice's staff chat does not get a copy: the named clinician has it.
    assert bot.said_to(STAFF_CHAT) == []

    t = translator(language)
    text = seen(summary)
    lines = text.split("\n")
    assert lines[0] == words(t, "📋 <b>Before the review: %(name)s</b>", name="Irfan Ahmed")
    # Flags first.
    assert lines[1] == words(t, "🚩 <b>Severe hypo in the last 3 months</b>")
    assert lines[2] == words(t, "🚩 <b>Low mood: PHQ-2 score %(score)s</b>", score="4/6")
    assert "943 476 5919" in text  # staff see the NHS number of their practice's patient
    assert (
        words(t, "born %(date)s (%(age)s)", date=t.date(date(1984, 3, 2), "medium"), age=42) in text
    )
    assert t.time(review_at, LONDON) in text and "Nurse Patel" in text
    # One line per result: value, date, target, mark, change since last year.
    hba1c = next(line for line in lines if line.startswith(words(t, "HbA1c") + " 62"))
    assert "mmol/mol" in hba1c and t.date(date(2026, 12, 1), "medium") in hba1c
    assert words(t, "target %(target)s", target="≤53") in hba1c and "⚠️" in hba1c
    assert (
        words(t, "%(change)s since %(when)s", change="+4", when=t.date(date(2025, 12, 3), "MMM y"))
        in hba1c
    )
    bp = next(line for line in lines if line.startswith(words(t, "BP") + " 150/85"))
    assert words(t, "target %(target)s", target="<140/90") in bp and "⚠️" in bp
    missing = next(line for line in lines if words(t, "foot check") in line)
    assert words(t, "eye screening") in missing and words(t, "cholesterol") in missing
    # Their topics in their order, their words, confidence, hypos, driving, mood.
    topics = words(t, "1. ") + words(t, "feet") + " · 2. " + words(t, "sugar levels")
    assert topics in text
    assert f"“{OWN_WORDS[language]}”" in text
    assert words(t, "<b>Confidence:</b> %(score)s out of 10", score=4) in text
    assert (
        words(
            t,
            "<b>Hypos in 3 months:</b> %(answer)s · drives",
            answer=t._("one needed someone's help"),
        )
        in text
    )
    assert (
        words(
            t,
            "<b>Mood (PHQ-2):</b> little interest %(interest)s · feeling down %(down)s",
            interest="2/3",
            down="2/3",
        )
        in text
    )
    assert words(t, "⏳ Agenda not finished: the answers so far are above.") not in text
    # One screen: short lines, nothing long.
    assert len(lines) <= 30 and len(text) < 1500


async def test_without_a_named_clinician_the_practice_staff_chat_gets_it_in_english(
    bot: BotUnderTest,
):
    review_at = local(2027, 2, 10, 10, 30)
    with time_machine.travel(local(2027, 1, 20, 9, 0), tick=False):
        _, person_id = await joined_patient(bot, "ur")
        await joined_staff(bot, "nurse", "Nurse Patel", 950_102)
        await add_results(bot, person_id)
        # Nobody at the practice is called this in diabridge.
        await book_review(bot, review_at, clinician="Dr Someone Else")
    await run_job(bot, local(2027, 1, 27, 10, 0))
    with time_machine.travel(local(2027, 1, 28, 19, 0), tick=False):
        await answer_agenda(bot, person_id, OWN_WORDS["ur"], full=False)
    await run_job(bot, local(2027, 2, 8, 8, 0))
    await dispatch_at(bot, local(2027, 2, 8, 8, 0))
    [summary] = bot.said_to(STAFF_CHAT)
    text = seen(summary)
    t = translator("en")
    assert text.startswith("📋 Before the review: Irfan Ahmed")
    # A person's own words are quoted as they wrote them, in Urdu.
    assert f"“{OWN_WORDS['ur']}”" in text
    assert "🚩" not in text
    assert words(t, "⏳ Agenda not finished: the answers so far are above.") in text
    assert "Review: Wednesday, 10 February 2027 at 10:30 with Dr Someone Else" in text


async def test_the_care_planning_job_runs_every_five_minutes_with_the_processes_plans(
    bot: BotUnderTest,
):
    plans = bot.ctx.reminder_plans()
    dispatcher = OutboxDispatcher(bot.db, bot.application.bot, bot.settings, "test")
    scheduler = build_scheduler(dispatcher, DispatchLeadership(bot.db), 1.0, plans=plans)
    job = scheduler.get_job("care-planning")
    assert job is not None and job.func is care_planning
    assert job.trigger.interval == timedelta(minutes=5)
    assert job.args[2] is plans


# /careplan, /myplan -----------------------------------------------------------------------


def filled_form(language: str, *, nhs: str = NHS, review: str = "10/02/2028") -> str:
    return "\n".join(
        [
            f"/careplan {nhs}",
            f"Goal: {GOAL[language]}",
            f"Action: {WALKING_GROUP[language]} | you",
            f"Action: {FEET[language]} | Carer",
            "Target HbA1c: 58",
            "Target BP: 140/90",
            f"Next review: {review}",
            f"Contact: {CONTACT[language]} | 0121 496 0000",
        ]
    )


async def plans_of(bot: BotUnderTest, person_id: int) -> list[CarePlan]:
    async with bot.db.session() as session:
        return list(
            (await session.exec(select(CarePlan).where(col(CarePlan.person_id) == person_id))).all()
        )


@pytest.mark.parametrize("language", LANGS)
async def test_a_nurse_records_the_plan_and_the_person_and_their_carer_see_it(
    bot: BotUnderTest, language: str
):
    t = translator(language)
    en = translator("en")
    with time_machine.travel(local(2027, 2, 10, 12, 0), tick=False):
        patient, person_id = await joined_patient(bot, language)
        code = await invite_carer(bot, patient, language)
        carer = UserSim(950_003, first_name="Elsie")
        await join_with_code(bot, carer, code, language)
        nurse, nurse_id = await joined_staff(bot, "nurse", "Nurse Patel", 950_103)

        # The form to copy.
        await bot.send(nurse.text("/careplan"))
        form = bot.last(nurse.user_id)
        assert "Goal: Walk for 30 minutes five days a week" in seen(form)
        assert any(e["type"] == "pre" for e in form.entities)

        # A form with mistakes: every problem named by its line, nothing saved.
        bad = "\n".join(
            [
                "/careplan 943 476 5918",
                f"Goal: {GOAL[language]}",
                f"Action: {WALKING_GROUP[language]} | you",
                f"Action: {FEET[language]} | surgeon",
                "Target HbA1c: 5",
                "Target BP: 140/90",
                "Next review: 01/01/2027",
            ]
        )
        await bot.send(nurse.text(bad))
        problems = seen(bot.last(nurse.user_id))
        assert problems.startswith(words(en, "⚠️ <b>Not saved.</b>"))
        by_line = {int(m[1]): m[2] for m in re.finditer(r"• Line (\d+) \([^)]*\): (.*)", problems)}
        assert by_line == {
            1: words(en, "the NHS number's check digit does not match: please copy it again"),
            4: words(
                en,
                "“%(who)s” is not one of: %(people)s",
                who="surgeon",
                people=en._(
                    "person, carer, GP, practice nurse, diabetes team, pharmacist or dietitian"
                ),
            ),
            5: words(
                en,
                "%(target)s target “%(value)s”: use a number from %(low)s to %(high)s %(unit)s",
                target="HbA1c",
                value="5",
                low="40",
                high="100",
                unit="mmol/mol",
            ),
            7: words(en, "the next review date must be in the future"),
        }
        assert await plans_of(bot, person_id) == []

        # The form filled in well: a preview with Save and Cancel.
        await bot.send(nurse.text(filled_form(language)))
        preview = bot.last(nurse.user_id)
        assert seen(preview).startswith("👀 Preview: care plan for Irfan Ahmed")
        assert f"Action: {FEET[language]} | carer" in seen(preview)
        assert button_texts(bot.fake, preview) == ["💾 Save", "✖ Cancel"]
        assert await plans_of(bot, person_id) == []
        save = press(bot.fake, nurse, preview, "Save")
        # A second press, as a quick double tap sends it, before the preview changes.
        save_again = press(bot.fake, nurse, preview, "Save")
        await bot.send(save)
        saved = bot.last(nurse.user_id)
        assert saved.message_id == preview.message_id  # the preview becomes the confirmation
        assert seen(saved).startswith("✅ Care plan saved for Irfan Ahmed.")
        # Every 4 weeks until the next review a year on: 13 check-ins on the one goal.
        assert "13 goal check-ins are planned (every 4 weeks on each goal)." in seen(saved)
        # A second press on the same Save saves nothing more.
        await bot.send(save_again)
        assert (
            seen(bot.last(nurse.user_id)) == "✅ This care plan for Irfan Ahmed is already saved."
        )

    [plan] = await plans_of(bot, person_id)
    async with bot.db.session() as session:
        [goal] = (await session.exec(select(CareGoal))).all()
        audit_actions = [
            row.action
            for row in (await session.exec(select(AuditEvent))).all()
            if row.person_id == person_id and row.action.startswith("care_plan.")
        ]
        check_ins = await outbox.for_topic(session, care_plans.check_in_topic(person_id))
    assert plan.recorded_by == f"person:{nurse_id}" and plan.next_review_on == date(2028, 2, 10)
    assert plan.targets == {"hba1c": 58, "blood_pressure": [140, 90]}
    assert plan.contacts == [{"name": CONTACT[language], "phone": "0121 496 0000"}]
    assert goal.goal == GOAL[language]
    assert goal.actions == [
        {"action": WALKING_GROUP[language], "who": "person"},
        {"action": FEET[language], "who": "carer"},
    ]
    assert audit_actions == ["care_plan.preview", "care_plan.record"]
    assert sum(row.template_key == "goal_check_in" for row in check_ins) == 13

    # The person and their carer hear the plan is ready, in their language.
    await dispatch_at(bot, local(2027, 2, 10, 12, 1))
    ready = bot.last(patient.user_id)
    assert seen(ready).startswith(words(t, "📋 <b>Your care plan from your review is ready.</b>"))
    check_language(ready.text, language)
    carer_ready = bot.last(carer.user_id)
    assert seen(carer_ready).startswith(
        words(t, "📋 <b>%(name)s's care plan from their review is ready.</b>", name="Irfan Ahmed")
    )
    check_language(carer_ready.text, language)

    # The button and /myplan show the plan in their words.
    await bot.send(press(bot.fake, patient, ready, t._("📋 See the care plan")))
    shown = bot.last(patient.user_id)
    await bot.send(patient.text("/myplan"))
    assert seen(bot.last(patient.user_id)) == seen(shown)
    text = seen(shown)
    assert text.startswith(words(t, "📋 <b>Your care plan</b>"))
    assert words(t, "🎯 <b>Goal %(number)s:</b> %(goal)s", number=1, goal=GOAL[language]) in text
    assert (
        words(t, "   • %(action)s — <i>%(who)s</i>", action=WALKING_GROUP[language], who=t._("you"))
        in text
    )
    assert (
        words(t, "   • %(action)s — <i>%(who)s</i>", action=FEET[language], who=t._("your carer"))
        in text
    )
    assert "58 mmol/mol" in text and "140/90" in text
    assert t.date(date(2028, 2, 10), "long") in text
    assert CONTACT[language] in text and "0121 496 0000" in text
    check_language(shown.text, language)

    await bot.send(carer.text("/myplan"))
    theirs = bot.last(carer.user_id)
    text = seen(theirs)
    assert text.startswith(words(t, "📋 <b>%(name)s's care plan</b>", name="Irfan Ahmed"))
    assert (
        words(
            t, "   • %(action)s — <i>%(who)s</i>", action=WALKING_GROUP[language], who="Irfan Ahmed"
        )
        in text
    )
    assert (
        words(
            t,
            "   • %(action)s — <i>%(who)s</i>",
            action=FEET[language],
            who=t._("you, their carer"),
        )
        in text
    )
    check_language(theirs.text, language)


async def test_cancel_saves_nothing_and_other_practices_patients_are_not_found(
    bot: BotUnderTest,
):
    with time_machine.travel(local(2027, 2, 10, 12, 0), tick=False):
        patient, person_id = await joined_patient(bot, "en")
        nurse, _ = await joined_staff(bot, "nurse", "Nurse Patel", 950_104)
        other_gp, _ = await joined_staff(bot, "gp", "Dr Jones", 950_105, practice="Y09999")
        specialist, _ = await joined_staff(bot, "specialist", "Sam Shah", 950_106, practice=None)

        # A patient typing /careplan is refused, and told where their own plan is.
        await bot.send(patient.text(filled_form("en")))
        refused = seen(bot.last(patient.user_id))
        assert refused.startswith("/careplan is for GPs, practice nurses and the diabetes team")
        assert "/myplan" in refused
        assert await plans_of(bot, person_id) == []

        # The example form, copied as it is (it names this patient's number), is a working form.
        await bot.send(nurse.text("/careplan"))
        example = bot.last(nurse.user_id)
        [pre] = [e for e in example.entities if e["type"] == "pre"]
        # Entity offsets count UTF-16 units (the emoji before the form is two).
        units = (example.plain_text or "").encode("utf-16-le")
        start, end = pre["offset"] * 2, (pre["offset"] + pre["length"]) * 2
        copied = units[start:end].decode("utf-16-le")
        assert copied.startswith("/careplan 943 476 5919\nGoal: ")
        await bot.send(nurse.text(copied))
        assert seen(bot.last(nurse.user_id)).startswith("👀 Preview: care plan for Irfan Ahmed")

        await bot.send(nurse.text(filled_form("en")))
        await bot.send(press(bot.fake, nurse, bot.last(nurse.user_id), "Cancel"))
        assert seen(bot.last(nurse.user_id)) == "✖ Not saved. Nothing was recorded."
        assert await plans_of(bot, person_id) == []

        # A GP at another practice is told exactly what they would be told of an unknown
        # number: the form never says who is registered elsewhere.
        await bot.send(other_gp.text(filled_form("en")))
        answer = seen(bot.last(other_gp.user_id))
        assert (
            "• Line 1 (/careplan 943 476 5919): no patient of your practice has this NHS number"
            in answer
        )

        # The specialist team record plans for people of any practice.
        await bot.send(specialist.text(filled_form("en")))
        assert seen(bot.last(specialist.user_id)).startswith("👀 Preview: care plan for")

        # Staff asking for /myplan are pointed to /careplan.
        await bot.send(nurse.text("/myplan"))
        assert "/careplan" in seen(bot.last(nurse.user_id))


@pytest.mark.parametrize("language", LANGS)
async def test_a_patient_without_a_plan_is_told_what_to_ask_at_the_review(
    bot: BotUnderTest, language: str
):
    t = translator(language)
    patient, _ = await joined_patient(bot, language)
    await bot.send(patient.text("/myplan"))
    reply = bot.last(patient.user_id)
    assert seen(reply).startswith(words(t, "📋 You do not have a care plan here yet."))
    check_language(reply.text, language)


# Goal check-ins ---------------------------------------------------------------------------


async def record_plan(bot: BotUnderTest, person_id: int, language: str, *, next_review: date):
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        plan = care_plans.check_plan(
            goals=[
                {"goal": GOAL[language], "actions": [{"action": FEET[language], "who": "person"}]},
                {"goal": SECOND_GOAL[language], "actions": []},
            ],
            targets={},
            next_review_on=next_review,
            contacts=[{"name": CONTACT[language], "phone": "0121 496 0000"}],
            today=datetime.now(UTC).date(),
        )
        return await care_plans.record(
            session,
            person,
            plan,
            actor="api:test",
            check_ins=bot.ctx.reminder_plans().goal_check_ins,
            now=datetime.now(UTC),
        )


async def check_in_rows(bot: BotUnderTest) -> list[GoalCheckIn]:
    async with bot.db.session() as session:
        return list(
            (await session.exec(select(GoalCheckIn).order_by(col(GoalCheckIn.round)))).all()
        )


def now_shown(bot: BotUnderTest, user: UserSim, message: SentMessage) -> SentMessage:
    """A message as it is now: a button's answer replaces the message it was under."""
    return next(m for m in bot.said_to(user.user_id) if m.message_id == message.message_id)


def check_in_for(bot: BotUnderTest, user: UserSim, goal: str) -> SentMessage:
    return next(m for m in reversed(bot.said_to(user.user_id)) if goal in seen(m))


@pytest.mark.parametrize("language", LANGS)
async def test_check_ins_every_four_weeks_reach_the_next_summary(bot: BotUnderTest, language):
    t = translator(language)
    with time_machine.travel(local(2027, 2, 10, 12, 0), tick=False):
        patient, person_id = await joined_patient(bot, language)
        recorded = await record_plan(bot, person_id, language, next_review=date(2027, 5, 12))
    first, second = recorded.goals
    # At 4, 8 and 12 weeks, 18:00 on their clock (British Summer Time from the second), before
    # the review on 12 May: three on each goal.
    assert recorded.check_ins == 6
    await dispatch_at(bot, local(2027, 2, 10, 12, 1))  # "your care plan is ready"

    before = len(bot.said_to(patient.user_id))
    await dispatch_at(bot, local(2027, 3, 10, 17, 59))
    assert len(bot.said_to(patient.user_id)) == before
    await dispatch_at(bot, local(2027, 3, 10, 18, 0))
    asked = bot.said_to(patient.user_id)[before:]
    assert len(asked) == 2  # one per goal
    on_first = check_in_for(bot, patient, GOAL[language])
    assert seen(on_first).startswith(words(t, "🎯 <b>How is your goal going?</b>"))
    assert f"“{GOAL[language]}”" in seen(on_first)
    assert button_texts(bot.fake, on_first) == [
        t._("✅ On track"),
        t._("🙂 Partly"),
        t._("⏳ Not yet"),
        t._("✏️ Change my goal"),
    ]
    check_language(on_first.text, language)

    with time_machine.travel(local(2027, 3, 10, 18, 30), tick=False):
        await bot.send(press(bot.fake, patient, on_first, t._("✅ On track")))
        answered = now_shown(bot, patient, on_first)
        assert words(
            t, "🎉 That is great to hear. Keep going! Your answer is kept for your review."
        ) in seen(answered)
        assert "✓ " + t._("✅ On track") in button_texts(bot.fake, answered)
        check_language(answered.text, language)

        on_second = check_in_for(bot, patient, SECOND_GOAL[language])
        await bot.send(press(bot.fake, patient, on_second, t._("✏️ Change my goal")))
        asked_words = now_shown(bot, patient, on_second)
        assert words(
            t,
            "✏️ What would you like your goal to be? Please write it in your own words, in one "
            "message (up to %(limit)s characters).",
            limit=300,
        ) in seen(asked_words)
        check_language(asked_words.text, language)
        # Too long: said why, and asked again; nothing saved yet.
        await bot.send(patient.text("x" * 301))
        again = seen(bot.last(patient.user_id))
        assert again.startswith(
            words(
                t,
                "That is longer than %(limit)s characters. Please write your new goal more "
                "briefly.",
                limit=300,
            )
        )
        await bot.send(patient.text(NEW_GOAL[language]))
        kept = bot.last(patient.user_id)
        assert seen(kept).startswith(
            words(
                t, "✅ Thank you. Your new goal is saved: %(goal)s", goal=f"“{NEW_GOAL[language]}”"
            )
        )
        check_language(kept.text.replace(NEW_GOAL[language], ""), language)
        # What they type next is not a goal any more: the library answers it.
        await bot.send(patient.text(NEW_GOAL[language]))
    rows = await check_in_rows(bot)
    assert [(r.goal_id, r.round, r.answer, r.new_goal) for r in rows] == [
        (first.id, 1, "on_track", None),
        (second.id, 1, "change", NEW_GOAL[language]),
    ]

    # Eight weeks: "not yet" gets encouragement and the practice nurse's number.
    await dispatch_at(bot, local(2027, 4, 7, 18, 0))
    with time_machine.travel(local(2027, 4, 7, 19, 0), tick=False):
        on_second = check_in_for(bot, patient, SECOND_GOAL[language])
        await bot.send(press(bot.fake, patient, on_second, t._("⏳ Not yet")))
    not_yet = seen(now_shown(bot, patient, on_second))
    assert (
        words(t, "If you would like some help with this goal, talk to your practice nurse.")
        in not_yet
    )
    assert CONTACT[language] in not_yet and "0121 496 0000" in not_yet
    check_language(now_shown(bot, patient, on_second).text, language)
    old_round_two = check_in_for(bot, patient, GOAL[language])

    # The next review: the summary shows every answer since the plan.
    with time_machine.travel(local(2027, 4, 8, 9, 0), tick=False):
        await book_review(bot, local(2027, 5, 12, 10, 30), clinician="", external_id="EMIS-R2")
    await run_job(bot, local(2027, 4, 28, 10, 0))
    await run_job(bot, local(2027, 5, 10, 8, 0))
    await dispatch_at(bot, local(2027, 5, 10, 8, 0))
    [summary] = bot.said_to(STAFF_CHAT)
    text = seen(summary)
    lines = text.split("\n")
    assert "Goal check-ins since the last plan" in lines
    goal_one = lines.index(f"🎯 “{GOAL[language]}”")
    assert lines[goal_one + 1].strip() == "10 Mar on track"
    goal_two = lines.index(f"🎯 “{SECOND_GOAL[language]}”")
    assert lines[goal_two + 1].strip() == "10 Mar wants to change it · 7 Apr not yet"
    assert lines[goal_two + 2].strip() == f"✏️ new goal in their words: “{NEW_GOAL[language]}”"
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        built = await pre_review.summary_for(session, person, now=datetime.now(UTC))
    assert built is not None
    assert [[a["answer"] for a in g.answers] for g in built.goals] == [
        ["on_track"],
        ["change", "not_yet"],
    ]

    # After the review a new plan: the old check-in's buttons are answered clearly, and change
    # nothing.
    with time_machine.travel(local(2027, 5, 12, 12, 0), tick=False):
        await record_plan(bot, person_id, language, next_review=date(2028, 5, 10))
        await bot.send(press(bot.fake, patient, old_round_two, t._("✅ On track")))
    stale = now_shown(bot, patient, old_round_two)
    assert seen(stale) == words(
        t,
        "This check-in belongs to an earlier care plan, so nothing was saved. Send /myplan "
        "to see your plan now.",
    )
    check_language(stale.text, language)
    assert len(await check_in_rows(bot)) == 3


async def test_a_nurse_reading_urdu_previews_and_saves_the_form(bot: BotUnderTest):
    """The preview is read back on Save: in a right-to-left chat its lines carry direction
    marks, which are not part of the form."""
    with time_machine.travel(local(2027, 2, 10, 12, 0), tick=False):
        _, person_id = await joined_patient(bot, "ur")
        nurse, _ = await joined_staff(bot, "nurse", "Nurse Patel", 950_107, language="ur")
        await bot.send(nurse.text(filled_form("ur")))
        preview = bot.last(nurse.user_id)
        assert "\u200f" in (preview.text or "")
        save, _ = button_texts(bot.fake, preview)
        await bot.send(nurse.press(preview, save))
    [plan] = await plans_of(bot, person_id)
    assert plan.next_review_on == date(2028, 2, 10)
    assert plan.contacts == [{"name": CONTACT["ur"], "phone": "0121 496 0000"}]
    async with bot.db.session() as session:
        [goal] = (await session.exec(select(CareGoal))).all()
    assert goal.goal == GOAL["ur"]
    assert [a["who"] for a in goal.actions] == ["person", "carer"]
