"""`diabridge import patients|appointments|health-checks|transition FILE.csv`: a practice's
list, a clinic's bookings, an NHS Health Check cohort and the young people in transition.

Service tests run on SQLite and PostgreSQL (the `db` fixture); the command line is run end to
end on SQLite with DATABASE_URL pointing at a file of its own.
"""

from __future__ import annotations

import csv
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot import cli
from bot.db import Database
from bot.models import (
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    AuditEvent,
    CarerLink,
    EnrolmentCode,
    HealthCheck,
    HealthCheckStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Role,
    Transition,
)
from bot.plans import load_plans
from bot.services import appointments, csv_import, enrolment, transition
from bot.services.appointments import AppointmentRecord
from bot.services.csv_import import CsvFileError, ImportReport
from bot.services.enrolment import CodeRefused
from bot.services.health_checks import add_years

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
PLANS = load_plans()
NHS_NUMBERS = ("9434765919", "9876543210", "4010232137")

PATIENTS = """\
external_id,nhs_number,name,date_of_birth,practice,language
P1,943 476 5919,Irfan Ahmed,1984-03-02,Y01234,ur
P2,9876543210,सीता देवी,1950-01-01,Y01234,hi
P3,4010232137,عائشہ خان,1990-05-05,A81001,
"""

# Each kind below has three reminders in content/plans.yaml, all after NOW: nine in all.
APPOINTMENTS = (
    "external_id,nhs_number,patient_external_id,kind,starts_at,duration_minutes,location,"
    "address,clinician,phone,practice\n"
    "A1,943 476 5919,,annual_review,2026-12-10 10:30,30,Riverside Surgery,12 High Street,"
    "Nurse Patel,01632 960123,Y01234\n"
    "A2,,P2,foot_clinic,2026-12-11T09:00:00+00:00,45,Foot clinic,,,,\n"
    "A3,,P3,eye_screening,2026-12-20 14:00,,Eye screening van,,,,\n"
)


# An NHS Health Check cohort on NOW (23 November 2026): H3 had a check in January 2024, so is
# not due until January 2029; the others are due now, to be invited highest priority first.
COHORT = """\
external_id,name,date_of_birth,practice,language,last_check_on,priority
H1,Irfan Ahmed,1970-03-02,Y01234,ur,,1
H2,सीता देवी,1960-01-01,Y01234,hi,,9
H3,عائشہ خان,1975-05-05,A81001,,2024-01-10,
H4,Mary Jones,1980-07-07,Y01234,en,,
H5,Ravi Kumar,1965-06-01,Y01234,en,,3
H6,Tom Brown,1972-02-29,A81001,en,,0
"""
# 39 on NOW: too young for a check.
TOO_YOUNG = "H7,Amit Shah,1987-06-01,Y01234,en,,\n"

# Young people (16, 18) and one patient of 42, for the transition programme.
YOUNG = """\
external_id,nhs_number,name,date_of_birth,practice,language
Y1,943 476 5919,Amy Patel,2010-05-05,Y01234,en
Y2,9876543210,सीता शर्मा,2008-01-01,Y01234,hi
Y3,4010232137,عائشہ خان,1984-03-02,A81001,ur
"""
TRANSITION_HEADER = (
    "patient_external_id,nhs_number,started_on,named_worker,named_worker_id,active\n"
)


def write(folder: Path, text: str, name: str = "file.csv", *, bom: bool = False) -> Path:
    path = folder / name
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


def link(code: str) -> str:
    return f"https://t.me/diabridge_test_bot?start={code}"


async def import_patients(db: Database, path: Path, **options: Any) -> ImportReport:
    return await csv_import.import_patients(
        db,
        path,
        now=options.pop("now", NOW),
        actor="cli:test",
        valid_days=14,
        timezone="Europe/London",
        link=link,
        **options,
    )


async def import_appointments(db: Database, path: Path, **options: Any) -> ImportReport:
    return await csv_import.import_appointments(
        db,
        path,
        plans=PLANS,
        now=options.pop("now", NOW),
        actor="cli:test",
        default_zone=LONDON,
        **options,
    )


async def import_health_checks(db: Database, path: Path, **options: Any) -> ImportReport:
    return await csv_import.import_health_checks(
        db,
        path,
        plans=PLANS,
        now=options.pop("now", NOW),
        actor="cli:test",
        per_day=options.pop("per_day", 2),
        timezone="Europe/London",
        valid_days=14,
        link=link,
        **options,
    )


async def import_transition(db: Database, path: Path, **options: Any) -> ImportReport:
    return await csv_import.import_transition(
        db, path, plans=PLANS, now=options.pop("now", NOW), actor="cli:test", **options
    )


async def with_patients(db: Database, folder: Path) -> None:
    report = await import_patients(db, write(folder, PATIENTS, "patients.csv"))
    assert report.committed and report.created == 3


async def rows(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.exec(select(model).where(*where))).all())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# Patients ----------------------------------------------------------------------------------


async def test_patients_are_registered_and_their_codes_written_to_a_private_file(
    db: Database, tmp_path: Path
):
    # Excel's "CSV UTF-8" starts with a byte order mark; names in three scripts.
    source = write(tmp_path, PATIENTS, "patients.csv", bom=True)
    codes_file = tmp_path / "patients.codes.csv"
    report = await import_patients(db, source, codes_file=codes_file)

    assert (report.created, report.updated, report.unchanged, report.bad_rows) == (3, 0, 0, [])
    assert report.committed and report.codes_file == codes_file
    assert mode(codes_file) == 0o600
    codes = read_csv(codes_file)
    assert [(c["external_id"], c["name"], c["language"]) for c in codes] == [
        ("P1", "Irfan Ahmed", "ur"),
        ("P2", "सीता देवी", "hi"),
        ("P3", "عائشہ خان", "en"),
    ]
    # The file is for letters: no NHS numbers in it.
    assert not any(number in codes_file.read_text() for number in NHS_NUMBERS)
    people = {p.external_id: p for p in await rows(db, Person)}
    assert people["P2"].display_name == "सीता देवी" and people["P2"].nhs_number == "9876543210"
    assert people["P1"].practice_ods == "Y01234" and people["P3"].practice_ods == "A81001"

    # Each code in the file is one the patient can join with, by the link as printed.
    async with db.session() as session:
        for n, row in enumerate(codes):
            assert row["link"] == link(row["code"].replace("-", ""))
            view = await enrolment.start_with_code(session, 700 + n, row["code"], NOW)
            assert not isinstance(view, CodeRefused)


async def test_a_csv_patient_is_registered_exactly_as_the_enrolment_service_registers_one(
    db: Database, tmp_path: Path
):
    # The import registers new patients many at a time; the result must not differ.
    await import_patients(
        db,
        write(
            tmp_path,
            PATIENTS.splitlines()[0] + "\nP1,943 476 5919,Irfan Ahmed,1984-03-02,Y01234,ur\n",
        ),
    )
    async with db.session() as session:
        await enrolment.register_patient(
            session,
            nhs_number_text="9876543210",
            name="Irfan Ahmed",
            date_of_birth="1984-03-02",
            practice="Y01234",
            language="ur",
            actor="cli:test",
            now=NOW,
            valid_days=14,
            timezone="Europe/London",
            external_id="P2",
        )
    by_csv, by_service = sorted(await rows(db, Person), key=lambda p: p.id)
    differ = {"id", "nhs_number", "external_id"}
    assert {k: v for k, v in by_csv.model_dump().items() if k not in differ} == {
        k: v for k, v in by_service.model_dump().items() if k not in differ
    }
    codes = {c.person_id: c for c in await rows(db, EnrolmentCode)}
    for field in ("expires_at", "used_at", "revoked_at", "purpose"):
        assert getattr(codes[by_csv.id], field) == getattr(codes[by_service.id], field)
    audit = {a.person_id: a for a in await rows(db, AuditEvent)}
    assert (audit[by_csv.id].action, audit[by_csv.id].detail, audit[by_csv.id].actor) == (
        audit[by_service.id].action,
        audit[by_service.id].detail,
        audit[by_service.id].actor,
    )


async def test_importing_patients_again_keeps_their_codes_and_updates_what_changed(
    db: Database, tmp_path: Path
):
    await with_patients(db, tmp_path)
    again = await import_patients(db, write(tmp_path, PATIENTS, "again.csv"))
    assert (again.created, again.updated, again.unchanged, again.codes) == (0, 0, 3, [])

    # A new name is taken; the letter already sent still works, so no new code.
    renamed = write(tmp_path, PATIENTS.replace("Irfan Ahmed", "Irfan A. Ahmed"), "renamed.csv")
    report = await import_patients(db, renamed)
    assert (report.updated, report.unchanged, report.codes) == (1, 2, [])
    (person,) = await rows(db, Person, col(Person.external_id) == "P1")
    assert person.display_name == "Irfan A. Ahmed"
    assert len(await rows(db, Person)) == 3
    assert len(await rows(db, EnrolmentCode, col(EnrolmentCode.revoked_at).is_(None))) == 3


async def test_a_new_code_goes_only_to_a_patient_without_a_working_one(
    db: Database, tmp_path: Path
):
    await with_patients(db, tmp_path)
    async with db.session() as session:
        joined = (await session.exec(select(Person).where(Person.external_id == "P1"))).one()
        joined.telegram_user_id, joined.status, joined.language = 9001, PersonStatus.ACTIVE, "en"

    # Fifteen days on, the codes of P2 and P3 have expired: they get new ones. P1 has joined:
    # no code, and the language they chose in the chat is theirs, whatever the practice sends.
    later = NOW + timedelta(days=15)
    renamed = PATIENTS.replace("Irfan Ahmed", "Irfan A. Ahmed")
    report = await import_patients(db, write(tmp_path, renamed, "later.csv"), now=later)
    assert (report.created, report.updated, report.unchanged) == (0, 3, 0)
    assert [new.external_id for new in report.codes] == ["P2", "P3"]
    (person,) = await rows(db, Person, col(Person.external_id) == "P1")
    assert (person.display_name, person.language) == ("Irfan A. Ahmed", "en")


async def test_an_nhs_number_sent_under_another_id_is_refused(db: Database, tmp_path: Path):
    await with_patients(db, tmp_path)
    text = PATIENTS.splitlines()[0] + "\nQ9,943 476 5919,Irfan Ahmed,1984-03-02,Y01234,ur\n"
    report = await import_patients(db, write(tmp_path, text, "other.csv"))
    ((problem,),) = [bad.problems for bad in report.bad_rows]
    assert (problem.field, problem.message) == (
        "nhs_number",
        "this NHS number was sent before under another external_id",
    )
    assert len(await rows(db, Person)) == 3


async def test_a_patient_row_names_each_wrong_field_and_nothing_is_registered(
    db: Database, tmp_path: Path
):
    text = (
        PATIENTS
        + "P4,943 476 5918,,1984-02-30,12,fr\n"
        + "P1,9990000018,Dup,1980-01-01,Y01234,en\n"
    )
    report = await import_patients(db, write(tmp_path, text), codes_file=tmp_path / "codes.csv")

    assert not report.committed
    by_line = {bad.line: {p.field: p.message for p in bad.problems} for bad in report.bad_rows}
    assert sorted(by_line) == [2, 5, 6]
    assert list(by_line[5]) == ["nhs_number", "name", "date_of_birth", "practice", "language"]
    assert "check digit" in by_line[5]["nhs_number"]
    assert "also on line 6" in by_line[2]["external_id"]
    assert "also on line 2" in by_line[6]["external_id"]
    assert await rows(db, Person) == [] and not (tmp_path / "codes.csv").exists()


async def test_a_patient_dry_run_counts_the_codes_but_changes_nothing(db: Database, tmp_path: Path):
    codes_file = tmp_path / "codes.csv"
    report = await import_patients(
        db, write(tmp_path, PATIENTS), codes_file=codes_file, dry_run=True
    )
    assert (report.created, len(report.codes), report.committed) == (3, 3, False)
    assert await rows(db, Person) == [] and await rows(db, EnrolmentCode) == []
    assert not codes_file.exists()


async def test_a_codes_file_already_there_is_never_overwritten(db: Database, tmp_path: Path):
    codes_file = write(tmp_path, "codes not sent yet\n", "codes.csv")
    with pytest.raises(FileExistsError):
        await import_patients(db, write(tmp_path, PATIENTS), codes_file=codes_file)
    assert codes_file.read_text() == "codes not sent yet\n"
    assert await rows(db, Person) == []


# Appointments ------------------------------------------------------------------------------


async def test_appointments_are_booked_and_their_reminders_queued(db: Database, tmp_path: Path):
    await with_patients(db, tmp_path)
    report = await import_appointments(db, write(tmp_path, APPOINTMENTS))

    assert (report.created, report.updated, report.unchanged, report.bad_rows) == (3, 0, 0, [])
    assert report.reminders_queued == 9 and report.committed
    booked = {a.external_id: a for a in await rows(db, Appointment)}
    # A time without an offset is London time: 10:30 GMT in December.
    assert booked["A1"].starts_at == datetime(2026, 12, 10, 10, 30, tzinfo=UTC)
    assert booked["A2"].duration_minutes == 45 and booked["A3"].duration_minutes == 30
    # Without a practice column value the patient's own practice is the appointment's.
    assert booked["A3"].practice_ods == "A81001"
    reminders = await rows(db, OutboxMessage)
    assert len(reminders) == 9 and {r.status for r in reminders} == {OutboxStatus.PENDING}
    week_before = [
        r
        for r in reminders
        if r.topic == appointments.topic(booked["A1"].id or 0) and r.params["calendar"]
    ]
    assert [r.due_at for r in week_before] == [datetime(2026, 12, 3, 10, 0, tzinfo=UTC)]


async def test_a_csv_booking_is_the_same_as_one_through_the_appointment_service(
    db: Database, tmp_path: Path
):
    """The import books new appointments many at a time; every row it writes must be what
    appointments.save would have written, reminders to a carer included."""
    await with_patients(db, tmp_path)
    async with db.session() as session:
        patient = (await session.exec(select(Person).where(Person.external_id == "P1"))).one()
        carer = Person(
            role="carer",
            display_name="Bilal",
            language="en",
            timezone="Europe/London",
            status=PersonStatus.ACTIVE,
            telegram_user_id=5001,
            telegram_chat_id=5001,
        )
        session.add(carer)
        await session.flush()
        assert patient.id and carer.id
        session.add(CarerLink(patient_id=patient.id, carer_id=carer.id, accepted_at=NOW))
    await import_appointments(db, write(tmp_path, APPOINTMENTS))
    async with db.session() as session:
        for source in list(csv.DictReader(APPOINTMENTS.splitlines())):
            await appointments.save(
                session,
                AppointmentRecord(
                    **{k: v for k, v in source.items() if v and k != "external_id"},
                    external_id="SVC-" + source["external_id"],
                ),
                plans=PLANS,
                now=NOW,
                actor="cli:test",
                source="csv:file.csv",
                default_zone=LONDON,
            )

    booked = {a.external_id: a for a in await rows(db, Appointment)}
    events = {e.appointment_id: e for e in await rows(db, AppointmentEvent)}
    audit = {
        a.detail.split()[0]: a
        for a in await rows(db, AuditEvent, AuditEvent.action == "appointment.book")
    }
    outbox = await rows(db, OutboxMessage)
    assert len(outbox) == 2 * (9 + 3)  # the carer gets a copy of P1's three reminders

    def reminders(appointment: Appointment) -> list[tuple[Any, ...]]:
        found = [m for m in outbox if m.topic == appointments.topic(appointment.id or 0)]
        return sorted(
            (
                m.template_key,
                m.dedupe_key.replace(f"appt:{appointment.id}:", "appt:ID:"),
                m.due_at,
                m.priority,
                {**m.params, "appointment_id": "ID"},
                m.person_id,
                m.chat_id,
                m.expires_at,
                m.status,
                m.attempts,
            )
            for m in found
        )

    for external_id in ("A1", "A2", "A3"):
        by_csv, by_service = booked[external_id], booked["SVC-" + external_id]
        differ = {"id", "external_id", "created_at", "updated_at"}
        assert {k: v for k, v in by_csv.model_dump().items() if k not in differ} == {
            k: v for k, v in by_service.model_dump().items() if k not in differ
        }
        first, second = events[by_csv.id], events[by_service.id]  # type: ignore[index]
        assert (first.event, first.actor, first.at) == (second.event, second.actor, second.at)
        csv_audit = audit[f"appointment={by_csv.id}"]
        service_audit = audit[f"appointment={by_service.id}"]
        assert (csv_audit.actor, csv_audit.person_id, csv_audit.at) == (
            service_audit.actor,
            service_audit.person_id,
            service_audit.at,
        )
        assert reminders(by_csv) == reminders(by_service)
        assert reminders(by_csv)


async def test_a_typo_is_reported_by_line_and_column_and_nothing_is_imported(
    db: Database, tmp_path: Path
):
    await with_patients(db, tmp_path)
    text = (
        APPOINTMENTS
        + "A4,9434765918,,annual_reveiw,01/12/2026 10:30,5000,,,,,\n"
        + "A5,,P1,annual_review,2026-12-10 11:30,,,,,,Y99999\n"
    )
    report = await import_appointments(db, write(tmp_path, text))

    assert not report.committed
    bad, unknown_practice = report.bad_rows
    assert bad.line == 5
    problems = {p.field: p.message for p in bad.problems}
    # In the order of the file's columns, each with the reason.
    assert list(problems) == ["nhs_number", "kind", "starts_at", "duration_minutes"]
    assert "check digit" in problems["nhs_number"]
    assert "'annual_reveiw' is not a kind" in problems["kind"]
    assert "YYYY-MM-DD HH:MM" in problems["starts_at"]
    assert "from 5 to 480" in problems["duration_minutes"]
    assert unknown_practice.line == 6 and unknown_practice.reason.startswith(
        "practice: no practice Y99999 is known here"
    )
    assert await rows(db, Appointment) == [] and await rows(db, OutboxMessage) == []


async def test_skip_bad_rows_imports_the_good_ones_and_writes_the_bad_ones_to_fix(
    db: Database, tmp_path: Path
):
    await with_patients(db, tmp_path)
    text = APPOINTMENTS + "A4,,P9,annual_review,2026-12-10 11:00,,,,,,\n"
    bad_file = tmp_path / "file.bad.csv"
    report = await import_appointments(
        db, write(tmp_path, text), skip_bad_rows=True, bad_rows_file=bad_file
    )

    assert report.committed and report.created == 3 and len(report.bad_rows) == 1
    assert mode(bad_file) == 0o600
    (row,) = read_csv(bad_file)
    assert row["external_id"] == "A4" and row["patient_external_id"] == "P9"
    assert (
        row["problem"]
        == "line 5: patient_external_id: no patient has this id; add the patient first"
    )

    # Fixed in place, the bad-rows file imports as it is: its problem column is ignored.
    bad_file.write_text(bad_file.read_text(encoding="utf-8-sig").replace("P9", "P1"))
    fixed = await import_appointments(db, bad_file)
    assert (fixed.created, fixed.bad_rows) == (1, [])
    assert len(await rows(db, Appointment)) == 4


async def test_a_dry_run_says_what_would_happen_and_writes_nothing(db: Database, tmp_path: Path):
    await with_patients(db, tmp_path)
    report = await import_appointments(db, write(tmp_path, APPOINTMENTS), dry_run=True)
    assert (report.created, report.reminders_queued, report.committed) == (3, 9, False)
    assert await rows(db, Appointment) == [] and await rows(db, OutboxMessage) == []


async def test_sending_the_file_again_never_duplicates_and_a_new_time_replans(
    db: Database, tmp_path: Path
):
    await with_patients(db, tmp_path)
    await import_appointments(db, write(tmp_path, APPOINTMENTS))
    again = await import_appointments(db, write(tmp_path, APPOINTMENTS, "again.csv"))
    assert (again.created, again.updated, again.unchanged, again.reminders_queued) == (0, 0, 3, 0)
    assert len(await rows(db, Appointment)) == 3 and len(await rows(db, OutboxMessage)) == 9

    moved = APPOINTMENTS.replace("2026-12-10 10:30", "2026-12-17 15:00")
    report = await import_appointments(db, write(tmp_path, moved, "moved.csv"))
    assert (report.created, report.updated, report.unchanged, report.reminders_queued) == (
        0,
        1,
        2,
        3,
    )
    (a1,) = await rows(db, Appointment, Appointment.external_id == "A1")
    assert a1.starts_at == datetime(2026, 12, 17, 15, 0, tzinfo=UTC) and a1.revision == 1
    planned = await rows(db, OutboxMessage, OutboxMessage.topic == appointments.topic(a1.id or 0))
    assert sorted((m.params["revision"], m.status) for m in planned) == [
        (0, OutboxStatus.CANCELLED),
        (0, OutboxStatus.CANCELLED),
        (0, OutboxStatus.CANCELLED),
        (1, OutboxStatus.PENDING),
        (1, OutboxStatus.PENDING),
        (1, OutboxStatus.PENDING),
    ]


async def test_the_clinic_marks_attendance_with_the_attended_column(db: Database, tmp_path: Path):
    await with_patients(db, tmp_path)
    await import_appointments(db, write(tmp_path, APPOINTMENTS))
    after_clinic = datetime(2026, 12, 12, 9, 0, tzinfo=UTC)  # A1 and A2 are over, A3 is not
    marks = (
        "external_id,patient_external_id,kind,starts_at,attended\n"
        "A1,P1,annual_review,2026-12-10 10:30,yes\n"
        "A2,P2,foot_clinic,2026-12-11T09:00:00+00:00,DNA\n"
        "A3,P3,eye_screening,2026-12-20 14:00,yes\n"
    )
    report = await import_appointments(
        db, write(tmp_path, marks, "marks.csv"), now=after_clinic, skip_bad_rows=True
    )

    assert (report.attended, report.did_not_attend, report.updated) == (1, 1, 2)
    (bad,) = report.bad_rows
    assert (bad.line, bad.problems[0].field) == (4, "attended")
    assert "has not started yet" in bad.problems[0].message
    status = {a.external_id: a.status for a in await rows(db, Appointment)}
    assert status == {
        "A1": AppointmentStatus.ATTENDED,
        "A2": AppointmentStatus.MISSED,
        "A3": AppointmentStatus.BOOKED,
    }
    # The person who missed theirs gets the kind follow-up, as when the clinic marks it by hand.
    missed = await rows(db, OutboxMessage, OutboxMessage.template_key == "appointment_missed")
    assert len(missed) == 1

    # The same marks sent again change nothing and are not an error.
    again = await import_appointments(
        db, write(tmp_path, marks.rsplit("A3", 1)[0], "again.csv"), now=after_clinic
    )
    assert (again.unchanged, again.bad_rows, again.attended) == (2, [], 0)


async def test_each_bad_row_is_reported_by_the_line_it_starts_on(db: Database, tmp_path: Path):
    await with_patients(db, tmp_path)
    text = (
        "external_id,patient_external_id,kind,starts_at,address\n"
        'A1,P1,annual_review,2026-12-10 10:30,"12 High Street\nLeicester"\n'
        "\n"
        "A2,P1,annual_review,2026-12-10 10:30,\n"
        "A2,P2,foot_clinic,2027-03-28 01:30,\n"
        "A3,P3,foot_clinic,2026-12-20,\n"
        "A4,P3,foot_clinic,2026-12-21 09:00,,surplus\n"
    )
    report = await import_appointments(db, write(tmp_path, text))
    by_line = {bad.line: bad.reason for bad in report.bad_rows}
    assert sorted(by_line) == [5, 6, 7, 8]
    assert "also on line 6" in by_line[5]
    assert "does not exist in Europe/London" in by_line[6]
    assert "has no time of day" in by_line[7]
    assert "6 values, but the header has 5 columns" in by_line[8]


async def test_a_header_typo_is_named_with_the_column_it_probably_meant(
    db: Database, tmp_path: Path
):
    text = (
        "external_id,nhs_numbr,kind,starts_at,colour\n"
        "A1,9434765919,annual_review,2026-12-10 10:30,red\n"
    )
    with pytest.raises(CsvFileError) as refused:
        await import_appointments(db, write(tmp_path, text))
    assert refused.value.problems == [
        "unknown column 'nhs_numbr' (did you mean 'nhs_number'?)",
        "unknown column 'colour'; the columns are external_id, kind, starts_at, nhs_number, "
        "patient_external_id, duration_minutes, location, address, directions, clinician, "
        "phone, practice, attended",
        "missing column: give 'nhs_number' or 'patient_external_id'",
    ]
    with pytest.raises(CsvFileError) as refused:
        await import_patients(db, write(tmp_path, "External ID,NHS Number,Name,DOB,Practice\n"))
    assert refused.value.problems == [
        "unknown column 'DOB' (did you mean 'date_of_birth'?)",
        "missing column 'date_of_birth'",
    ]


async def test_a_file_without_its_header_row_is_refused_without_repeating_the_row(
    db: Database, tmp_path: Path
):
    with pytest.raises(CsvFileError) as refused:
        await import_patients(db, write(tmp_path, PATIENTS.split("\n", 1)[1]))
    (problem,) = refused.value.problems
    assert problem.startswith("the first line must name the columns, and names none of them")
    assert "943 476 5919" not in problem and "Irfan" not in problem


async def test_a_file_that_is_not_utf8_is_refused_with_how_to_save_it(db: Database, tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        PATIENTS.splitlines()[0].encode()
        + "\nP1,9434765919,Zoë,1984-03-02,Y01234,en\n".encode("latin-1")
    )
    with pytest.raises(CsvFileError) as refused:
        await import_patients(db, path)
    assert refused.value.problems[0].startswith("line 2: the file is not UTF-8")


# NHS Health Check cohorts ------------------------------------------------------------------


async def test_a_cohort_is_invited_highest_priority_first_a_days_sending_at_a_time(
    db: Database, tmp_path: Path
):
    source = write(tmp_path, COHORT, "cohort.csv", bom=True)
    codes_file = tmp_path / "cohort.codes.csv"
    report = await import_health_checks(
        db, source, per_day=2, codes_file=codes_file, source="riverside-2026-11"
    )

    assert (report.created, report.updated, report.bad_rows, report.committed) == (6, 0, [], True)
    # Priority 9, then 3, then 1, then the 0s in the file's order: two a day.
    day = date(2026, 11, 23)
    assert report.invitations == {day: 2, day + timedelta(days=1): 2, day + timedelta(days=2): 1}
    assert report.not_due == 1
    people = {p.id: p for p in await rows(db, Person)}
    checks = {people[c.person_id].external_id: c for c in await rows(db, HealthCheck)}
    assert {external_id: c.due_on for external_id, c in checks.items()} == {
        "H2": day,
        "H5": day,
        "H1": day + timedelta(days=1),
        "H4": day + timedelta(days=1),
        "H6": day + timedelta(days=2),
        "H3": date(2029, 1, 10),  # five years after the last check
    }
    assert {c.status for c in checks.values()} == {HealthCheckStatus.NOT_YET}
    assert checks["H2"].priority == 9 and checks["H2"].source == "cohort:riverside-2026-11"
    by_name = {p.external_id: p for p in people.values()}
    assert (by_name["H2"].display_name, by_name["H2"].language) == ("सीता देवी", "hi")
    assert by_name["H3"].display_name == "عائشہ خان" and by_name["H3"].role == Role.AT_RISK

    # The codes file is the letters to send: each person's code, link and invitation day.
    assert mode(codes_file) == 0o600
    codes = read_csv(codes_file)
    assert list(codes[0]) == [
        "external_id",
        "name",
        "language",
        "code",
        "link",
        "invite_on",
        "expires",
        "line",
    ]
    assert [(c["external_id"], c["invite_on"], c["line"]) for c in codes] == [
        ("H1", "2026-11-24", "2"),
        ("H2", "2026-11-23", "3"),
        ("H3", "2029-01-10", "4"),
        ("H4", "2026-11-24", "5"),
        ("H5", "2026-11-23", "6"),
        ("H6", "2026-11-25", "7"),
    ]
    async with db.session() as session:
        for n, row in enumerate(codes):
            assert row["link"] == link(row["code"].replace("-", ""))
            view = await enrolment.start_with_code(session, 800 + n, row["code"], NOW)
            assert not isinstance(view, CodeRefused)


async def test_a_39_year_old_in_a_cohort_is_reported_by_line_and_nobody_is_added(
    db: Database, tmp_path: Path
):
    codes_file = tmp_path / "cohort.codes.csv"
    report = await import_health_checks(
        db, write(tmp_path, COHORT + TOO_YOUNG, "cohort.csv"), codes_file=codes_file
    )

    assert not report.committed and report.rows == 7
    ((bad),) = report.bad_rows
    assert bad.line == 8
    assert [(p.field, p.message) for p in bad.problems] == [
        ("date_of_birth", "aged 39: the NHS Health Check is for 40 to 74")
    ]
    assert await rows(db, Person) == [] and await rows(db, HealthCheck) == []
    assert await rows(db, EnrolmentCode) == [] and not codes_file.exists()


async def test_a_cohort_with_skip_bad_rows_adds_the_others_and_writes_the_bad_ones_to_fix(
    db: Database, tmp_path: Path
):
    text = COHORT + TOO_YOUNG + "H8,,1970-13-01,Y0,fr,2030-01-01,12\n"
    bad_file = tmp_path / "cohort.bad.csv"
    report = await import_health_checks(
        db, write(tmp_path, text, "cohort.csv"), skip_bad_rows=True, bad_rows_file=bad_file
    )

    assert report.committed and report.created == 6
    # The rows left out take no one's place: the days are those of the good file alone.
    assert sum(report.invitations.values()) == 5 and len(report.invitations) == 3
    assert [bad.line for bad in report.bad_rows] == [8, 9]
    assert [p.field for p in report.bad_rows[1].problems] == [
        "name",
        "date_of_birth",
        "practice",
        "language",
        "last_check_on",
        "priority",
    ]
    assert mode(bad_file) == 0o600
    fix = read_csv(bad_file)
    assert [row["external_id"] for row in fix] == ["H7", "H8"]
    assert (
        fix[0]["problem"] == "line 8: date_of_birth: aged 39: the NHS Health Check is for 40 to 74"
    )
    assert len(await rows(db, Person)) == 6


async def test_a_cohort_dry_run_says_who_would_be_invited_when_and_changes_nothing(
    db: Database, tmp_path: Path
):
    codes_file = tmp_path / "cohort.codes.csv"
    report = await import_health_checks(
        db, write(tmp_path, COHORT, "cohort.csv"), codes_file=codes_file, dry_run=True
    )
    assert (report.created, len(report.codes), report.not_due, report.committed) == (
        6,
        6,
        1,
        False,
    )
    assert report.invitations[date(2026, 11, 23)] == 2
    assert await rows(db, Person) == [] and await rows(db, HealthCheck) == []
    assert await rows(db, EnrolmentCode) == [] and not codes_file.exists()


async def test_a_cohort_refuses_an_id_twice_and_a_patients_id(db: Database, tmp_path: Path):
    await with_patients(db, tmp_path)
    text = COHORT + "H1,Irfan A. Ahmed,1970-03-02,Y01234,ur,,\nP2,Sita,1960-01-01,Y01234,hi,,\n"
    report = await import_health_checks(db, write(tmp_path, text, "cohort.csv"))

    by_line = {bad.line: bad.reason for bad in report.bad_rows}
    assert by_line == {
        2: "external_id: the same id is also on line 8",
        8: "external_id: the same id is also on line 2",
        9: "external_id: this id belongs to someone who is not in a cohort (a patient or "
        "carer registered here)",
    }
    assert await rows(db, HealthCheck) == []
    (patient,) = await rows(db, Person, col(Person.external_id) == "P2")
    assert patient.role == Role.PATIENT and patient.display_name == "सीता देवी"


async def test_a_cohort_header_typo_is_named_with_the_column_it_probably_meant(
    db: Database, tmp_path: Path
):
    text = "external_id,name,dob,practice,last_check\nH1,Irfan,1970-03-02,Y01234,\n"
    with pytest.raises(CsvFileError) as refused:
        await import_health_checks(db, write(tmp_path, text))
    assert refused.value.problems == [
        "unknown column 'dob' (did you mean 'date_of_birth'?)",
        "unknown column 'last_check' (did you mean 'last_check_on'?)",
        "missing column 'date_of_birth'",
    ]


async def test_an_id_taken_after_the_checks_is_reported_on_its_line(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    await with_patients(db, tmp_path)

    # As if P2 were registered as a patient between the checks and the writing: then
    # import_cohort itself refuses the record, by its place in the batch, part way through.
    async def nobody_else(session: Any, external_ids: Any) -> set[str]:
        return set()

    monkeypatch.setattr(csv_import, "_ids_of_others", nobody_else)
    text = COHORT + "P2,Sita,1960-01-01,Y01234,hi,,0\n"
    report = await import_health_checks(db, write(tmp_path, text, "cohort.csv"))
    assert [(bad.line, bad.reason) for bad in report.bad_rows] == [
        (8, "external_id: this id belongs to a patient")
    ]
    assert not report.committed and await rows(db, HealthCheck) == []

    skipped = await import_health_checks(db, write(tmp_path, text, "again.csv"), skip_bad_rows=True)
    assert (skipped.created, [bad.line for bad in skipped.bad_rows]) == (6, [8])
    assert skipped.committed and len(skipped.codes) == 6
    assert len(await rows(db, HealthCheck)) == 6

    # Someone from a cohort is not a patient: they cannot be put in the transition programme.
    text = TRANSITION_HEADER.replace("nhs_number,", "") + "H1,2026-09-15,Sam Jones,,\n"
    report = await import_transition(db, write(tmp_path, text, "transition.csv"))
    assert [(bad.line, bad.reason) for bad in report.bad_rows] == [
        (
            2,
            "patient_external_id: this is not a patient but a carer, a member of staff or "
            "someone in an NHS Health Check cohort",
        )
    ]


async def test_a_cohort_import_moves_its_progress_bar_to_the_end(db: Database, tmp_path: Path):
    moved: dict[str, list[int]] = {}

    class Bar:
        def __init__(self, description: str, total: int) -> None:
            self.counts = moved.setdefault(description, [total, 0])

        def update(self, n: int = 1) -> None:
            self.counts[1] += n

        def close(self) -> None:
            pass

    await import_health_checks(db, write(tmp_path, COHORT, "cohort.csv"), progress=Bar)
    assert moved == {"checking": [6, 6], "importing": [6, 6]}


# The transition programme --------------------------------------------------------------------


async def young_people_and_a_worker(db: Database, folder: Path) -> int:
    """Registers Y1 to Y3 and a specialist; returns the specialist's id."""
    report = await import_patients(db, write(folder, YOUNG, "young.csv"))
    assert report.created == 3
    async with db.session() as session:
        worker = Person(
            role=Role.SPECIALIST,
            display_name="Sam Jones",
            status=PersonStatus.ACTIVE,
            telegram_user_id=6001,
            telegram_chat_id=6001,
        )
        session.add(worker)
        await session.flush()
        assert worker.id is not None
        return worker.id


async def pending_check_ins(db: Database, external_id: str) -> list[OutboxMessage]:
    (person,) = await rows(db, Person, col(Person.external_id) == external_id)
    return await rows(
        db,
        OutboxMessage,
        OutboxMessage.person_id == person.id,
        OutboxMessage.template_key == "transition_check_in",
        OutboxMessage.status == OutboxStatus.PENDING,
    )


async def welcomes(db: Database) -> list[OutboxMessage]:
    return await rows(db, OutboxMessage, OutboxMessage.template_key == "transition_welcome")


def transition_file(worker_id: int, *, y1_worker: str = "Sam Jones") -> str:
    return (
        TRANSITION_HEADER
        + f"Y1,,2026-09-15,{y1_worker},{worker_id},\n"
        + ",9876543210,2026-10-01,Priya Shah,,yes\n"
    )


async def test_young_people_join_the_transition_programme_from_a_file(db: Database, tmp_path: Path):
    worker_id = await young_people_and_a_worker(db, tmp_path)
    report = await import_transition(db, write(tmp_path, transition_file(worker_id), bom=True))

    assert (report.created, report.updated, report.bad_rows, report.committed) == (2, 0, [], True)
    people = {p.id: p.external_id for p in await rows(db, Person)}
    programmes = {people[t.person_id]: t for t in await rows(db, Transition)}
    assert programmes["Y1"].started_on == date(2026, 9, 15)
    assert (programmes["Y1"].named_worker, programmes["Y1"].worker_id) == ("Sam Jones", worker_id)
    # Y2 was named by NHS number alone.
    assert (programmes["Y2"].named_worker, programmes["Y2"].worker_id) == ("Priya Shah", None)
    assert all(t.active and t.source == "csv:file.csv" for t in programmes.values())
    # Each gets a welcome naming their worker and twelve monthly check-ins at 17:00 on the
    # day of the month the programme started.
    assert sorted(m.params["worker"] for m in await welcomes(db)) == ["Priya Shah", "Sam Jones"]
    y1 = await pending_check_ins(db, "Y1")
    assert len(y1) == transition.CHECK_INS_AHEAD == 12
    assert min(m.due_at for m in y1) == datetime(2026, 12, 15, 17, 0, tzinfo=UTC)
    assert len(await pending_check_ins(db, "Y2")) == 12


async def test_a_transition_row_that_cannot_be_taken_is_reported_and_nothing_changes(
    db: Database, tmp_path: Path
):
    worker_id = await young_people_and_a_worker(db, tmp_path)
    text = (
        TRANSITION_HEADER
        + f"Y1,,2026-09-15,Sam Jones,{worker_id},\n"
        + "Y3,,2026-10-01,Sam Jones,,\n"
        + "Y9,,2026-10-01,Sam Jones,,\n"
        + ",943 476 5918,2026-10-01,Sam Jones,,\n"
        + "Y2,,15/09/2026,,999,maybe\n"
    )
    report = await import_transition(db, write(tmp_path, text))

    assert not report.committed
    by_line = {bad.line: [(p.field, p.message) for p in bad.problems] for bad in report.bad_rows}
    assert by_line[3] == [
        (
            "patient_external_id",
            "the patient is 42 by the date of birth registered; the programme is for 13 to 25",
        )
    ]
    assert by_line[4] == [
        ("patient_external_id", "no patient has this id; register the patient first")
    ]
    assert by_line[5] == [
        ("nhs_number", "the check digit does not match: please copy the number again")
    ]
    assert [field for field, _ in by_line[6]] == [
        "started_on",
        "named_worker",
        "named_worker_id",
        "active",
    ]
    assert "write it as YYYY-MM-DD" in by_line[6][0][1]
    assert await rows(db, Transition) == [] and await welcomes(db) == []

    # The staff id is checked when the row says yes (or nothing) about being in it.
    text = TRANSITION_HEADER + "Y2,,2026-09-15,Sam Jones,999,\n"
    report = await import_transition(db, write(tmp_path, text, "worker.csv"))
    ((bad),) = report.bad_rows
    assert (bad.line, bad.reason) == (2, "named_worker_id: no member of staff has this id")

    # With --skip-bad-rows, Y1 joins and the others wait to be fixed.
    skipped = await import_transition(
        db,
        write(tmp_path, text.replace("999", "") + "Y3,,2026-10-01,Sam,,\n", "skip.csv"),
        skip_bad_rows=True,
    )
    assert (skipped.created, [b.line for b in skipped.bad_rows], skipped.committed) == (
        1,
        [3],
        True,
    )
    assert len(await rows(db, Transition)) == 1


async def test_the_transition_file_sent_again_duplicates_nothing_and_a_change_replans(
    db: Database, tmp_path: Path
):
    worker_id = await young_people_and_a_worker(db, tmp_path)
    await import_transition(db, write(tmp_path, transition_file(worker_id)))
    later = NOW + timedelta(days=3)
    again = await import_transition(db, write(tmp_path, transition_file(worker_id)), now=later)

    assert (again.created, again.updated, again.unchanged, again.bad_rows) == (0, 0, 2, [])
    assert len(await rows(db, Transition)) == 2 and len(await welcomes(db)) == 2
    assert len(await pending_check_ins(db, "Y1")) == 12
    assert len(await pending_check_ins(db, "Y2")) == 12

    # A new worker for Y1: the programme is updated and its check-ins planned afresh, still
    # exactly twelve, each naming the new worker; no second welcome.
    changed = transition_file(worker_id, y1_worker="Priya Shah")
    report = await import_transition(db, write(tmp_path, changed, "changed.csv"), now=later)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    y1 = await pending_check_ins(db, "Y1")
    assert len(y1) == 12 and {m.params["worker"] for m in y1} == {"Priya Shah"}
    assert len(await welcomes(db)) == 2
    (y1_programme,) = await rows(db, Transition, Transition.worker_id == worker_id)
    assert y1_programme.named_worker == "Priya Shah"


async def test_active_no_ends_the_programme_and_yes_starts_it_again(db: Database, tmp_path: Path):
    worker_id = await young_people_and_a_worker(db, tmp_path)
    await import_transition(db, write(tmp_path, transition_file(worker_id)))
    # Ending needs only the patient.
    ending = "nhs_number,started_on,named_worker,active\n943 476 5919,,,no\n"

    dry = await import_transition(db, write(tmp_path, ending, "end.csv"), dry_run=True)
    assert (dry.ended, dry.committed) == (1, False)
    assert len(await pending_check_ins(db, "Y1")) == 12

    report = await import_transition(db, write(tmp_path, ending, "end.csv"))
    assert (report.ended, report.unchanged, report.committed) == (1, 0, True)
    assert await pending_check_ins(db, "Y1") == []
    assert {t.named_worker: t.active for t in await rows(db, Transition)} == {
        "Sam Jones": False,
        "Priya Shah": True,
    }
    again = await import_transition(db, write(tmp_path, ending, "end.csv"))
    assert (again.ended, again.unchanged, again.bad_rows) == (0, 1, [])

    rejoin = await import_transition(db, write(tmp_path, transition_file(worker_id), "back.csv"))
    assert (rejoin.created, rejoin.unchanged) == (1, 1)
    assert len(await pending_check_ins(db, "Y1")) == 12


# The command line --------------------------------------------------------------------------


def _local(days: int, at: str) -> str:
    return f"{(datetime.now(LONDON) + timedelta(days=days)):%Y-%m-%d} {at}"


def test_the_command_imports_patients_then_appointments_and_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "diabridge_nhs_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    patients = write(tmp_path, PATIENTS, "patients.csv", bom=True)

    assert cli.main(["import", "patients", str(patients), "--quiet"]) == 0
    said = capsys.readouterr()
    assert "patients.csv: 3 rows: 3 registered, 0 updated, 0 unchanged." in said.out
    codes_file = tmp_path / "patients.codes.csv"
    assert f"3 enrolment codes and links written to {codes_file}" in said.out
    assert mode(codes_file) == 0o600
    assert all(
        row["link"].startswith("https://t.me/diabridge_nhs_bot?start=")
        for row in read_csv(codes_file)
    )
    # Codes not sent yet are never overwritten: a usage error, nothing done.
    assert cli.main(["import", "patients", str(patients)]) == 2
    assert "already exists" in capsys.readouterr().err

    bookings = write(
        tmp_path,
        "external_id,nhs_number,kind,starts_at\n"
        f"A1,943 476 5919,annual_review,{_local(30, '10:30')}\n"
        f"A2,9876543210,diabetes_clinic,{_local(31, '11:00')}\n"
        f"A3,4010232137,foot_clinic,{_local(32, '09:15')}\n",
        "bookings.csv",
    )
    assert cli.main(["import", "appointments", str(bookings), "--dry-run"]) == 0
    said = capsys.readouterr()
    assert "3 would be booked" in said.out and "9 reminders would be queued." in said.out
    assert "Dry run: nothing was changed." in said.out
    assert cli.main(["import", "appointments", str(bookings)]) == 0
    assert "9 reminders queued." in capsys.readouterr().out
    assert cli.main(["import", "appointments", str(bookings)]) == 0
    assert "0 booked, 0 updated, 3 unchanged" in capsys.readouterr().out

    typo = write(
        tmp_path,
        "external_id,nhs_number,kind,starts_at\n"
        f"A4,943 476 5918,annual_review,{_local(30, '10:30')}\n"
        f"A5,9876543210,annual_reveiw,{_local(30, '10:30')}\n"
        # A column out of place: the NHS number lands in kind.
        f"A6,9434765919,9434765919,{_local(30, '10:30')}\n",
        "typo.csv",
    )
    assert cli.main(["import", "appointments", str(typo)]) == 1
    said = capsys.readouterr()
    assert "line 2: nhs_number: the check digit does not match" in said.err
    assert "line 3: kind: 'annual_reveiw' is not a kind of appointment" in said.err
    assert "line 4: kind: '[10-digit number hidden]' is not a kind" in said.err
    assert "typo.csv: 3 bad rows of 3; nothing was imported." in said.out
    # NHS numbers never reach the terminal, not even a wrong one.
    everything = said.out + said.err
    assert not any(n in everything for n in ("943 476 5918", "9876543210", "9434765919"))

    assert cli.main(["import", "appointments", str(typo), "--skip-bad-rows"]) == 1
    assert (tmp_path / "typo.bad.csv").exists()
    assert cli.main(["import", "appointments", "missing.csv"]) == 2


def test_the_command_adds_a_cohort_and_young_people_and_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "diabridge_nhs_bot")
    monkeypatch.setenv("DIABRIDGE_HEALTH_CHECK_INVITES_PER_DAY", "2")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.delenv("DIABRIDGE_TIMEZONE", raising=False)
    monkeypatch.chdir(tmp_path)
    today = datetime.now(LONDON).date()
    days = [(today + timedelta(days=n)).isoformat() for n in range(3)]

    cohort = write(tmp_path, COHORT, "cohort.csv", bom=True)
    assert cli.main(["import", "health-checks", str(cohort), "--dry-run", "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "cohort.csv: 6 rows: 6 would be added, 0 would be updated." in said
    assert f"Invitations would be: 2 on {days[0]}, 2 on {days[1]}, 1 on {days[2]}" in said
    assert "6 enrolment codes would be issued." in said and "Dry run" in said
    assert not (tmp_path / "cohort.codes.csv").exists()

    assert cli.main(["import", "health-checks", str(cohort), "--source", "riverside"]) == 0
    said = capsys.readouterr().out
    assert "cohort.csv: 6 rows: 6 added, 0 updated." in said
    assert f"Invitations: 2 on {days[0]}, 2 on {days[1]}, 1 on {days[2]}" in said
    assert "1 person not due yet" in said
    codes_file = tmp_path / "cohort.codes.csv"
    assert f"6 enrolment codes, links and invitation days written to {codes_file}" in said
    assert mode(codes_file) == 0o600
    # DIABRIDGE_HEALTH_CHECK_INVITES_PER_DAY=2: priority 9 and 3 today, 1 and the first 0
    # tomorrow, the other 0 the day after.
    invite_on = {row["external_id"]: row["invite_on"] for row in read_csv(codes_file)}
    assert [invite_on[h] for h in ("H2", "H5", "H1", "H4", "H6")] == [
        days[0],
        days[0],
        days[1],
        days[1],
        days[2],
    ]
    assert all(
        row["link"].startswith("https://t.me/diabridge_nhs_bot?start=")
        for row in read_csv(codes_file)
    )
    # Codes not sent yet are never overwritten.
    assert cli.main(["import", "health-checks", str(cohort)]) == 2
    assert "already exists" in capsys.readouterr().err

    # 39 today and 40 in ten days' time: too young for a check now.
    born = add_years(today, -40) + timedelta(days=10)
    young = write(
        tmp_path,
        COHORT.splitlines()[0]
        + f"\nH9,Kiran Rao,1970-01-01,Y01234,en,,\nH10,Amit Shah,{born},Y01234,en,,\n",
        "young.csv",
    )
    assert cli.main(["import", "health-checks", str(young)]) == 1
    said = capsys.readouterr()
    assert "line 3: date_of_birth: aged 39: the NHS Health Check is for 40 to 74" in said.err
    assert "young.csv: 1 bad row of 2; nothing was imported." in said.out
    assert not (tmp_path / "young.codes.csv").exists()

    # The transition programme: the young people registered first, then named by NHS number.
    sixteen = add_years(today, -16)
    patients = write(
        tmp_path,
        YOUNG.replace("2010-05-05", sixteen.isoformat()).replace("2008-01-01", sixteen.isoformat()),
        "patients.csv",
    )
    assert cli.main(["import", "patients", str(patients), "--quiet"]) == 0
    capsys.readouterr()
    programme = write(
        tmp_path,
        "nhs_number,started_on,named_worker\n"
        f"943 476 5919,{today},Sam Jones\n"
        f"9876543210,{today},Priya Shah\n",
        "transition.csv",
    )
    assert cli.main(["import", "transition", str(programme)]) == 0
    said = capsys.readouterr().out
    assert (
        "transition.csv: 2 rows: 2 joined the programme, 0 updated, 0 ended, 0 unchanged." in said
    )
    assert "Monthly check-ins planned for 2 young people: the next 12 each" in said
    assert cli.main(["import", "transition", str(programme)]) == 0
    assert "0 joined the programme, 0 updated, 0 ended, 2 unchanged." in capsys.readouterr().out

    wrong = write(
        tmp_path,
        "nhs_number,started_on,named_worker\n"
        f"943 476 5918,{today},Sam Jones\n"
        f"4010232137,{today},Sam Jones\n",
        "wrong.csv",
    )
    assert cli.main(["import", "transition", str(wrong), "--skip-bad-rows"]) == 1
    said = capsys.readouterr()
    assert "line 2: nhs_number: the check digit does not match" in said.err
    assert "line 3: nhs_number: the patient is 42" in said.err
    assert (tmp_path / "wrong.bad.csv").exists()
    # NHS numbers never reach the terminal, not even a wrong one.
    everything = said.out + said.err
    assert not any(n in everything for n in ("943 476 5918", "4010232137"))


@pytest.mark.parametrize(
    ("what", "first"),
    [
        ("patients", "external_id"),
        ("appointments", "external_id"),
        ("health-checks", "external_id"),
        ("transition", "started_on"),
    ],
)
def test_each_import_says_its_columns_in_its_help(
    what: str, first: str, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as done:
        cli.main(["import", what, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert f"Required columns: {first}" in out and "--dry-run" in out
