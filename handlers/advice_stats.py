"""/stats in the specialist team's group: this month's advice-line figures, then a chart of the
last 12 weeks."""

from __future__ import annotations

import asyncio
from functools import partial

from telegram import InputFile, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import advice_stats_messages as words
from bot.advice_chart import weekly_chart_png
from bot.i18n import Translator, translator
from bot.render import Reply
from bot.services import account, advice_stats
from handlers.common import app, now, send


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    ctx = app(context)
    zone = ctx.settings.zone
    team = translator(words.TEAM_LANGUAGE)
    stats: advice_stats.TeamStats | None = None
    refusal: tuple[Reply, Translator] | None = None
    async with ctx.db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        try:
            stats = await advice_stats.team_stats(
                session, person, chat_id=chat.id, now=now(), zone=zone
            )
        except advice_stats.NotTeamChat:
            # In the sender's language: this is not the team's (English) group.
            t = translator(person.language if person else None)
            refusal = (words.not_team_group(t), t)
        except advice_stats.NotTeamMember:
            refusal = (words.team_only(team), team)
    if stats is None:
        if refusal is not None:
            await send(update, *refusal)
        return
    await send(update, words.stats_reply(team, stats.month, zone), team)
    # Drawing takes a tenth of a second: off the event loop, so other chats are not kept waiting.
    png = await asyncio.to_thread(
        partial(
            weekly_chart_png,
            stats.weeks,
            title=words.chart_title(team),
            labels=words.chart_labels(team),
            week_label=partial(words.week_label, team),
        )
    )
    await chat.send_photo(
        photo=InputFile(png, filename=f"advice-line-{stats.month.month:%Y-%m}.png"),
        caption=team.finish(words.chart_caption(team)),
        parse_mode=ParseMode.HTML,
    )
