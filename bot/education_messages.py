"""What the education library says: the /learn menu, topic pages with their buttons, search
results, courses, and the outbox templates for lessons, campaigns and course offers."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from bot import content
from bot.content import Course, Library, Topic
from bot.content_render import render_topic
from bot.i18n import N_, Translator
from bot.messages import OutboxTemplate, Recipient, emergency_line
from bot.models import CourseStatus
from bot.render import Button, Reply
from bot.services.education import LESSON_HOURS, CourseProgress

CB_LEARN = "learn:"
# Telegram allows 64 bytes of callback data; topic and course ids are kept well under.
CB_MENU = f"{CB_LEARN}m"
CB_NOOP = f"{CB_LEARN}noop"

CATEGORY_NAMES: dict[str, str] = {
    "about": N_("🩺 About diabetes"),
    "staying-safe": N_("🚨 Staying safe"),
    "checks": N_("👣 Feet, eyes, kidneys, heart"),
    "everyday": N_("🍲 Everyday life"),
    "pregnancy": N_("🤰 Pregnancy"),
    "prevention": N_("🛡️ Preventing type 2"),
    "young-people": N_("🎒 Young people"),
    "caring": N_("🤝 Caring for someone"),
}
SUGGESTED = 4
RELATED = 4


def _today() -> date:
    return datetime.now(UTC).date()


def _back_to_library(t: Translator) -> Button:
    return Button(t._("📚 Library"), data=CB_MENU)


def learn_menu(t: Translator, library: Library, audiences: set[str], today: date) -> Reply:
    text = "\n".join(
        [
            t._("📚 <b>Learn about diabetes</b>"),
            "",
            t._(
                "Short pages checked against NHS guidance, in your language. Choose a subject, "
                "or just type what you are looking for (for example: feet)."
            ),
        ]
    )
    rows: list[list[Button]] = []
    suggested = library.suggested(audiences, today, SUGGESTED)
    if suggested:
        text += "\n\n" + t._("⭐ Suggested for you first, then the subjects.")
        rows += [[_topic_button(t, topic, star=True)] for topic in suggested]
    # The person's own categories first: a young person does not start at pregnancy.
    categories = library.categories_for(audiences, today)
    buttons = [Button(t._(CATEGORY_NAMES[key]), data=f"{CB_LEARN}c:{key}") for key in categories]
    rows += [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if library.courses:
        rows.append([Button(t._("🎓 Courses"), data=f"{CB_LEARN}k")])
    return Reply(text, rows)


def _topic_button(t: Translator, topic: Topic, star: bool = False) -> Button:
    title = topic.page(t.language).title
    return Button(f"⭐ {title}" if star else title, data=f"{CB_LEARN}t:{topic.id}:0")


def category_view(
    t: Translator, library: Library, category: str, audiences: set[str], today: date
) -> Reply:
    topics = library.in_category(category, audiences, today)
    text = f"<b>{t._(CATEGORY_NAMES[category])}</b>\n\n" + t._("Choose a page:")
    rows = [[_topic_button(t, topic)] for topic in topics]
    rows.append([_back_to_library(t)])
    return Reply(text, rows)


def topic_view(
    t: Translator,
    library: Library,
    topic: Topic,
    index: int,
    *,
    today: date,
    rated: bool | None = None,
    heading: str | None = None,
    extra: list[list[Button]] | None = None,
) -> Reply:
    """One chat page of a topic, with paging; the last page asks "was this helpful?" and
    offers the related topics."""
    if not topic.shown_on(today):
        return topic_withdrawn(t)
    page = topic.page(t.language)
    pages = render_topic(page, t).pages
    index = max(0, min(index, len(pages) - 1))
    text = pages[index]
    if heading:
        text = f"{heading}\n\n{text}"
    rows: list[list[Button]] = []
    if len(pages) > 1:
        nav = []
        if index > 0:
            nav.append(Button(t._("◀ Back"), data=f"{CB_LEARN}t:{topic.id}:{index - 1}"))
        nav.append(
            Button(t._("%(page)s of %(pages)s", page=index + 1, pages=len(pages)), data=CB_NOOP)
        )
        if index < len(pages) - 1:
            nav.append(Button(t._("Next ▶"), data=f"{CB_LEARN}t:{topic.id}:{index + 1}"))
        rows.append(nav)
    if index == len(pages) - 1:
        if rated is None:
            text += "\n\n" + t._("Was this page helpful?")
            rows.append(
                [
                    Button(t._("👍 Yes"), data=f"{CB_LEARN}r:{topic.id}:1:{index}"),
                    Button(t._("👎 Not really"), data=f"{CB_LEARN}r:{topic.id}:0:{index}"),
                ]
            )
        else:
            text += "\n\n" + t._("✅ Thank you for telling us. It helps us improve the pages.")
        related = [
            library.topics[key]
            for key in dict.fromkeys((*page.related, *page.linked_topics))
            if key in library.topics and library.topics[key].shown_on(today)
        ][:RELATED]
        if related:
            text += "\n\n" + t._("<b>Related pages:</b>")
            rows += [[_topic_button(t, other)] for other in related]
    rows += extra or []
    rows.append([_back_to_library(t)])
    return Reply(text, rows)


def topic_withdrawn(t: Translator) -> Reply:
    return Reply(
        t._(
            "This page is being checked again by the diabetes team and is not shown for now. "
            "Please ask your GP practice or diabetes team, or choose another page."
        ),
        [[Button(t._("📚 Library"), data=CB_MENU)]],
    )


def unknown_topic(t: Translator) -> Reply:
    return Reply(t._("That page is no longer in the library."), [[_back_to_library(t)]])


def search_results(t: Translator, query: str, topics: list[Topic]) -> Reply:
    text = t._("📚 Pages that match “%(query)s”:", query=query[:60])
    rows = [[_topic_button(t, topic)] for topic in topics]
    rows.append([_back_to_library(t)])
    return Reply(text, rows)


def nothing_found(t: Translator, query: str) -> Reply:
    return Reply(
        t._(
            "I could not find a page about “%(query)s”. Try another word (for example: feet), "
            "or open the library and choose a subject.",
            query=query[:60],
        ),
        [[_back_to_library(t)]],
    )


# Courses -------------------------------------------------------------------------------------


def _hour_label(t: Translator, hour: int, zone: Any) -> str:
    return t.time(datetime.combine(_today(), time(hour), zone), zone)


def courses_view(t: Translator, progresses: list[CourseProgress]) -> Reply:
    lines = [
        t._("🎓 <b>Courses</b>"),
        "",
        t._("Short lessons that arrive one at a time, at the time of day you choose."),
    ]
    rows = []
    for entry in progresses:
        course = entry.course
        lines += ["", f"<b>{course.title(t.language)}</b>", course.summary(t.language)]
        mark = (
            {
                CourseStatus.ACTIVE: "▶️ ",
                CourseStatus.PAUSED: "⏸ ",
                CourseStatus.FINISHED: "✅ ",
            }.get(entry.status, "")
            if entry.status
            else ""
        )
        rows.append([Button(f"{mark}{course.title(t.language)}", data=f"{CB_LEARN}kv:{course.id}")])
    rows.append([_back_to_library(t)])
    return Reply("\n".join(lines), rows)


def course_view(t: Translator, entry: CourseProgress, zone: Any) -> Reply:
    course = entry.course
    lines = [
        f"🎓 <b>{course.title(t.language)}</b>",
        course.summary(t.language),
        "",
        t.ngettext(
            "%(num)s lesson, one every %(days)s days.",
            "%(num)s lessons, one every %(days)s days.",
            entry.total,
            days=course.every_days,
        )
        if course.every_days != 7
        else t.ngettext("%(num)s lesson, one a week.", "%(num)s lessons, one a week.", entry.total),
    ]
    status = entry.status
    key = course.id
    rows: list[list[Button]] = []
    if status is None:
        rows.append([Button(t._("▶️ Start the course"), data=f"{CB_LEARN}ks:{key}")])
    elif status is CourseStatus.FINISHED:
        lines += ["", t._("✅ You have had every lesson of this course. Well done!")]
        rows.append([Button(t._("🔁 Start again"), data=f"{CB_LEARN}kb:{key}")])
    else:
        lines += [
            "",
            t._("Lessons sent: %(done)s of %(total)s.", done=entry.delivered, total=entry.total),
        ]
        if status is CourseStatus.ACTIVE:
            if entry.next_at is not None:
                lines.append(t._("Next lesson: %(when)s.", when=_when(t, entry.next_at, zone)))
            rows.append(
                [
                    Button(t._("⏸ Pause"), data=f"{CB_LEARN}kp:{key}"),
                    Button(t._("🕒 Change time"), data=f"{CB_LEARN}kt:{key}"),
                ]
            )
            rows.append([Button(t._("⏹ Stop the course"), data=f"{CB_LEARN}kx:{key}")])
        else:
            lines.append(
                t._("⏸ Paused. You can carry on from lesson %(next)s.", next=entry.delivered + 1)
                if status is CourseStatus.PAUSED
                else t._(
                    "⏹ Stopped. You can carry on from lesson %(next)s.", next=entry.delivered + 1
                )
            )
            rows.append([Button(t._("▶️ Carry on"), data=f"{CB_LEARN}kr:{key}")])
            if entry.delivered:
                rows.append(
                    [Button(t._("🔁 Start from the beginning"), data=f"{CB_LEARN}kb:{key}")]
                )
            if status is CourseStatus.PAUSED:
                rows.append([Button(t._("⏹ Stop the course"), data=f"{CB_LEARN}kx:{key}")])
    rows.append([Button(t._("🎓 Courses"), data=f"{CB_LEARN}k"), _back_to_library(t)])
    return Reply("\n".join(lines), rows)


def _when(t: Translator, moment: datetime, zone: Any) -> str:
    local = moment.astimezone(zone)
    return t._(
        "%(day)s at %(time)s",
        day=t.date(local.date(), "full"),
        time=t.time(local, zone),
    )


def choose_hour(t: Translator, course: Course, zone: Any, action: str) -> Reply:
    """`action` is the callback step that receives the hour (start, restart, new time)."""
    buttons = [
        Button(_hour_label(t, hour, zone), data=f"{CB_LEARN}{action}:{course.id}:{hour}")
        for hour in LESSON_HOURS
    ]
    return Reply(
        t._("🕒 What time of day suits you for the lessons?"),
        [buttons[:2], buttons[2:], [Button(t._("◀ Back"), data=f"{CB_LEARN}kv:{course.id}")]],
    )


def course_started(t: Translator, entry: CourseProgress, zone: Any) -> Reply:
    view = course_view(t, entry, zone)
    if entry.next_at is None:
        return view
    heading = t._(
        "👍 You are on the course. Lesson %(lesson)s arrives %(when)s.",
        lesson=entry.delivered + 1,
        when=_when(t, entry.next_at, zone),
    )
    return Reply(f"{heading}\n\n{view.text}", view.buttons)


def course_not_now(t: Translator) -> Reply:
    return Reply(
        t._("No problem. You can start it any time: send /learn and choose “Courses”."),
        [[_back_to_library(t)]],
    )


# Outbox templates ----------------------------------------------------------------------------


def _topic_or_fail(library: Library, topic_id: str, today: date) -> Topic:
    topic = library.topic(topic_id)
    # A page withdrawn for review is not sent; the row is marked failed with this reason.
    if topic is None:
        raise LookupError(f"topic {topic_id!r} is not in the library")
    if not topic.shown_on(today):
        raise LookupError(f"topic {topic_id!r} is past its review and withdrawn")
    return topic


def _course_lesson(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    library = content.library()
    today = _today()
    course = library.courses.get(params["course"])
    topic = _topic_or_fail(library, params["topic"], today)
    total = len(course.lessons) if course else params["lesson"]
    title = course.title(t.language) if course else ""
    heading = t._(
        "🎓 <b>%(course)s</b>: lesson %(lesson)s of %(total)s",
        course=title,
        lesson=params["lesson"],
        total=total,
    )
    extra = (
        # "kP": pause from a lesson; the answer comes as a new message so the lesson stays.
        [[Button(t._("⏸ Pause the course"), data=f"{CB_LEARN}kP:{course.id}")]] if course else []
    )
    return topic_view(t, library, topic, 0, today=today, heading=heading, extra=extra)


def _education_campaign(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    library = content.library()
    today = _today()
    topic = _topic_or_fail(library, params["topic"], today)
    heading = t._("📣 Your diabetes team thought this page would be useful now.")
    return topic_view(t, library, topic, 0, today=today, heading=heading)


def _course_offer(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    course = content.library().courses[params["course"]]
    text = "\n\n".join(
        [
            t._("Hello %(name)s.", name=who.name),
            t._(
                "Your GP practice told us that you found out about your diabetes not long ago. "
                "Many people find a short course helps at the start:"
            ),
            f"🎓 <b>{course.title(t.language)}</b>\n{course.summary(t.language)}",
            t.ngettext(
                "%(num)s short lesson, in your language, at a time of day you choose.",
                "%(num)s short lessons, in your language, at a time of day you choose.",
                len(course.lessons),
            ),
            t._("Would you like to start?"),
            emergency_line(t),
        ]
    )
    return Reply(
        text,
        [
            [Button(t._("▶️ Start the course"), data=f"{CB_LEARN}ks:{course.id}")],
            [Button(t._("Not now"), data=f"{CB_LEARN}kn:{course.id}")],
        ],
    )


OUTBOX_TEMPLATES: dict[str, OutboxTemplate] = {
    "course_lesson": _course_lesson,
    "education_campaign": _education_campaign,
    "course_offer": _course_offer,
}
