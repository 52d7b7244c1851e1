"""The outbox dispatcher: claims due rows, renders them in the recipient's language of the
moment, sends them through the bot's rate limiter, and records what happened.

Pacing: the bot's `AIORateLimiter` keeps the overall and per-group limits; here each private
chat gets at most one message per `private_chat_interval_seconds`, and rows for one chat go
out in order. Claiming runs ahead of sending (the next batch is claimed when half of the
current one is done) so the pipe never empties between batches.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import metrics
from bot.db import Database
from bot.i18n import translator
from bot.messages import Recipient
from bot.models import OutboxMessage, Person, PersonStatus, Priority
from bot.render import Reply, split_text, to_markup
from bot.services import account, outbox
from bot.services.outbox import ClaimedMessage
from bot.settings import Settings
from bot.templates import OUTBOX_TEMPLATES

log = logging.getLogger(__name__)

SENT_FLUSH_SECONDS = 0.1
SENT_FLUSH_ROWS = 100


def quiet_until(now: datetime, zone: ZoneInfo, period: tuple[time, time] | None) -> datetime | None:
    """If `now` is inside the quiet period in that time zone, when it ends (UTC)."""
    if period is None:
        return None
    start, end = period
    local = now.astimezone(zone)
    clock = local.time()
    if start <= end:
        inside = start <= clock < end
        end_day = local.date()
    else:  # the period crosses midnight, as 21:00-08:00 does
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    # Built from the local wall clock, so a clock change overnight moves the UTC instant too.
    return datetime.combine(end_day, end, tzinfo=zone).astimezone(UTC)


@dataclass
class DispatchReport:
    sent: int = 0
    deferred: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{id(object()):x}"[:64]


class OutboxDispatcher:
    def __init__(self, db: Database, bot: Bot, settings: Settings, worker_id: str | None = None):
        self.db = db
        self.bot = bot
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self._next_send_to_chat: dict[int, float] = {}
        self._hold_until = 0.0  # after a 429, nobody sends before this (loop time)
        self._http_slots = asyncio.Semaphore(settings.dispatch_concurrency)
        self._running = asyncio.Lock()
        # Sends are recorded in batches: one transaction per message costs more CPU than the
        # send itself. A crash can lose at most one batch's "sent" marks (the duplicate window).
        self._sent: list[tuple[int, int | None, datetime]] = []

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    async def run_once(self) -> DispatchReport:
        """Sends everything due now, then returns. Safe to call from a periodic job."""
        report = DispatchReport()
        async with self._running:
            await self._pump(report)
        return report

    async def _pump(self, report: DispatchReport) -> None:
        batch_size = self.settings.dispatch_batch_size
        queues: dict[int | str, deque[ClaimedMessage]] = {}
        workers: dict[int | str, asyncio.Task[None]] = {}
        in_hand: set[int] = set()
        progress = asyncio.Event()
        heartbeat = asyncio.create_task(self._heartbeat(in_hand))
        stop_recording = asyncio.Event()
        recorder = asyncio.create_task(self._record_sent_periodically(stop_recording))
        half = batch_size // 2
        try:
            while True:
                claimed_any = False
                if len(in_hand) <= half:
                    async with self.db.session() as session:
                        claimed = await outbox.claim_due(
                            session,
                            now=self.now(),
                            worker_id=self.worker_id,
                            limit=batch_size - len(in_hand),
                            lease_seconds=self.settings.lease_seconds,
                        )
                    claimed_any = bool(claimed)
                    for row in claimed:
                        assert row.message.id is not None
                        in_hand.add(row.message.id)
                        key = self._chat_key(row)
                        queues.setdefault(key, deque()).append(row)
                        if key not in workers or workers[key].done():
                            workers[key] = asyncio.create_task(
                                self._chat_worker(key, queues, in_hand, progress, report)
                            )
                if not in_hand:
                    break
                if claimed_any and len(in_hand) <= half:
                    continue
                # No await between the check above and this wait, so no completion is missed.
                progress.clear()
                await progress.wait()
        finally:
            heartbeat.cancel()
            if workers:
                await asyncio.gather(*workers.values(), return_exceptions=True)
            # The recorder is asked to stop, not cancelled: cancelled in the middle of a write,
            # it would drop the batch it had taken, leaving sent rows `sending` until their
            # lease ran out and they were sent again.
            stop_recording.set()
            await recorder
            await self._record_sent()

    @staticmethod
    def _chat_key(row: ClaimedMessage) -> int | str:
        if row.person is not None and row.person.telegram_chat_id is not None:
            return row.person.telegram_chat_id
        if row.message.chat_id is not None:
            return row.message.chat_id
        return f"message:{row.message.id}"

    async def _record_sent(self) -> None:
        batch, self._sent = self._sent, []
        if batch:
            async with self.db.session() as session:
                await outbox.mark_sent_many(session, self.worker_id, batch)

    async def _record_sent_periodically(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), SENT_FLUSH_SECONDS)
            except TimeoutError:
                pass
            try:
                await self._record_sent()
            except Exception:  # the rows stay `sending`; their lease brings them back
                log.exception("recording sent outbox rows failed")

    async def _heartbeat(self, in_hand: set[int]) -> None:
        interval = max(self.settings.lease_seconds / 3, 0.5)
        while True:
            await asyncio.sleep(interval)
            try:
                async with self.db.session() as session:
                    await outbox.extend_leases(
                        session,
                        self.worker_id,
                        until=self.now() + timedelta(seconds=self.settings.lease_seconds),
                        message_ids=list(in_hand),
                    )
            except Exception:  # a missed heartbeat only shortens a lease
                log.exception("outbox lease heartbeat failed")

    async def _chat_worker(
        self,
        key: int | str,
        queues: dict[int | str, deque[ClaimedMessage]],
        in_hand: set[int],
        progress: asyncio.Event,
        report: DispatchReport,
    ) -> None:
        queue = queues[key]
        while queue:
            row = queue.popleft()
            try:
                await self._deliver(row, report)
            except Exception as error:  # one bad row never stops the others
                log.exception("outbox row %s could not be handled", row.message.id)
                report.errors.append(type(error).__name__)
            finally:
                assert row.message.id is not None
                in_hand.discard(row.message.id)
                progress.set()

    async def _deliver(self, row: ClaimedMessage, report: DispatchReport) -> None:
        message, person = row.message, row.person
        assert message.id is not None
        now = self.now()
        skip = self._reason_not_to_send(message, person, now)
        if skip:
            async with self.db.session() as session:
                await outbox.mark_cancelled(session, message.id, self.worker_id, reason=skip)
            report.cancelled += 1
            metrics.OUTBOX_OUTCOMES.labels("cancelled").inc()
            return
        zone = ZoneInfo(person.timezone) if person else self.settings.zone
        if message.priority != Priority.SAFETY:
            until = quiet_until(now, zone, self.settings.quiet_period)
            if until is not None:
                async with self.db.session() as session:
                    await outbox.reschedule(
                        session,
                        message.id,
                        self.worker_id,
                        due_at=until,
                        error=None,
                        count_attempt=False,
                    )
                report.deferred += 1
                return
        try:
            reply, language = self._render(message, person)
        except Exception as error:
            async with self.db.session() as session:
                await outbox.mark_failed(
                    session,
                    message.id,
                    self.worker_id,
                    error=f"render: {type(error).__name__}: {error}",
                    count_attempt=True,
                )
            report.failed += 1
            metrics.OUTBOX_OUTCOMES.labels("failed").inc()
            return
        chat_id = person.telegram_chat_id if person else message.chat_id
        assert chat_id is not None
        await self._outcome(message, person, chat_id, reply, language, report)

    def _reason_not_to_send(
        self, message: OutboxMessage, person: Person | None, now: datetime
    ) -> str | None:
        # A reminder that could not go in time (the service was down, or quiet hours held it)
        # is dropped rather than sent late: never a burst of stale reminders.
        if message.expires_at is not None and message.expires_at <= now:
            return "expired before it could be sent"
        if message.person_id is None:
            return None
        if person is None:
            return "recipient erased"
        if person.status != PersonStatus.ACTIVE or person.telegram_chat_id is None:
            return "recipient not active"
        if person.paused_at is not None:
            return "recipient paused messages (/stop)"
        return None

    def _render(self, message: OutboxMessage, person: Person | None) -> tuple[Reply, str]:
        language = person.language if person else (message.chat_language or "en")
        template = OUTBOX_TEMPLATES[message.template_key]
        t = translator(language)
        who = Recipient(
            name=person.display_name if person else "",
            role=person.role if person else None,
            zone=ZoneInfo(person.timezone) if person else self.settings.zone,
        )
        reply = template(t, dict(message.params or {}), who)
        return Reply(t.finish(reply.text), reply.buttons, reply.document), language

    async def _pace(self, chat_id: int) -> None:
        loop = asyncio.get_running_loop()
        if self._hold_until > loop.time():
            await asyncio.sleep(self._hold_until - loop.time())
        if chat_id > 0:  # one message a second to one person; groups are paced by the limiter
            wait = self._next_send_to_chat.get(chat_id, 0.0) - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_send_to_chat[chat_id] = (
                loop.time() + self.settings.private_chat_interval_seconds
            )

    async def _send(self, chat_id: int, reply: Reply) -> int | None:
        first_id: int | None = None
        parts = split_text(reply.text)
        for index, part in enumerate(parts):
            await self._pace(chat_id)
            async with self._http_slots:
                sent = await self.bot.send_message(
                    chat_id,
                    part,
                    parse_mode=ParseMode.HTML,
                    reply_markup=to_markup(reply.buttons) if index == len(parts) - 1 else None,
                    disable_web_page_preview=True,
                )
            first_id = first_id or sent.message_id
        if reply.document is not None:
            await self._pace(chat_id)
            async with self._http_slots:
                await self.bot.send_document(
                    chat_id,
                    document=reply.document.content,
                    filename=reply.document.filename,
                    caption=reply.document.caption,
                    parse_mode=ParseMode.HTML,
                )
        return first_id

    async def _outcome(
        self,
        message: OutboxMessage,
        person: Person | None,
        chat_id: int,
        reply: Reply,
        language: str,
        report: DispatchReport,
    ) -> None:
        assert message.id is not None
        now = self.now()
        try:
            telegram_id = await self._send(chat_id, reply)
        except RetryAfter as error:
            delay = error.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            self._hold_until = asyncio.get_running_loop().time() + seconds
            async with self.db.session() as session:
                await outbox.reschedule(
                    session,
                    message.id,
                    self.worker_id,
                    due_at=now + timedelta(seconds=seconds),
                    error=f"flood control: retry after {seconds:g}s",
                    count_attempt=False,
                )
            report.retried += 1
            metrics.OUTBOX_OUTCOMES.labels("retry_after").inc()
            return
        except Forbidden as error:
            async with self.db.session() as session:
                await outbox.mark_failed(
                    session,
                    message.id,
                    self.worker_id,
                    error=f"Forbidden: {error.message}",
                    count_attempt=True,
                )
                if person is not None:
                    await account.deactivate(
                        session, now=now, person_id=person.id, reason="blocked the bot"
                    )
            report.failed += 1
            metrics.OUTBOX_OUTCOMES.labels("forbidden").inc()
            return
        except BadRequest as error:
            async with self.db.session() as session:
                await outbox.mark_failed(
                    session,
                    message.id,
                    self.worker_id,
                    error=f"BadRequest: {error.message}",
                    count_attempt=True,
                )
            report.failed += 1
            metrics.OUTBOX_OUTCOMES.labels("failed").inc()
            return
        except (NetworkError, TelegramError) as error:
            attempts = message.attempts + 1
            text = f"{type(error).__name__}: {error.message}"
            async with self.db.session() as session:
                if attempts >= self.settings.max_send_attempts:
                    await outbox.mark_failed(
                        session, message.id, self.worker_id, error=text, count_attempt=True
                    )
                    report.failed += 1
                    metrics.OUTBOX_OUTCOMES.labels("failed").inc()
                else:
                    backoff = self.settings.retry_base_seconds * 2 ** (attempts - 1)
                    await outbox.reschedule(
                        session,
                        message.id,
                        self.worker_id,
                        due_at=now + timedelta(seconds=backoff),
                        error=text,
                        count_attempt=True,
                    )
                    report.retried += 1
                    metrics.OUTBOX_OUTCOMES.labels("retry").inc()
            return
        self._sent.append((message.id, telegram_id, self.now()))
        if len(self._sent) >= SENT_FLUSH_ROWS:
            await self._record_sent()
        report.sent += 1
        metrics.OUTBOX_OUTCOMES.labels("sent").inc()
        log.debug("outbox row %s sent in %s", message.id, language)
