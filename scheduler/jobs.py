"""The periodic jobs of one process, on APScheduler."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.db import Database
from bot.plans import Plans, load_plans
from bot.services import advice_line, pre_review, transition
from scheduler.dispatcher import OutboxDispatcher
from scheduler.leadership import DispatchLeadership

log = logging.getLogger(__name__)


async def dispatch_tick(leadership: DispatchLeadership, dispatcher: OutboxDispatcher) -> None:
    try:
        if await leadership.acquire():
            await dispatcher.run_once()
    except Exception:  # the next tick tries again; a job must never die
        log.exception("outbox dispatch tick failed")


async def daily_planning(leadership: DispatchLeadership, db: Database) -> None:
    """Plans that run out with time (the transition programme's monthly check-ins) are topped
    up once a day, by the one process that holds the dispatch lock."""
    try:
        if await leadership.acquire():
            async with db.session() as session:
                topped = await transition.top_up_check_ins(session, now=datetime.now(UTC))
            if topped:
                log.info("daily planning: check-ins topped up for %s young people", topped)
    except Exception:
        log.exception("daily planning failed")


async def advice_watch(leadership: DispatchLeadership, db: Database) -> None:
    """Raises unclaimed advice requests at half their time and marks breaches, once a minute,
    by the one process that dispatches (so a raise is never queued twice by two workers)."""
    try:
        if await leadership.acquire():
            async with db.session() as session:
                report = await advice_line.watch(session, now=datetime.now(UTC))
            if report.raised or report.breached:
                log.info(
                    "advice line: %s raised again, %s breached", report.raised, report.breached
                )
    except Exception:
        log.exception("advice watch failed")


async def care_planning(leadership: DispatchLeadership, db: Database, plans: Plans) -> None:
    """Results before annual reviews and the clinicians' summaries two days before, every 5
    minutes, by the one process that dispatches (so nothing is queued twice). A busy day is
    done in batches, each its own transaction, so the one SQLite writer is never held long."""
    try:
        if not await leadership.acquire():
            return
        results = summaries = 0
        more = True
        while more:
            async with db.session() as session:
                report = await pre_review.plan(session, plans=plans, now=datetime.now(UTC))
            results += report.results_sent
            summaries += report.summaries_sent
            more = report.more
        if results or summaries:
            log.info("care planning: %s results sent, %s summaries sent", results, summaries)
    except Exception:
        log.exception("care planning failed")


def build_scheduler(
    dispatcher: OutboxDispatcher,
    leadership: DispatchLeadership,
    interval_seconds: float,
    plans: Plans | None = None,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        dispatch_tick,
        "interval",
        seconds=interval_seconds,
        args=(leadership, dispatcher),
        id="outbox-dispatch",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    scheduler.add_job(
        daily_planning,
        "cron",
        hour=3,
        minute=30,
        args=(leadership, dispatcher.db),
        id="daily-planning",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        advice_watch,
        "interval",
        seconds=60,
        args=(leadership, dispatcher.db),
        id="advice-watch",
        max_instances=1,
        coalesce=True,
    )
    scheduler.add_job(
        care_planning,
        "interval",
        minutes=5,
        # The plans the process started with (a broken file stops `diabridge run`).
        args=(leadership, dispatcher.db, plans or load_plans(dispatcher.settings.plans_file)),
        id="care-planning",
        max_instances=1,
        coalesce=True,
    )
    return scheduler
