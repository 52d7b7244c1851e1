"""The pre-review plan as a service, without Telegram: when the results go (14 days before at
10:00, or at once for a review booked late), the one nudge, the summary two days before at 08:00
to the named clinician or the practice, and goal check-ins every 4 weeks until the next review."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.models import (
    Appointment,
    AppointmentStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Practice,
    PreReview,
    Role,
)
from bot.plans import load_plans
from bot.services import care_plans, care_results, pre_review
from bot.services.pre_review import AgendaStep, AgendaTopic, HypoAnswer

LONDON = ZoneInfo("Europe/London")
PLANS = load_plans()
REVIEW_AT = datetime(2027, 2, 10, 10, 30, tzinfo=LONDON)  # a Wednesday, GMT


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON).astimezone(UTC)


async def setup(db, *, clinician: str = "Dr Amina Khan", staff: bool = True, starts=REVIEW_AT):
    async with db.session() as session:
        session.add(Practice(ods_code="M85001", name="Soho Road", staff_chat_id=-1001))
        await session.flush()
        patient = Person(
            role=Role.PATIENT,
            display_name="Asha",
            nhs_number="9434765919",
            date_of_birth=date(1950, 6, 1),
            practice_ods="M85001",
            status=PersonStatus.ACTIVE,
            telegram_user_id=11,
            telegram_chat_id=11,
            diabetes_type="type2",
            treatment="hypo_risk",
        )
        session.add(patient)
        if staff:
            session.add(
                Person(
                    role=Role.NURSE,
                    display_name="Dr Amina Khan",
                    practice_ods="M85001",
                    status=PersonStatus.ACTIVE,
                    telegram_user_id=21,
                    telegram_chat_id=21,
                )
            )
        await session.flush()
        review = Appointment(
            external_id="R1",
            person_id=patient.id,
            kind="annual_review",
            starts_at=starts.astimezone(UTC),
            clinician=clinician,
            practice_ods="M85001",
        )
        session.add(review)
        await session.flush()
        return patient.id, review.id


async def run_plan(db, now: datetime) -> pre_review.PlanReport:
    async with db.session() as session:
        return await pre_review.plan(session, plans=PLANS, now=now)


async def rows(db, template: str) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(OutboxMessage).where(col(OutboxMessage.template_key) == template)
                )
            ).all()
        )


async def test_results_go_14_days_before_at_ten_and_only_once(db):
    await setup(db)
    assert (await run_plan(db, at(2027, 1, 27, 9, 59))).results_sent == 0
    assert (await run_plan(db, at(2027, 1, 27, 10, 0))).results_sent == 1
    assert (await run_plan(db, at(2027, 1, 27, 10, 5))).results_sent == 0
    [sent] = await rows(db, "pre_review_results")
    assert sent.due_at == at(2027, 1, 27, 10, 0)
    assert sent.expires_at == REVIEW_AT.astimezone(UTC)
    [nudge] = await rows(db, "pre_review_agenda_nudge")
    assert nudge.due_at == at(2027, 1, 30, 18, 0)  # 3 days later, in the evening


async def test_the_results_message_is_built_from_the_results_held_when_it_goes(db):
    patient_id, _ = await setup(db)
    async with db.session() as session:
        patient = await session.get(Person, patient_id)
        assert patient
        checked = [
            care_results.check_result(
                "hba1c",
                value="58",
                unit="mmol/mol",
                outcome=None,
                taken_on=date(2027, 1, 5),
                today=date(2027, 1, 20),
            ),
            care_results.check_result(
                "hba1c",
                value="8.0",
                unit="%",
                outcome=None,
                taken_on=date(2026, 1, 8),
                today=date(2027, 1, 20),
            ),
        ]
        await care_results.record(
            session, patient, checked, source="test", actor="test", now=at(2027, 1, 20, 9, 0)
        )
    await run_plan(db, at(2027, 1, 27, 10, 0))
    [sent] = await rows(db, "pre_review_results")
    [line] = sent.params["lines"]
    assert line["measure"] == "hba1c" and line["latest"]["value"] == 58
    assert line["target"]["value"] == 53 and line["verdict"] == "off_target"
    assert line["previous"]["value"] == 64 and line["change"] == -6
    # Eight of the nine care processes have nothing in 15 months, and each is named.
    assert "foot_check" in sent.params["missing"] and "hba1c" not in sent.params["missing"]
    assert len(sent.params["missing"]) == 8


async def test_a_review_booked_late_gets_its_results_at_once_but_not_after_the_summary(db):
    await setup(db)
    assert (await run_plan(db, at(2027, 2, 3, 15, 0))).results_sent == 1  # 7 days before
    async with db.session() as session:
        session.add(
            Appointment(
                external_id="R2",
                person_id=1,
                kind="annual_review",
                starts_at=at(2027, 3, 1, 9, 0) - timedelta(days=0),
                clinician="",
                practice_ods="M85001",
            )
        )
    # The day before the second review: its summary time has passed, so no results now.
    assert (await run_plan(db, at(2027, 2, 28, 12, 0))).results_sent == 0


async def test_the_summary_goes_to_the_named_clinician_two_days_before_at_eight(db):
    await setup(db)
    await run_plan(db, at(2027, 1, 27, 10, 0))
    async with db.session() as session:
        agenda = (await session.exec(select(PreReview))).one()
        pre_review.toggle_topic(agenda, AgendaTopic.FEET, at(2027, 1, 28, 9, 0))
        pre_review.toggle_topic(agenda, AgendaTopic.SUGAR, at(2027, 1, 28, 9, 0))
        pre_review.topics_done(agenda, at(2027, 1, 28, 9, 0))
        pre_review.save_words(agenda, "my feet hurt at night", at(2027, 1, 28, 9, 1))
        pre_review.save_confidence(agenda, 4, at(2027, 1, 28, 9, 2))
        assert pre_review.save_hypos(agenda, HypoAnswer.NEEDED_HELP, at(2027, 1, 28, 9, 3)) is (
            AgendaStep.DRIVES
        )
        pre_review.save_drives(agenda, True, at(2027, 1, 28, 9, 4))
        await pre_review.save_mood(session, agenda, AgendaStep.MOOD_INTEREST, 2, at(2027, 1, 28))
        step = await pre_review.save_mood(session, agenda, AgendaStep.MOOD_DOWN, 2, at(2027, 1, 28))
        assert step is AgendaStep.DONE and agenda.agenda_finished_at is not None
        session.add(agenda)
    # Finished: the nudge is cancelled.
    [nudge] = await rows(db, "pre_review_agenda_nudge")
    assert nudge.status == OutboxStatus.CANCELLED
    assert (await run_plan(db, at(2027, 2, 8, 7, 59))).summaries_sent == 0
    assert (await run_plan(db, at(2027, 2, 8, 8, 0))).summaries_sent == 1
    assert (await run_plan(db, at(2027, 2, 8, 8, 5))).summaries_sent == 0
    [summary] = await rows(db, "pre_review_summary")
    assert summary.chat_id is None and summary.person_id is not None  # the nurse's own chat
    assert summary.params["topics"] == ["feet", "sugar"]
    assert summary.params["own_words"] == "my feet hurt at night"
    assert summary.params["flags"] == ["severe_hypo", "low_mood"]
    assert summary.params["mood_score"] == 4 and summary.params["drives"] is True


async def test_without_a_named_clinician_the_summary_goes_to_the_practice_chat(db):
    await setup(db, clinician="Locum nurse", staff=False)
    await run_plan(db, at(2027, 1, 27, 10, 0))
    await run_plan(db, at(2027, 2, 8, 8, 0))
    [summary] = await rows(db, "pre_review_summary")
    assert summary.chat_id == -1001 and summary.chat_language == "en"
    assert summary.params["agenda_finished"] is False


async def test_a_cancelled_review_loses_its_nudge_and_gets_no_summary(db):
    _, review_id = await setup(db)
    await run_plan(db, at(2027, 1, 27, 10, 0))
    async with db.session() as session:
        review = await session.get(Appointment, review_id)
        assert review
        review.status = AppointmentStatus.CANCELLED
        review.updated_at = at(2027, 1, 28, 9, 0)
        session.add(review)
    await run_plan(db, at(2027, 1, 28, 9, 5))
    [nudge] = await rows(db, "pre_review_agenda_nudge")
    assert nudge.status == OutboxStatus.CANCELLED
    assert (await run_plan(db, at(2027, 2, 8, 8, 0))).summaries_sent == 0


async def test_goal_check_ins_every_four_weeks_until_the_next_review(db):
    patient_id, _ = await setup(db)
    async with db.session() as session:
        patient = await session.get(Person, patient_id)
        assert patient
        plan_input = care_plans.check_plan(
            goals=[
                {"goal": "Walk 30 minutes a day", "actions": [{"action": "Walk", "who": "person"}]},
                {"goal": "Eat less sugar", "actions": []},
            ],
            targets={"hba1c": 58, "blood_pressure": "140/90"},
            next_review_on=date(2027, 6, 1),
            contacts=[{"name": "Practice nurse", "phone": "0121 496 0000"}],
            today=date(2027, 2, 10),
        )
        recorded = await care_plans.record(
            session,
            patient,
            plan_input,
            actor="person:2",
            check_ins=PLANS.goal_check_ins,
            now=at(2027, 2, 10, 11, 0),
        )
    # 10 Feb + 4-week rounds before 1 June: 10 Mar, 7 Apr, 5 May; two goals each.
    assert recorded.check_ins == 6
    check_ins = await rows(db, "goal_check_in")
    assert sorted({row.due_at for row in check_ins}) == [
        at(2027, 3, 10, 18, 0),
        at(2027, 4, 7, 18, 0),
        at(2027, 5, 5, 18, 0),
    ]
    # A personal target now applies in the next results message.
    async with db.session() as session:
        assert await pre_review.current_plan_targets(session, patient_id) == {
            "hba1c": 58.0,
            "blood_pressure": [140.0, 90.0],
        }
        # A new plan replaces the old one's check-ins.
        patient = await session.get(Person, patient_id)
        assert patient
        again = care_plans.check_plan(
            goals=[{"goal": "Stop smoking", "actions": []}],
            targets={},
            next_review_on=None,
            contacts=[],
            today=date(2027, 3, 1),
        )
        await care_plans.record(
            session,
            patient,
            again,
            actor="person:2",
            check_ins=PLANS.goal_check_ins,
            now=at(2027, 3, 1, 11, 0),
        )
    statuses = [row.status for row in await rows(db, "goal_check_in")]
    assert statuses.count(OutboxStatus.CANCELLED) == 6
    assert statuses.count(OutboxStatus.PENDING) == 13  # a year of 4-weekly check-ins


def test_a_care_plan_with_mistakes_names_each_one():
    try:
        care_plans.check_plan(
            goals=[{"goal": "", "actions": [{"action": "Walk", "who": "neighbour"}]}],
            targets={"hba1c": 5, "blood_pressure": "400/20", "weight": 70},
            next_review_on=date(2026, 1, 1),
            contacts=[{"name": "Nurse", "phone": "call me"}],
            today=date(2026, 11, 23),
        )
    except care_plans.InvalidPlan as refused:
        where = [place for place, _ in refused.problems]
    else:
        raise AssertionError("a plan with mistakes was accepted")
    assert where == [
        "goals.1.goal",
        "goals.1.actions.1.who",
        "next_review_on",
        "contacts.1.phone",
        "targets.hba1c",
        "targets.blood_pressure",
        "targets.weight",
    ]


async def test_a_busy_day_is_done_in_batches(db):
    await setup(db)
    async with db.session() as session:
        for number in range(2, 5):
            other = Person(
                role=Role.PATIENT,
                display_name=f"Person {number}",
                practice_ods="M85001",
                status=PersonStatus.ACTIVE,
                telegram_user_id=100 + number,
                telegram_chat_id=100 + number,
            )
            session.add(other)
            await session.flush()
            session.add(
                Appointment(
                    external_id=f"R{number}",
                    person_id=other.id,
                    kind="annual_review",
                    starts_at=REVIEW_AT.astimezone(UTC),
                    practice_ods="M85001",
                )
            )
    sent = []
    for _ in range(3):
        async with db.session() as session:
            report = await pre_review.plan(
                session, plans=PLANS, now=at(2027, 1, 27, 10, 0), batch=3
            )
        sent.append((report.results_sent, report.more))
    assert sent == [(3, True), (1, False), (0, False)]


async def test_a_person_not_in_the_chat_still_gets_a_summary_made_for_their_review(db):
    patient_id, _ = await setup(db, clinician="", staff=False)
    async with db.session() as session:
        patient = await session.get(Person, patient_id)
        assert patient
        patient.status = PersonStatus.INVITED  # registered by the practice, never joined
        session.add(patient)
    assert (await run_plan(db, at(2027, 1, 27, 10, 0))).results_sent == 0
    assert (await run_plan(db, at(2027, 2, 8, 8, 0))).summaries_sent == 1
    [summary] = await rows(db, "pre_review_summary")
    assert summary.chat_id == -1001
    assert summary.params["agenda_finished"] is False and summary.params["topics"] == []


async def test_a_review_booked_the_day_before_gets_its_summary_at_once(db):
    await setup(db, starts=datetime(2027, 2, 10, 10, 30, tzinfo=LONDON))
    # Booked (first seen) on the 9th at noon: too late for results, the summary goes now.
    report = await run_plan(db, at(2027, 2, 9, 12, 0))
    assert (report.results_sent, report.summaries_sent) == (0, 1)
    assert await rows(db, "pre_review_results") == []


async def test_a_moved_review_moves_its_nudge_and_gets_its_summary_again(db):
    _, review_id = await setup(db)
    await run_plan(db, at(2027, 1, 27, 10, 0))
    await run_plan(db, at(2027, 2, 8, 8, 0))  # the summary for 10 February goes
    async with db.session() as session:
        review = await session.get(Appointment, review_id)
        assert review
        review.starts_at = at(2027, 3, 10, 10, 30)  # the practice moves it a month on
        session.add(review)
    await run_plan(db, at(2027, 2, 8, 9, 0))
    async with db.session() as session:
        agenda = (await session.exec(select(PreReview))).one()
    assert agenda.review_at == at(2027, 3, 10, 10, 30) and agenda.summary_sent_at is None
    # The summary comes again, two days before the new date, to the same nurse.
    assert (await run_plan(db, at(2027, 3, 8, 8, 0))).summaries_sent == 1
    summaries = await rows(db, "pre_review_summary")
    assert len(summaries) == 2
    assert summaries[1].params["review_at"] == at(2027, 3, 10, 10, 30).isoformat()


async def test_a_review_moved_before_its_nudge_takes_the_nudge_with_it(db):
    _, review_id = await setup(db)
    await run_plan(db, at(2027, 1, 27, 10, 0))
    async with db.session() as session:
        review = await session.get(Appointment, review_id)
        assert review
        review.starts_at = at(2027, 2, 24, 10, 30)
        session.add(review)
    await run_plan(db, at(2027, 1, 28, 9, 0))
    nudges = await rows(db, "pre_review_agenda_nudge")
    assert [n.status for n in nudges] == [OutboxStatus.CANCELLED, OutboxStatus.PENDING]
    assert nudges[1].due_at == at(2027, 1, 30, 18, 0)
    assert nudges[1].params["review_at"] == at(2027, 2, 24, 10, 30).isoformat()
    assert nudges[1].expires_at == at(2027, 2, 24, 10, 30)


async def test_a_summary_with_nobody_to_receive_it_is_audited_as_such(db):
    from bot.models import AuditEvent

    await setup(db, clinician="", staff=False)
    async with db.session() as session:
        practice = await session.get(Practice, "M85001")
        assert practice
        practice.staff_chat_id = None
        session.add(practice)
    await run_plan(db, at(2027, 2, 8, 8, 0))
    assert await rows(db, "pre_review_summary") == []
    async with db.session() as session:
        actions = [a.action for a in (await session.exec(select(AuditEvent))).all()]
    assert "pre_review.summary_no_recipient" in actions
    assert "pre_review.summary_sent" not in actions


async def test_typed_words_answer_the_question_only_while_it_is_fresh(db):
    await setup(db)
    await run_plan(db, at(2027, 1, 27, 10, 0))
    async with db.session() as session:
        agenda = (await session.exec(select(PreReview))).one()
        pre_review.topics_done(agenda, at(2027, 1, 27, 19, 0))
        assert pre_review.waits_for_words(agenda, at(2027, 1, 28, 9, 0))
        # Nine days later "feet" is a search of the library, not their answer.
        assert not pre_review.waits_for_words(agenda, at(2027, 2, 5, 9, 0))
        # /review shows the question again: the words are taken again.
        pre_review.begin(agenda, at(2027, 2, 5, 9, 0))
        assert pre_review.waits_for_words(agenda, at(2027, 2, 5, 9, 5))
