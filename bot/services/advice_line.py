"""The advice line: a GP or practice nurse asks the specialist diabetes team, a specialist
claims the request and answers, and the thread goes on until it is closed with an outcome.

Targets are in working time (bot.working_days): a request unclaimed at half its time is raised
again in the team's group, and one not answered by its due time is marked breached and sent to
the team's admins. While the team waits on the GP, the clock stops.

Everything a clinician relies on (the question, every answer) is a row here; what must be said
to whom is queued in the outbox. Clinical text and NHS numbers never go to the audit trail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    OPEN_STATUSES,
    TEAM_ANSWERS,
    AdviceArea,
    AdviceAttachment,
    AdviceCompose,
    AdviceKind,
    AdviceMessage,
    AdviceMessageKind,
    AdviceRequest,
    AdviceStatus,
    AdviceUrgency,
    Person,
    PersonStatus,
    Practice,
    Priority,
    Role,
    TeamChat,
)
from bot.services import audit, outbox
from bot.services.enrolment import InvalidField, check_nhs_number
from bot.working_days import WORKING_DAY, add_working_time, working_time_between

QUESTION_MIN_CHARACTERS = 20
QUESTION_MIN_WORDS = 4
TEXT_LIMIT = 3000
MAX_ATTACHMENTS = 10

ASKERS = frozenset({Role.GP, Role.NURSE})
ANSWERERS = frozenset({Role.SPECIALIST})


class Step(StrEnum):
    """The GP's steps, in order."""

    AREA = "area"
    URGENCY = "urgency"
    NHS_NUMBER = "nhs_number"
    AGE = "age"
    SEX = "sex"
    QUESTION = "question"
    ATTACHMENTS = "attachments"
    SUMMARY = "summary"


STEPS = tuple(Step)
# Steps answered by typing; the others by buttons (or, for attachments, by sending files).
TYPED_STEPS = frozenset({Step.NHS_NUMBER, Step.AGE, Step.QUESTION})


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Outcome(StrEnum):
    ADVICE_GIVEN = "advice_given"
    REFERRAL_ADVISED = "referral_advised"
    VIRTUAL_CLINIC = "virtual_clinic"
    REDIRECTED = "redirected"
    # A hypo follow-up.
    FOLLOWED_UP = "followed_up"
    COULD_NOT_REACH = "could_not_reach"


ADVICE_OUTCOMES = (
    Outcome.ADVICE_GIVEN,
    Outcome.REFERRAL_ADVISED,
    Outcome.VIRTUAL_CLINIC,
    Outcome.REDIRECTED,
)
HYPO_OUTCOMES = (Outcome.FOLLOWED_UP, Outcome.COULD_NOT_REACH)


class Helped(StrEnum):
    YES = "yes"
    PARTLY = "partly"
    NO = "no"


# Problems -----------------------------------------------------------------------------------


class Problem(StrEnum):
    """Why an answer was refused: the handler says it in the person's language."""

    AREA = "area"
    URGENCY = "urgency"
    NHS_DIGITS = "nhs_digits"
    NHS_CHECK_DIGIT = "nhs_check_digit"
    AGE = "age"
    SEX = "sex"
    QUESTION_SHORT = "question_short"
    TEXT_LONG = "text_long"
    TEXT_EMPTY = "text_empty"
    FILE_TOO_LARGE = "file_too_large"
    TOO_MANY_FILES = "too_many_files"
    NOT_A_STEP = "not_a_step"


class InvalidAnswer(ValueError):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


class NotAllowed(PermissionError):
    """This person may not do that (the handler says who may)."""


class NotFound(LookupError):
    pass


class HeldByOther(PermissionError):
    def __init__(self, holder_name: str) -> None:
        super().__init__(holder_name)
        self.holder_name = holder_name


class AlreadyClosed(RuntimeError):
    pass


# Targets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """Working days to answer, by kind and urgency (settings DIABRIDGE_ADVICE_*_DAYS)."""

    routine_days: float = 2
    urgent_days: float = 1
    hypo_days: float = 1

    def working_time(self, request: AdviceRequest) -> timedelta:
        if request.kind == AdviceKind.HYPO:
            days = self.hypo_days
        elif request.urgency == AdviceUrgency.URGENT:
            days = self.urgent_days
        else:
            days = self.routine_days
        return WORKING_DAY * days


def start_clock(request: AdviceRequest, targets: Targets, now: datetime) -> None:
    allowed = targets.working_time(request)
    request.submitted_at = now
    request.due_at = add_working_time(now, allowed)
    request.raise_at = add_working_time(now, allowed / 2)


def reference_id(text: str) -> int | None:
    """The row id in a reference typed or pressed ("A-000123", "h-12", "123")."""
    match = re.fullmatch(r"\s*(?:[AH]-?)?0*(\d{1,9})\s*", text, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


# The GP's steps ---------------------------------------------------------------------------


def may_ask(person: Person) -> bool:
    return Role(person.role) in ASKERS and person.status == PersonStatus.ACTIVE


def may_answer(person: Person) -> bool:
    return Role(person.role) in ANSWERERS and person.status == PersonStatus.ACTIVE


async def draft_of(session: AsyncSession, gp: Person) -> AdviceRequest | None:
    return (
        await session.exec(
            select(AdviceRequest).where(
                col(AdviceRequest.requester_id) == gp.id,
                col(AdviceRequest.status) == AdviceStatus.DRAFT,
            )
        )
    ).first()


async def start_draft(session: AsyncSession, gp: Person, *, now: datetime) -> AdviceRequest:
    """The GP's unsent request if there is one (they continue where they were), else a new one."""
    if not may_ask(gp):
        raise NotAllowed("only a GP or practice nurse can ask the advice line")
    draft = await draft_of(session, gp)
    if draft is not None:
        return draft
    draft = AdviceRequest(
        kind=AdviceKind.ADVICE,
        status=AdviceStatus.DRAFT,
        step=Step.AREA,
        requester_id=gp.id,
        practice_ods=gp.practice_ods,
        source=audit.person_actor(gp.id),
        created_at=now,
        updated_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


def _next_step(draft: AdviceRequest, answered: Step) -> Step:
    if draft.editing:
        return Step.SUMMARY
    return STEPS[STEPS.index(answered) + 1]


def _read(step: Step, value: str) -> dict[str, Any]:
    """The fields one answer sets, or InvalidAnswer saying what is wrong."""
    value = value.strip()
    if step is Step.AREA:
        if value not in AdviceArea.__members__.values():
            raise InvalidAnswer(Problem.AREA)
        return {"area": value}
    if step is Step.URGENCY:
        if value not in AdviceUrgency.__members__.values():
            raise InvalidAnswer(Problem.URGENCY)
        return {"urgency": value}
    if step is Step.NHS_NUMBER:
        try:
            return {"nhs_number": check_nhs_number(value)}
        except InvalidField as error:
            digits = re.sub(r"[\s-]", "", value)
            wrong_length = not digits.isdigit() or len(digits) != 10
            raise InvalidAnswer(
                Problem.NHS_DIGITS if wrong_length else Problem.NHS_CHECK_DIGIT
            ) from error
    if step is Step.AGE:
        if not value.isdigit() or not 0 <= int(value) <= 120:
            raise InvalidAnswer(Problem.AGE)
        return {"patient_age": int(value)}
    if step is Step.SEX:
        if value not in Sex.__members__.values():
            raise InvalidAnswer(Problem.SEX)
        return {"patient_sex": value}
    if step is Step.QUESTION:
        return {"question": check_question(value)}
    raise InvalidAnswer(Problem.NOT_A_STEP)


def check_question(text: str) -> str:
    text = text.strip()
    if len(text) > TEXT_LIMIT:
        raise InvalidAnswer(Problem.TEXT_LONG)
    if len(text) < QUESTION_MIN_CHARACTERS or len(text.split()) < QUESTION_MIN_WORDS:
        raise InvalidAnswer(Problem.QUESTION_SHORT)
    return text


def check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidAnswer(Problem.TEXT_EMPTY)
    if len(text) > TEXT_LIMIT:
        raise InvalidAnswer(Problem.TEXT_LONG)
    return text


async def answer_step(
    session: AsyncSession, draft: AdviceRequest, step: Step, value: str, *, now: datetime
) -> AdviceRequest:
    """Saves one answer (only for the step the draft is at) and moves to the next step."""
    if draft.status != AdviceStatus.DRAFT or draft.step != step:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    for field, read in _read(step, value).items():
        setattr(draft, field, read)
    draft.step = _next_step(draft, step)
    if draft.step == Step.SUMMARY:
        draft.editing = False
    draft.updated_at = now
    return draft


async def attachments_of(session: AsyncSession, request_id: int) -> list[AdviceAttachment]:
    return list(
        (
            await session.exec(
                select(AdviceAttachment)
                .where(col(AdviceAttachment.request_id) == request_id)
                .order_by(col(AdviceAttachment.id))
            )
        ).all()
    )


async def add_attachment(
    session: AsyncSession,
    draft: AdviceRequest,
    *,
    kind: str,
    file_id: str,
    file_name: str,
    mime_type: str,
    size: int,
    max_bytes: int,
    now: datetime,
) -> int:
    """Keeps a photo or document sent at the attachments step; returns how many there are."""
    if draft.status != AdviceStatus.DRAFT or draft.step != Step.ATTACHMENTS:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    if size > max_bytes:
        raise InvalidAnswer(Problem.FILE_TOO_LARGE)
    assert draft.id is not None
    count = len(await attachments_of(session, draft.id))
    if count >= MAX_ATTACHMENTS:
        raise InvalidAnswer(Problem.TOO_MANY_FILES)
    session.add(
        AdviceAttachment(
            request_id=draft.id,
            kind=kind,
            file_id=file_id,
            file_name=file_name[:200],
            mime_type=mime_type[:100],
            size=size,
            added_at=now,
        )
    )
    draft.updated_at = now
    return count + 1


async def finish_attachments(
    session: AsyncSession, draft: AdviceRequest, *, now: datetime
) -> AdviceRequest:
    if draft.status != AdviceStatus.DRAFT or draft.step != Step.ATTACHMENTS:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    draft.step, draft.editing, draft.updated_at = Step.SUMMARY, False, now
    return draft


async def edit_step(
    session: AsyncSession, draft: AdviceRequest, step: Step, *, now: datetime
) -> AdviceRequest:
    """From the summary, back to one step; answering it returns to the summary."""
    if draft.status != AdviceStatus.DRAFT or step is Step.SUMMARY:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    draft.step, draft.editing, draft.updated_at = step, True, now
    return draft


async def cancel_draft(session: AsyncSession, draft: AdviceRequest, *, now: datetime) -> None:
    if draft.status != AdviceStatus.DRAFT:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    draft.status, draft.step, draft.updated_at = AdviceStatus.CANCELLED, None, now
    # Nothing was sent: the question and photos are not kept.
    draft.question, draft.nhs_number = None, None
    assert draft.id is not None
    for attachment in await attachments_of(session, draft.id):
        await session.delete(attachment)


def is_complete(draft: AdviceRequest) -> bool:
    return all(
        value is not None
        for value in (
            draft.area,
            draft.urgency,
            draft.nhs_number,
            draft.patient_age,
            draft.patient_sex,
            draft.question,
        )
    )


async def submit(
    session: AsyncSession, draft: AdviceRequest, *, targets: Targets, now: datetime
) -> AdviceRequest:
    """Sends the request to the team: its clock starts and its card is queued."""
    if draft.status != AdviceStatus.DRAFT or draft.step != Step.SUMMARY:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    if not is_complete(draft):
        raise InvalidAnswer(Problem.NOT_A_STEP)
    draft.status, draft.step, draft.updated_at = AdviceStatus.OPEN, None, now
    start_clock(draft, targets, now)
    await session.flush()
    await audit.record(
        session,
        actor=draft.source,
        action="advice.submit",
        detail=f"request={draft.reference} area={draft.area} urgency={draft.urgency}",
        at=now,
    )
    await queue_card(session, draft, now=now)
    return draft


# The team's group -------------------------------------------------------------------------


def request_topic(request_id: int) -> str:
    return f"advice:{request_id}"


async def team_chat_id(session: AsyncSession) -> int | None:
    return (
        await session.exec(
            select(TeamChat.chat_id)
            .where(col(TeamChat.active).is_(True))
            .order_by(col(TeamChat.registered_at).desc())
        )
    ).first()


async def _active_ids(session: AsyncSession, role: Role) -> list[int]:
    return [
        person_id
        for person_id in (
            await session.exec(
                select(Person.id).where(
                    col(Person.role) == role,
                    col(Person.status) == PersonStatus.ACTIVE,
                    col(Person.telegram_chat_id).is_not(None),
                )
            )
        ).all()
        if person_id is not None
    ]


async def tell_team(
    session: AsyncSession,
    request: AdviceRequest,
    *,
    template_key: str,
    dedupe_key: str,
    params: dict[str, Any],
    now: datetime,
) -> None:
    """To the team's group; with no group registered yet, to every specialist directly."""
    assert request.id is not None
    note = {
        "template_key": template_key,
        "due_at": now,
        "priority": Priority.ADVICE_LINE,
        "params": params,
        "topic": request_topic(request.id),
    }
    chat = await team_chat_id(session)
    if chat is not None:
        rows = [{**note, "dedupe_key": dedupe_key, "chat_id": chat, "chat_language": "en"}]
    else:
        rows = [
            {**note, "dedupe_key": f"{dedupe_key}:staff:{person_id}", "person_id": person_id}
            for person_id in await _active_ids(session, Role.SPECIALIST)
        ]
    await outbox.queue_many(session, rows)


async def card_params(session: AsyncSession, request: AdviceRequest) -> dict[str, Any]:
    """What the team's card shows, as plain values: the outbox renders it at send time and a
    button press renders it again after a claim or a close."""
    assert request.id is not None
    practice = await session.get(Practice, request.practice_ods) if request.practice_ods else None
    holder = await session.get(Person, request.holder_id) if request.holder_id else None
    attachments = await attachments_of(session, request.id)
    return {
        "request_id": request.id,
        "reference": request.reference,
        "kind": request.kind,
        "status": request.status,
        "area": request.area,
        "urgency": request.urgency,
        "due_at": request.due_at.isoformat() if request.due_at else None,
        "practice": f"{practice.name} ({practice.ods_code})" if practice else "",
        "age": request.patient_age,
        "sex": request.patient_sex,
        "question": request.question or "",
        "attachments": [a.file_name or a.kind for a in attachments],
        "holder": holder.display_name if holder else None,
        "outcome": request.outcome,
        "breached": request.breached_at is not None,
        "patient_enrolled": request.patient_id is not None,
        "occurred_at": request.occurred_at.isoformat() if request.occurred_at else None,
        "taken_to_hospital": request.taken_to_hospital,
        "reported_by": reported_by(request),
        "drives": request.drives,
    }


async def queue_card(session: AsyncSession, request: AdviceRequest, *, now: datetime) -> None:
    assert request.id is not None
    await tell_team(
        session,
        request,
        template_key="advice_card",
        dedupe_key=f"advice:{request.id}:card",
        params=await card_params(session, request),
        now=now,
    )


async def card_messages(session: AsyncSession, request_id: int) -> list[tuple[int, int]]:
    """(chat, message) of every card of a request that was sent, to show its new state."""
    rows = await outbox.for_topic(session, request_topic(request_id))
    return [
        (row.chat_id, row.telegram_message_id)
        for row in rows
        if row.template_key == "advice_card"
        and row.chat_id is not None
        and row.telegram_message_id is not None
    ]


# The team's actions -----------------------------------------------------------------------


async def get(session: AsyncSession, request_id: int) -> AdviceRequest:
    # Locked until the end of the transaction: two specialists claiming at once (from two
    # private chats) are served one after the other, and the second sees the first's claim.
    request = await session.get(AdviceRequest, request_id, with_for_update=True)
    if request is None or request.status in (AdviceStatus.DRAFT, AdviceStatus.CANCELLED):
        raise NotFound(str(request_id))
    return request


def _must_answer(person: Person) -> None:
    if not may_answer(person):
        raise NotAllowed("only the diabetes specialist team can do that")


async def _record(
    session: AsyncSession, person: Person, action: str, request: AdviceRequest, now: datetime
) -> None:
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action=f"advice.{action}",
        person_id=request.patient_id,
        detail=f"request={request.reference}",
        at=now,
    )


async def view(
    session: AsyncSession, request_id: int, person: Person, *, now: datetime, what: str = "view"
) -> AdviceRequest:
    """A specialist, or the GP who asked, opens a request; every look is audited."""
    request = await get(session, request_id)
    if not (may_answer(person) or request.requester_id == person.id):
        raise NotAllowed("only the specialist team and the GP who asked can see a request")
    await _record(session, person, what, request, now)
    return request


async def claim(
    session: AsyncSession, request_id: int, specialist: Person, *, now: datetime
) -> AdviceRequest:
    _must_answer(specialist)
    request = await get(session, request_id)
    if request.status == AdviceStatus.CLOSED:
        raise AlreadyClosed(request.reference)
    if request.holder_id not in (None, specialist.id):
        holder = await session.get(Person, request.holder_id)
        raise HeldByOther(holder.display_name if holder else "")
    if request.holder_id is None:
        request.holder_id, request.claimed_at = specialist.id, now
        if request.status == AdviceStatus.OPEN:
            request.status = AdviceStatus.CLAIMED
        request.updated_at = now
        await _record(session, specialist, "claim", request, now)
    return request


async def _held_by(session: AsyncSession, request_id: int, specialist: Person) -> AdviceRequest:
    _must_answer(specialist)
    request = await get(session, request_id)
    if request.status == AdviceStatus.CLOSED:
        raise AlreadyClosed(request.reference)
    if request.holder_id != specialist.id:
        holder = await session.get(Person, request.holder_id) if request.holder_id else None
        raise HeldByOther(holder.display_name if holder else "")
    return request


async def release(
    session: AsyncSession, request_id: int, specialist: Person, *, now: datetime
) -> AdviceRequest:
    """The holder gives the request back to the team's queue."""
    request = await _held_by(session, request_id, specialist)
    request.holder_id, request.updated_at = None, now
    if request.status == AdviceStatus.CLAIMED:
        request.status = AdviceStatus.OPEN
    await _drop_composes(session, request_id, specialist.id)
    await _record(session, specialist, "release", request, now)
    return request


async def _drop_composes(session: AsyncSession, request_id: int, person_id: int | None) -> None:
    compose = await session.get(AdviceCompose, person_id)
    if compose is not None and compose.request_id == request_id:
        await session.delete(compose)


TEAM_KINDS = frozenset({*TEAM_ANSWERS, AdviceMessageKind.ASK_MORE})


async def start_writing(
    session: AsyncSession,
    request_id: int,
    person: Person,
    kind: AdviceMessageKind,
    *,
    now: datetime,
) -> AdviceRequest:
    """The next text this person types in their private chat is this turn of the thread."""
    if kind in TEAM_KINDS:
        request = await _held_by(session, request_id, person)
    elif kind is AdviceMessageKind.GP_REPLY:
        request = await get(session, request_id)
        if request.requester_id != person.id:
            raise NotAllowed("only the GP who asked can reply")
        if request.status == AdviceStatus.CLOSED:
            raise AlreadyClosed(request.reference)
    else:
        raise NotAllowed(kind)
    compose = await session.get(AdviceCompose, person.id)
    if compose is None:
        assert person.id is not None
        session.add(
            AdviceCompose(person_id=person.id, request_id=request_id, kind=kind, started_at=now)
        )
    else:
        compose.request_id, compose.kind, compose.started_at = request_id, kind, now
    return request


async def writing(session: AsyncSession, person_id: int) -> AdviceCompose | None:
    return await session.get(AdviceCompose, person_id)


async def stop_writing(session: AsyncSession, person_id: int) -> bool:
    compose = await session.get(AdviceCompose, person_id)
    if compose is None:
        return False
    await session.delete(compose)
    return True


def author_line(person: Person) -> str:
    return f"{person.display_name}, {person.job_title}" if person.job_title else person.display_name


def _end_wait(request: AdviceRequest, now: datetime) -> None:
    """The GP answered (or the team moved on): the clock runs again with the time it had left."""
    if request.waiting_since is None:
        return
    if request.due_at is not None and request.due_at > request.waiting_since:
        left = working_time_between(request.waiting_since, request.due_at)
        request.due_at = add_working_time(now, left)
    request.waiting_since = None


async def post(
    session: AsyncSession, compose: AdviceCompose, author: Person, text: str, *, now: datetime
) -> tuple[AdviceRequest, AdviceMessage]:
    """The text typed after Reply, Ask the GP, a suggestion or the GP's reply: kept, and queued
    to the other side."""
    body = check_text(text)
    kind = AdviceMessageKind(compose.kind)
    request = await start_writing(session, compose.request_id, author, kind, now=now)
    message = AdviceMessage(
        request_id=compose.request_id,
        author_id=author.id,
        author_name=author_line(author),
        kind=kind,
        text=body,
        at=now,
    )
    session.add(message)
    await session.delete(compose)
    await session.flush()
    assert message.id is not None
    if kind is AdviceMessageKind.GP_REPLY:
        _end_wait(request, now)
        if request.status in (AdviceStatus.WAITING_GP, AdviceStatus.ANSWERED):
            request.status = AdviceStatus.CLAIMED if request.holder_id else AdviceStatus.OPEN
        await _record(session, author, "gp_reply", request, now)
        await _to_holder(session, request, message, author, now=now)
    else:
        _end_wait(request, now)
        if kind is AdviceMessageKind.ASK_MORE:
            request.status, request.waiting_since = AdviceStatus.WAITING_GP, now
        else:
            request.status = AdviceStatus.ANSWERED
            request.first_answer_at = request.first_answer_at or now
        await _record(session, author, "answer", request, now)
        await _to_gp(session, request, message, author, now=now)
    request.updated_at = now
    return request, message


def _message_params(
    request: AdviceRequest, message: AdviceMessage, author: Person
) -> dict[str, Any]:
    return {
        "request_id": request.id,
        "reference": request.reference,
        "message_id": message.id,
        "kind": message.kind,
        # The reader sees the name with the job title, or else the role in their language.
        "author": author.display_name,
        "author_title": author.job_title,
        "author_role": author.role,
        "text": message.text,
    }


async def _to_gp(
    session: AsyncSession,
    request: AdviceRequest,
    message: AdviceMessage,
    author: Person,
    *,
    now: datetime,
) -> None:
    if request.requester_id is None:
        return  # the GP erased their account: the answer stays in the record
    await outbox.queue(
        session,
        template_key="advice_to_gp",
        dedupe_key=f"advice:{request.id}:message:{message.id}",
        due_at=now,
        priority=Priority.ADVICE_LINE,
        params=_message_params(request, message, author),
        person_id=request.requester_id,
        topic=request_topic(request.id or 0),
    )


async def _to_holder(
    session: AsyncSession,
    request: AdviceRequest,
    message: AdviceMessage,
    author: Person,
    *,
    now: datetime,
) -> None:
    if request.holder_id is not None:
        await outbox.queue(
            session,
            template_key="advice_to_specialist",
            dedupe_key=f"advice:{request.id}:message:{message.id}",
            due_at=now,
            priority=Priority.ADVICE_LINE,
            params=_message_params(request, message, author),
            person_id=request.holder_id,
            topic=request_topic(request.id or 0),
        )
        return
    # Nobody holds it: the group hears that the GP added something, not what.
    await tell_team(
        session,
        request,
        template_key="advice_gp_added",
        dedupe_key=f"advice:{request.id}:message:{message.id}",
        params={"request_id": request.id, "reference": request.reference},
        now=now,
    )


async def close(
    session: AsyncSession, request_id: int, specialist: Person, outcome: Outcome, *, now: datetime
) -> AdviceRequest:
    request = await _held_by(session, request_id, specialist)
    allowed = HYPO_OUTCOMES if request.kind == AdviceKind.HYPO else ADVICE_OUTCOMES
    if outcome not in allowed:
        raise InvalidAnswer(Problem.NOT_A_STEP)
    request.status, request.outcome, request.closed_at = AdviceStatus.CLOSED, outcome, now
    request.waiting_since, request.updated_at = None, now
    await _drop_composes(session, request_id, specialist.id)
    await _record(session, specialist, "close", request, now)
    if request.kind == AdviceKind.ADVICE and request.requester_id is not None:
        await outbox.queue(
            session,
            template_key="advice_closed",
            dedupe_key=f"advice:{request.id}:closed",
            due_at=now,
            priority=Priority.ADVICE_LINE,
            params={
                "request_id": request.id,
                "reference": request.reference,
                "outcome": outcome.value,
                "author": specialist.display_name,
                "author_title": specialist.job_title,
                "author_role": specialist.role,
            },
            person_id=request.requester_id,
            topic=request_topic(request.id or 0),
        )
    return request


async def rate(
    session: AsyncSession, request_id: int, gp: Person, helped: Helped, *, now: datetime
) -> AdviceRequest:
    request = await get(session, request_id)
    if request.requester_id != gp.id:
        raise NotAllowed("only the GP who asked can say whether it helped")
    request.helped, request.updated_at = helped, now
    await _record(session, gp, "rate", request, now)
    return request


# Reading ------------------------------------------------------------------------------------


async def thread(session: AsyncSession, request_id: int) -> list[AdviceMessage]:
    return list(
        (
            await session.exec(
                select(AdviceMessage)
                .where(col(AdviceMessage.request_id) == request_id)
                .order_by(col(AdviceMessage.at), col(AdviceMessage.id))
            )
        ).all()
    )


@dataclass(frozen=True)
class QueueEntry:
    request: AdviceRequest
    holder: str | None
    practice: str | None


async def open_queue(session: AsyncSession, *, limit: int = 30) -> tuple[list[QueueEntry], int]:
    """Open requests, the soonest due first, with who holds each; and how many there are."""
    statuses = [status.value for status in OPEN_STATUSES]
    rows = (
        await session.exec(
            select(AdviceRequest, Person.display_name, Practice.name)
            .join(Person, col(Person.id) == col(AdviceRequest.holder_id), isouter=True)
            .join(
                Practice,
                col(Practice.ods_code) == col(AdviceRequest.practice_ods),
                isouter=True,
            )
            .where(col(AdviceRequest.status).in_(statuses))
            .order_by(col(AdviceRequest.due_at), col(AdviceRequest.id))
            .limit(limit)
        )
    ).all()
    total = (
        await session.exec(
            select(func.count()).where(col(AdviceRequest.status).in_(statuses))  # type: ignore[arg-type]
        )
    ).one()
    return [QueueEntry(request, holder, practice) for request, holder, practice in rows], total


async def requests_of(session: AsyncSession, gp: Person, *, limit: int = 20) -> list[AdviceRequest]:
    """A GP's own requests, newest first (drafts and cancelled ones left out)."""
    return list(
        (
            await session.exec(
                select(AdviceRequest)
                .where(
                    col(AdviceRequest.requester_id) == gp.id,
                    col(AdviceRequest.status).not_in(
                        [AdviceStatus.DRAFT.value, AdviceStatus.CANCELLED.value]
                    ),
                )
                .order_by(col(AdviceRequest.submitted_at).desc())
                .limit(limit)
            )
        ).all()
    )


async def listing(
    session: AsyncSession,
    *,
    statuses: tuple[AdviceStatus, ...] | None = None,
    kind: AdviceKind | None = None,
    since: datetime | None = None,
    limit: int = 100,
) -> list[QueueEntry]:
    """Sent requests of both kinds, the newest first, with who holds each (for reporting:
    the caller shows times and states, never the question or the NHS number). Drafts and
    cancelled drafts were never sent, so they are never listed."""
    query = (
        select(AdviceRequest, Person.display_name, Practice.name)
        .join(Person, col(Person.id) == col(AdviceRequest.holder_id), isouter=True)
        .join(Practice, col(Practice.ods_code) == col(AdviceRequest.practice_ods), isouter=True)
        .where(
            col(AdviceRequest.status).not_in(
                [AdviceStatus.DRAFT.value, AdviceStatus.CANCELLED.value]
            )
        )
    )
    if statuses is not None:
        query = query.where(col(AdviceRequest.status).in_([s.value for s in statuses]))
    if kind is not None:
        query = query.where(col(AdviceRequest.kind) == kind.value)
    if since is not None:
        query = query.where(col(AdviceRequest.submitted_at) >= since)
    rows = (
        await session.exec(
            query.order_by(
                col(AdviceRequest.submitted_at).desc(), col(AdviceRequest.id).desc()
            ).limit(limit)
        )
    ).all()
    return [QueueEntry(request, holder, practice) for request, holder, practice in rows]


def reported_by(request: AdviceRequest) -> str | None:
    """Who told us of a hypo: "ambulance_service", or the person ("patient:help",
    "patient:ambulance"); None for a GP's question."""
    if request.kind != AdviceKind.HYPO:
        return None
    return request.source if request.source.startswith("patient:") else "ambulance_service"


# Time ---------------------------------------------------------------------------------------


@dataclass
class WatchReport:
    raised: int = 0
    breached: int = 0


async def watch(session: AsyncSession, *, now: datetime) -> WatchReport:
    """Raises again what nobody claimed by half its time, and marks breached what is past due
    without an answer (a request waiting on the GP is not the team's to answer)."""
    report = WatchReport()
    unclaimed = (
        await session.exec(
            select(AdviceRequest).where(
                col(AdviceRequest.status) == AdviceStatus.OPEN,
                col(AdviceRequest.raised_at).is_(None),
                col(AdviceRequest.raise_at) <= now,
            )
        )
    ).all()
    for request in unclaimed:
        request.raised_at = now
        await tell_team(
            session,
            request,
            template_key="advice_raised",
            dedupe_key=f"advice:{request.id}:raised",
            params=await card_params(session, request),
            now=now,
        )
        report.raised += 1
    late = (
        await session.exec(
            select(AdviceRequest).where(
                col(AdviceRequest.status).in_([AdviceStatus.OPEN, AdviceStatus.CLAIMED]),
                col(AdviceRequest.first_answer_at).is_(None),
                col(AdviceRequest.breached_at).is_(None),
                col(AdviceRequest.due_at) <= now,
            )
        )
    ).all()
    for request in late:
        request.breached_at = now
        await _tell_admins(session, request, now=now)
        await audit.record(
            session,
            actor="diabridge",
            action="advice.breach",
            person_id=request.patient_id,
            detail=f"request={request.reference}",
            at=now,
        )
        report.breached += 1
    return report


async def _tell_admins(session: AsyncSession, request: AdviceRequest, *, now: datetime) -> None:
    """A breach goes to the team's admins; with none, to the team's group."""
    params = await card_params(session, request)
    admins = await _active_ids(session, Role.ADMIN)
    if not admins:
        await tell_team(
            session,
            request,
            template_key="advice_breached",
            dedupe_key=f"advice:{request.id}:breached",
            params=params,
            now=now,
        )
        return
    await outbox.queue_many(
        session,
        [
            {
                "template_key": "advice_breached",
                "dedupe_key": f"advice:{request.id}:breached:admin:{admin}",
                "due_at": now,
                "priority": Priority.ADVICE_LINE,
                "params": params,
                "person_id": admin,
                "topic": request_topic(request.id or 0),
            }
            for admin in admins
        ],
    )
