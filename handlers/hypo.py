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
from bot.render import Reply
from bot.services import hypo_hotline
from bot.services.advice_line import NotAllowed
from bot.services.hypo_hotline import SelfReport
from handlers.account import for_joined
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
    the reply. The one place that answers "someone helped me": a later question (issue 6,
    "do you drive?") is added to this reply here."""
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
    return words.follow_up(t, request, is_new=is_new, zone=ZoneInfo(person.timezone))


def hypo_page(person: Person, t: Translator) -> Reply:
    library = content.library()
    topic = library.topic(words.HYPOS_TOPIC)
    if topic is None:
        return library_words.unknown_topic(t)
    today = now().astimezone(ZoneInfo(person.timezone)).date()
    return library_words.topic_view(t, library, topic, 0, today=today)


@for_joined
async def hypo_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    answer = query.data.removeprefix(words.CB_HYPO)
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
