"""The composition root: one place that builds the bot, registers every handler, and runs
the process (Telegram updates, the outbox scheduler and the HTTP server)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Awaitable
from typing import Any

from aiohttp import web
from telegram import BotCommand, BotCommandScopeAllPrivateChats, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import (
    advice_messages,
    appointment_messages,
    care_plan_messages,
    carer_messages,
    content,
    education_messages,
    health_check_messages,
    hypo_messages,
    i18n,
    messages,
    pre_review_messages,
    transition_messages,
)
from bot.context import AppContext
from bot.db import Database
from bot.models import Person, PersonStatus, Role
from bot.plans import load_plans
from bot.services.safety import load_red_flag_rules
from bot.settings import Settings
from bot.web import build_web_app
from handlers import (
    account,
    advice,
    advice_stats,
    appointments,
    care_plan,
    carers,
    conversation,
    education,
    health_checks,
    hypo,
    onboarding,
    practice,
    pre_review,
    transition,
)
from handlers.common import APP_KEY, set_chat_commands
from scheduler.dispatcher import OutboxDispatcher
from scheduler.jobs import build_scheduler
from scheduler.leadership import DispatchLeadership

log = logging.getLogger(__name__)


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Updates from different chats run side by side; one chat's updates run in order, so a
    person's second button press never overtakes their first."""

    def __init__(self, max_concurrent_updates: int = 64) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: Counter[int] = Counter()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = None
        if isinstance(update, Update):
            chat, user = update.effective_chat, update.effective_user
            key = chat.id if chat else (user.id if user else None)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] += 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:
                del self._waiting[key]
                self._locks.pop(key, None)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def register_handlers(application: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    application.add_handlers(
        [
            # Membership changes first: a block must be recorded whatever else happens.
            ChatMemberHandler(conversation.my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
            # Commands before free text, so "/help" is never read as words.
            CommandHandler("start", onboarding.start, filters=private),
            CommandHandler("menu", account.menu, filters=private),
            CommandHandler("help", account.help_command, filters=private),
            CommandHandler("language", account.language, filters=private),
            CommandHandler("privacy", account.privacy, filters=private),
            CommandHandler("mydata", account.mydata, filters=private),
            CommandHandler("forget", account.forget, filters=private),
            CommandHandler("stop", account.stop, filters=private),
            CommandHandler("learn", education.learn_command, filters=private),
            CommandHandler("carer", carers.carer_command, filters=private),
            CommandHandler("healthcheck", health_checks.health_check_command, filters=private),
            CommandHandler("ready", transition.ready_command, filters=private),
            CommandHandler("hypo", hypo.hypo_command, filters=private),
            # Getting ready for the annual review: the agenda where it stopped, or the answers.
            CommandHandler("review", pre_review.review_command, filters=private),
            # The care plan after the review: the person and their carers read it, clinicians
            # record it with a form (handlers/care_plan.py).
            CommandHandler("myplan", care_plan.myplan_command, filters=private),
            CommandHandler("careplan", care_plan.careplan_command, filters=private),
            CommandHandler("outbox", account.outbox_status, filters=private),
            # The advice line: a GP asks, the team answers in private chats (handlers/advice.py).
            CommandHandler("advice", advice.advice_command, filters=private),
            CommandHandler("myrequests", advice.my_requests_command, filters=private),
            CommandHandler("team_code", advice.team_code_command, filters=private),
            # /queue works in the team's group and in a specialist's private chat.
            CommandHandler("queue", advice.queue_command),
            # The one command for groups: a practice names its staff chat.
            CommandHandler(
                "practice_chat", practice.practice_chat, filters=filters.ChatType.GROUPS
            ),
            # ...and the specialist team names its group, where advice-line cards appear.
            CommandHandler("register_team", advice.register_team, filters=filters.ChatType.GROUPS),
            # Figures for the team: in its group; elsewhere the handler says where it works.
            CommandHandler("stats", advice_stats.stats_command),
            # Buttons, routed by the prefix of their callback data (see bot.messages).
            CallbackQueryHandler(onboarding.language_chosen, pattern=f"^{messages.CB_LANGUAGE}"),
            CallbackQueryHandler(onboarding.path_chosen, pattern=f"^{messages.CB_PATH}"),
            CallbackQueryHandler(onboarding.consent_answered, pattern=f"^{messages.CB_CONSENT}"),
            CallbackQueryHandler(account.menu_pressed, pattern=f"^{messages.CB_MENU}"),
            # Advice-line buttons are pressed in private chats and in the team's group alike.
            CallbackQueryHandler(advice.advice_pressed, pattern=f"^{advice_messages.CB_ADVICE}"),
            CallbackQueryHandler(account.forget_answered, pattern=f"^{messages.CB_FORGET}"),
            CallbackQueryHandler(carers.carer_pressed, pattern=f"^{carer_messages.CB_CARER}"),
            CallbackQueryHandler(
                education.learn_pressed, pattern=f"^{education_messages.CB_LEARN}"
            ),
            CallbackQueryHandler(
                transition.transition_pressed, pattern=f"^{transition_messages.CB_TRANSITION}"
            ),
            CallbackQueryHandler(
                health_checks.health_check_pressed,
                pattern=f"^{health_check_messages.CB_HEALTH_CHECK}",
            ),
            CallbackQueryHandler(hypo.hypo_pressed, pattern=f"^{hypo_messages.CB_HYPO}"),
            # Goal check-ins, the /careplan preview's Save and Cancel, "see the care plan".
            CallbackQueryHandler(care_plan.plan_pressed, pattern=f"^{care_plan_messages.CB_PLAN}"),
            # The pre-review agenda's buttons (and its library pages), saved press by press.
            CallbackQueryHandler(
                pre_review.prep_pressed, pattern=f"^{pre_review_messages.CB_PREP}"
            ),
            CallbackQueryHandler(
                appointments.reminder_answered,
                pattern=f"^{appointment_messages.CB_APPOINTMENT}",
            ),
            # An edited message is checked for red flags only, before the new-message handlers.
            MessageHandler(
                filters.UpdateType.EDITED_MESSAGE & filters.TEXT & private,
                conversation.edited_message,
            ),
            # Free text (and unknown commands): red flags first, then codes, then "not understood".
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.TEXT & private, conversation.text_message
            ),
            # Stickers, voice notes, photos, files: a kind answer, never a crash.
            MessageHandler(
                filters.UpdateType.MESSAGE & private & ~filters.TEXT & ~filters.StatusUpdate.ALL,
                conversation.media_message,
            ),
        ]
    )
    application.add_error_handler(conversation.error_handler)


async def set_default_commands(application: Application) -> None:  # type: ignore[type-arg]
    """Command menus per language; Telegram shows the one matching the app's language."""
    for language in i18n.LANGUAGES:
        t = i18n.translator(language)
        commands = [BotCommand(c, d) for c, d in messages.commands_for(t, staff=False)]
        await application.bot.set_my_commands(
            commands,
            scope=BotCommandScopeAllPrivateChats(),
            language_code=None if language == i18n.DEFAULT_LANGUAGE else language,
        )
    ctx: AppContext = application.bot_data[APP_KEY]
    from sqlmodel import col, select

    async with ctx.db.session() as session:
        staff = (
            await session.exec(
                select(Person).where(
                    col(Person.role).in_([r.value for r in Role if r.is_staff]),
                    col(Person.status) == PersonStatus.ACTIVE,
                    col(Person.telegram_chat_id).is_not(None),
                )
            )
        ).all()
    for person in staff:
        assert person.telegram_chat_id is not None
        await set_chat_commands(
            application.bot, person.telegram_chat_id, person.language, staff=True
        )


def quiet_rate_limiter_log() -> None:
    """With max_retries=0 the limiter logs every 429 as an error with a traceback, although the
    outbox handles it (reschedules, holds sending) and counts it in /metrics."""
    logging.getLogger("telegram.ext.AIORateLimiter").setLevel(logging.CRITICAL)


def build_application(ctx: AppContext) -> Application:  # type: ignore[type-arg]
    settings = ctx.settings
    quiet_rate_limiter_log()
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    i18n.configure(settings.locales_dir)
    root = settings.api_root
    application = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .rate_limiter(
            AIORateLimiter(
                overall_max_rate=settings.rate_overall_per_second,
                overall_time_period=1,
                group_max_rate=settings.rate_group_per_minute,
                group_time_period=60,
                max_retries=0,  # the outbox reschedules on RetryAfter itself
            )
        )
        .concurrent_updates(PerChatUpdateProcessor(64))
        # Enough for the concurrent updates and the dispatcher; httpcore scans the whole pool
        # on every request, so a larger pool costs CPU for nothing.
        .connection_pool_size(16)
        .pool_timeout(30)
        .build()
    )
    application.bot_data[APP_KEY] = ctx
    register_handlers(application)
    return application


async def serve(settings: Settings, *, webhook: bool, stop: asyncio.Event | None = None) -> None:
    """`diabridge run`: migrations, then Telegram, the outbox scheduler and HTTP, until a
    signal (or `stop`) says to finish."""
    db = Database(settings.database_url)
    await db.upgrade()
    load_red_flag_rules()  # now, so the first person to write is not kept waiting
    content.configure(settings.content_dir)  # refuses a library that fails its check
    ctx = AppContext(settings=settings, db=db, plans=load_plans(settings.plans_file))
    application = build_application(ctx)
    leadership = DispatchLeadership(db)
    dispatcher = OutboxDispatcher(db, application.bot, settings)
    # The scheduler's jobs plan with the same reminder plans as the handlers (care planning).
    scheduler = build_scheduler(
        dispatcher, leadership, settings.dispatch_interval_seconds, plans=ctx.reminder_plans()
    )
    web_app = build_web_app(ctx, application if webhook else None)
    runner = web.AppRunner(web_app)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    async with application:
        await application.start()
        await set_default_commands(application)
        if webhook:
            await application.bot.set_webhook(
                settings.webhook_url or "",
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await application.bot.delete_webhook()
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        await runner.setup()
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        scheduler.start()
        log.info(
            "diabridge is running (%s); HTTP on %s:%s",
            "webhook" if webhook else "polling",
            settings.http_host,
            settings.http_port,
        )
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            await runner.cleanup()
            if application.updater is not None and application.updater.running:
                await application.updater.stop()
            await application.stop()
            await leadership.release()
    await db.dispose()
