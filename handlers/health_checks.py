"""/healthcheck: the questions that decide an NHS Health Check, and the invitation's buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import health_check_messages as words
from bot import messages
from bot.i18n import Translator, translator
from bot.models import HealthCheck, HealthCheckStatus, Person, Role
from bot.render import Reply
from bot.services import health_checks
from bot.services.health_checks import Answer, InvalidAnswer, Progress, Step
from handlers.account import for_joined
from handlers.common import app, now, replace, send

# Who may be invited: people without diabetes. Carers may be at risk themselves.
MAY_ASK = frozenset({Role.AT_RISK, Role.CARER})
TYPED_STEPS = frozenset({Step.BIRTH_DATE, Step.LAST_CHECK_DATE})


@for_joined
async def health_check_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    if Role(person.role) not in MAY_ASK:
        await send(update, words.not_for_you(t), t)
        return
    async with app(context).db.session() as session:
        await health_checks.start_questions(session, person, now=now())
    await send(update, words.intro(t), t)


async def _answer(
    context: ContextTypes.DEFAULT_TYPE, person_id: int | None, step: Step, value: str
) -> Reply:
    """Saves one answer and renders what comes next: a question, the invitation, or why not."""
    ctx = app(context)
    async with ctx.db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        t = translator(person.language)
        try:
            progress: Progress = await health_checks.answer(
                session, person, step=step, value=value, now=now(), plans=ctx.reminder_plans()
            )
        except InvalidAnswer as problem:
            if step in TYPED_STEPS and str(problem) != "stale":
                return words.cannot_read(t, str(problem))
            return messages.use_the_buttons(t)
        if progress.next_step is not None:
            return words.ask(t, progress.next_step)
        result = progress.eligibility
        assert result is not None
        if result.eligible:
            return words.invitation(t, await health_checks.how_to_book(session, person))
        assert result.reason is not None
        return words.outcome(t, result.reason, result.due_on)


@for_joined
async def health_check_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    parts = query.data.removeprefix(words.CB_HEALTH_CHECK).split(":")
    if parts[0] == "later":
        reply = words.answered(t, Answer.DECLINED, None)
    elif parts[0] == "q" and len(parts) == 3 and parts[1] in set(Step):
        reply = await _answer(context, person.id, Step(parts[1]), parts[2])
    elif parts[0] == "a" and len(parts) == 2 and parts[1] in set(Answer):
        ctx = app(context)
        async with ctx.db.session() as session:
            fresh = await session.get(Person, person.id)
            assert fresh is not None
            try:
                check = await health_checks.respond(
                    session, fresh, choice=parts[1], now=now(), plans=ctx.reminder_plans()
                )
                reply = words.answered(t, Answer(parts[1]), check.due_on)
            except InvalidAnswer:
                reply = messages.use_the_buttons(t)
    else:
        return
    await replace(query, update, reply, t)


def waits_for_typing(check: HealthCheck | None) -> bool:
    return (
        check is not None
        and check.status == HealthCheckStatus.ASKING
        and check.step in {step.value for step in TYPED_STEPS}
    )


async def typed_answer(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, check: HealthCheck
) -> None:
    """A date typed while the questions wait for one."""
    message = update.effective_message
    if message is None or message.text is None or check.step is None:
        return
    reply = await _answer(context, person.id, Step(check.step), message.text)
    await send(update, reply, translator(person.language))
