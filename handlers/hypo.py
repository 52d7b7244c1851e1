"""/hypo, the patient's side of the hypo hotline: "how was your last hypo treated?", and the
"ask the diabetes team to contact me" button under a severe-hypo red flag. A hypo that needed
someone else's help (or an ambulance) becomes a follow-up in the specialist team's queue."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import content, messages
from bot import education_messages as library_words
from bot import hypo_messages as words
from bot.i18n import Translator
from bot.models import Person
from bot.render import Reply, to_markup
from bot.services import hypo_hotline
from bot.services.advice_line import NotAllowed, NotFound
from bot.services.hypo_hotline import SelfReport
from handlers.account import for_joined
from handlers.advice import refresh_cards
from handlers.common import app, now, replace, send

REPORTS = {words.HELP: SelfReport.HELP, words.AMBULANCE: SelfReport.AMBULANCE}


@for_joined
async def hypo_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    if not hypo_hotline.may_report(person):
        await send(update, words.not_for_you(t, person.role), t)
        return
    await send(update, words.question(t), t)


async def follow_up(
    context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator, how: SelfReport
) -> Reply:
    """Asks the team to follow up (a second report within a day joins the first) and builds
    the reply. The one place that answers "someone helped me", so it also asks "Do you
    drive?" (DVLA rules), unless this follow-up already has the answer."""
    ctx = app(context)
    async with ctx.db.session() as session:
        fresh = await session.get(Person, person.id)
        assert fresh is not None
        try:
            request, is_new = await hypo_hotline.self_report(
                session, fresh, how, targets=ctx.advice_targets(), now=now()
            )
        except NotAllowed:
            return words.not_for_you(t, fresh.role)
    reply = words.follow_up(t, request, is_new=is_new, zone=ZoneInfo(person.timezone))
    if request.drives is None and request.id is not None:
        reply = words.with_drive_question(t, reply, request.id)
    return reply


def library_page(person: Person, t: Translator, topic_id: str, heading: str | None = None) -> Reply:
    """The first page of a library topic, as a new message (with a heading above it)."""
    library = content.library()
    topic = library.topic(topic_id)
    if topic is None:
        return library_words.unknown_topic(t)
    today = now().astimezone(ZoneInfo(person.timezone)).date()
    return library_words.topic_view(t, library, topic, 0, today=today, heading=heading)


def hypo_page(person: Person, t: Translator) -> Reply:
    return library_page(person, t, words.HYPOS_TOPIC)


async def drive_answered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator, answer: str
) -> None:
    """ "Do you drive?" under a follow-up: kept on that follow-up for the team; someone who
    drives gets the library's driving page. Only the person whose follow-up it is may answer."""
    query = update.callback_query
    parsed = words.parse_drive(answer)
    if query is None or parsed is None:
        await send(update, messages.use_the_buttons(t), t)
        return
    request_id, drives = parsed
    async with app(context).db.session() as session:
        try:
            request = await hypo_hotline.record_drives(
                session, request_id, person, drives, now=now()
            )
        except NotFound:
            request = None
    if request is None:
        await send(update, words.no_such_follow_up(t), t)
        return
    # The question's buttons go; the reference, the contact-by time and the page button stay.
    try:
        await query.edit_message_reply_markup(to_markup([words.page_button(t)]))
    except BadRequest:
        pass  # too old to edit, or already without them: the answer is kept all the same
    zone = ZoneInfo(person.timezone)
    if drives:
        heading = words.drives_heading(t, request, zone)
        await send(update, library_page(person, t, words.DRIVING_TOPIC, heading), t)
    else:
        await send(update, words.drives_no(t), t)
    await refresh_cards(context, request_id)


@for_joined
async def hypo_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    answer = query.data.removeprefix(words.CB_HYPO)
    if answer.startswith(f"{words.DRIVE}:"):
        await drive_answered(update, context, person, t, answer)
        return
    if answer == words.PAGE:
        # A new message: the one with the button (when the team will call) stays as it is.
        await send(update, hypo_page(person, t), t)
        return
    if not hypo_hotline.may_report(person):
        await replace(query, update, words.not_for_you(t, person.role), t)
        return
    if answer == words.SELF:
        await replace(query, update, words.treated_myself(t), t)
    elif answer in REPORTS:
        await replace(query, update, await follow_up(context, person, t, REPORTS[answer]), t)
    elif answer == words.ASK:
        # Under a red-flag reply: its safety advice stays; the button goes, the answer follows.
        try:
            await query.edit_message_reply_markup(None)
        except BadRequest:
            pass  # too old to edit: a second press joins the first follow-up anyway
        await send(update, await follow_up(context, person, t, SelfReport.HELP), t)
    else:
        await send(update, messages.use_the_buttons(t), t)
