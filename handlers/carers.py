"""/carer: a patient invites or removes a carer; a carer sees and ends whose reminders they get."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import carer_messages
from bot.i18n import Translator
from bot.models import Person, Role
from bot.render import Reply
from bot.services import carers
from handlers.account import for_joined
from handlers.common import app, now, replace, send


async def _screen(context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator) -> Reply:
    assert person.id is not None
    async with app(context).db.session() as session:
        if Role(person.role) in carers.MAY_INVITE:
            return carer_messages.carers_screen(t, await carers.carers_of(session, person.id))
        if Role(person.role) is Role.CARER:
            helped = await carers.cared_for(session, person.id)
            return carer_messages.cared_for_screen(
                t, [(link.id or 0, patient.display_name) for link, patient in helped]
            )
    return carer_messages.refused(t, "not_a_patient")


@for_joined
async def carer_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, await _screen(context, person, t), t)


@for_joined
async def carer_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    action = query.data.removeprefix(carer_messages.CB_CARER)
    ctx = app(context)
    async with ctx.db.session() as session:
        try:
            if action == "invite":
                issued = await carers.invite(
                    session, person, now=now(), timezone=ctx.settings.timezone
                )
                username = context.bot.username
                reply = carer_messages.invitation(t, f"https://t.me/{username}?start={issued.code}")
            elif action.startswith("remove:"):
                patient, carer = await carers.remove(
                    session, by=person, link_id=int(action.removeprefix("remove:")), now=now()
                )
                reply = carer_messages.removed(
                    t,
                    by_patient=patient.id == person.id,
                    patient_name=patient.display_name,
                    carer_name=carer.display_name,
                )
            else:
                return
        except (carers.CarerRefused, ValueError) as refusal:
            reply = carer_messages.refused(t, str(refusal))
    await replace(query, update, reply, t)
