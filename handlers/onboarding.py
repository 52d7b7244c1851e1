"""Joining: /start with or without a code, the language, the path, consent."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import carer_messages, messages
from bot.context import AppContext
from bot.i18n import normalise_language, translator
from bot.models import Person, Role
from bot.render import Reply
from bot.services import account, carers, education, enrolment, health_checks
from bot.services.enrolment import CodeRefused, JoinPath, SessionView, Step
from handlers.common import app, now, replace, send, set_chat_commands


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    ctx = app(context)
    code = context.args[0] if context.args else None
    async with ctx.db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        if person is not None and code:
            # Someone already using the bot opens a carer link from a person they help.
            reply = await _accept_carer_link(session, person, code, ctx)
            if reply is None:
                await account.resume(session, person, chat.id, now())
                reply = messages.welcome_back(translator(person.language), person.role)
            language, role = person.language, person.role
        elif person is not None:
            await account.resume(session, person, chat.id, now())
            reply = messages.welcome_back(translator(person.language), person.role)
            language, role = person.language, person.role
        elif code:
            outcome = await enrolment.start_with_code(session, user.id, code, now())
            reply = _refused(outcome, None, ctx) if isinstance(outcome, CodeRefused) else None
            if reply is None:
                assert isinstance(outcome, SessionView)
                reply = messages.choose_language(outcome.preselected_language)
            language = role = None
        else:
            view = await enrolment.start_without_code(
                session, user.id, normalise_language(user.language_code), now()
            )
            reply = messages.choose_language(view.preselected_language)
            language = role = None
    if language is not None and role is not None:
        t = translator(language)
        await send(update, reply, t)
        await set_chat_commands(context.bot, chat.id, language, staff=Role(role).is_staff)
    else:
        await send(update, reply)


async def _accept_carer_link(
    session: AsyncSession, person: Person, code: str, ctx: AppContext
) -> Reply | None:
    t = translator(person.language)
    try:
        patient = await carers.accept_as_existing_user(
            session, person, code, now=now(), plans=ctx.reminder_plans()
        )
    except carers.CarerRefused as refusal:
        return carer_messages.refused(t, str(refusal))
    if patient is None:
        return None
    return carer_messages.now_receiving(t, [patient.display_name])


def _refused(outcome: CodeRefused, language: str | None, ctx: AppContext) -> Reply:
    return messages.code_refused(
        outcome.problem,
        language=language,
        locked_until=outcome.locked_until,
        zone=ctx.settings.zone,
        valid_days=ctx.settings.enrolment_code_days,
    )


def render_step(view: SessionView) -> Reply:
    assert view.language is not None
    t = translator(view.language)
    if view.step is Step.CHOOSE_PATH:
        return messages.choose_path(t)
    if view.step is Step.ENTER_CODE:
        return messages.enter_code(t)
    assert view.path is not None
    return messages.consent(t, view.path, view.role)


async def language_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The language buttons, both while joining and from /language."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or not query.data:
        return
    await query.answer()
    language = query.data.removeprefix(messages.CB_LANGUAGE)
    ctx = app(context)
    async with ctx.db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        if person is not None:
            await account.set_language(session, person, language, now())
            role = person.role
            view = None
        else:
            view = await enrolment.choose_language(session, user.id, language, now())
            role = None
    t = translator(language)
    if role is not None:
        await replace(query, update, messages.language_changed(t, role), t)
        if update.effective_chat:
            await set_chat_commands(
                context.bot, update.effective_chat.id, language, staff=Role(role).is_staff
            )
    elif view is None:
        await send(update, messages.not_joined())
    else:
        await replace(query, update, render_step(view), t)


async def path_chosen(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or not query.data:
        return
    await query.answer()
    try:
        path = JoinPath(query.data.removeprefix(messages.CB_PATH))
    except ValueError:
        return
    ctx = app(context)
    async with ctx.db.session() as session:
        view = await enrolment.choose_path(session, user.id, path, now())
    if view is None or view.language is None:
        await send(update, messages.not_joined())
        return
    await replace(query, update, render_step(view), translator(view.language))


async def code_typed(update: Update, context: ContextTypes.DEFAULT_TYPE, view: SessionView) -> None:
    """Text from someone who chose "I have a code" and is asked to type it."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or message.text is None:
        return
    ctx = app(context)
    async with ctx.db.session() as session:
        outcome = await enrolment.enter_code(session, user.id, message.text, now())
    language = view.language
    if isinstance(outcome, CodeRefused):
        await send(update, _refused(outcome, language, ctx))
    elif outcome is None:
        await send(update, messages.not_joined())
    else:
        await send(update, render_step(outcome), translator(outcome.language))


async def consent_answered(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, user, chat = update.callback_query, update.effective_user, update.effective_chat
    if query is None or user is None or chat is None or not query.data:
        return
    await query.answer()
    agreed = query.data == f"{messages.CB_CONSENT}yes"
    ctx = app(context)
    async with ctx.db.session() as session:
        view = await enrolment.current_session(session, user.id)
        if view is None or view.language is None:
            outcome = None
        elif not agreed:
            await enrolment.decline(session, user.id)
            outcome = "declined"
        else:
            outcome = await enrolment.agree(
                session,
                user.id,
                chat.id,
                display_name=user.first_name or "",
                now=now(),
                timezone=ctx.settings.timezone,
            )
            helped: list[Person] = []
            if isinstance(outcome, enrolment.Joined):
                await account.queue_welcome_followup(session, outcome.person, now())
                if outcome.person.role == Role.CARER:
                    helped = await carers.on_joined(
                        session, outcome.person, now=now(), plans=ctx.reminder_plans()
                    )
                elif outcome.person.role == Role.AT_RISK:
                    # Invited with a practice's cohort: their Health Check invitation follows.
                    await health_checks.on_joined(
                        session, outcome.person, now=now(), plans=ctx.reminder_plans()
                    )
                else:
                    # Registered soon after diagnosis: the course for their type is offered.
                    await education.offer_course_if_new(session, outcome.person, now=now())
    if view is None or view.language is None or outcome is None:
        await send(update, messages.not_joined())
        return
    t = translator(view.language)
    if outcome == "declined":
        await replace(query, update, messages.not_now(t), t)
    elif isinstance(outcome, CodeRefused):
        await replace(query, update, _refused(outcome, view.language, ctx), t)
    else:
        assert isinstance(outcome, enrolment.Joined)
        person = outcome.person
        reply = messages.welcome(
            t, name=person.display_name, role=person.role, practice=person.practice_ods
        )
        if helped:
            # A carer who joined through an invitation: say whose reminders now come.
            reply = messages.main_menu(
                t,
                person.role,
                heading=carer_messages.now_receiving(t, [p.display_name for p in helped]).text,
            )
        await replace(query, update, reply, t)
        await set_chat_commands(
            context.bot, chat.id, view.language, staff=Role(person.role).is_staff
        )
