"""Care planning end to end, one person's year in each language: the practice imports results
from a CSV file (twice: nothing doubles), books the annual review, the results arrive 14 days
before with the right targets and the missing checks named, the agenda is answered in steps with
a restart in the middle and a severe hypo that reaches the driving page and the team's queue,
the nurse gets the summary 2 days before, records the care plan with /careplan, the person sees
it with /myplan, and answers the 4-weekly check-in, which the next summary shows."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.app import build_application
from bot.i18n import translator
from bot.models import (
    AdviceKind,
    AdviceRequest,
    AdviceStatus,
    Appointment,
    CareResult,
    GoalCheckIn,
    Person,
    PreReview,
)
from bot.services import csv_import, pre_review
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, press, running_bot
from tests.test_care_plan_chat import (
    GOAL,
    book_review,
    dispatch_at,
    filled_form,
    joined_patient,
    joined_staff,
    run_job,
)

LONDON = ZoneInfo("Europe/London")
REVIEW_AT = datetime(2027, 2, 10, 10, 30, tzinfo=LONDON)
OWN_WORDS = {
    "en": "I am scared of having a hypo at work",
    "hi": "मुझे काम पर हाइपो होने का डर है",
    "ur": "مجھے کام پر ہائپو ہونے کا ڈر ہے",
}
RESULTS_CSV = """nhs_number,measure,value,unit,outcome,taken_on
943 476 5919,hba1c,62,mmol/mol,,2027-01-06
943 476 5919,hba1c,7.5,%,,2026-01-08
943 476 5919,blood_pressure,150/85,mmHg,,2027-01-06
943 476 5919,cholesterol,4.4,mmol/L,,2027-01-06
943 476 5919,egfr,75,,,2027-01-06
943 476 5919,urine_acr,1.2,mg/mmol,,2027-01-06
943 476 5919,bmi,26.1,,,2027-01-06
943 476 5919,smoking,,,never,2027-01-06
"""


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def seen(text: str | None) -> str:
    return plain(text or "")


def check_language(text: str | None, language: str) -> None:
    if language != "en":
        assert_no_english(text or "")


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


async def import_file(bot: BotUnderTest, path: Path) -> csv_import.ImportReport:
    return await csv_import.import_results(
        bot.db, path, now=datetime.now(UTC), actor="cli:test", default_zone=LONDON
    )


@pytest.mark.parametrize("language", ["en", "hi", "ur"])
async def test_a_year_of_care_planning(bot: BotUnderTest, tmp_path: Path, language: str):
    t = translator(language)
    with time_machine.travel(local(2027, 1, 11, 9, 0), tick=False):
        patient, person_id = await joined_patient(bot, language)
        nurse, _ = await joined_staff(bot, "nurse", "Nurse Patel", 960_101)
        # The practice's system sends this year's results and last year's HbA1c, then the same
        # file again the next night.
        results_file = tmp_path / "results.csv"
        results_file.write_text(RESULTS_CSV, encoding="utf-8")
        first = await import_file(bot, results_file)
        again = await import_file(bot, results_file)
        assert not first.bad_rows and not again.bad_rows
        async with bot.db.session() as session:
            kept = (await session.exec(select(CareResult))).all()
        assert len(kept) == 8
        await book_review(bot, REVIEW_AT, clinician="Nurse Patel")

    # 14 days before at 10:00: the results, with NICE's 53 for someone on a sulfonylurea or
    # insulin, the change since last year (7.5% is 58 mmol/mol), and the checks not done.
    await run_job(bot, local(2027, 1, 27, 10, 0))
    await dispatch_at(bot, local(2027, 1, 27, 10, 0))
    results = bot.last(patient.user_id)
    text = seen(results.plain_text)
    assert "62 mmol/mol" in text and "53" in text and "150/85" in text
    last_year = t.date(date(2026, 1, 8), "MMMM y")
    change = t._(
        "Up %(change)s from %(before)s in %(month)s.", change=4, before=58, month=last_year
    )
    assert seen(change) in text
    feet = t._(
        "🦶 Your feet were not checked in the last %(months)s months: ask at your review.",
        months=15,
    )
    assert seen(feet) in text
    check_language(results.plain_text, language)

    # The agenda, answered in steps.
    with time_machine.travel(local(2027, 1, 27, 19, 0), tick=False):
        await bot.send(press(bot.fake, patient, results, t._("📝 Answer 5 short questions")))
        await bot.send(press(bot.fake, patient, bot.last(patient.user_id), t._("Feet")))
        await bot.send(press(bot.fake, patient, bot.last(patient.user_id), t._("Driving")))
        await bot.send(press(bot.fake, patient, bot.last(patient.user_id), t._("✅ Done")))
        await bot.send(patient.text(OWN_WORDS[language]))
        check_language(bot.last(patient.user_id).plain_text, language)

    # The process restarts in the middle; /review goes on from the confidence question.
    restarted = build_application(bot.ctx)
    async with restarted:
        again_bot = BotUnderTest(fake=bot.fake, application=restarted, ctx=bot.ctx)
        with time_machine.travel(local(2027, 1, 28, 8, 0), tick=False):
            await again_bot.send(patient.text("/review"))
            question = again_bot.last(patient.user_id)
            assert seen(
                t._("How confident do you feel about managing your diabetes day to day?")
            ) in seen(question.plain_text)
            await again_bot.send(patient.press(question, "4"))
            await again_bot.send(
                press(
                    bot.fake,
                    patient,
                    again_bot.last(patient.user_id),
                    t._("Yes, one that needed someone else's help"),
                )
            )
            drive = again_bot.last(patient.user_id)
            assert button_texts(bot.fake, drive) == [t._("🚗 Yes, I drive"), t._("No")]
            await again_bot.send(press(bot.fake, patient, drive, t._("🚗 Yes, I drive")))
            said_since = [seen(m.plain_text) for m in bot.said_to(patient.user_id)[-4:]]
            assert any("DVLA" in message for message in said_since)  # the driving page
            for _ in range(2):
                mood = again_bot.last(patient.user_id)
                await again_bot.send(press(bot.fake, patient, mood, t._("Several days")))
                check_language(mood.plain_text, language)
            finished = again_bot.last(patient.user_id)
            check_language(finished.plain_text, language)

    async with bot.db.session() as session:
        agenda = (
            await session.exec(select(PreReview).where(col(PreReview.person_id) == person_id))
        ).one()
        follow_up = (
            await session.exec(
                select(AdviceRequest).where(col(AdviceRequest.kind) == AdviceKind.HYPO)
            )
        ).one()
    assert agenda.topics == ["feet", "driving"] and agenda.own_words == OWN_WORDS[language]
    assert (agenda.confidence, agenda.hypos, agenda.drives) == (4, "needed_help", True)
    assert (agenda.mood_interest, agenda.mood_down) == (1, 1)
    assert agenda.agenda_finished_at is not None
    # The severe hypo is in the team's queue, due within one working day, marked as a driver.
    assert follow_up.status == AdviceStatus.OPEN and follow_up.drives is True
    assert follow_up.patient_id == person_id
    assert follow_up.due_at == local(2027, 1, 28, 17, 0)

    # Two days before at 08:00, the summary reaches the nurse named on the booking.
    await run_job(bot, local(2027, 2, 8, 8, 0))
    await dispatch_at(bot, local(2027, 2, 8, 8, 0))
    summary = seen(bot.last(nurse.user_id).plain_text)
    assert "Irfan Ahmed" in summary and "🚩" in summary
    assert OWN_WORDS[language] in summary
    assert "+4 since" in summary

    # After the review the nurse records the plan; the person is told and sees it.
    with time_machine.travel(local(2027, 2, 10, 12, 0), tick=False):
        await bot.send(nurse.text(filled_form(language)))
        await bot.send(press(bot.fake, nurse, bot.last(nurse.user_id), "💾 Save"))
    await dispatch_at(bot, local(2027, 2, 10, 12, 1))
    ready = bot.last(patient.user_id)
    check_language(ready.plain_text, language)
    with time_machine.travel(local(2027, 2, 10, 12, 5), tick=False):
        await bot.send(patient.text("/myplan"))
    my_plan = seen(bot.last(patient.user_id).plain_text)
    assert GOAL[language] in my_plan and "58" in my_plan
    check_language(my_plan, language)

    # Four weeks later at 18:00, the check-in on the goal; the answer is kept.
    await dispatch_at(bot, local(2027, 3, 10, 18, 0))
    check_in = bot.last(patient.user_id)
    assert GOAL[language] in seen(check_in.plain_text)
    check_language(check_in.plain_text, language)
    with time_machine.travel(local(2027, 3, 10, 19, 0), tick=False):
        await bot.send(press(bot.fake, patient, check_in, t._("✅ On track")))
    async with bot.db.session() as session:
        answers = (await session.exec(select(GoalCheckIn))).all()
        assert [(a.round, a.answer) for a in answers] == [(1, "on_track")]
        # The next review's summary shows how the goal went.
        person = await session.get(Person, person_id)
        review = (await session.exec(select(Appointment))).one()
        assert person is not None
        summary_now = await pre_review.build_summary(
            session, person, review, None, now=local(2027, 3, 11).astimezone(UTC)
        )
    assert summary_now.goals[0].goal == GOAL[language]
    assert [a["answer"] for a in summary_now.goals[0].answers] == ["on_track"]
