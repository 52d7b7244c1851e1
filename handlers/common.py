"""Small pieces every handler uses: the shared context, the person's language, sending."""

from __future__ import annotations

from datetime import UTC, datetime

from telegram import Bot, BotCommand, BotCommandScopeChat, CallbackQuery, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.context import AppContext
from bot.i18n import Translator, translator
from bot.messages import commands_for
from bot.render import Reply, split_text, to_markup

APP_KEY = "diabridge"


def app(context: ContextTypes.DEFAULT_TYPE) -> AppContext:
    return context.application.bot_data[APP_KEY]


def now() -> datetime:
    return datetime.now(UTC)


async def send(update: Update, reply: Reply, t: Translator | None = None) -> None:
    """Sends a direct reply. `t` is None for a reply already written in every language."""
    chat = update.effective_chat
    if chat is None:
        return
    text = t.finish(reply.text) if t else reply.text
    parts = split_text(text)
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        await chat.send_message(
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=to_markup(reply.buttons) if last else None,
            disable_web_page_preview=True,
        )


async def replace(query: CallbackQuery, update: Update, reply: Reply, t: Translator) -> None:
    """A step in a flow replaces the question whose button was pressed."""
    text = t.finish(reply.text)
    if len(text) <= 4096:
        try:
            await query.edit_message_text(
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=to_markup(reply.buttons),
                disable_web_page_preview=True,
            )
            return
        except BadRequest:
            pass  # too old to edit, or unchanged: send it as a new message instead
    await send(update, reply, t)


async def set_chat_commands(bot: Bot, chat_id: int, language: str, *, staff: bool) -> None:
    """The command menu of one person's chat, in their language; staff see staff commands."""
    t = translator(language)
    await bot.set_my_commands(
        [BotCommand(c, d) for c, d in commands_for(t, staff=staff)],
        scope=BotCommandScopeChat(chat_id),
    )


async def send_to(bot: Bot, chat_id: int, reply: Reply, t: Translator) -> None:
    """Sends a reply to a chat other than the one the update came from (a specialist who
    pressed a button in the team's group is answered in their private chat)."""
    parts = split_text(t.finish(reply.text))
    for index, part in enumerate(parts):
        await bot.send_message(
            chat_id,
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=to_markup(reply.buttons) if index == len(parts) - 1 else None,
            disable_web_page_preview=True,
        )
