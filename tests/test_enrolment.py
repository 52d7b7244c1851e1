"""Registering patients and staff, and codes typed into the chat (no Telegram here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.db import Database
from bot.models import AuditEvent, CodeAttempt, Person, PersonStatus, Role
from bot.services import enrolment
from bot.services.enrolment import CodeProblem, CodeRefused, InvalidField, JoinPath, Step

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
IRFAN = {
    "nhs_number_text": "943 476 5919",
    "name": "Irfan Ahmed",
    "date_of_birth": "1984-03-02",
    "practice": "Y01234",
    "language": "ur",
}


async def register(db: Database, now: datetime = NOW, **overrides: str) -> enrolment.IssuedCode:
    values = {**IRFAN, **overrides}
    async with db.session() as session:
        return await enrolment.register_patient(
            session, actor="cli:test", now=now, valid_days=14, timezone="Europe/London", **values
        )


async def test_register_patient_stores_the_record_and_a_hashed_single_use_code(db: Database):
    issued = await register(db)
    assert len(issued.code) == 10 and issued.display[5] == "-"
    assert issued.expires_at == NOW + timedelta(days=14)
    async with db.session() as session:
        person = (await session.exec(select(Person))).one()
        assert (person.nhs_number, person.language, person.practice_ods) == (
            "9434765919",
            "ur",
            "Y01234",
        )
        assert person.status == PersonStatus.INVITED and person.telegram_user_id is None
        audit = (await session.exec(select(AuditEvent))).one()
        assert audit.action == "patient.register" and "943" not in audit.detail
        # Only the hash is kept: the code itself appears nowhere in the database.
        from bot.models import EnrolmentCode

        stored = (await session.exec(select(EnrolmentCode))).one()
        assert issued.code not in stored.code_hash


@pytest.mark.parametrize(
    ("field", "override", "words"),
    [
        ("--nhs-number", {"nhs_number_text": "943 476 5918"}, "check digit"),
        ("--nhs-number", {"nhs_number_text": "12345"}, "10 digits"),
        ("--dob", {"date_of_birth": "1984-02-30"}, "not a date"),
        ("--dob", {"date_of_birth": "2030-01-01"}, "future"),
        ("--dob", {"date_of_birth": "1890-01-01"}, "120 years"),
        ("--language", {"language": "fr"}, "not offered"),
        ("--practice", {"practice": "12"}, "ODS code"),
        ("--name", {"name": "   "}, "empty"),
    ],
)
async def test_registration_refuses_a_wrong_field_and_names_it(
    db: Database, field: str, override: dict[str, str], words: str
):
    with pytest.raises(InvalidField) as refused:
        await register(db, **override)
    assert refused.value.field == field
    assert words in refused.value.message
    async with db.session() as session:
        assert (await session.exec(select(Person))).all() == []


async def test_registering_again_replaces_the_old_code(db: Database):
    first = await register(db)
    second = await register(db)
    assert second.reissued and second.person_id == first.person_id
    async with db.session() as session:
        old = await enrolment.start_with_code(session, 1001, first.code, NOW)
        new = await enrolment.start_with_code(session, 1001, second.code, NOW)
    assert isinstance(old, CodeRefused) and old.problem is CodeProblem.WRONG
    assert not isinstance(new, CodeRefused) and new.preselected_language == "ur"


async def test_staff_invite_needs_a_practice_for_gps(db: Database):
    async with db.session() as session:
        with pytest.raises(InvalidField) as refused:
            await enrolment.invite_staff(
                session,
                role="gp",
                name="Dr Shah",
                practice=None,
                language="en",
                actor="cli:test",
                now=NOW,
                valid_days=14,
                timezone="Europe/London",
            )
        assert refused.value.field == "--practice"
        issued = await enrolment.invite_staff(
            session,
            role="specialist",
            name="Ian",
            practice=None,
            language="en",
            actor="cli:test",
            now=NOW,
            valid_days=14,
            timezone="Europe/London",
        )
        person = await session.get(Person, issued.person_id)
        assert person is not None and person.role == Role.SPECIALIST


async def _join(db: Database, code: str, user: int, now: datetime = NOW) -> object:
    async with db.session() as session:
        view = await enrolment.start_with_code(session, user, code, now)
        assert not isinstance(view, CodeRefused)
        await enrolment.choose_language(session, user, "hi", now)
        return await enrolment.agree(
            session, user, user, display_name="Irfan", now=now, timezone="Europe/London"
        )


async def test_consent_links_the_account_in_the_chosen_language(db: Database):
    issued = await register(db)
    joined = await _join(db, issued.code, 5001)
    assert isinstance(joined, enrolment.Joined)
    assert joined.person.telegram_user_id == 5001 and joined.person.language == "hi"
    assert joined.person.status == PersonStatus.ACTIVE
    async with db.session() as session:
        again = await enrolment.start_with_code(session, 5002, issued.code, NOW)
    assert isinstance(again, CodeRefused) and again.problem is CodeProblem.USED


async def test_an_expired_code_is_refused(db: Database):
    issued = await register(db)
    async with db.session() as session:
        refused = await enrolment.start_with_code(
            session, 7001, issued.code, NOW + timedelta(days=14, seconds=1)
        )
    assert isinstance(refused, CodeRefused) and refused.problem is CodeProblem.EXPIRED


async def test_nothing_is_linked_before_agree_and_not_now_keeps_nothing(db: Database):
    issued = await register(db)
    async with db.session() as session:
        await enrolment.start_with_code(session, 8001, issued.code, NOW)
        view = await enrolment.choose_language(session, 8001, "ur", NOW)
        assert view is not None and view.step is Step.CONSENT and view.path is JoinPath.CODE
        person = await session.get(Person, issued.person_id)
        assert person is not None and person.telegram_user_id is None
        await enrolment.decline(session, 8001)
        assert await enrolment.current_session(session, 8001) is None


async def test_five_wrong_codes_in_fifteen_minutes_lock_for_an_hour(db: Database):
    issued = await register(db)
    async with db.session() as session:
        for minute in range(5):
            result = await enrolment.start_with_code(
                session, 9001, "WRONG-CODE1", NOW + timedelta(minutes=minute * 3)
            )
        assert isinstance(result, CodeRefused) and result.problem is CodeProblem.LOCKED
        fifth = NOW + timedelta(minutes=12)
        assert result.locked_until == fifth + timedelta(hours=1)
        # Even the right code is refused while locked, and the attempt is not counted.
        locked = await enrolment.start_with_code(
            session, 9001, issued.code, fifth + timedelta(minutes=59)
        )
        assert isinstance(locked, CodeRefused) and locked.problem is CodeProblem.LOCKED
        # Another account is not affected.
        other = await enrolment.start_with_code(session, 9002, issued.code, fifth)
        assert not isinstance(other, CodeRefused)
        after = await enrolment.start_with_code(
            session, 9001, issued.code, fifth + timedelta(hours=1)
        )
        assert not isinstance(after, CodeRefused)
        assert len((await session.exec(select(CodeAttempt))).all()) == 5


async def test_wrong_codes_spread_over_more_than_fifteen_minutes_do_not_lock(db: Database):
    async with db.session() as session:
        for attempt in range(6):
            result = await enrolment.start_with_code(
                session, 9101, "WRONG-CODE1", NOW + timedelta(minutes=attempt * 4)
            )
        assert isinstance(result, CodeRefused)
        # Attempts at 0, 4, 8, 12, 16, 20 minutes: the five at 4..20 span 16 minutes, 0..16 too.
        assert result.problem is CodeProblem.WRONG


async def test_self_enrolment_as_carer_or_at_risk_keeps_no_clinical_data(db: Database):
    async with db.session() as session:
        await enrolment.start_without_code(session, 6001, "ur", NOW)
        view = await enrolment.choose_language(session, 6001, "ur", NOW)
        assert view is not None and view.step is Step.CHOOSE_PATH
        view = await enrolment.choose_path(session, 6001, JoinPath.AT_RISK, NOW)
        assert view is not None and view.step is Step.CONSENT
        joined = await enrolment.agree(
            session, 6001, 6001, display_name="Khadija", now=NOW, timezone="Europe/London"
        )
    assert isinstance(joined, enrolment.Joined)
    person = joined.person
    assert person.role == Role.AT_RISK
    assert (person.nhs_number, person.date_of_birth, person.practice_ods) == (None, None, None)


async def test_a_database_error_never_carries_an_nhs_number_into_the_logs(db: Database):
    from sqlalchemy.exc import IntegrityError

    await register(db)
    with pytest.raises(IntegrityError) as failure:
        async with db.session() as session:
            session.add(Person(role=Role.PATIENT, display_name="Copy", nhs_number="9434765919"))
            await session.flush()
    assert "9434765919" not in str(failure.value)
