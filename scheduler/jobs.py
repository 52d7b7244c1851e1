"""The periodic jobs of one process, on APScheduler."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler.dispatcher import OutboxDispatcher
from scheduler.leadership import DispatchLeadership

log = logging.getLogger(__name__)


async def dispatch_tick(leadership: DispatchLeadership, dispatcher: OutboxDispatcher) -> None:
    try:
        if await leadership.acquire():
            await dispatcher.run_once()
    except Exception:  # the next tick tries again; a job must never die
        log.exception("outbox dispatch tick failed")


def build_scheduler(
    dispatcher: OutboxDispatcher, leadership: DispatchLeadership, interval_seconds: float
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
    return scheduler
