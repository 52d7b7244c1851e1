"""Care plans in the chat: /careplan for clinicians (the form, its problems by line, a preview
with Save), /myplan for the person and their carers, the goal check-in buttons, and the new goal
typed after "change my goal".

Between the preview and Save nothing is held in memory: the preview shows the checked plan
written back as the form, and Save reads that form again from the preview message (a message
the bot wrote, so nobody can have changed it) and checks it again before saving. A restart in
between loses nothing; a preview pressed days later is checked against that day.
"""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from telegram import Message, MessageEntity, Update
from telegram.ext import ContextTypes

from bot import care_plan_messages as words
from bot.i18n import Translator, translator
from bot.models import STAFF_ROLES, CareGoal, CarePlan, Person, Role
from bot.permissions import Permission, allowed
from bot.render import TELEGRAM_TEXT_LIMIT, Reply, button_number
from bot.services import account, audit, care_plan_form, care_plans
from bot.services.appointments import receiving_carers
from bot.services.care_plan_form import FormCheck
from bot.services.care_plans import CheckInAnswer, NewGoalProblem
from handlers.account import for_joined
from handlers.common import app, now, replace, send


def _today(person: Person) -> date:
    return now().astimezone(ZoneInfo(person.timezone)).date()


def _problems(t: Translator, checked: FormCheck, staff: Person) -> Reply:
    context = {
        "own_practice_only": care_plan_form.own_practice_only(staff),
        "goals": len(checked.form.goals),
        "review_past": checked.review_past,
    }
    found = [
        (
            problem.line,
            checked.form.texts.get(problem.line, ""),
            words.problem_text(t, problem.problem, problem.value, context=context),
        )
        for problem in checked.problems
    ]
    return words.problems(t, found)


# /careplan --------------------------------------------------------------------------------


@for_joined
async def careplan_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    message = update.effective_message
    if message is None or message.text is None:
        return
    if not allowed(Role(person.role), Permission.RECORD_CARE_PLAN):
        await send(update, words.not_for_you(t), t)
        return
    filled = [line for line in message.text.strip().split("\n")[1:] if line.strip()]
    if not filled:
        own_only = care_plan_form.own_practice_only(person)
        # The example's next review is a year on, so a copied example is a form that works.
        next_review = _today(person) + timedelta(days=365)
        await send(update, words.form(t, own_practice_only=own_only, next_review=next_review), t)
        return
    ctx = app(context)
    async with ctx.db.session() as session:
        checked = await care_plan_form.check_form(
            session, person, message.text, today=_today(person)
        )
        carers = 0
        if checked.ok:
            assert checked.patient is not None and checked.patient.id is not None
            carers = len(await receiving_carers(session, checked.patient.id))
            # The preview shows who the patient is (name, date of birth): a look at their record.
            await audit.record(
                session,
                actor=audit.person_actor(person.id),
                action="care_plan.preview",
                person_id=checked.patient.id,
                at=now(),
            )
    if not checked.ok:
        await send(update, _problems(t, checked, person), t)
        return
    assert checked.patient is not None
    reply = words.preview(
        t,
        checked.patient,
        checked.written(),
        every=ctx.reminder_plans().goal_check_ins,
        carers=carers,
    )
    if len(t.finish(reply.text)) > TELEGRAM_TEXT_LIMIT:
        # Save reads the form back from the preview, so it must be one message.
        await send(update, words.too_long_to_preview(t), t)
        return
    await send(update, reply, t)


def _form_in(message: object) -> str | None:
    """The form written in a preview (its one <pre> block), or None for a message that can no
    longer be read (Telegram gives no text for very old messages)."""
    if not isinstance(message, Message) or not message.text:
        return None
    for entity in message.entities:
        if entity.type == MessageEntity.PRE:
            return message.parse_entity(entity)
    return None


async def _save(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    person: Person,
    t: Translator,
    patient_id: str,
) -> None:
    query = update.callback_query
    assert query is not None
    if not allowed(Role(person.role), Permission.RECORD_CARE_PLAN):
        await replace(query, update, words.not_for_you(t), t)
        return
    written = _form_in(query.message)
    if written is None:
        await replace(query, update, words.unreadable_preview(t), t)
        return
    ctx = app(context)
    every = ctx.reminder_plans().goal_check_ins
    actor = audit.person_actor(person.id)
    moment = now()
    # Built inside the transaction, sent after it commits: "saved" only for a saved plan.
    async with ctx.db.session() as session:
        staff = await session.get(Person, person.id)
        assert staff is not None
        # Checked again: the staff member's role or practice, or the date, may have changed.
        checked = await care_plan_form.check_form(session, staff, written, today=_today(staff))
        patient, plan = checked.patient, checked.plan
        if not checked.ok or patient is None or plan is None or str(patient.id) != patient_id:
            reply = _problems(t, checked, staff) if checked.problems else None
        elif await care_plan_form.saved_already(session, patient, plan, actor=actor, now=moment):
            reply = words.already_saved(t, patient)
        else:
            recorded = await care_plans.record(
                session, patient, plan, actor=actor, check_ins=every, now=moment
            )
            reply = words.saved(t, patient, recorded.check_ins, every)
    await replace(query, update, reply or words.unreadable_preview(t), t)


# /myplan ----------------------------------------------------------------------------------


async def _show_plans(update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person) -> None:
    t = translator(person.language)
    if Role(person.role) in STAFF_ROLES:
        await send(update, words.no_plan(t, person.role), t)
        return
    async with app(context).db.session() as session:
        fresh = await session.get(Person, person.id)
        assert fresh is not None
        shown = await care_plans.plans_to_show(session, fresh)
    if not shown:
        await send(update, words.no_plan(t, person.role), t)
        return
    zone = ZoneInfo(person.timezone)
    for owner, plan, goals in shown:
        own = owner.id == person.id
        await send(update, words.plan_view(t, owner, plan, goals, own=own, zone=zone), t)


@for_joined
async def myplan_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    await _show_plans(update, context, person)


# Goal check-ins ---------------------------------------------------------------------------


async def _check_in(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    person: Person,
    t: Translator,
    parts: list[str],
) -> None:
    query = update.callback_query
    assert query is not None
    try:
        goal_id, round_ = button_number(parts[0]), button_number(parts[1])
        answer = CheckInAnswer(parts[2])
        if goal_id is None or round_ is None:
            raise ValueError(parts)
    except (IndexError, ValueError):
        await replace(query, update, words.stale_check_in(t), t)
        return
    reply = words.stale_check_in(t)
    if 1 <= round_ <= care_plans.MAX_ROUNDS and Role(person.role) in care_plan_form.PLANNED_FOR:
        async with app(context).db.session() as session:
            fresh = await session.get(Person, person.id)
            assert fresh is not None
            # None: not a goal of this person's current plan (an old plan's, or forged).
            saved = await care_plans.answer_check_in(
                session, fresh, goal_id, round_, answer, now=now()
            )
            goal = await session.get(CareGoal, goal_id) if saved is not None else None
            plan = await session.get(CarePlan, goal.care_plan_id) if goal is not None else None
            if goal is not None and plan is not None:
                reply = words.check_in_answered(
                    t, goal.goal, goal_id, round_, answer, list(plan.contacts)
                )
    await replace(query, update, reply, t)


async def take_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """The new goal in their own words, typed after "change my goal". Read after red flags
    (an emergency is answered first) and before anything else that reads free text."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None or message.text.startswith("/"):
        return False
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        if person is None or person.id is None:
            return False
        if Role(person.role) not in care_plan_form.PLANNED_FOR:
            return False
        waiting = await care_plans.awaiting_new_goal(session, person.id, now=now())
        if waiting is None:
            return False
        t = translator(person.language)
        try:
            await care_plans.save_new_goal(session, waiting, message.text, now=now())
            reply = words.new_goal_saved(t, message.text.strip())
        except NewGoalProblem as problem:
            # Said why, and asked again: the press is still waiting for their words.
            first = words.new_goal_problem(t, problem.reason).text
            reply = Reply("\n\n".join([first, words.ask_new_goal_text(t)]))
    await send(update, reply, t)
    return True


# Buttons ----------------------------------------------------------------------------------


@for_joined
async def plan_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    action, _, rest = query.data.removeprefix(words.CB_PLAN).partition(":")
    if action == words.CHECK_IN:
        await _check_in(update, context, person, t, rest.split(":"))
    elif action == words.SAVE:
        await _save(update, context, person, t, rest)
    elif action == words.CANCEL:
        await replace(query, update, words.cancelled(t), t)
    elif action == words.SHOW:
        # New messages: "your plan is ready" stays as it was.
        await _show_plans(update, context, person)
    else:
        await replace(query, update, words.stale_check_in(t), t)
