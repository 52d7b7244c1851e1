"""The buttons under appointment reminders: I'll be there, change it, can't come, rebook."""

from __future__ import annotations

from telegram import Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import appointment_messages
from bot.i18n import Translator
from bot.models import Person
from bot.services import appointments
from bot.services.enrolment import InvalidField
from handlers.account import for_joined
from handlers.common import app, now, send


def _parse(data: str | None) -> tuple[int, str] | None:
    try:
        _, appointment_id, choice = (data or "").split(":", 2)
        return int(appointment_id), choice
    except ValueError:
        return None


@for_joined
async def reminder_answered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    parsed = _parse(query.data if query else None)
    if query is None or parsed is None:
        return
    appointment_id, choice = parsed
    async with app(context).db.session() as session:
        try:
            outcome = await appointments.answer(
                session, person=person, appointment_id=appointment_id, choice=choice, now=now()
            )
        except (appointments.NotFound, InvalidField):
            reply = appointment_messages.answer_too_late(t)
        else:
            reply = appointment_messages.answer_recorded(
                t,
                outcome.answer,
                clinic_told=outcome.clinic_told,
                phone=outcome.practice_phone,
                already=outcome.already,
            )
    # The answer is given: the reminder keeps its text and loses its buttons, so the same
    # question is not asked twice in the chat.
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest:
        pass
    await send(update, reply, t)
