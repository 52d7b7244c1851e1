"""The advice line in the chat: a GP's /advice steps, the team's cards, claims and answers in
private chats, /queue, /myrequests, and the team's group registered with /register_team."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession
from telegram import CallbackQuery, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import advice_messages as words
from bot import messages
from bot.i18n import Translator, translator
from bot.models import (
    STAFF_ROLES,
    AdviceAttachment,
    AdviceMessageKind,
    AdviceRequest,
    AdviceStatus,
    Person,
    Role,
)
from bot.render import Reply, to_markup
from bot.services import account, advice_line, audit, hypo_hotline, specialist_team
from bot.services.advice_line import (
    AlreadyClosed,
    HeldByOther,
    Helped,
    InvalidAnswer,
    NotAllowed,
    NotFound,
    Outcome,
    Problem,
    Step,
)
from handlers.account import for_joined
from handlers.common import app, now, replace, send, send_to

log = logging.getLogger(__name__)

MEGABYTE = 1024 * 1024


def _max_mb(context: ContextTypes.DEFAULT_TYPE) -> float:
    return app(context).settings.advice_attachment_max_mb


def _zone(person: Person) -> ZoneInfo:
    return ZoneInfo(person.timezone)


async def _draft_reply(
    context: ContextTypes.DEFAULT_TYPE, session: AsyncSession, draft: AdviceRequest, t: Translator
) -> Reply:
    assert draft.id is not None
    attachments = await advice_line.attachments_of(session, draft.id)
    if draft.step == Step.SUMMARY:
        practice = draft.practice_ods or ""
        return words.summary(t, draft, attachments, practice)
    return words.ask_step(
        t, draft, len(attachments), _max_mb(context), app(context).advice_targets()
    )


def _with_heading(heading: str, reply: Reply) -> Reply:
    return Reply(f"{heading}\n\n{reply.text}", reply.buttons)


# The GP's steps ---------------------------------------------------------------------------


@for_joined
async def advice_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    async with app(context).db.session() as session:
        if not advice_line.may_ask(person):
            await send(update, words.not_an_asker(t), t)
            return
        # Typing now answers the new request's steps, not a reply left half-started.
        await advice_line.stop_writing(session, person.id or 0)
        draft = await advice_line.start_draft(session, person, now=now())
        resumed = draft.area is not None
        reply = await _draft_reply(context, session, draft, t)
    await send(update, _with_heading(words.continuing(t), reply) if resumed else reply, t)


async def _draft_pressed(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    query: CallbackQuery,
    person: Person,
    t: Translator,
    parts: list[str],
) -> None:
    draft_id, action, value = int(parts[1]), parts[2], parts[3] if len(parts) > 3 else ""
    moment = now()
    # The reply is built inside the transaction and sent after it commits: the GP never sees
    # "sent" for a request that was not saved.
    async with app(context).db.session() as session:
        draft = await session.get(AdviceRequest, draft_id)
        if draft is None or draft.requester_id != person.id or draft.status != AdviceStatus.DRAFT:
            reply = None
        elif action == "edit":
            reply = words.choose_edit(t, draft)
        else:
            heading = None
            try:
                if action in ("area", "urgency", "sex"):
                    step = {"area": Step.AREA, "urgency": Step.URGENCY, "sex": Step.SEX}[action]
                    await advice_line.answer_step(session, draft, step, value, now=moment)
                elif action == "files_done":
                    await advice_line.finish_attachments(session, draft, now=moment)
                elif action == "edit_step":
                    await advice_line.edit_step(session, draft, Step(value), now=moment)
                elif action == "cancel":
                    await advice_line.cancel_draft(session, draft, now=moment)
                elif action == "send":
                    await advice_line.submit(
                        session, draft, targets=app(context).advice_targets(), now=moment
                    )
            except (InvalidAnswer, ValueError) as error:
                what = error.problem if isinstance(error, InvalidAnswer) else Problem.NOT_A_STEP
                heading = words.problem(t, what, _max_mb(context))
            if draft.status == AdviceStatus.CANCELLED:
                reply = words.draft_cancelled(t)
            elif draft.status == AdviceStatus.OPEN:
                reply = words.sent(t, draft, _zone(person))
            else:
                reply = await _draft_reply(context, session, draft, t)
                reply = _with_heading(heading, reply) if heading else reply
    if reply is None:
        await query.answer(t._("That request was already sent or cancelled."))
        return
    await query.answer()
    await replace(query, update, reply, t)


async def _typed_draft(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    session: AsyncSession,
    person: Person,
    draft: AdviceRequest,
    text: str,
) -> Reply:
    t = translator(person.language)
    try:
        await advice_line.answer_step(
            session,
            draft,
            Step(draft.step or Step.AREA),
            text,
            now=now(),
        )
    except InvalidAnswer as error:
        return _with_heading(
            words.problem(t, error.problem, _max_mb(context)),
            await _draft_reply(context, session, draft, t),
        )
    return await _draft_reply(context, session, draft, t)


async def take_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Text from a GP at a typed step of /advice, or from anyone writing a turn of a thread.
    Read before red flags: a clinician's question about a hypo is not a patient's emergency."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or message.text is None or message.text.startswith("/"):
        return False
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        if person is None or Role(person.role) not in STAFF_ROLES:
            return False
        t = translator(person.language)
        compose = await advice_line.writing(session, person.id or 0)
        if compose is not None:
            kind = compose.kind
            try:
                request, _turn = await advice_line.post(
                    session, compose, person, message.text, now=now()
                )
            except InvalidAnswer as error:
                reply = words.problem(t, error.problem, _max_mb(context))
                await send(update, Reply(reply), t)
                return True
            except (NotAllowed, HeldByOther, AlreadyClosed, NotFound):
                await advice_line.stop_writing(session, person.id or 0)
                await send(update, Reply(words.already_closed(t)), t)
                return True
            reply = words.posted(t, request, kind)
            request_id = request.id
        else:
            draft = await advice_line.draft_of(session, person)
            if draft is None or draft.step not in advice_line.TYPED_STEPS:
                return False
            reply = await _typed_draft(update, context, session, person, draft, message.text)
            request_id = None
    await send(update, reply, t)
    if request_id is not None:
        await refresh_cards(context, request_id)
    return True


async def take_media(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """A photo or document from a GP with a request in progress."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None or not (message.photo or message.document):
        return False
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        if person is None or not advice_line.may_ask(person):
            return False
        draft = await advice_line.draft_of(session, person)
        if draft is None:
            return False
        t = translator(person.language)
        if draft.step != Step.ATTACHMENTS:
            reply = _with_heading(
                words.no_files_here(t).text, await _draft_reply(context, session, draft, t)
            )
        else:
            if message.photo:
                largest = message.photo[-1]
                kind, file_id, size = "photo", largest.file_id, largest.file_size or 0
                name, mime = t._("photo"), "image/jpeg"
            else:
                document = message.document
                assert document is not None
                kind, file_id, size = "document", document.file_id, document.file_size or 0
                name, mime = document.file_name or t._("document"), document.mime_type or ""
            heading = None
            try:
                await advice_line.add_attachment(
                    session,
                    draft,
                    kind=kind,
                    file_id=file_id,
                    file_name=name,
                    mime_type=mime,
                    size=size,
                    max_bytes=int(_max_mb(context) * MEGABYTE),
                    now=now(),
                )
            except InvalidAnswer as error:
                heading = words.problem(t, error.problem, _max_mb(context))
            reply = await _draft_reply(context, session, draft, t)
            if heading:
                reply = _with_heading(heading, reply)
    await send(update, reply, t)
    return True


# The team's side ----------------------------------------------------------------------------


async def refresh_cards(context: ContextTypes.DEFAULT_TYPE, request_id: int) -> None:
    """Every card of the request in the team's group shows its new state (who holds it,
    closed). A card too old to edit stays as it was: the queue is the truth."""
    async with app(context).db.session() as session:
        request = await session.get(AdviceRequest, request_id)
        if request is None:
            return
        params = await advice_line.card_params(session, request)
        cards = await advice_line.card_messages(session, request_id)
    t = translator("en")
    reply = words.card(t, params, app(context).settings.zone)
    for chat_id, message_id in cards:
        try:
            await context.bot.edit_message_text(
                t.finish(reply.text),
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=to_markup(reply.buttons),
                disable_web_page_preview=True,
            )
        except TelegramError:
            # Too old to edit, or a group the bot has left (Forbidden): that is not the
            # presser blocking the bot, so it must not reach the error handler.
            log.debug("a card of request %s could not be edited", request_id)


async def _send_attachments(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    request: AdviceRequest,
    files: list[AdviceAttachment],
) -> None:
    for attachment in files:
        caption = f"{request.reference}: {attachment.file_name or attachment.kind}"
        try:
            if attachment.kind == "photo":
                await context.bot.send_photo(chat_id, photo=attachment.file_id, caption=caption)
            else:
                await context.bot.send_document(
                    chat_id, document=attachment.file_id, caption=caption
                )
        except TelegramError as error:
            log.warning(
                "an attachment of %s could not be sent: %s", request.reference, type(error).__name__
            )


async def _whole_request(
    context: ContextTypes.DEFAULT_TYPE, person: Person, request_id: int, *, what: str = "view"
) -> tuple[Reply, AdviceRequest, list[AdviceAttachment]]:
    """The whole request for a specialist or the GP who asked (audited as a view)."""
    t = translator(person.language)
    async with app(context).db.session() as session:
        request = await advice_line.view(session, request_id, person, now=now(), what=what)
        params = await advice_line.card_params(session, request)
        turns = await advice_line.thread(session, request_id)
        files = await advice_line.attachments_of(session, request_id)
    buttons = []
    if request.status != AdviceStatus.CLOSED:
        if advice_line.may_answer(person):
            if request.holder_id == person.id:
                buttons = words.action_buttons(t, request_id, request.kind)
            elif request.holder_id is None:
                buttons = [words.claim_button(t, request_id)]
        elif request.requester_id == person.id:
            buttons = [
                [
                    words.Button(
                        t._("↩️ Reply"),
                        data=f"{words.CB_ADVICE}w:{request_id}:{AdviceMessageKind.GP_REPLY}",
                    )
                ]
            ]
    if files:
        buttons.append(
            [words.Button(t._("📎 See attachments"), data=f"{words.CB_ADVICE}files:{request_id}")]
        )
    reply = words.request_view(t, request, params, turns, _zone(person), buttons=buttons)
    return reply, request, files


async def advice_pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or query.data is None:
        return
    parts = query.data[len(words.CB_ADVICE) :].split(":")
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
    if person is None:
        await query.answer(messages.not_joined().text[:180], show_alert=True)
        return
    t = translator(person.language)
    try:
        if parts[0] == "d":
            await _draft_pressed(update, context, query, person, t, parts)
        else:
            await _team_or_thread_pressed(update, context, query, person, t, parts)
    except (IndexError, ValueError):
        # Button data Telegram sent back that no button of ours carries now (or a hypo action
        # on a GP's question): nothing was changed.
        await query.answer(words.not_found(t), show_alert=True)
    except NotAllowed:
        await query.answer(words.only_specialists(t), show_alert=True)
    except HeldByOther as error:
        await query.answer(words.held_by_other(t, error.holder_name), show_alert=True)
    except AlreadyClosed:
        await query.answer(words.already_closed(t), show_alert=True)
    except NotFound:
        await query.answer(words.not_found(t), show_alert=True)


async def _team_or_thread_pressed(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    query: CallbackQuery,
    person: Person,
    t: Translator,
    parts: list[str],
) -> None:
    action = parts[0]
    private = update.effective_chat is not None and update.effective_chat.type == "private"
    chat_id = person.telegram_chat_id or person.telegram_user_id or 0
    moment = now()
    if action == "stop_writing":
        async with app(context).db.session() as session:
            await advice_line.stop_writing(session, person.id or 0)
        await query.answer()
        await replace(query, update, words.stopped_writing(t), t)
        return
    request_id = int(parts[1])
    if action == "claim":
        async with app(context).db.session() as session:
            if not advice_line.may_answer(person):
                raise NotAllowed
            await advice_line.claim(session, request_id, person, now=moment)
        await query.answer(t._("Claimed. The whole request is in your private chat."))
        await refresh_cards(context, request_id)
        reply, request, files = await _whole_request(context, person, request_id, what="view")
        await send_to(context.bot, chat_id, reply, t)
        await _send_attachments(context, chat_id, request, files)
    elif action == "files":
        reply, request, files = await _whole_request(
            context, person, request_id, what="view_attachments"
        )
        await query.answer(t._("Sent to your private chat."))
        await _send_attachments(context, chat_id, request, files)
    elif action == "open":
        reply, _request, _files = await _whole_request(context, person, request_id)
        await query.answer()
        await send_to(context.bot, chat_id, reply, t)
    elif action == "w":
        kind = AdviceMessageKind(parts[2])
        async with app(context).db.session() as session:
            request = await advice_line.start_writing(session, request_id, person, kind, now=moment)
        await query.answer(None if private else words.writing_in_private(t))
        await send_to(context.bot, chat_id, words.write_prompt(t, request, kind), t)
    elif action == "release":
        async with app(context).db.session() as session:
            request = await advice_line.release(session, request_id, person, now=moment)
        await query.answer(words.released(t, request).text)
        await refresh_cards(context, request_id)
        if private:
            await send(update, words.released(t, request), t)
    elif action == "close":
        async with app(context).db.session() as session:
            request = await advice_line.claim(session, request_id, person, now=moment)
        await query.answer(None if private else words.writing_in_private(t))
        await refresh_cards(context, request_id)
        await send_to(context.bot, chat_id, words.choose_outcome(t, request), t)
    elif action == "outcome":
        async with app(context).db.session() as session:
            request = await advice_line.close(
                session, request_id, person, Outcome(parts[2]), now=moment
            )
        await query.answer()
        await refresh_cards(context, request_id)
        await replace(query, update, words.closed(t, request), t)
    elif action == "h":
        async with app(context).db.session() as session:
            request = await hypo_hotline.record_action(
                session, request_id, person, hypo_hotline.HypoAction(parts[2]), now=moment
            )
        await query.answer(t._("Recorded."))
        await refresh_cards(context, request_id)
        await send_to(context.bot, chat_id, words.hypo_action_recorded(t, request, parts[2]), t)
    elif action == "rate":
        async with app(context).db.session() as session:
            await advice_line.rate(session, request_id, person, Helped(parts[2]), now=moment)
        await query.answer()
        await replace(query, update, words.thanks_for_rating(t), t)
    else:
        await query.answer()


# Lists ----------------------------------------------------------------------------------------


async def queue_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Open requests by due time: for the team, in its group or a private chat."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        t = translator(person.language if person and chat.type == "private" else "en")
        team = specialist_team.is_member(person)
        in_place = chat.type == "private" or await specialist_team.is_team_chat(session, chat.id)
        if not team or not in_place:
            reply = words.queue_here_only(t)
        else:
            entries, total = await advice_line.open_queue(session)
            await audit.record(
                session,
                actor=audit.person_actor(person.id if person else None),
                action="advice.queue",
                detail=f"open={total}",
                at=now(),
            )
            zone = (
                _zone(person) if person and chat.type == "private" else app(context).settings.zone
            )
            reply = words.queue_view(t, entries, total, zone)
    await send(update, reply, t)


@for_joined
async def my_requests_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    async with app(context).db.session() as session:
        if not advice_line.may_ask(person):
            reply = words.not_an_asker(t)
        else:
            requests = await advice_line.requests_of(session, person)
            reply = words.my_requests(t, requests, _zone(person))
    await send(update, reply, t)


# The team's group -----------------------------------------------------------------------------


@for_joined
async def team_code_command(
    update: Update, context: ContextTypes.DEFAULT_TYPE, person: Person, t: Translator
) -> None:
    """An admin, in a private chat, gets a single-use code for the team's group."""
    async with app(context).db.session() as session:
        if Role(person.role) is not Role.ADMIN:
            reply = words.only_admins(t)
        else:
            issued = await specialist_team.issue_code(
                session, actor=audit.person_actor(person.id), now=now()
            )
            reply = words.team_code(t, issued.code, issued.expires_at, _zone(person))
    await send(update, reply, t)


async def register_team(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    t = translator("en")  # the team's group speaks English, like every staff chat
    if not context.args:
        await send(update, words.register_usage(t), t)
        return
    async with app(context).db.session() as session:
        person = await account.person_for_telegram(session, user.id)
        try:
            team = await specialist_team.register(
                session,
                " ".join(context.args),
                chat_id=chat.id,
                title=chat.title or "",
                person=person,
                now=now(),
            )
        except specialist_team.NotTeamStaff:
            reply = words.team_only_staff(t)
        except specialist_team.CodeRefused:
            reply = words.team_code_refused(t)
        else:
            reply = words.team_registered(t, team.title)
    await send(update, reply, t)
