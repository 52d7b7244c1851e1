"""/learn: the education library (browse, page through, search, rate) and paced courses."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.ext import ContextTypes

from bot import content
from bot import education_messages as words
from bot.i18n import Translator
from bot.models import Person
from bot.render import Reply
from bot.services import education
from bot.services.education import CourseError
from handlers.account import for_joined
from handlers.common import app, now, replace, send

# Shortest query worth searching: one letter finds everything.
MIN_QUERY = 2


def _today(person: Person) -> date:
    return now().astimezone(ZoneInfo(person.timezone)).date()


@for_joined
async def learn_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    """/learn opens the library; /learn <words> searches it."""
    query = " ".join(context.args or []).strip()
    if query:
        await send(update, search_reply(person, t, query) or words.nothing_found(t, query), t)
        return
    library = content.library()
    reply = words.learn_menu(t, library, education.audiences_of(person), _today(person))
    await send(update, reply, t)


def search_reply(person: Person, t: Translator, query: str) -> Reply | None:
    """The pages matching what the person typed, or None when nothing matches."""
    if len(query.strip()) < MIN_QUERY:
        return None
    topics = content.library().search(
        query, t.language, _today(person), education.audiences_of(person)
    )
    return words.search_results(t, query, topics) if topics else None


@for_joined
async def learn_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    parts = query.data.removeprefix(words.CB_LEARN).split(":")
    action, args = parts[0], parts[1:]
    library = content.library()
    today = _today(person)
    audiences = education.audiences_of(person)
    if action == "noop":
        return
    if action == "m":
        reply = words.learn_menu(t, library, audiences, today)
    elif action == "c" and args and args[0] in words.CATEGORY_NAMES:
        reply = words.category_view(t, library, args[0], audiences, today)
    elif action in ("t", "r") and args:
        reply = await _topic_step(context, person, t, action, args)
    elif action == "kP":
        # Pausing from a lesson answers in a new message: the lesson stays readable.
        await send(update, await _course_step(context, person, t, "kp", args), t)
        return
    elif action.startswith("k"):
        reply = await _course_step(context, person, t, action, args)
    else:
        reply = words.unknown_topic(t)
    await replace(query, update, reply, t)


async def _topic_step(
    context: ContextTypes.DEFAULT_TYPE,
    person: Person,
    t: Translator,
    action: str,
    args: list[str],
) -> Reply:
    library = content.library()
    topic = library.topic(args[0])
    if topic is None:
        return words.unknown_topic(t)
    # "t:<topic>:<page>" opens a page; "r:<topic>:<1|0>:<page>" answers "was this helpful?".
    rated: bool | None = None
    page = args[1] if len(args) > 1 else "0"
    if action == "r":
        if len(args) < 3 or args[1] not in ("0", "1"):
            return words.unknown_topic(t)
        rated, page = args[1] == "1", args[2]
        async with app(context).db.session() as session:
            await education.rate(
                session, person, topic_id=topic.id, language=t.language, helpful=rated, now=now()
            )
    index = int(page) if page.isdigit() else 0
    return words.topic_view(t, library, topic, index, today=_today(person), rated=rated)


async def _course_step(
    context: ContextTypes.DEFAULT_TYPE,
    person: Person,
    t: Translator,
    action: str,
    args: list[str],
) -> Reply:
    library = content.library()
    zone = ZoneInfo(person.timezone)
    async with app(context).db.session() as session:
        if action == "k":
            progresses = [
                await education.progress(session, person, course)
                for course in library.courses_for(education.audiences_of(person))
            ]
            return words.courses_view(t, progresses)
        course = library.courses.get(args[0]) if args else None
        if course is None:
            return words.unknown_topic(t)
        try:
            if action == "kv":
                return words.course_view(t, await education.progress(session, person, course), zone)
            if action in ("ks", "kb", "kt"):
                # Start, start from the beginning, or a new time: first the hour.
                step = {"ks": "kh", "kb": "kB", "kt": "kc"}[action]
                return words.choose_hour(t, course, zone, step)
            if action == "kn":
                return words.course_not_now(t)
            hour = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
            if action in ("kh", "kB") and hour is not None:
                entry = await education.start_course(
                    session,
                    person,
                    course,
                    delivery_hour=hour,
                    now=now(),
                    from_beginning=action == "kB",
                )
                return words.course_started(t, entry, zone)
            if action == "kc" and hour is not None:
                entry = await education.change_time(
                    session, person, course, delivery_hour=hour, now=now()
                )
                return words.course_started(t, entry, zone)
            if action == "kp":
                entry = await education.pause_course(session, person, course, now=now())
            elif action == "kr":
                entry = await education.resume_course(session, person, course, now=now())
                return words.course_started(t, entry, zone)
            elif action == "kx":
                entry = await education.stop_course(session, person, course, now=now())
            else:
                return words.unknown_topic(t)
        except CourseError:
            # An old button (the course moved on since): show where it is now.
            entry = await education.progress(session, person, course)
        return words.course_view(t, entry, zone)
