"""/ready (the transition readiness checklist) and the monthly check-in buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import messages
from bot import transition_messages as words
from bot.i18n import Translator
from bot.models import Person
from bot.render import Reply
from bot.services import transition
from bot.services.enrolment import InvalidField
from bot.services.transition import CheckIn
from handlers.account import for_joined
from handlers.common import app, now, replace, send


async def _checklist_step(
    context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> Reply:
    """The next unanswered statement, or the progress when all are answered."""
    assert person.id is not None
    async with app(context).db.session() as session:
        programme = await transition.active_for(session, person.id)
        if programme is None:
            return words.not_in_programme(t)
        given = await transition.answers(session, person.id)
    key = transition.next_statement(given)
    if key is None:
        return words.progress_view(t, transition.progress(given), programme.named_worker)
    first = key == transition.STATEMENT_KEYS[0]
    return words.statement(t, key, programme.named_worker, first=first)


@for_joined
async def ready_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, await _checklist_step(context, person, t), t)


@for_joined
async def transition_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    parts = query.data.removeprefix(words.CB_TRANSITION).split(":")
    async with app(context).db.session() as session:
        fresh = await session.get(Person, person.id)
        assert fresh is not None
        try:
            if parts[0] == "s" and len(parts) == 3:
                await transition.answer_statement(
                    session, fresh, key=parts[1], answer=parts[2], now=now()
                )
                reply = None
            elif parts[0] == "again":
                await transition.restart_checklist(session, fresh)
                reply = None
            elif parts[0] == "c" and len(parts) == 3:
                programme = await transition.check_in(
                    session, fresh, month=parts[1], answer=parts[2], now=now()
                )
                reply = words.check_in_answered(
                    t, CheckIn(parts[2]), programme.named_worker, parts[1]
                )
            else:
                return
        except (InvalidField, ValueError):
            reply = messages.use_the_buttons(t)
    if reply is None:
        reply = await _checklist_step(context, person, t)
    await replace(query, update, reply, t)
