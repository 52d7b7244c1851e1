"""A person's own account: /menu, /help, /privacy, /language, /mydata, /forget, /stop,
the main-menu buttons, and the staff /outbox view."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from telegram import InputFile, Update
from telegram.ext import ContextTypes

from bot import messages
from bot.i18n import Translator, translator
from bot.models import Person, Role
from bot.permissions import Permission, allowed
from bot.services import account, outbox
from handlers.common import app, now, replace, send

PersonHandler = Callable[[Update, ContextTypes.DEFAULT_TYPE, Person, Translator], Awaitable[None]]


def for_joined(
    handler: PersonHandler,
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """Runs the handler for a linked person; anyone else is told how to join."""

    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if user is None:
            return
        async with app(context).db.session() as session:
            person = await account.person_for_telegram(session, user.id)
        if update.callback_query is not None:
            await update.callback_query.answer()
        if person is None:
            await send(update, messages.not_joined())
            return
        await handler(update, context, person, translator(person.language))

    wrapper.__name__ = handler.__name__
    return wrapper


@for_joined
async def menu(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, messages.main_menu(t, person.role), t)


@for_joined
async def help_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, messages.help_text(t), t)


@for_joined
async def privacy(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, messages.privacy_text(t, person.role), t)


@for_joined
async def language(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, messages.choose_new_language(t, person.language), t)


@for_joined
async def mydata(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    async with app(context).db.session() as session:
        fresh = await session.get(Person, person.id)
        assert fresh is not None
        export = await account.export_personal_data(session, fresh, now())
    document = json.dumps(export, ensure_ascii=False, indent=2).encode("utf-8")
    if update.effective_chat is not None:
        await update.effective_chat.send_document(
            InputFile(document, filename="diabridge-my-data.json"),
            caption=t.finish(messages.mydata_caption(t)),
            parse_mode="HTML",
        )


@for_joined
async def forget(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await send(update, messages.confirm_forget(t), t)


@for_joined
async def forget_answered(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    assert query is not None
    if query.data != f"{messages.CB_FORGET}yes":
        await replace(query, update, messages.forget_cancelled(t, person.role), t)
        return
    async with app(context).db.session() as session:
        fresh = await session.get(Person, person.id)
        if fresh is not None:
            await account.erase(session, fresh, now())
    await replace(query, update, messages.forgotten(t), t)
    if update.effective_chat is not None:
        # The chat's own command menu named staff or person commands; it goes with the record.
        from telegram import BotCommandScopeChat

        await context.bot.delete_my_commands(scope=BotCommandScopeChat(update.effective_chat.id))


@for_joined
async def stop(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    async with app(context).db.session() as session:
        fresh = await session.get(Person, person.id)
        assert fresh is not None
        await account.pause(session, fresh, now())
    await send(update, messages.paused(t), t)


@for_joined
async def outbox_status(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    if not allowed(Role(person.role), Permission.VIEW_OUTBOX):
        await send(update, messages.staff_only(t), t)
        return
    ctx = app(context)
    async with ctx.db.session() as session:
        counts = await outbox.status_counts(session)
        oldest = await outbox.oldest_pending_due(session)
    when = t.datetime(oldest, ctx.settings.zone) if oldest else None
    await send(update, messages.outbox_status(t, dict(counts), when), t)


MENU_ACTIONS: dict[str, Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]] = {
    "help": help_command,
    "language": language,
    "privacy": privacy,
    "mydata": mydata,
    "stop": stop,
    "outbox": outbox_status,
}


async def menu_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    action = MENU_ACTIONS.get(query.data.removeprefix(messages.CB_MENU))
    if action is None:
        await query.answer()
        return
    await action(update, context)
