"""/practice_chat, sent in a group by a practice's staff: the group becomes its staff chat."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import appointment_messages
from bot.i18n import translator
from bot.services import account, practices
from handlers.common import app, now, send


async def practice_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    async with app(context).db.session() as session:
        staff = await account.person_for_telegram(session, user.id)
        t = translator(staff.language if staff else None)
        try:
            if staff is None:
                raise practices.NotPracticeStaff
            practice = await practices.link_staff_chat(session, staff, chat.id, now=now())
        except practices.NotPracticeStaff:
            reply = appointment_messages.staff_chat_refused(t)
        else:
            reply = appointment_messages.staff_chat_linked(t, practice.name, practice.ods_code)
    await send(update, reply, t)
