"""Joining: practices register people and staff; a single-use code links a Telegram account.

A Telegram account gets a role only through a code (principle 7), except the two roles that
carry no clinical data: a carer on their own, and a member of the public learning about risk.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nhs_number
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.i18n import LANGUAGES
from bot.models import (
    STAFF_ROLES,
    CodeAttempt,
    DiabetesType,
    EnrolmentCode,
    EnrolmentSession,
    Person,
    PersonStatus,
    Practice,
    Role,
)
from bot.services import audit, education

# No 0/O, 1/I/L: people copy these from a letter or read them over the phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10
LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW = timedelta(minutes=15)
LOCKOUT_DURATION = timedelta(hours=1)
OLDEST_AGE_YEARS = 120
ODS_CODE = re.compile(r"^[A-Z][A-Z0-9]{2,5}$")
DIABETES_TYPES = tuple(kind.value for kind in DiabetesType)


class InvalidField(ValueError):
    """A registration refused, naming the field that is wrong and how to put it right."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class CodeProblem(StrEnum):
    WRONG = "wrong"
    USED = "used"
    EXPIRED = "expired"
    LOCKED = "locked"


class Step(StrEnum):
    CHOOSE_LANGUAGE = "choose_language"
    CHOOSE_PATH = "choose_path"
    ENTER_CODE = "enter_code"
    CONSENT = "consent"


class JoinPath(StrEnum):
    CODE = "code"
    CARER = "carer"
    AT_RISK = "at_risk"


@dataclass(frozen=True)
class IssuedCode:
    # None only when a sender updated a record with issue_code=False: no new code was made.
    code: str | None
    person_id: int
    expires_at: datetime | None
    reissued: bool  # the person was registered before (so this is not a new record)

    @property
    def display(self) -> str:
        return display_code(self.code) if self.code else ""


@dataclass(frozen=True)
class CodeRefused:
    problem: CodeProblem
    locked_until: datetime | None = None


@dataclass(frozen=True)
class SessionView:
    """Where someone is in joining, for the handler to render."""

    step: Step
    language: str | None
    path: JoinPath | None
    role: Role | None = None
    preselected_language: str | None = None


# Validation -------------------------------------------------------------------------------


def check_nhs_number(raw: str) -> str:
    digits = re.sub(r"[\s-]", "", raw or "")
    if not digits.isdigit() or len(digits) != 10:
        raise InvalidField("--nhs-number", "an NHS number has 10 digits, like 943 476 5919")
    if not nhs_number.is_valid(digits):
        raise InvalidField(
            "--nhs-number", "the check digit does not match: please copy the number again"
        )
    return digits


def check_date_of_birth(raw: str, today: date) -> date:
    try:
        born = date.fromisoformat(raw.strip())
    except (ValueError, AttributeError):
        raise InvalidField(
            "--dob", f"{raw!r} is not a date: write it as YYYY-MM-DD, e.g. 1984-03-02"
        ) from None
    if born > today:
        raise InvalidField("--dob", "the date of birth is in the future")
    if today.year - born.year > OLDEST_AGE_YEARS:
        raise InvalidField("--dob", f"the date of birth is more than {OLDEST_AGE_YEARS} years ago")
    return born


def check_language(raw: str) -> str:
    language = (raw or "").strip().lower()
    if language not in LANGUAGES:
        raise InvalidField(
            "--language", f"{raw!r} is not offered; choose one of {', '.join(LANGUAGES)}"
        )
    return language


def check_ods_code(raw: str) -> str:
    code = (raw or "").strip().upper()
    if not ODS_CODE.match(code):
        raise InvalidField("--practice", f"{raw!r} is not an ODS code, like Y01234 or A81001")
    return code


def check_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidField("--name", "the name is empty")
    if len(name) > 200:
        raise InvalidField("--name", "the name is longer than 200 characters")
    return name


def check_external_id(raw: str) -> str:
    external_id = (raw or "").strip()
    if not external_id:
        raise InvalidField("--external-id", "your system's id for the patient is empty")
    if len(external_id) > 100:
        raise InvalidField("--external-id", "longer than 100 characters")
    return external_id


def check_timezone(raw: str) -> str:
    zone = (raw or "").strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidField(
            "--timezone", f"{raw!r} is not a time zone name like Europe/London"
        ) from None
    return zone


def check_diabetes_type(raw: str) -> str:
    """type1, type2 or other; "Type 2" and "type_2" as a person might type them are taken."""
    kind = re.sub(r"[\s_-]", "", raw or "").lower()
    if kind not in DIABETES_TYPES:
        raise InvalidField(
            "--diabetes-type",
            f"{raw!r} is not a diabetes type; write one of {', '.join(DIABETES_TYPES)}",
        )
    return kind


def check_diagnosed_on(raw: str, today: date, born: date | None = None) -> date:
    """The day of diagnosis: not in the future, not before the date of birth (when known)."""
    try:
        diagnosed = date.fromisoformat(raw.strip())
    except (ValueError, AttributeError):
        raise InvalidField(
            "--diagnosed-on", f"{raw!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-10-01"
        ) from None
    if diagnosed > today:
        raise InvalidField("--diagnosed-on", "the date of diagnosis is in the future")
    if born is not None and diagnosed < born:
        raise InvalidField("--diagnosed-on", "the date of diagnosis is before the date of birth")
    return diagnosed


def normalise_code(raw: str) -> str:
    return re.sub(r"[\s-]", "", raw or "").upper()


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def display_code(code: str) -> str:
    """A code as people read and type it: ABCDE-23456."""
    return f"{code[:5]}-{code[5:]}"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


# Registration by a practice ---------------------------------------------------------------


async def ensure_practice(session: AsyncSession, ods_code: str) -> Practice:
    practice = await session.get(Practice, ods_code)
    if practice is None:
        practice = Practice(ods_code=ods_code, name=ods_code)
        session.add(practice)
        await session.flush()
    return practice


async def issue_enrolment_code(
    session: AsyncSession,
    person: Person,
    *,
    now: datetime,
    valid_days: int,
    purpose: str = "join",
) -> tuple[str, datetime]:
    # A new code replaces any the person had, so a lost letter cannot be used later.
    for old in (
        await session.exec(
            select(EnrolmentCode).where(
                col(EnrolmentCode.person_id) == person.id,
                col(EnrolmentCode.used_at).is_(None),
                col(EnrolmentCode.revoked_at).is_(None),
            )
        )
    ).all():
        old.revoked_at = now
    code = new_code()
    expires_at = now + timedelta(days=valid_days)
    assert person.id is not None
    session.add(
        EnrolmentCode(
            code_hash=code_hash(code), person_id=person.id, expires_at=expires_at, purpose=purpose
        )
    )
    return code, expires_at


async def register_patient(
    session: AsyncSession,
    *,
    nhs_number_text: str,
    name: str,
    date_of_birth: str,
    practice: str,
    language: str,
    actor: str,
    now: datetime,
    valid_days: int,
    timezone: str,
    external_id: str | None = None,
    patient_timezone: str | None = None,
    issue_code: bool = True,
    diabetes_type: str | None = None,
    diagnosed_on: str | None = None,
) -> IssuedCode:
    """Registers a patient, or updates the one with the same sender's id (else NHS number).

    `timezone` is the zone a new record gets; `patient_timezone`, when the sender knows it,
    is kept on the record, new or not. With `issue_code=False` (a sender sending a record
    again) an existing patient keeps the code already posted to them, and a patient who has
    joined has their details updated rather than being refused.

    `diabetes_type` and `diagnosed_on`, when given, replace what is recorded (left out, they
    are kept). A patient who has joined and is sent a new diagnosis is offered the course for
    it, if they were diagnosed recently (education.offer_course_if_new).
    """
    number = check_nhs_number(nhs_number_text)
    born = check_date_of_birth(date_of_birth, now.date())
    ods = check_ods_code(practice)
    lang = check_language(language)
    display_name = check_name(name)
    sender_id = check_external_id(external_id) if external_id is not None else None
    zone = check_timezone(patient_timezone) if patient_timezone is not None else None
    kind = check_diabetes_type(diabetes_type) if diabetes_type is not None else None
    diagnosed = (
        check_diagnosed_on(diagnosed_on, now.date(), born) if diagnosed_on is not None else None
    )
    await ensure_practice(session, ods)
    person = (
        await session.exec(select(Person).where(col(Person.nhs_number) == number))
    ).one_or_none()
    if sender_id is not None:
        by_sender_id = (
            await session.exec(select(Person).where(col(Person.external_id) == sender_id))
        ).one_or_none()
        if by_sender_id is not None and person is not None and by_sender_id.id != person.id:
            raise InvalidField("--nhs-number", "another patient has this NHS number")
        if by_sender_id is None and person is not None and person.external_id is not None:
            raise InvalidField(
                "--nhs-number", "this NHS number was sent before under another external_id"
            )
        # The sender's id wins, so a corrected NHS number updates the same record.
        person = by_sender_id or person
    reissued = person is not None
    new_diagnosis = (kind is not None and (person is None or kind != person.diabetes_type)) or (
        diagnosed is not None and (person is None or diagnosed != person.diagnosed_on)
    )
    if person is not None:
        joined = person.telegram_user_id is not None
        if joined and issue_code:
            raise InvalidField(
                "--nhs-number",
                "this patient has already joined; they can use /start in the chat, or /forget "
                "to leave and be registered again",
            )
        person.nhs_number, person.display_name, person.date_of_birth = number, display_name, born
        person.practice_ods, person.updated_at = ods, now
        # Once joined, the language is the one the person chose in the chat, not the practice's.
        if not joined:
            person.language = lang
        if sender_id is not None:
            person.external_id = sender_id
        if zone is not None:
            person.timezone = zone
        if kind is not None:
            person.diabetes_type = kind
        if diagnosed is not None:
            person.diagnosed_on = diagnosed
    else:
        person = Person(
            role=Role.PATIENT,
            display_name=display_name,
            nhs_number=number,
            external_id=sender_id,
            date_of_birth=born,
            practice_ods=ods,
            language=lang,
            timezone=zone or timezone,
            status=PersonStatus.INVITED,
            registered_by=actor,
            diabetes_type=kind,
            diagnosed_on=diagnosed,
            created_at=now,
            updated_at=now,
        )
        session.add(person)
    await session.flush()
    assert person.id is not None
    if new_diagnosis:
        # Only someone already in the chat; anyone else is offered it when they join.
        await education.offer_course_if_new(session, person, now=now)
    if reissued and not issue_code:
        await audit.record(
            session, actor=actor, action="patient.update", person_id=person.id, at=now
        )
        return IssuedCode(code=None, person_id=person.id, expires_at=None, reissued=True)
    code, expires_at = await issue_enrolment_code(session, person, now=now, valid_days=valid_days)
    await audit.record(
        session,
        actor=actor,
        action="patient.reissue_code" if reissued else "patient.register",
        person_id=person.id,
        detail=f"practice={ods}",
        at=now,
    )
    return IssuedCode(code=code, person_id=person.id, expires_at=expires_at, reissued=reissued)


async def invite_staff(
    session: AsyncSession,
    *,
    role: str,
    name: str,
    practice: str | None,
    language: str,
    actor: str,
    now: datetime,
    valid_days: int,
    timezone: str,
    job_title: str = "",
) -> IssuedCode:
    try:
        staff_role = Role(role)
    except ValueError:
        staff_role = None
    if staff_role not in STAFF_ROLES:
        raise InvalidField(
            "--role", f"{role!r} is not a staff role; use gp, nurse, specialist or admin"
        )
    display_name = check_name(name)
    lang = check_language(language)
    ods = check_ods_code(practice) if practice else None
    if staff_role in (Role.GP, Role.NURSE) and ods is None:
        raise InvalidField("--practice", "a GP or practice nurse needs the practice's ODS code")
    if len(job_title.strip()) > 100:
        raise InvalidField("--title", "a job title has at most 100 characters")
    if ods:
        await ensure_practice(session, ods)
    person = Person(
        role=staff_role,
        display_name=display_name,
        job_title=job_title.strip(),
        practice_ods=ods,
        language=lang,
        timezone=timezone,
        status=PersonStatus.INVITED,
        registered_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    await session.flush()
    code, expires_at = await issue_enrolment_code(session, person, now=now, valid_days=valid_days)
    assert person.id is not None
    await audit.record(
        session,
        actor=actor,
        action="staff.invite",
        person_id=person.id,
        detail=f"role={staff_role}",
        at=now,
    )
    return IssuedCode(code=code, person_id=person.id, expires_at=expires_at, reissued=False)


# Codes typed into the chat -----------------------------------------------------------------


async def locked_until(
    session: AsyncSession, telegram_user_id: int, now: datetime
) -> datetime | None:
    """Five wrong codes within 15 minutes lock code entry for an hour from the fifth."""
    failures = list(
        (
            await session.exec(
                select(CodeAttempt.attempted_at)
                .where(
                    col(CodeAttempt.telegram_user_id) == telegram_user_id,
                    col(CodeAttempt.attempted_at) > now - LOCKOUT_DURATION - LOCKOUT_WINDOW,
                )
                .order_by(col(CodeAttempt.attempted_at))
            )
        ).all()
    )
    latest_lock: datetime | None = None
    for index in range(LOCKOUT_FAILURES - 1, len(failures)):
        window_start = failures[index - LOCKOUT_FAILURES + 1]
        if failures[index] - window_start <= LOCKOUT_WINDOW:
            latest_lock = failures[index] + LOCKOUT_DURATION
    return latest_lock if latest_lock and latest_lock > now else None


async def _check_code(
    session: AsyncSession, telegram_user_id: int, raw_code: str, now: datetime
) -> EnrolmentCode | CodeRefused:
    until = await locked_until(session, telegram_user_id, now)
    if until is not None:
        return CodeRefused(CodeProblem.LOCKED, locked_until=until)
    code = (
        await session.exec(
            select(EnrolmentCode).where(col(EnrolmentCode.code_hash) == code_hash(raw_code))
        )
    ).one_or_none()
    problem: CodeProblem | None = None
    if code is None or code.revoked_at is not None:
        problem = CodeProblem.WRONG
    elif code.used_at is not None:
        problem = CodeProblem.USED
    elif code.expires_at <= now:
        problem = CodeProblem.EXPIRED
    if problem is None:
        assert code is not None
        return code
    session.add(CodeAttempt(telegram_user_id=telegram_user_id, attempted_at=now, outcome=problem))
    await session.flush()
    until = await locked_until(session, telegram_user_id, now)
    return CodeRefused(CodeProblem.LOCKED if until else problem, locked_until=until)


async def _get_session(session: AsyncSession, telegram_user_id: int) -> EnrolmentSession | None:
    return await session.get(EnrolmentSession, telegram_user_id)


async def _save_session(
    session: AsyncSession, telegram_user_id: int, now: datetime, **values: object
) -> EnrolmentSession:
    state = await _get_session(session, telegram_user_id)
    if state is None:
        state = EnrolmentSession(telegram_user_id=telegram_user_id, step=Step.CHOOSE_LANGUAGE)
        session.add(state)
    for key, value in values.items():
        setattr(state, key, value)
    state.updated_at = now
    await session.flush()
    return state


async def _role_of_code(session: AsyncSession, code_id: int | None) -> Role | None:
    if code_id is None:
        return None
    code = await session.get(EnrolmentCode, code_id)
    person = await session.get(Person, code.person_id) if code else None
    return Role(person.role) if person else None


async def start_with_code(
    session: AsyncSession, telegram_user_id: int, raw_code: str, now: datetime
) -> SessionView | CodeRefused:
    """A deep link `/start <code>`: on a good code, ask the language (the practice's choice
    pre-selected); on a bad one, say why."""
    checked = await _check_code(session, telegram_user_id, raw_code, now)
    if isinstance(checked, CodeRefused):
        return checked
    person = await session.get(Person, checked.person_id)
    assert person is not None
    await _save_session(
        session,
        telegram_user_id,
        now,
        step=Step.CHOOSE_LANGUAGE,
        path=JoinPath.CODE,
        code_id=checked.id,
        language=None,
    )
    return SessionView(
        step=Step.CHOOSE_LANGUAGE,
        language=None,
        path=JoinPath.CODE,
        role=Role(person.role),
        preselected_language=person.language,
    )


async def start_without_code(
    session: AsyncSession, telegram_user_id: int, suggested_language: str | None, now: datetime
) -> SessionView:
    await _save_session(
        session,
        telegram_user_id,
        now,
        step=Step.CHOOSE_LANGUAGE,
        path=None,
        code_id=None,
        language=None,
    )
    return SessionView(
        step=Step.CHOOSE_LANGUAGE,
        language=None,
        path=None,
        preselected_language=suggested_language,
    )


async def current_session(session: AsyncSession, telegram_user_id: int) -> SessionView | None:
    state = await _get_session(session, telegram_user_id)
    if state is None:
        return None
    return SessionView(
        step=Step(state.step),
        language=state.language,
        path=JoinPath(state.path) if state.path else None,
        role=await _role_of_code(session, state.code_id),
    )


async def choose_language(
    session: AsyncSession, telegram_user_id: int, language: str, now: datetime
) -> SessionView | None:
    state = await _get_session(session, telegram_user_id)
    if state is None:
        return None
    lang = check_language(language)
    step = Step.CONSENT if state.path else Step.CHOOSE_PATH
    state = await _save_session(session, telegram_user_id, now, language=lang, step=step)
    return await current_session(session, telegram_user_id)


async def choose_path(
    session: AsyncSession, telegram_user_id: int, path: JoinPath, now: datetime
) -> SessionView | None:
    state = await _get_session(session, telegram_user_id)
    if state is None or state.language is None:
        return None
    step = Step.ENTER_CODE if path is JoinPath.CODE else Step.CONSENT
    await _save_session(session, telegram_user_id, now, path=path, step=step, code_id=None)
    return await current_session(session, telegram_user_id)


async def enter_code(
    session: AsyncSession, telegram_user_id: int, raw_code: str, now: datetime
) -> SessionView | CodeRefused | None:
    state = await _get_session(session, telegram_user_id)
    if state is None or state.step != Step.ENTER_CODE:
        return None
    checked = await _check_code(session, telegram_user_id, raw_code, now)
    if isinstance(checked, CodeRefused):
        return checked
    await _save_session(session, telegram_user_id, now, step=Step.CONSENT, code_id=checked.id)
    return await current_session(session, telegram_user_id)


@dataclass(frozen=True)
class Joined:
    person: Person
    is_new_role: bool


async def agree(
    session: AsyncSession,
    telegram_user_id: int,
    chat_id: int,
    *,
    display_name: str,
    now: datetime,
    timezone: str,
) -> Joined | CodeRefused | None:
    """Consent given: only now is the Telegram account linked to a record."""
    state = await _get_session(session, telegram_user_id)
    if state is None or state.step != Step.CONSENT or state.language is None:
        return None
    if state.path == JoinPath.CODE:
        code = await session.get(EnrolmentCode, state.code_id) if state.code_id else None
        # The code may have been used or may have expired while the consent screen was open.
        if code is None or code.revoked_at is not None:
            return CodeRefused(CodeProblem.WRONG)
        if code.used_at is not None:
            return CodeRefused(CodeProblem.USED)
        if code.expires_at <= now:
            return CodeRefused(CodeProblem.EXPIRED)
        person = await session.get(Person, code.person_id)
        assert person is not None
        code.used_at = now
        if not person.display_name:
            # A carer invited by a patient: we learn their name only now, from Telegram.
            person.display_name = check_name(display_name) if display_name.strip() else "—"
    else:
        role = Role.CARER if state.path == JoinPath.CARER else Role.AT_RISK
        person = Person(
            role=role,
            display_name=check_name(display_name) if display_name.strip() else "—",
            timezone=timezone,
            registered_by="self",
            created_at=now,
        )
        session.add(person)
    person.telegram_user_id = telegram_user_id
    person.telegram_chat_id = chat_id
    person.language = state.language
    person.status = PersonStatus.ACTIVE
    person.paused_at = None
    person.consented_at = now
    person.updated_at = now
    await session.delete(state)
    await session.flush()
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="person.consent_and_link",
        person_id=person.id,
        detail=f"role={person.role}",
        at=now,
    )
    return Joined(person=person, is_new_role=True)


async def decline(session: AsyncSession, telegram_user_id: int) -> None:
    """ "Not now": nothing about them is kept."""
    await session.exec(  # type: ignore[call-overload]
        delete(EnrolmentSession).where(col(EnrolmentSession.telegram_user_id) == telegram_user_id)
    )
