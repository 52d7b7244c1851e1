"""GP practices: how patients reach them, and where their staff hear about patients."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Person, Practice, Role
from bot.services import audit
from bot.services.enrolment import InvalidField, check_ods_code, ensure_practice

LINK_STAFF_CHAT_ROLES = frozenset({Role.GP, Role.NURSE, Role.ADMIN})


async def update_details(
    session: AsyncSession,
    ods_code: str,
    *,
    name: str | None,
    phone: str | None,
    booking_url: str | None,
    actor: str,
    now: datetime,
) -> Practice:
    practice = await ensure_practice(session, check_ods_code(ods_code))
    if name is not None:
        if not name.strip() or len(name) > 200:
            raise InvalidField("--name", "give the practice's name, at most 200 characters")
        practice.name = name.strip()
    if phone is not None:
        if len(phone) > 40 or not any(ch.isdigit() for ch in phone):
            raise InvalidField("--phone", f"{phone!r} is not a telephone number")
        practice.phone = phone.strip()
    if booking_url is not None:
        if booking_url and not booking_url.startswith("https://"):
            raise InvalidField("--booking-url", "the booking link must start with https://")
        practice.booking_url = booking_url.strip()
    await audit.record(
        session,
        actor=actor,
        action="practice.update",
        detail=f"practice={practice.ods_code}",
        at=now,
    )
    return practice


class NotPracticeStaff(PermissionError):
    pass


async def link_staff_chat(
    session: AsyncSession, staff: Person, chat_id: int, *, now: datetime
) -> Practice:
    """A GP, practice nurse or admin of a practice names a group as its staff chat: answers to
    reminders and care-team flags for its patients go there."""
    if Role(staff.role) not in LINK_STAFF_CHAT_ROLES or not staff.practice_ods:
        raise NotPracticeStaff("only a practice's GP, nurse or admin can link its staff chat")
    practice = await ensure_practice(session, staff.practice_ods)
    practice.staff_chat_id = chat_id
    await audit.record(
        session,
        actor=audit.person_actor(staff.id),
        action="practice.link_staff_chat",
        detail=f"practice={practice.ods_code}",
        at=now,
    )
    return practice


async def forget_staff_chat(session: AsyncSession, chat_id: int, *, now: datetime) -> int:
    """The bot was removed from a staff group: its practice falls back to its staff directly."""
    practices = (
        await session.exec(select(Practice).where(col(Practice.staff_chat_id) == chat_id))
    ).all()
    for practice in practices:
        practice.staff_chat_id = None
        await audit.record(
            session,
            actor="telegram",
            action="practice.staff_chat_removed",
            detail=f"practice={practice.ods_code}",
            at=now,
        )
    return len(practices)
