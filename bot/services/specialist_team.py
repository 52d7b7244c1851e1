"""The specialist team's Telegram group: an admin makes a single-use code, and `/register_team
<code>` in the group makes it the place where advice-line cards appear."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Person, PersonStatus, Role, TeamChat, TeamCode
from bot.services import audit
from bot.services.enrolment import code_hash, display_code, new_code

CODE_VALID = timedelta(hours=24)
# The team: who may register its group (besides holding the code), list its queue and see
# its figures.
MEMBERS = frozenset({Role.ADMIN, Role.SPECIALIST})


def is_member(person: Person | None) -> bool:
    return (
        person is not None and Role(person.role) in MEMBERS and person.status == PersonStatus.ACTIVE
    )


class NotTeamStaff(PermissionError):
    pass


class CodeRefused(ValueError):
    pass


@dataclass(frozen=True)
class TeamCodeIssued:
    code: str  # as it is shown: ABCDE-23456
    expires_at: datetime


async def issue_code(session: AsyncSession, *, actor: str, now: datetime) -> TeamCodeIssued:
    code = new_code()
    session.add(
        TeamCode(
            code_hash=code_hash(code), created_by=actor, created_at=now, expires_at=now + CODE_VALID
        )
    )
    await audit.record(session, actor=actor, action="team.code_issued", at=now)
    return TeamCodeIssued(display_code(code), now + CODE_VALID)


async def register(
    session: AsyncSession,
    raw_code: str,
    *,
    chat_id: int,
    title: str,
    person: Person | None,
    now: datetime,
) -> TeamChat:
    """The group becomes the team's; a group registered before stops getting cards."""
    if person is None or not is_member(person):
        raise NotTeamStaff("only the team's admin or a specialist can register the team's group")
    code = (
        await session.exec(select(TeamCode).where(col(TeamCode.code_hash) == code_hash(raw_code)))
    ).first()
    if code is None or code.used_at is not None or code.expires_at <= now:
        raise CodeRefused("the code is wrong, used or out of date")
    code.used_at = now
    for other in (await session.exec(select(TeamChat).where(col(TeamChat.active)))).all():
        other.active = False
    team = await session.get(TeamChat, chat_id)
    if team is None:
        team = TeamChat(chat_id=chat_id, registered_by=audit.person_actor(person.id))
        session.add(team)
    team.title, team.active, team.registered_at = title[:200], True, now
    team.registered_by = audit.person_actor(person.id)
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="team.register_chat",
        detail=f"chat={chat_id}",
        at=now,
    )
    return team


async def is_team_chat(session: AsyncSession, chat_id: int) -> bool:
    team = await session.get(TeamChat, chat_id)
    return team is not None and team.active


async def forget_chat(session: AsyncSession, chat_id: int, *, now: datetime) -> bool:
    """The bot was removed from the team's group: cards go to the specialists directly."""
    team = await session.get(TeamChat, chat_id)
    if team is None or not team.active:
        return False
    team.active = False
    await audit.record(
        session, actor="telegram", action="team.chat_removed", detail=f"chat={chat_id}", at=now
    )
    return True
