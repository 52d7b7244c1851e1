"""The practice's record of a patient's diabetes type and diagnosis date (API, command line and
CSV), and the course offered to someone newly diagnosed: when they join, and when the practice
sends a new diagnosis for someone already in the chat.

The course offer needs the education library; these tests use a small one of their own
(`library`), so they do not depend on the content being written in content/.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot import cli, content
from bot.content import Library
from bot.db import Database
from bot.i18n import LANGUAGES
from bot.models import AuditEvent, OutboxMessage, OutboxStatus, Person
from bot.services import enrolment
from bot.services.csv_import import CsvFileError
from bot.services.enrolment import InvalidField
from tests.fake_bot_api import SentMessage, UserSim
from tests.harness import BotUnderTest, running_bot
from tests.test_api import AMY, IRFAN, NOW, Api, api, clock  # noqa: F401  (api, clock: fixtures)
from tests.test_csv_import import PATIENTS, import_patients, write
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
OFFER = "learn:ks:new-to-type-2"

# A library of two topics in three languages and the two courses offered on diagnosis.
_PAGES = {
    "type-2-diabetes": {
        "en": ("Type 2 diabetes", "What it is.", "What happens", "Some short facts."),
        "hi": ("टाइप 2 डायबिटीज़", "यह क्या है।", "क्या होता है", "कुछ छोटी बातें।"),
        "ur": ("ٹائپ 2 ذیابیطس", "یہ کیا ہے۔", "کیا ہوتا ہے", "کچھ مختصر باتیں۔"),
    },
    "type-1-diabetes": {
        "en": ("Type 1 diabetes", "What it is.", "What happens", "Some short facts."),
        "hi": ("टाइप 1 डायबिटीज़", "यह क्या है।", "क्या होता है", "कुछ छोटी बातें।"),
        "ur": ("ٹائپ 1 ذیابیطس", "یہ کیا ہے۔", "کیا ہوتا ہے", "کچھ مختصر باتیں۔"),
    },
}
_PAGE = """\
---
title: {title}
summary: {opening}
category: about
audiences: [{audience}]
tags: [{title}]
search_words: [{title}]
related: []
source:
  - org: NHS
    title: {title}
    url: https://www.nhs.uk/conditions/diabetes/
reviewed_by: diabridge
reviewed_on: 2026-01-01
review_due: 2099-01-01
---
{opening}

## {heading}

{text}
"""
_COURSES = """\
courses:
  - id: new-to-type-2
    audiences: [type2]
    every_days: 7
    offer_when_diagnosed: type2
    title: {en: "New to type 2 diabetes", hi: "टाइप 2 में नए हैं", ur: "ٹائپ 2 میں نئے ہیں"}
    summary: {en: "Short weekly lessons.", hi: "हर हफ़्ते छोटे पाठ।", ur: "ہر ہفتے مختصر سبق۔"}
    lessons: [type-2-diabetes, type-1-diabetes]
  - id: young-type-1
    audiences: [young_person, type1]
    every_days: 7
    offer_when_diagnosed: type1
    title: {en: "Young with type 1", hi: "युवा और टाइप 1", ur: "نوجوان اور ٹائپ 1"}
    summary: {en: "Weekly lessons.", hi: "हर हफ़्ते पाठ।", ur: "ہر ہفتے سبق۔"}
    lessons: [type-1-diabetes]
"""


def write_library(folder: Path) -> Path:
    for topic, pages in _PAGES.items():
        (folder / topic).mkdir(parents=True, exist_ok=True)
        audience = "type2" if "2" in topic else "type1"
        for language in LANGUAGES:
            title, opening, heading, text = pages[language]
            (folder / topic / f"{language}.md").write_text(
                _PAGE.format(
                    title=title, opening=opening, heading=heading, text=text, audience=audience
                ),
                encoding="utf-8",
            )
    (folder / "courses.yaml").write_text(_COURSES, encoding="utf-8")
    return folder


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Library]:
    """The bot shows the small library while the test runs; the one before comes back after."""
    monkeypatch.setattr(content, "_current", None)  # restored (to whatever it was) afterwards
    content._index_cache.clear()
    shown = content.configure(write_library(tmp_path / "content"))
    yield shown
    content._index_cache.clear()


async def register(db: Database, now: datetime = NOW, **fields: object) -> enrolment.IssuedCode:
    values: dict[str, object] = {
        "nhs_number_text": IRFAN["nhs_number"],
        "name": IRFAN["name"],
        "date_of_birth": IRFAN["date_of_birth"],
        "practice": IRFAN["practice"],
        "language": "en",
        "external_id": IRFAN["external_id"],
        **fields,
    }
    async with db.session() as session:
        return await enrolment.register_patient(
            session,
            actor="cli:test",
            now=now,
            valid_days=14,
            timezone="Europe/London",
            **values,  # type: ignore[arg-type]
        )


async def join(db: Database, code: str, user_id: int = 700_001, now: datetime = NOW) -> None:
    """The patient opens the link, chooses English and agrees (the services under the chat)."""
    async with db.session() as session:
        await enrolment.start_with_code(session, user_id, code, now)
        await enrolment.choose_language(session, user_id, "en", now)
        joined = await enrolment.agree(
            session, user_id, user_id, display_name="Irfan", now=now, timezone="Europe/London"
        )
        assert isinstance(joined, enrolment.Joined)


async def offers(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(OutboxMessage).where(col(OutboxMessage.template_key) == "course_offer")
                )
            ).all()
        )


async def the_patient(db: Database) -> Person:
    async with db.session() as session:
        return (await session.exec(select(Person))).one()


def days_ago(days: int, now: datetime = NOW) -> str:
    return (now.date() - timedelta(days=days)).isoformat()


# The service --------------------------------------------------------------------------------


async def test_the_type_and_date_are_kept_and_sending_the_record_again_changes_them(
    db: Database,
):
    await register(db, diabetes_type="type2", diagnosed_on="2026-10-01")
    person = await the_patient(db)
    assert (person.diabetes_type, person.diagnosed_on) == ("type2", date(2026, 10, 1))

    # The practice corrects the type (written as a person might); the date stays as it was.
    await register(db, diabetes_type="Type 1", issue_code=False)
    person = await the_patient(db)
    assert (person.diabetes_type, person.diagnosed_on) == ("type1", date(2026, 10, 1))
    # A record sent without them (an older system) keeps what is recorded.
    await register(db, name="Irfan A. Ahmed", issue_code=False)
    person = await the_patient(db)
    assert (person.display_name, person.diabetes_type) == ("Irfan A. Ahmed", "type1")
    await register(db, diagnosed_on="2026-09-30", issue_code=False)
    assert (await the_patient(db)).diagnosed_on == date(2026, 9, 30)


@pytest.mark.parametrize(
    ("fields", "flag", "words"),
    [
        ({"diabetes_type": "diabetic"}, "--diabetes-type", "write one of type1, type2, other"),
        ({"diagnosed_on": "2026-11-24"}, "--diagnosed-on", "in the future"),
        ({"diagnosed_on": "1984-03-01"}, "--diagnosed-on", "before the date of birth"),
        ({"diagnosed_on": "01/10/2026"}, "--diagnosed-on", "write it as YYYY-MM-DD"),
    ],
)
async def test_a_wrong_type_or_date_is_refused_and_named(db: Database, fields, flag, words):
    with pytest.raises(InvalidField) as refused:
        await register(db, **fields)
    assert refused.value.field == flag and words in refused.value.message
    async with db.session() as session:
        assert (await session.exec(select(Person))).all() == []


async def test_a_patient_in_the_chat_is_offered_the_course_once_when_a_new_diagnosis_comes(
    db: Database, library: Library
):
    issued = await register(db)
    assert issued.code
    await join(db, issued.code)
    assert await offers(db) == []

    await register(db, diabetes_type="type2", diagnosed_on=days_ago(30), issue_code=False)
    [offer] = await offers(db)
    person = await the_patient(db)
    assert offer.person_id == person.id and offer.params == {"course": "new-to-type-2"}
    assert offer.status == OutboxStatus.PENDING and offer.due_at == NOW + timedelta(minutes=1)

    # Sent again, or with the date corrected: still the one offer.
    await register(db, diabetes_type="type2", diagnosed_on=days_ago(30), issue_code=False)
    await register(db, diabetes_type="type2", diagnosed_on=days_ago(25), issue_code=False)
    assert len(await offers(db)) == 1


async def test_no_offer_before_joining_nor_for_an_old_diagnosis_nor_an_adults_type_1(
    db: Database, library: Library
):
    # Not in the chat yet: the offer waits for them to join.
    issued = await register(db, diabetes_type="type2", diagnosed_on=days_ago(30))
    assert await offers(db) == []
    assert issued.code
    await join(db, issued.code)
    # Three years ago is not newly diagnosed; an adult's type 1 has no course of its own here.
    await register(db, diagnosed_on=days_ago(3 * 365), issue_code=False)
    await register(db, diabetes_type="type1", diagnosed_on=days_ago(10), issue_code=False)
    assert await offers(db) == []


async def test_a_library_not_fit_to_show_never_stops_a_registration(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    issued = await register(db)
    assert issued.code
    await join(db, issued.code)
    monkeypatch.setattr(content, "_current", None)
    monkeypatch.setattr(content, "DEFAULT_CONTENT_DIR", tmp_path / "no-such-folder")
    await register(db, diabetes_type="type2", diagnosed_on=days_ago(30), issue_code=False)
    assert (await the_patient(db)).diabetes_type == "type2"
    assert await offers(db) == []


# The API ------------------------------------------------------------------------------------


async def test_the_api_takes_and_returns_the_type_and_date(api: Api, db: Database):  # noqa: F811
    new = await api.patient(diabetes_type="type2", diagnosed_on="2026-10-01")
    assert new.status == 201
    assert (new.body["diabetes_type"], new.body["diagnosed_on"]) == ("type2", "2026-10-01")

    one = f"/patients/{IRFAN['external_id']}"
    got = await api.call("GET", one)
    assert got.status == 200 and got.body["id"] == new.body["id"]
    assert (got.body["diabetes_type"], got.body["diagnosed_on"]) == ("type2", "2026-10-01")
    assert "code" not in got.body  # the code is never shown again

    # Sending the record again with another type changes it; the date left out is kept.
    changed = await api.patient(diabetes_type="other")
    assert changed.status == 200 and changed.body["diabetes_type"] == "other"
    assert changed.body["diagnosed_on"] == "2026-10-01"
    assert (await api.call("GET", one)).body["diabetes_type"] == "other"

    # A patient registered without them shows null; reading a patient is accounted for.
    amy = await api.patient(**AMY)
    assert (amy.body["diabetes_type"], amy.body["diagnosed_on"]) == (None, None)
    got = await api.call("GET", f"/patients/{AMY['external_id']}")
    assert (got.body["diabetes_type"], got.body["diagnosed_on"]) == (None, None)
    assert (await api.call("GET", "/patients/NOBODY")).status == 404
    async with db.session() as session:
        viewed = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "patient.view"))
        ).all()
    assert [event.person_id for event in viewed] == [new.body["id"]] * 2 + [amy.body["id"]]


async def test_the_api_names_a_wrong_type_a_future_date_and_a_date_before_birth(
    api: Api,  # noqa: F811
    db: Database,
):
    wrong_type = await api.patient(diabetes_type="type 2", document_allows=False)
    assert wrong_type.status == 422 and wrong_type.fields == {"diabetes_type"}
    assert "type1, type2, other" in wrong_type.body["errors"][0]["message"]

    future = await api.patient(diagnosed_on=(NOW.date() + timedelta(days=1)).isoformat())
    assert future.status == 422 and future.fields == {"diagnosed_on"}
    assert "in the future" in future.body["errors"][0]["message"]

    before_birth = await api.patient(diagnosed_on="1980-01-01")
    assert before_birth.status == 422 and before_birth.fields == {"diagnosed_on"}
    assert "before the date of birth" in before_birth.body["errors"][0]["message"]

    # Every wrong field at once; a wrong date of birth is named on its own.
    both = await api.patient(date_of_birth="2030-01-01", diagnosed_on="1-10-2026", diabetes_type=2)
    assert both.status == 422
    assert both.fields == {"date_of_birth", "diagnosed_on", "diabetes_type"}
    async with db.session() as session:
        assert (await session.exec(select(Person))).all() == []


async def test_a_patient_in_the_chat_sent_again_by_the_api_with_a_diagnosis_is_offered_the_course(
    api: Api,  # noqa: F811
    db: Database,
    library: Library,
):
    new = await api.patient()
    await join(db, new.body["code"])
    again = await api.patient(diabetes_type="type2", diagnosed_on=days_ago(30))
    assert again.status == 200 and again.body["status"] == "active"
    [offer] = await offers(db)
    assert offer.person_id == new.body["id"] and offer.params == {"course": "new-to-type-2"}


# The command line ---------------------------------------------------------------------------


def test_patient_add_takes_the_type_and_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    base = ["patient", "add", "--nhs-number", "943 476 5919", "--name", "Irfan"]
    base += ["--dob", "1984-03-02", "--practice", "Y01234"]
    today = datetime.now(UTC).date()
    diagnosed = (today - timedelta(days=30)).isoformat()

    assert cli.main([*base, "--diabetes-type", "type2", "--diagnosed-on", diagnosed]) == 0
    assert "Enrolment code for Irfan" in capsys.readouterr().out
    assert cli.main([*base, "--diabetes-type", "typ2"]) == 2
    assert "error: --diabetes-type: 'typ2' is not a diabetes type" in capsys.readouterr().err
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert cli.main([*base, "--diagnosed-on", tomorrow]) == 2
    assert "error: --diagnosed-on: the date of diagnosis is in the future" in (
        capsys.readouterr().err
    )

    async def stored() -> Person:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
        try:
            return await the_patient(db)
        finally:
            await db.dispose()

    person = asyncio.run(stored())
    assert (person.diabetes_type, person.diagnosed_on) == ("type2", date.fromisoformat(diagnosed))

    with pytest.raises(SystemExit):
        cli.main(["patient", "add", "--help"])
    assert "--diagnosed-on" in capsys.readouterr().out


# CSV ----------------------------------------------------------------------------------------

WITH_DIAGNOSIS = """\
external_id,nhs_number,name,date_of_birth,practice,language,diabetes_type,diagnosed_on
P1,943 476 5919,Irfan Ahmed,1984-03-02,Y01234,ur,type2,2026-10-01
P2,9876543210,सीता देवी,1950-01-01,Y01234,hi,Type 1,
P3,4010232137,عائشہ خان,1990-05-05,A81001,,,
"""


async def test_csv_patients_carry_the_type_and_date(db: Database, tmp_path: Path):
    report = await import_patients(db, write(tmp_path, WITH_DIAGNOSIS, "patients.csv"))
    assert report.committed and (report.created, report.bad_rows) == (3, [])
    async with db.session() as session:
        people = {p.external_id: p for p in (await session.exec(select(Person))).all()}
    assert (people["P1"].diabetes_type, people["P1"].diagnosed_on) == ("type2", date(2026, 10, 1))
    assert (people["P2"].diabetes_type, people["P2"].diagnosed_on) == ("type1", None)
    assert (people["P3"].diabetes_type, people["P3"].diagnosed_on) == (None, None)

    # Sent again with a new type, it changes; the older file without the columns keeps it.
    changed = await import_patients(
        db, write(tmp_path, WITH_DIAGNOSIS.replace("type2,", "other,"), "changed.csv")
    )
    assert (changed.updated, changed.unchanged) == (1, 2)
    old = await import_patients(db, write(tmp_path, PATIENTS, "old.csv"))
    assert (old.updated, old.unchanged, old.bad_rows) == (0, 3, [])
    async with db.session() as session:
        irfan = (await session.exec(select(Person).where(col(Person.external_id) == "P1"))).one()
    assert (irfan.diabetes_type, irfan.diagnosed_on) == ("other", date(2026, 10, 1))


async def test_a_typo_in_the_type_or_date_is_reported_by_line_and_column(
    db: Database, tmp_path: Path
):
    typos = (
        WITH_DIAGNOSIS.replace("ur,type2,", "ur,tpye2,")
        .replace("Type 1,", "type1,1949-12-31")
        .replace("A81001,,,", "A81001,,,2026-11-24")
    )
    report = await import_patients(db, write(tmp_path, typos, "typos.csv"))
    assert not report.committed and report.created == 0
    by_line = {bad.line: bad.reason for bad in report.bad_rows}
    assert by_line == {
        2: "diabetes_type: 'tpye2' is not a diabetes type; write one of type1, type2, other",
        3: "diagnosed_on: the date of diagnosis is before the date of birth",
        4: "diagnosed_on: the date of diagnosis is in the future",
    }
    async with db.session() as session:
        assert (await session.exec(select(Person))).all() == []

    # A header other systems use is not read silently, but suggested.
    with pytest.raises(CsvFileError) as header:
        await import_patients(
            db, write(tmp_path, typos.replace("diagnosed_on", "diagnosis_date"), "header.csv")
        )
    assert "unknown column 'diagnosis_date' (did you mean 'diagnosed_on'?)" in header.value.problems


async def test_a_csv_row_with_a_new_diagnosis_offers_the_course_to_a_patient_in_the_chat(
    db: Database, tmp_path: Path, library: Library
):
    report = await import_patients(db, write(tmp_path, PATIENTS, "patients.csv"))
    irfan = next(new for new in report.codes if new.external_id == "P1")
    assert irfan.issued.code
    await join(db, irfan.issued.code)
    diagnosed = WITH_DIAGNOSIS.replace("2026-10-01", days_ago(30))
    again = await import_patients(db, write(tmp_path, diagnosed, "diagnosed.csv"))
    assert again.committed and again.updated == 2  # P1's diagnosis, P2's type
    [offer] = await offers(db)
    assert offer.params == {"course": "new-to-type-2"}


# End to end ---------------------------------------------------------------------------------

JOIN_AT = datetime(2026, 11, 23, 11, 0, tzinfo=LONDON)


@pytest.fixture
async def bot(tmp_path: Path, library: Library):
    async with running_bot(tmp_path) as running:
        yield running


def offer_buttons(bot: BotUnderTest, user: UserSim) -> list[tuple[SentMessage, str, str]]:
    return [
        (message, text, data)
        for message in bot.said_to(user.user_id)
        for row in bot.fake.buttons(message)
        for text, data in row
        if data.startswith("learn:ks:")
    ]


async def register_in_bot(
    bot: BotUnderTest, nhs_number: str, name: str, language: str, **diagnosis: str
) -> str:
    async with bot.db.session() as session:
        issued = await enrolment.register_patient(
            session,
            nhs_number_text=nhs_number,
            name=name,
            date_of_birth="1970-05-01",
            practice="Y01234",
            language=language,
            actor="api:test",
            now=JOIN_AT,
            valid_days=14,
            timezone="Europe/London",
            **diagnosis,
        )
    assert issued.code
    return issued.code


async def test_a_newly_diagnosed_patient_joins_and_is_offered_the_course(bot: BotUnderTest):
    recent = (JOIN_AT.date() - timedelta(days=30)).isoformat()
    long_ago = (JOIN_AT.date() - timedelta(days=3 * 365)).isoformat()
    people = [
        # (user, name, language, diagnosis)
        (UserSim(760_001, first_name="Irfan"), "Irfan", "en", {"diagnosed_on": recent}),
        (UserSim(760_002, first_name="Sita"), "Sita", "hi", {"diagnosed_on": recent}),
        (UserSim(760_003, first_name="Brian"), "Brian", "en", {"diagnosed_on": long_ago}),
        (UserSim(760_004, first_name="Elsie"), "Elsie", "en", {}),
    ]
    numbers = ["943 476 5919", "987 654 3210", "401 023 2137", "610 168 2897"]
    with time_machine.travel(JOIN_AT, tick=False):
        for (user, name, language, diagnosis), number in zip(people, numbers, strict=True):
            code = await register_in_bot(
                bot, number, name, language, diabetes_type="type2", **diagnosis
            )
            await join_with_code(bot, user, code, language)
    # A minute later the offer is due; the welcome note is for tomorrow.
    with time_machine.travel(JOIN_AT + timedelta(minutes=2), tick=False):
        await bot.dispatch()

    irfan, sita, brian, elsie = (user for user, *_ in people)
    [(offer, start, data)] = offer_buttons(bot, irfan)
    assert data.startswith(OFFER) and start == "▶️ Start the course"
    assert "Hello Irfan." in offer.text and "<b>New to type 2 diabetes</b>" in offer.text
    assert "2 short lessons, in your language" in offer.text
    assert "Not now" in [text for row in bot.fake.buttons(offer) for text, _ in row]

    # In Hindi the words are still to be translated; the button is there.
    [(_, _, hindi)] = offer_buttons(bot, sita)
    assert hindi.startswith(OFFER)

    # Diagnosed three years ago, or no date from the practice: no offer.
    assert offer_buttons(bot, brian) == [] and offer_buttons(bot, elsie) == []
    async with bot.db.session() as session:
        queued = (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.template_key) == "course_offer")
            )
        ).all()
    assert len(queued) == 2 and all(m.status == OutboxStatus.SENT for m in queued)
