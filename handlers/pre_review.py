"""/review and the agenda's buttons: the person's side of getting ready for the annual review.

Every answer is saved as it is given (the session commits per press), so a restart, or a
second worker, continues at the saved step. Button data can be stale (an old message, a review
that has passed) or forged (another person's id): such a press gets a clear answer and changes
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import messages
from bot import pre_review_messages as words
from bot.i18n import Translator, translator
from bot.models import AdviceRequest, Appointment, AppointmentStatus, Person, PreReview, Role
from bot.plans import Plans
from bot.render import Reply, button_number
from bot.services import account, hypo_hotline, pre_review
from bot.services.advice_line import NotAllowed, NotFound
from bot.services.hypo_hotline import SelfReport
from bot.services.pre_review import AgendaProblem, AgendaStep, AgendaTopic, HypoAnswer
from handlers.account import for_joined
from handlers.advice import refresh_cards
from handlers.common import app, now, replace, send
from handlers.hypo import library_page

# The step each kind of press answers.
ANSWERS: dict[str, AgendaStep] = {
    words.TOPIC: AgendaStep.TOPICS,
    words.TOPICS_DONE: AgendaStep.TOPICS,
    words.SKIP: AgendaStep.WORDS,
    words.CONFIDENCE: AgendaStep.CONFIDENCE,
    words.HYPOS: AgendaStep.HYPOS,
    words.DRIVES: AgendaStep.DRIVES,
}


def _prepared(person: Person) -> bool:
    return Role(person.role) in pre_review.PREPARED


@dataclass
class Outcome:
    """What a press says: an edit of the pressed message, then new messages."""

    replace: Reply | None = None
    new: list[Reply] = field(default_factory=list)
    # A hypo follow-up whose team cards should show the new answer ("Do you drive?").
    refresh_request: int | None = None


@dataclass
class Typed:
    reply: Reply
    t: Translator


async def _follow_up(session: AsyncSession, row: PreReview, person_id: int) -> AdviceRequest | None:
    """The hypo follow-up the agenda's "needed help" answer created or joined."""
    started = row.agenda_started_at or row.created_at
    return await hypo_hotline.latest_follow_up(
        session, person_id, since=started - hypo_hotline.SAME_REPORT
    )


async def _step_view(
    session: AsyncSession,
    row: PreReview,
    review: Appointment,
    person: Person,
    t: Translator,
) -> Reply:
    """The question the person is on, or (finished) their answers."""
    assert row.id is not None and person.id is not None
    zone = ZoneInfo(person.timezone)
    step = pre_review.step_of(row)
    match step:
        case AgendaStep.TOPICS:
            return words.topics_question(t, row)
        case AgendaStep.WORDS:
            return words.words_question(t, row.id)
        case AgendaStep.CONFIDENCE:
            return words.confidence_question(t, row.id)
        case AgendaStep.HYPOS:
            return words.hypos_question(t, row.id)
        case AgendaStep.DRIVES:
            request = await _follow_up(session, row, person.id)
            return words.drives_question(t, row.id, request, zone)
        case AgendaStep.MOOD_INTEREST | AgendaStep.MOOD_DOWN:
            return words.mood_question(t, row.id, step)
        case _:
            return words.answers(t, row, review_at=review.starts_at, zone=zone)


def _with_heading(heading: str, reply: Reply) -> Reply:
    return Reply(f"{heading}\n\n{reply.text}", reply.buttons, reply.document)


async def _after_answer(
    session: AsyncSession,
    row: PreReview,
    review: Appointment,
    person: Person,
    t: Translator,
) -> Reply:
    """What follows an answer: the next question, or the thanks at the end."""
    if pre_review.step_of(row) is AgendaStep.DONE:
        return words.finished(
            t,
            row,
            review_at=review.starts_at,
            clinician=review.clinician,
            zone=ZoneInfo(person.timezone),
        )
    return await _step_view(session, row, review, person, t)


async def _open_review(
    session: AsyncSession, pre_review_id: int, person: Person
) -> tuple[PreReview, Appointment] | Reply:
    """The person's own pre-review for a review still to come, or why not (as a reply)."""
    t = translator(person.language)
    row = await pre_review.of_person(session, pre_review_id, person.id or 0)
    # A row whose results never went (the summary alone was sent) has no questions to answer.
    if row is None or row.results_sent_at is None:
        return words.not_found(t)
    review = await session.get(Appointment, row.appointment_id)
    if review is None or review.status != AppointmentStatus.BOOKED or review.starts_at <= now():
        return words.closed(t)
    return row, review


async def _hypos_answered(
    session: AsyncSession,
    context: ContextTypes.DEFAULT_TYPE,
    row: PreReview,
    review: Appointment,
    person: Person,
    t: Translator,
    answer: HypoAnswer,
) -> Outcome:
    moment = now()
    pre_review.save_hypos(row, answer, moment)
    if answer is not HypoAnswer.NEEDED_HELP:
        return Outcome(replace=await _after_answer(session, row, review, person, t))
    # A severe hypo: the team is asked to follow it up at once, as /hypo does (a report within
    # a day joins the earlier one).
    fresh = await session.get(Person, person.id)
    assert fresh is not None
    try:
        request, _is_new = await hypo_hotline.self_report(
            session, fresh, SelfReport.HELP, targets=app(context).advice_targets(), now=moment
        )
    except NotAllowed:
        request = None
    zone = ZoneInfo(person.timezone)
    if request is not None and request.drives is not None:
        # Already answered under /hypo today: not asked twice.
        pre_review.save_drives(row, request.drives, moment)
        next_view = await _after_answer(session, row, review, person, t)
        return Outcome(replace=_with_heading(words.severe_hypo_told(t, request, zone), next_view))
    return Outcome(replace=words.drives_question(t, row.id or 0, request, zone))


async def _drives_answered(
    session: AsyncSession,
    row: PreReview,
    review: Appointment,
    person: Person,
    t: Translator,
    drives: bool,
) -> Outcome:
    moment = now()
    assert person.id is not None
    pre_review.save_drives(row, drives, moment)
    request = await _follow_up(session, row, person.id)
    if request is not None and request.id is not None:
        try:
            request = await hypo_hotline.record_drives(
                session, request.id, person, drives, now=moment
            )
        except NotFound:
            request = None
    next_view = await _after_answer(session, row, review, person, t)
    refresh = request.id if request is not None else None
    if not drives:
        return Outcome(
            replace=_with_heading(words.saved_words(t), next_view), refresh_request=refresh
        )
    zone = ZoneInfo(person.timezone)
    page = library_page(person, t, words.DRIVING_TOPIC)
    return Outcome(
        replace=words.drives_yes(t, request, zone), new=[page, next_view], refresh_request=refresh
    )


async def _apply(
    session: AsyncSession,
    context: ContextTypes.DEFAULT_TYPE,
    press: words.Press,
    person: Person,
    t: Translator,
) -> Outcome:
    assert press.pre_review_id is not None
    found = await _open_review(session, press.pre_review_id, person)
    if isinstance(found, Reply):
        return Outcome(new=[found])
    row, review = found
    moment = now()
    if press.action == words.GO:
        # From the results message or the nudge: the question comes as a new message, so the
        # results stay readable above it. A second press continues, never restarts.
        pre_review.begin(row, moment)
        session.add(row)
        return Outcome(new=[await _step_view(session, row, review, person, t)])
    step = pre_review.step_of(row)
    if step is AgendaStep.DONE:
        return Outcome(new=[words.all_answered(t)])
    expected = (
        words.MOOD_STEPS.get(press.value or "")
        if press.action == words.MOOD
        else ANSWERS.get(press.action)
    )
    if expected is None:
        return Outcome(new=[messages.use_the_buttons(t)])
    if expected is not step or row.agenda_started_at is None:
        # An older question's button: nothing changes; the current question is shown again.
        view = await _step_view(session, row, review, person, t)
        return Outcome(new=[_with_heading(words.other_question(t), view)])
    try:
        outcome = await _answer(session, context, press, row, review, person, t)
    except (AgendaProblem, ValueError):
        return Outcome(new=[messages.use_the_buttons(t)])
    session.add(row)
    return outcome


async def _answer(
    session: AsyncSession,
    context: ContextTypes.DEFAULT_TYPE,
    press: words.Press,
    row: PreReview,
    review: Appointment,
    person: Person,
    t: Translator,
) -> Outcome:
    """Saves one button answer (the step already checked) and says what comes next. A value
    that is not one of the buttons' raises ValueError before anything is saved."""
    moment = now()
    match press.action:
        case words.TOPIC:
            pre_review.toggle_topic(row, AgendaTopic(press.value), moment)
            return Outcome(replace=words.topics_question(t, row))
        case words.TOPICS_DONE:
            pre_review.topics_done(row, moment)
        case words.SKIP:
            pre_review.save_words(row, None, moment)
        case words.CONFIDENCE:
            pre_review.save_confidence(row, _score(press.value), moment)
        case words.HYPOS:
            return await _hypos_answered(
                session, context, row, review, person, t, HypoAnswer(press.value)
            )
        case words.DRIVES:
            if press.value not in (words.YES, words.NO):
                raise ValueError(press.value)
            return await _drives_answered(session, row, review, person, t, press.value == words.YES)
        case words.MOOD:
            step = words.MOOD_STEPS[press.value or ""]
            await pre_review.save_mood(session, row, step, _score(press.extra), moment)
    return Outcome(replace=await _after_answer(session, row, review, person, t))


def _score(value: str | None) -> int:
    number = button_number(value)
    if number is None:
        raise ValueError(value)
    return number


@for_joined
async def prep_pressed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    query = update.callback_query
    if query is None or not query.data:
        return
    press = words.parse(query.data)
    if press is None:
        await send(update, messages.use_the_buttons(t), t)
        return
    if press.action == words.PAGE:
        # A new message: the results (or the question) with the button stay as they are.
        await send(update, library_page(person, t, press.value or ""), t)
        return
    if not _prepared(person):
        await send(update, words.not_for_you(t), t)
        return
    async with app(context).db.session() as session:
        outcome = await _apply(session, context, press, person, t)
    # Sent only once the answer is committed: what the person sees is what was saved.
    if outcome.replace is not None:
        await replace(query, update, outcome.replace, t)
    for reply in outcome.new:
        await send(update, reply, t)
    if outcome.refresh_request is not None:
        await refresh_cards(context, outcome.refresh_request)


@for_joined
async def review_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    """Continues the agenda where it stopped, shows the answers once finished, or says when
    the results will come."""
    if not _prepared(person):
        await send(update, words.not_for_you(t), t)
        return
    assert person.id is not None
    ctx = app(context)
    zone = ZoneInfo(person.timezone)
    moment = now()
    async with ctx.db.session() as session:
        row = await pre_review.current(session, person.id, now=moment)
        review = await session.get(Appointment, row.appointment_id) if row else None
        # Without results sent (booked too late: only the clinician's summary went), there is
        # no agenda to continue: /review says when the review is.
        if row is None or review is None or row.results_sent_at is None:
            booked = await pre_review.next_review(session, person.id, now=moment)
            reply = _nothing_yet(ctx.reminder_plans(), booked, t, zone)
        else:
            pre_review.begin(row, moment)
            session.add(row)
            reply = await _step_view(session, row, review, person, t)
    await send(update, reply, t)


def _nothing_yet(plans: Plans, booked: Appointment | None, t: Translator, zone: ZoneInfo) -> Reply:
    if booked is None:
        return words.nothing_prepared(t, review_at=None, results_on=None, zone=zone)
    event = plans.preparation("pre_review_results")
    sends_at = event.send_time(booked.starts_at, zone) if event is not None else None
    # A send time already past is not promised: the planner sends them on its next run.
    results_on = sends_at.astimezone(zone).date() if sends_at and sends_at > now() else None
    return words.nothing_prepared(t, review_at=booked.starts_at, results_on=results_on, zone=zone)


async def take_words(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Typed | None:
    """Words typed at "what matters most to you now?": saved at once. The caller still reads
    them for red flags, and sends the safety reply before this one."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None or message.text.startswith("/"):
        return None
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        if person is None or person.id is None or not _prepared(person):
            return None
        moment = now()
        row = await pre_review.current(session, person.id, now=moment)
        if row is None or not pre_review.waits_for_words(row, moment):
            return None
        review = await session.get(Appointment, row.appointment_id)
        assert review is not None
        t = translator(person.language)
        try:
            pre_review.save_words(row, message.text, moment)
        except AgendaProblem as problem:
            reply = _with_heading(
                words.words_problem(t, problem.reason), words.words_question(t, row.id or 0)
            )
            return Typed(reply, t)
        session.add(row)
        reply = _with_heading(
            words.saved_words(t), await _after_answer(session, row, review, person, t)
        )
    return Typed(reply, t)
