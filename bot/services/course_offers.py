"""Offering a newly diagnosed patient the course for their diabetes type.

The practice's record (API, CSV or `diabridge patient add`) carries the patient's diabetes type
and the day they were diagnosed. A patient diagnosed within NEWLY_DIAGNOSED_DAYS is offered the
fitting course once (`education.offer_course_if_new`; its dedupe key keeps it to one offer per
person and course): when they join, and when the practice sends a new diagnosis for someone
who has already joined.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot import content
from bot.content import ContentError
from bot.models import Person, PersonStatus
from bot.services import education

log = logging.getLogger(__name__)


async def offer_if_newly_diagnosed(
    session: AsyncSession, person: Person, *, now: datetime
) -> str | None:
    """Queues the course offer if the person is in the chat and newly diagnosed; returns the
    course offered. Joining or registering never fails for the library's sake: a library that
    is not fit to show means no offer (and a warning in the log)."""
    if (
        person.diagnosed_on is None
        or person.telegram_chat_id is None
        or person.status != PersonStatus.ACTIVE
        or person.paused_at is not None
    ):
        return None
    try:
        library = content.library()
    except ContentError:
        log.warning("course offer: the education library is not fit to show; none offered")
        return None
    return await education.offer_course_if_new(session, person, library, now=now)
