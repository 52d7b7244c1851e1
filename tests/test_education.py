"""The education library in the chat, end to end in English, Hindi and Urdu: browse to a topic,
page through it, rate it, search in the person's words, and a paced course started, paused and
resumed with its lessons arriving through the outbox at the chosen hour."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot import content
from bot.content_render import render_topic
from bot.education_messages import CATEGORY_NAMES
from bot.i18n import translator
from bot.models import CourseEnrolment, CourseStatus, OutboxMessage, Person, TopicRating
from bot.services import outbox
from tests.fake_bot_api import UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, plain, press, running_bot
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
LANGS = ["en", "hi", "ur"]
SEARCH_WORD = {"en": "feet", "hi": "पैर", "ur": "پاؤں"}


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


async def joined_patient(
    bot: BotUnderTest,
    language: str,
    *,
    diabetes_type: str = "type2",
    user_id: int = 910_001,
    nhs_number: str = "943 476 5919",
) -> tuple[UserSim, int]:
    issued = await bot.register_patient(
        language=language, name="Irfan Ahmed", nhs_number=nhs_number
    )
    user = UserSim(user_id, first_name="Irfan")
    await join_with_code(bot, user, issued.code, language)
    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None
        person.diabetes_type = diabetes_type
        session.add(person)
        # The welcome follow-up is not what these tests are about.
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return user, issued.person_id


def check_language(text: str, language: str) -> None:
    if language != "en":
        assert_no_english(text)


@pytest.mark.parametrize("language", LANGS)
async def test_browse_to_a_topic_page_through_it_and_rate_it(bot: BotUnderTest, language):
    t = translator(language)
    user, person_id = await joined_patient(bot, language)
    library = content.library()
    hypos = library.topics["hypos"].pages[language]
    pages = render_topic(hypos, t).pages
    assert len(pages) >= 2, "the hypo page is long enough to be paged"

    await bot.send(user.text("/learn"))
    menu = bot.last(user.user_id)
    assert plain(t._("📚 <b>Learn about diabetes</b>")).replace("<b>", "").replace(
        "</b>", ""
    ) in plain(menu.plain_text or "")
    labels = button_texts(bot.fake, menu)
    assert t._(CATEGORY_NAMES["staying-safe"]) in labels
    assert t._("🎓 Courses") in labels
    check_language(menu.text or "", language)

    await bot.send(press(bot.fake, user, menu, t._(CATEGORY_NAMES["staying-safe"])))
    category = bot.last(user.user_id)
    assert hypos.title in button_texts(bot.fake, category)
    check_language(category.text or "", language)

    await bot.send(press(bot.fake, user, category, hypos.title))
    first = bot.last(user.user_id)
    assert first.message_id == category.message_id  # browsing edits the one message
    assert plain(hypos.title) in plain(first.plain_text or "")
    labels = button_texts(bot.fake, first)
    assert t._("Next ▶") in labels
    assert plain(t._("%(page)s of %(pages)s", page=1, pages=len(pages))) in plain(" ".join(labels))
    assert t._("👍 Yes") not in labels  # asked on the last page only
    check_language(first.text or "", language)
    # The first page carries the treatment numbers as written: 15 to 20 g, then 10 to 15 min.
    assert "15" in plain(first.plain_text or "") and "20" in plain(first.plain_text or "")

    for _ in range(len(pages) - 1):
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("Next ▶")))
    last = bot.last(user.user_id)
    shown = plain(last.plain_text or "")
    # Every page ends with where it came from and when it was checked, in the reader's words.
    assert plain(t._("📚 Source: %(sources)s", sources="")).strip() in shown
    assert plain(t.date(hypos.reviewed_on)) in shown
    assert plain(t.date(hypos.review_due)) in shown
    assert plain(t._("Was this page helpful?")) in shown
    labels = button_texts(bot.fake, last)
    assert t._("◀ Back") in labels and t._("Next ▶") not in labels
    assert library.topics["driving"].pages[language].title in labels  # a related page
    check_language(last.text or "", language)

    await bot.send(press(bot.fake, user, last, t._("👍 Yes")))
    thanked = bot.last(user.user_id)
    assert plain(t._("✅ Thank you for telling us. It helps us improve the pages.")) in plain(
        thanked.plain_text or ""
    )
    assert t._("👍 Yes") not in button_texts(bot.fake, thanked)
    async with bot.db.session() as session:
        ratings = (
            await session.exec(select(TopicRating).where(col(TopicRating.person_id) == person_id))
        ).all()
    assert [(r.topic_id, r.language, r.helpful) for r in ratings] == [("hypos", language, True)]

    # Back a page, and then to the library.
    await bot.send(press(bot.fake, user, thanked, t._("◀ Back")))
    assert t._("Next ▶") in button_texts(bot.fake, bot.last(user.user_id))
    await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("📚 Library")))
    assert t._("🎓 Courses") in button_texts(bot.fake, bot.last(user.user_id))


@pytest.mark.parametrize("language", LANGS)
async def test_search_in_the_person_s_own_words(bot: BotUnderTest, language):
    t = translator(language)
    user, _ = await joined_patient(bot, language)
    feet = content.library().topics["feet"].pages[language]

    await bot.send(user.text(SEARCH_WORD[language]))
    found = bot.last(user.user_id)
    assert plain(t._("📚 Pages that match “%(query)s”:", query=SEARCH_WORD[language])) in plain(
        found.plain_text or ""
    )
    assert button_texts(bot.fake, found)[0] == feet.title
    check_language(found.text or "", language)
    await bot.send(press(bot.fake, user, found, feet.title))
    assert plain(feet.title) in plain(bot.last(user.user_id).plain_text or "")

    # /learn with words searches too; words that match nothing get a way forward.
    await bot.send(user.text(f"/learn {SEARCH_WORD[language]}"))
    assert button_texts(bot.fake, bot.last(user.user_id))[0] == feet.title
    await bot.send(user.text("/learn zzqxv"))
    nothing = bot.last(user.user_id)
    assert plain(
        t._(
            "I could not find a page about “%(query)s”. Try another word (for example: feet), "
            "or open the library and choose a subject.",
            query="zzqxv",
        )
    ) == plain(nothing.plain_text or "")
    # Free text matching nothing is still "not understood", never a crash.
    await bot.send(user.text("zzqxv"))
    assert t._("📚 Library") not in button_texts(bot.fake, bot.last(user.user_id))


async def test_a_young_person_sees_their_own_pages_first(bot: BotUnderTest):
    issued = await bot.register_patient(language="en", name="Amy Shah", dob="2009-05-01")
    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None
        person.role = "young_person"
        person.diabetes_type = "type1"
        session.add(person)
    user = UserSim(910_050, first_name="Amy")
    await join_with_code(bot, user, issued.code, "en")
    await bot.send(user.text("/learn"))
    labels = button_texts(bot.fake, bot.last(user.user_id))
    assert labels[0].startswith("⭐")
    young_titles = {
        content.library().topics[t].pages["en"].title
        for t in ("young-parties-and-alcohol", "young-exams", "young-moving-away")
    }
    assert any(label.removeprefix("⭐ ") in young_titles for label in labels[:3])
    categories = [label for label in labels if label in CATEGORY_NAMES.values()]
    assert categories.index("🎒 Young people") < categories.index("🤰 Pregnancy")


@pytest.mark.parametrize("language", LANGS)
async def test_a_course_starts_pauses_and_resumes_with_lessons_at_the_chosen_hour(
    bot: BotUnderTest, language
):
    t = translator(language)
    library = content.library()
    course = library.courses["new-to-type-2"]
    with time_machine.travel(local(2026, 11, 23, 10, 0), tick=False):
        user, person_id = await joined_patient(bot, language)
        await bot.send(user.text("/learn"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("🎓 Courses")))
        courses = bot.last(user.user_id)
        assert plain(course.title(language)) in plain(courses.plain_text or "")
        check_language(courses.text or "", language)
        await bot.send(press(bot.fake, user, courses, course.title(language)))
        view = bot.last(user.user_id)
        assert plain(
            t.ngettext("%(num)s lesson, one a week.", "%(num)s lessons, one a week.", 6)
        ) in plain(view.plain_text or "")
        await bot.send(press(bot.fake, user, view, t._("▶️ Start the course")))
        hours = bot.last(user.user_id)
        assert plain(t._("🕒 What time of day suits you for the lessons?")) in plain(
            hours.plain_text or ""
        )
        six_pm = t.time(local(2026, 11, 23, 18, 0), LONDON)
        await bot.send(press(bot.fake, user, hours, six_pm))
        started = bot.last(user.user_id)
        shown = plain(started.plain_text or "")
        assert (
            plain(
                t._(
                    "👍 You are on the course. Lesson %(lesson)s arrives %(when)s.",
                    lesson=1,
                    when="",
                )
            )
            .split("  ")[0]
            .rstrip(" .")[:12]
            in shown
        )
        assert plain(t.date(local(2026, 11, 23).date(), "full")) in shown
        check_language(started.text or "", language)

    # Nothing before 18:00; lesson 1 at 18:00 the same day.
    with time_machine.travel(local(2026, 11, 23, 17, 50), tick=False):
        await bot.dispatch()
    assert bot.last(user.user_id).message_id == started.message_id
    with time_machine.travel(local(2026, 11, 23, 18, 0, 30), tick=False):
        await bot.dispatch()
    lesson = bot.last(user.user_id)
    assert lesson.message_id != started.message_id
    first_topic = library.topics[course.lessons[0]].pages[language]
    assert plain(
        t._(
            "🎓 <b>%(course)s</b>: lesson %(lesson)s of %(total)s",
            course=course.title(language),
            lesson=1,
            total=6,
        )
    ).replace("<b>", "").replace("</b>", "") in plain(lesson.plain_text or "")
    assert plain(first_topic.title) in plain(lesson.plain_text or "")
    check_language(lesson.text or "", language)

    # Paused from the lesson itself after a day: lesson 2 does not come.
    with time_machine.travel(local(2026, 11, 24, 9, 0), tick=False):
        await bot.send(press(bot.fake, user, lesson, t._("⏸ Pause the course")))
        paused = bot.last(user.user_id)
        assert plain(t._("⏸ Paused. You can carry on from lesson %(next)s.", next=2)) in plain(
            paused.plain_text or ""
        )
        check_language(paused.text or "", language)
    with time_machine.travel(local(2026, 12, 1, 18, 5), tick=False):
        await bot.dispatch()
    assert bot.last(user.user_id).message_id == paused.message_id
    async with bot.db.session() as session:
        enrolment = (
            await session.exec(
                select(CourseEnrolment).where(col(CourseEnrolment.person_id) == person_id)
            )
        ).one()
        assert (enrolment.status, enrolment.next_lesson) == (CourseStatus.PAUSED, 2)

    # Resumed on 3 December: lesson 2 at the same hour that evening, lesson 3 a week later.
    with time_machine.travel(local(2026, 12, 3, 12, 0), tick=False):
        await bot.send(press(bot.fake, user, paused, t._("▶️ Carry on")))
        resumed = plain(bot.last(user.user_id).plain_text or "")
        assert plain(t.date(local(2026, 12, 3).date(), "full")) in resumed
    with time_machine.travel(local(2026, 12, 3, 18, 1), tick=False):
        await bot.dispatch()
    second = bot.last(user.user_id)
    assert plain(library.topics[course.lessons[1]].pages[language].title) in plain(
        second.plain_text or ""
    )
    async with bot.db.session() as session:
        waiting = (
            await session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.person_id) == person_id)
                .where(col(OutboxMessage.status) == "pending")
                .order_by(col(OutboxMessage.due_at))
            )
        ).all()
    assert [m.params["lesson"] for m in waiting] == [3, 4, 5, 6]
    assert waiting[0].due_at == local(2026, 12, 10, 18, 0)
    # Each lesson is sent once, and stays in the chat after the pause.
    headings = [
        plain(
            t._(
                "🎓 <b>%(course)s</b>: lesson %(lesson)s of %(total)s",
                course=course.title(language),
                lesson=number,
                total=6,
            )
        )
        .replace("<b>", "")
        .replace("</b>", "")
        for number in (1, 2)
    ]
    lessons_sent = [
        m
        for m in bot.said_to(user.user_id)
        if any(h in plain(m.plain_text or "") for h in headings)
    ]
    assert len(lessons_sent) == 2

    # Stopping keeps the place; the course page says where it is.
    with time_machine.travel(local(2026, 12, 4, 9, 0), tick=False):
        await bot.send(user.text("/learn"))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("🎓 Courses")))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), course.title(language)))
        await bot.send(press(bot.fake, user, bot.last(user.user_id), t._("⏹ Stop the course")))
        stopped = plain(bot.last(user.user_id).plain_text or "")
    assert plain(t._("⏹ Stopped. You can carry on from lesson %(next)s.", next=3)) in stopped
    async with bot.db.session() as session:
        assert not [
            m
            for m in await outbox.pending_for_person(session, person_id)
            if m.template_key == "course_lesson"
        ]


async def test_a_page_long_past_its_review_is_no_longer_shown(bot: BotUnderTest):
    user, _ = await joined_patient(bot, "en")
    await bot.send(user.text("/learn hypo"))
    found = bot.last(user.user_id)
    hypos = content.library().topics["hypos"]
    withdrawn_on = hypos.review_due.toordinal() + 91
    with time_machine.travel(datetime.fromordinal(withdrawn_on).replace(tzinfo=LONDON), tick=False):
        await bot.send(press(bot.fake, user, found, hypos.pages["en"].title))
        assert "is being checked again by the diabetes team" in (
            bot.last(user.user_id).plain_text or ""
        )
        await bot.send(user.text("/learn hypo"))
        assert "could not find a page" in (bot.last(user.user_id).plain_text or "")


async def test_ratings_are_counted_per_topic_and_language_and_shown_by_the_command(
    bot: BotUnderTest, monkeypatch, capsys
):
    from datetime import UTC

    from bot.cli import main as cli_main
    from bot.services import education

    now = datetime.now(UTC)
    people = []
    numbers = ["9434760003", "9434760011", "9434760038"]
    for index, language in enumerate(["hi", "hi", "ur"]):
        _user, person_id = await joined_patient(
            bot, language, user_id=920_000 + index, nhs_number=numbers[index]
        )
        people.append((person_id, language))
    async with bot.db.session() as session:
        for person_id, language in people:
            person = await session.get(Person, person_id)
            assert person is not None
            await education.rate(
                session, person, topic_id="feet", language=language, helpful=False, now=now
            )
        # Pressing again changes the answer; it is not counted twice.
        first = await session.get(Person, people[0][0])
        assert first is not None
        await education.rate(session, first, topic_id="feet", language="hi", helpful=True, now=now)
    async with bot.db.session() as session:
        counts = await education.rating_counts(session)
    assert [(c.topic_id, c.language, c.helpful, c.not_helpful) for c in counts] == [
        ("feet", "hi", 1, 1),
        ("feet", "ur", 0, 1),
    ]
    monkeypatch.setenv("DATABASE_URL", bot.settings.database_url)
    assert await asyncio.to_thread(cli_main, ["content", "ratings"]) == 0
    out = capsys.readouterr().out
    assert "feet" in out and "50%" in out and "0%" in out


async def test_my_data_shows_courses_and_ratings_and_forget_erases_them(bot: BotUnderTest):
    from datetime import UTC

    from bot.services import account, education

    now = datetime.now(UTC)
    _user, person_id = await joined_patient(bot, "en")
    library = content.library()
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await education.start_course(
            session, person, library.courses["new-to-type-2"], delivery_hour=9, now=now
        )
        await education.rate(
            session, person, topic_id="hypos", language="en", helpful=True, now=now
        )
        exported = await account.export_personal_data(session, person, now)
    assert exported["courses"][0]["course"] == "new-to-type-2"
    assert exported["courses"][0]["lesson_hour"] == 9
    assert exported["page_ratings"] == [
        {
            "topic": "hypos",
            "language": "en",
            "helpful": True,
            "at": exported["page_ratings"][0]["at"],
        }
    ]
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await account.erase(session, person, now)
    async with bot.db.session() as session:
        assert (await session.exec(select(CourseEnrolment))).all() == []
        assert (await session.exec(select(TopicRating))).all() == []
        assert (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.template_key) == "course_lesson")
            )
        ).all() == []


async def test_a_course_whose_lessons_were_dropped_can_carry_on(bot: BotUnderTest):
    """Lessons cancelled while the person had paused all messages (/stop): the course shows as
    paused, and carrying on plans the rest again."""
    from datetime import UTC

    from bot.services import education

    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    _user, person_id = await joined_patient(bot, "en")
    course = content.library().courses["new-to-type-2"]
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        started = await education.start_course(session, person, course, delivery_hour=13, now=now)
        assert started.status is CourseStatus.ACTIVE
        assert started.next_at == local(2026, 11, 23, 13, 0)
        await outbox.cancel_pending_for_person(session, person_id, reason="recipient paused")
        dropped = await education.progress(session, person, course)
        assert dropped.status is CourseStatus.PAUSED and dropped.delivered == 0
        resumed = await education.resume_course(session, person, course, now=now)
        assert resumed.status is CourseStatus.ACTIVE
        assert resumed.next_at == local(2026, 11, 23, 13, 0)


async def test_a_finished_course_started_again_begins_at_lesson_one(bot: BotUnderTest):
    """The lessons of the earlier run do not count towards the new one."""
    from datetime import UTC

    from sqlalchemy import update

    from bot.services import education

    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    _user, person_id = await joined_patient(bot, "en")
    course = content.library().courses["new-to-type-2"]
    async with bot.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await education.start_course(session, person, course, delivery_hour=9, now=now)
        # Every lesson went out.
        await session.exec(  # type: ignore[call-overload]
            update(OutboxMessage)
            .where(col(OutboxMessage.template_key) == "course_lesson")
            .values(status="sent")
        )
        done = await education.progress(session, person, course)
        assert (done.status, done.delivered) == (CourseStatus.FINISHED, 6)
        again = await education.start_course(
            session, person, course, delivery_hour=18, now=now, from_beginning=True
        )
        assert (again.status, again.delivered, again.total) == (CourseStatus.ACTIVE, 0, 6)
        assert again.next_at == local(2026, 11, 23, 18, 0)
        pending = [
            m
            for m in await outbox.pending_for_person(session, person_id)
            if m.template_key == "course_lesson"
        ]
        assert sorted(m.params["lesson"] for m in pending) == [1, 2, 3, 4, 5, 6]
