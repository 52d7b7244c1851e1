"""Whatever a person types or sends outside a command: red flags first, then a code being
typed, then a search of the education library, then a friendly "I did not understand".
Plus blocking and the error handler."""

from __future__ import annotations

import logging

from telegram import ChatMember, Update
from telegram.error import Forbidden
from telegram.ext import ContextTypes

from bot import hypo_messages, messages, metrics
from bot.i18n import in_every_language, normalise_language, translator
from bot.models import Role
from bot.services import (
    account,
    audit,
    enrolment,
    health_checks,
    hypo_hotline,
    practices,
    specialist_team,
)
from bot.services.enrolment import Step
from bot.services.safety import RedFlagAction, detect_red_flag
from handlers import advice, care_plan, pre_review
from handlers import health_checks as health_check_handlers
from handlers.common import app, now, send
from handlers.education import search_reply
from handlers.onboarding import code_typed

log = logging.getLogger(__name__)


async def _reply_red_flag(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> bool:
    flag = detect_red_flag(text)
    if flag is None:
        return False
    user = update.effective_user
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id) if user else None
        language = (
            person.language
            if person
            else (await account.language_for_telegram(session, user.id) if user else None)
        )
        if person is not None:
            # The rule's name only: what the person wrote is clinical text and is not kept here.
            await audit.record(
                session,
                actor=audit.person_actor(person.id),
                action="safety.red_flag_reply",
                person_id=person.id,
                detail=flag.rule,
                at=now(),
            )
    metrics.RED_FLAGS.labels(flag.action.value).inc()
    language = language or (normalise_language(user.language_code) if user else None)
    if language is None:
        await send(
            update,
            messages.Reply(in_every_language(lambda t: messages.red_flag(t, flag.action).text)),
        )
    else:
        t = translator(language)
        reply = messages.red_flag(t, flag.action)
        if (
            flag.action is RedFlagAction.SEVERE_HYPO
            and person is not None
            and hypo_hotline.may_report(person)
        ):
            # Only a press asks the team: "my hypo last year needed help" creates nothing.
            reply = hypo_messages.with_ask_team_button(t, reply)
        await send(update, reply, t)
    return True


async def text_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None:
        return
    # A clinician's words first: a GP's question about a patient's hypo, or a specialist's
    # answer, is clinical text for the advice line, not someone telling us of an emergency.
    if await advice.take_typed(update, context):
        return
    # A person's own words for their review ("what matters most to you now?") are saved first,
    # and still read for red flags below: the safety reply goes first, then the next question.
    typed = await pre_review.take_words(update, context)
    # Then safety before anything else, even in the middle of joining.
    if await _reply_red_flag(update, context, message.text):
        if typed is not None:
            await send(update, typed.reply, typed.t)
        return
    if typed is not None:
        await send(update, typed.reply, typed.t)
        return
    # A new goal in their own words, after "change my goal" under a care plan check-in.
    if await care_plan.take_typed(update, context):
        return
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        view = None if person else await enrolment.current_session(session, user.id)
        # Only people who can be asked the Health Check questions may be typing an answer.
        check = (
            await health_checks.for_person(session, person.id)
            if person and person.id and Role(person.role) in health_check_handlers.MAY_ASK
            else None
        )
    if person is not None and health_check_handlers.waits_for_typing(check):
        assert check is not None
        await health_check_handlers.typed_answer(update, context, person, check)
    elif person is not None:
        t = translator(person.language)
        # Words typed outside any question are read as a search of the library ("पैर",
        # "پاؤں", "feet"); an unknown command or words matching nothing get the help.
        found = None if message.text.startswith("/") else search_reply(person, t, message.text)
        await send(update, found or messages.not_understood(t, person.role), t)
    elif view is not None and view.step is Step.ENTER_CODE:
        await code_typed(update, context, view)
    elif view is not None and view.language is not None:
        t = translator(view.language)
        await send(update, messages.use_the_buttons(t), t)
    else:
        await send(update, messages.not_joined())


async def edited_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An edit is read for red flags only: acting on it again would repeat an action."""
    message = update.edited_message
    if message is not None and message.text:
        await _reply_red_flag(update, context, message.text)


async def media_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None:
        return
    # A foot photo or a letter for a GP's advice request in progress.
    if await advice.take_media(update, context):
        return
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        language = (
            person.language if person else await account.language_for_telegram(session, user.id)
        )
    if language is None:
        await send(
            update,
            messages.Reply(in_every_language(lambda t: messages.cannot_read_media(t, None).text)),
        )
        return
    t = translator(language)
    await send(update, messages.cannot_read_media(t, person.role if person else None), t)


async def my_chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A person who blocks the bot is marked inactive and their waiting messages cancelled."""
    change = update.my_chat_member
    if change is None:
        return
    if change.chat.type != "private":
        # Removed from a practice's staff group: its news goes to its staff directly instead.
        if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
            async with app(context).db.session() as session:
                await practices.forget_staff_chat(session, change.chat.id, now=now())
                await specialist_team.forget_chat(session, change.chat.id, now=now())
        return
    if change.new_chat_member.status in (ChatMember.BANNED, ChatMember.LEFT):
        async with app(context).db.session() as session:
            await account.deactivate(
                session, now=now(), telegram_user_id=change.from_user.id, reason="blocked the bot"
            )


async def error_handler(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Only the error's type and where: an update can hold an NHS number or clinical text.
    error = context.error
    log.error(
        "handler failed: %s",
        type(error).__name__,
        exc_info=(type(error), error, error.__traceback__) if error else None,
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    user = update.effective_user
    if isinstance(error, Forbidden) and user is not None:
        # They blocked the bot while we were answering: the same as a `kicked` update.
        async with app(context).db.session() as session:
            await account.deactivate(
                session, now=now(), telegram_user_id=user.id, reason="blocked the bot"
            )
        return
    language = None
    try:
        async with app(context).db.session() as session:
            language = await account.language_for_telegram(session, user.id) if user else None
    except Exception:
        log.debug("could not look up the language for an apology", exc_info=True)
    try:
        if language:
            t = translator(language)
            await send(update, messages.something_went_wrong(t), t)
        else:
            await send(
                update,
                messages.Reply(in_every_language(lambda t: messages.something_went_wrong(t).text)),
            )
    except Exception:
        log.warning("could not send the apology either: %s", type(error).__name__)
