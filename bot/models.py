"""Tables. Every datetime is stored as UTC and comes back timezone-aware (principle 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import IntEnum, StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Text, TypeDecorator, UniqueConstraint
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in SQLite, timestamptz in PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Role(StrEnum):
    PATIENT = "patient"
    CARER = "carer"
    YOUNG_PERSON = "young_person"
    AT_RISK = "at_risk"
    GP = "gp"
    NURSE = "nurse"
    SPECIALIST = "specialist"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self in STAFF_ROLES


STAFF_ROLES = frozenset({Role.GP, Role.NURSE, Role.SPECIALIST, Role.ADMIN})


class PersonStatus(StrEnum):
    INVITED = "invited"  # registered by a practice, Telegram account not linked yet
    ACTIVE = "active"
    INACTIVE = "inactive"  # blocked the bot; nothing is sent until they /start again


class Priority(IntEnum):
    """Lower sends first."""

    SAFETY = 0
    ADVICE_LINE = 1
    REMINDER = 2
    EDUCATION = 3


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Practice(SQLModel, table=True):
    __tablename__ = "practice"

    ods_code: str = Field(primary_key=True, max_length=10)
    name: str
    staff_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    # How a person books or changes an appointment; shown in reminders and invitations.
    phone: str = Field(default="", max_length=40)
    booking_url: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Person(SQLModel, table=True):
    """Anyone who uses the bot: patients, carers, the public at risk and staff."""

    __tablename__ = "person"

    id: int | None = Field(default=None, primary_key=True)
    # The sending system's own id (API or CSV), so sending a record again updates it.
    external_id: str | None = Field(default=None, max_length=100, unique=True)
    role: str = Field(max_length=20)
    display_name: str = Field(max_length=200)
    nhs_number: str | None = Field(default=None, max_length=10, unique=True)
    date_of_birth: date | None = None
    practice_ods: str | None = Field(default=None, foreign_key="practice.ods_code")
    language: str = Field(default="en", max_length=5)
    timezone: str = Field(default="Europe/London", max_length=64)
    telegram_user_id: int | None = Field(default=None, sa_type=BigInteger, unique=True)
    telegram_chat_id: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(default=PersonStatus.INVITED, max_length=10)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    consented_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    registered_by: str = Field(default="", max_length=100)
    # From the practice's record (API or CSV): fits the education library to the person and
    # offers a newly diagnosed patient the right course.
    diabetes_type: str | None = Field(default=None, max_length=10)
    diagnosed_on: date | None = None
    # Which HbA1c target applies to type 2 (NICE NG28): a Treatment, from the results feed.
    treatment: str | None = Field(default=None, max_length=20)
    # A staff member's job title as the GP sees it under an answer ("Diabetes specialist nurse").
    job_title: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class EnrolmentCode(SQLModel, table=True):
    """A single-use code that gives a Telegram account a role (principle 7).

    Only a hash is stored: the code itself is printed once, to the practice.
    """

    __tablename__ = "enrolment_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # "join" (a practice's or admin's code) or "carer" (a patient's invitation to a carer).
    purpose: str = Field(default="join", max_length=10)


class CodeAttempt(SQLModel, table=True):
    """Wrong codes typed by a Telegram account, for the lockout."""

    __tablename__ = "code_attempt"

    id: int | None = Field(default=None, primary_key=True)
    telegram_user_id: int = Field(sa_type=BigInteger, index=True)
    attempted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    outcome: str = Field(max_length=10)


class EnrolmentSession(SQLModel, table=True):
    """Where an unlinked Telegram account is in joining, kept in the database (principle 2)."""

    __tablename__ = "enrolment_session"

    telegram_user_id: int = Field(primary_key=True, sa_type=BigInteger)
    step: str = Field(max_length=20)
    language: str | None = Field(default=None, max_length=5)
    path: str | None = Field(default=None, max_length=20)
    code_id: int | None = Field(default=None, foreign_key="enrolment_code.id", ondelete="CASCADE")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OutboxMessage(SQLModel, table=True):
    """Every proactive message (principle 1). Rendered at send time, never before."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "priority", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", ondelete="CASCADE")
    # For group chats (practice or team chats), which have no person row.
    chat_id: int | None = Field(default=None, sa_type=BigInteger)
    chat_language: str | None = Field(default=None, max_length=5)
    template_key: str = Field(max_length=80)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    due_at: datetime = Field(sa_type=UTCDateTime)
    priority: int = Field(default=Priority.EDUCATION)
    status: str = Field(default=OutboxStatus.PENDING, max_length=10)
    attempts: int = 0
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    leased_by: str | None = Field(default=None, max_length=64)
    last_error: str | None = Field(default=None, max_length=500)
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger)
    dedupe_key: str = Field(max_length=200, unique=True)
    # What the message is about (e.g. "appointment:12"), so a planner can cancel its rows.
    topic: str | None = Field(default=None, max_length=80, index=True)
    # Not sent after this moment (a reminder for an appointment that has begun is cancelled).
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEvent(SQLModel, table=True):
    """Who did what to whose record. Never holds clinical text or NHS numbers."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=60)
    # No foreign key: the trail outlives an erased person, by id only.
    person_id: int | None = Field(default=None, index=True)
    detail: str = Field(default="", max_length=500)


class AppointmentStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    MISSED = "missed"  # did not attend


class AppointmentAnswer(StrEnum):
    """What the person pressed under a reminder."""

    ATTEND = "attend"
    CHANGE = "change"
    CANT_COME = "cant_come"
    REBOOK = "rebook"  # under the "we missed you" message


class Appointment(SQLModel, table=True):
    __tablename__ = "appointment"
    __table_args__ = (Index("ix_appointment_person_starts", "person_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=100, unique=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE")
    kind: str = Field(max_length=30)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    duration_minutes: int = 30
    location: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=300)
    directions: str = Field(default="", max_length=500)
    clinician: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40)
    practice_ods: str | None = Field(default=None, foreign_key="practice.ods_code")
    status: str = Field(default=AppointmentStatus.BOOKED, max_length=10)
    answer: str | None = Field(default=None, max_length=10)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Bumped whenever the time or place changes, so re-planned reminders get fresh dedupe keys.
    revision: int = 0
    source: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AppointmentEvent(SQLModel, table=True):
    """Every answer, move, cancellation and attendance mark, with its time."""

    __tablename__ = "appointment_event"

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", ondelete="CASCADE", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    event: str = Field(max_length=30)
    actor: str = Field(max_length=100)


class CareFlag(SQLModel, table=True):
    """Something the care team must look at, so nobody is silently dropped."""

    __tablename__ = "care_flag"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=40)
    detail: str = Field(default="", max_length=300)
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A bearer key for the integration API. Only a hash is stored; the key is shown once."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CarerLink(SQLModel, table=True):
    """A carer who receives a patient's reminders, at the patient's invitation."""

    __tablename__ = "carer_link"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    carer_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class HealthCheckStatus(StrEnum):
    ASKING = "asking"  # a self-enrolled person is answering the questions
    NOT_YET = "not_yet"  # under 40, or checked less than 5 years ago: reminded when due
    INELIGIBLE = "ineligible"  # 75 or over, or a condition or statin that rules it out
    INVITED = "invited"
    BOOKED = "booked"
    DONE = "done"
    DECLINED = "declined"


class HealthCheck(SQLModel, table=True):
    """One person's NHS Health Check: the answers that decide it, and where it stands."""

    __tablename__ = "health_check"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", unique=True)
    source: str = Field(default="self", max_length=100)
    priority: int = 0
    status: str = Field(default=HealthCheckStatus.ASKING, max_length=12)
    step: str | None = Field(default=None, max_length=20)
    last_check_on: date | None = None
    # "yes", "no" or "unsure", as the person answered; None until asked.
    has_condition: str | None = Field(default=None, max_length=6)
    takes_statin: str | None = Field(default=None, max_length=6)
    reason: str | None = Field(default=None, max_length=20)
    due_on: date | None = None
    invited_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Transition(SQLModel, table=True):
    """A young person moving from children's to adult diabetes services."""

    __tablename__ = "transition"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", unique=True)
    started_on: date
    named_worker: str = Field(max_length=200)
    # The named worker's own diabridge staff account, when they have one: alerts go there;
    # otherwise to the practice's staff chat.
    worker_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    active: bool = True
    source: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TransitionAnswer(SQLModel, table=True):
    """A young person's latest answer to a readiness statement or a monthly check-in."""

    __tablename__ = "transition_answer"
    __table_args__ = (Index("ux_transition_answer", "person_id", "question", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE")
    # A checklist statement's key, or "check_in:2026-12" for a month's check-in.
    question: str = Field(max_length=40)
    answer: str = Field(max_length=15)
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DiabetesType(StrEnum):
    TYPE1 = "type1"
    TYPE2 = "type2"
    OTHER = "other"


class TopicRating(SQLModel, table=True):
    """A person's answer to "Was this helpful?" under an education page (their latest)."""

    __tablename__ = "topic_rating"
    __table_args__ = (Index("ux_topic_rating", "person_id", "topic_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE")
    topic_id: str = Field(max_length=80, index=True)
    language: str = Field(max_length=5)
    helpful: bool
    rated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CourseStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    STOPPED = "stopped"
    # Never stored: a course whose every lesson was sent shows as finished.
    FINISHED = "finished"


class CourseEnrolment(SQLModel, table=True):
    """A person on a paced course. Its lessons wait in the outbox (topic
    "course:<id>:r<revision>", one per plan); `next_lesson` is where the current plan began,
    or where a paused or stopped course takes up again."""

    __tablename__ = "course_enrolment"
    __table_args__ = (Index("ux_course_enrolment", "person_id", "course_id", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE")
    course_id: str = Field(max_length=80)
    status: str = Field(default=CourseStatus.ACTIVE, max_length=10)
    # The local hour (0-23) the person chose for lessons.
    delivery_hour: int = 18
    # 1-based: the lesson the current (or next) plan starts from.
    next_lesson: int = 1
    # Each re-plan (resume, new time) gets fresh outbox keys.
    revision: int = 0
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    paused_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Campaign(SQLModel, table=True):
    """One education topic sent to a cohort. Its messages are outbox rows with the topic
    "campaign:<id>", so progress and delivery are counted there."""

    __tablename__ = "campaign"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True)
    topic_id: str = Field(max_length=80)
    # Who it is for: {"languages": [...], "diabetes_types": [...], "roles": [...],
    # "practices": [...]}; an absent or empty list means no limit on that.
    audience: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    send_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    recipients: int = 0


# The advice line and the hypo hotline ------------------------------------------------------


class AdviceKind(StrEnum):
    ADVICE = "advice"  # a GP or practice nurse asks the specialist team
    HYPO = "hypo"  # a severe hypo to follow up (the ambulance service or the person told us)


class AdviceArea(StrEnum):
    """Portsmouth's "Super Six" specialist areas, plus type 2 medicines and anything else."""

    INPATIENT = "inpatient"
    ANTENATAL = "antenatal"
    FOOT = "foot"
    KIDNEY = "kidney"
    INSULIN_PUMP = "insulin_pump"
    TYPE1 = "type1"
    TYPE2_MEDICINES = "type2_medicines"
    OTHER = "other"


class AdviceUrgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class AdviceStatus(StrEnum):
    DRAFT = "draft"  # the GP is still answering the steps
    OPEN = "open"  # sent, nobody holds it
    CLAIMED = "claimed"  # a specialist holds it and it is the team's turn
    WAITING_GP = "waiting_gp"  # the team asked the GP for more: the clock stops
    ANSWERED = "answered"  # the team answered; the GP may reply
    CLOSED = "closed"
    CANCELLED = "cancelled"  # a draft the GP threw away


OPEN_STATUSES = (
    AdviceStatus.OPEN,
    AdviceStatus.CLAIMED,
    AdviceStatus.WAITING_GP,
    AdviceStatus.ANSWERED,
)


class AdviceRequest(SQLModel, table=True):
    """One request in the specialist team's queue: a GP's question or a hypo follow-up.

    A draft is saved step by step (principle 2), so a GP who comes back tomorrow continues.
    """

    __tablename__ = "advice_request"
    __table_args__ = (Index("ix_advice_request_status_due", "status", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=AdviceKind.ADVICE, max_length=10)
    status: str = Field(default=AdviceStatus.DRAFT, max_length=12)
    # The draft's current step, and whether it was reached from the summary's Edit.
    step: str | None = Field(default=None, max_length=20)
    editing: bool = False
    requester_id: int | None = Field(
        default=None, foreign_key="person.id", ondelete="SET NULL", index=True
    )
    practice_ods: str | None = Field(default=None, foreign_key="practice.ods_code")
    # The patient, when they use diabridge (a hypo follow-up); the NHS number always.
    patient_id: int | None = Field(
        default=None, foreign_key="person.id", ondelete="SET NULL", index=True
    )
    nhs_number: str | None = Field(default=None, max_length=10)
    patient_age: int | None = None
    patient_sex: str | None = Field(default=None, max_length=10)
    area: str | None = Field(default=None, max_length=20)
    urgency: str | None = Field(default=None, max_length=10)
    question: str | None = Field(default=None, sa_type=Text)
    holder_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When an answer is due, and when an unclaimed request is raised again (half the time);
    # both move on by the working time spent waiting on the GP.
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    raise_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    raised_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    breached_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The team's first answer (or, for a hypo, the first contact with the person).
    first_answer_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    waiting_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=20)
    # The GP's answer to "Did the advice help?": yes, partly or no.
    helped: str | None = Field(default=None, max_length=10)
    # Hypo follow-ups: when it happened, whether they went to hospital, who told us.
    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    taken_to_hospital: bool | None = None
    source: str = Field(default="", max_length=100)
    # The ambulance service's own id for the call-out, so sending it again changes nothing.
    callout_id: str | None = Field(default=None, max_length=100, unique=True)
    # The person's answer to "Do you drive?" after a severe hypo (DVLA rules apply).
    drives: bool | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def reference(self) -> str:
        return f"{'H' if self.kind == AdviceKind.HYPO else 'A'}-{self.id or 0:06d}"


class AdviceAttachment(SQLModel, table=True):
    """A photo or document the GP sent with a request; Telegram keeps the file, we keep its id."""

    __tablename__ = "advice_attachment"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="advice_request.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=10)  # photo or document
    file_id: str = Field(max_length=200)
    file_name: str = Field(default="", max_length=200)
    mime_type: str = Field(default="", max_length=100)
    size: int = 0
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AdviceMessageKind(StrEnum):
    REPLY = "reply"
    ASK_MORE = "ask_more"
    REFERRAL = "referral"  # the team suggests a referral
    VIRTUAL_CLINIC = "virtual_clinic"  # the team suggests discussing the person at a virtual clinic
    GP_REPLY = "gp_reply"
    HYPO_ACTION = "hypo_action"  # what the team did about a severe hypo (the text is the action)


TEAM_ANSWERS = (
    AdviceMessageKind.REPLY,
    AdviceMessageKind.REFERRAL,
    AdviceMessageKind.VIRTUAL_CLINIC,
)


class AdviceMessage(SQLModel, table=True):
    """One turn of a request's thread, kept because a clinician relies on it (principle 6)."""

    __tablename__ = "advice_message"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="advice_request.id", ondelete="CASCADE", index=True)
    author_id: int | None = Field(default=None, foreign_key="person.id", ondelete="SET NULL")
    # The author's name and title as they were when they wrote, for the record.
    author_name: str = Field(default="", max_length=300)
    kind: str = Field(max_length=20)
    text: str = Field(sa_type=Text)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AdviceCompose(SQLModel, table=True):
    """What a GP or specialist is writing in their private chat right now (principle 2)."""

    __tablename__ = "advice_compose"

    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", primary_key=True)
    request_id: int = Field(foreign_key="advice_request.id", ondelete="CASCADE")
    kind: str = Field(max_length=20)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TeamChat(SQLModel, table=True):
    """The specialist team's Telegram group, where request cards appear."""

    __tablename__ = "team_chat"

    chat_id: int = Field(primary_key=True, sa_type=BigInteger)
    title: str = Field(default="", max_length=200)
    active: bool = True
    registered_by: str = Field(max_length=100)
    registered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TeamCode(SQLModel, table=True):
    """A single-use code with which an admin registers the team's group. Only a hash is kept."""

    __tablename__ = "team_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Measure(StrEnum):
    """What one result records. Serum creatinine and eGFR are one care process (kidneys)."""

    HBA1C = "hba1c"
    BLOOD_PRESSURE = "blood_pressure"
    CHOLESTEROL = "cholesterol"
    EGFR = "egfr"
    CREATININE = "creatinine"
    URINE_ACR = "urine_acr"
    FOOT_CHECK = "foot_check"
    BMI = "bmi"
    SMOKING = "smoking"
    EYE_SCREENING = "eye_screening"


class CareProcess(StrEnum):
    """The nine annual care processes of the National Diabetes Audit."""

    HBA1C = "hba1c"
    BLOOD_PRESSURE = "blood_pressure"
    CHOLESTEROL = "cholesterol"
    KIDNEY_FUNCTION = "kidney_function"
    URINE_ACR = "urine_acr"
    FOOT_CHECK = "foot_check"
    BMI = "bmi"
    SMOKING = "smoking"
    EYE_SCREENING = "eye_screening"


PROCESS_OF: dict[Measure, CareProcess] = {
    Measure.HBA1C: CareProcess.HBA1C,
    Measure.BLOOD_PRESSURE: CareProcess.BLOOD_PRESSURE,
    Measure.CHOLESTEROL: CareProcess.CHOLESTEROL,
    Measure.EGFR: CareProcess.KIDNEY_FUNCTION,
    Measure.CREATININE: CareProcess.KIDNEY_FUNCTION,
    Measure.URINE_ACR: CareProcess.URINE_ACR,
    Measure.FOOT_CHECK: CareProcess.FOOT_CHECK,
    Measure.BMI: CareProcess.BMI,
    Measure.SMOKING: CareProcess.SMOKING,
    Measure.EYE_SCREENING: CareProcess.EYE_SCREENING,
}


class Treatment(StrEnum):
    """What NICE NG28's HbA1c target for type 2 depends on."""

    LIFESTYLE = "lifestyle"  # diet and activity alone
    LOW_HYPO_RISK = "low_hypo_risk"  # medicines that do not cause hypos (metformin, ...)
    HYPO_RISK = "hypo_risk"  # a sulfonylurea or insulin


class CareResult(SQLModel, table=True):
    """One result of a care process. One row per person, measure and day, so an import sent
    twice changes nothing and a corrected value replaces the old one."""

    __tablename__ = "care_result"
    __table_args__ = (
        UniqueConstraint("person_id", "measure", "taken_on", name="uq_care_result_day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    measure: str = Field(max_length=20)
    taken_on: date
    # In the unit we keep (HbA1c mmol/mol, pressures mmHg, ...); the diastolic in value2.
    value: float | None = None
    value2: float | None = None
    # The outcome of a check without a number: foot risk, smoking status, eye screening.
    outcome: str | None = Field(default=None, max_length=30)
    source: str = Field(default="", max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PreReview(SQLModel, table=True):
    """Getting ready for one annual review (Year of Care): the results sent, the person's
    agenda saved answer by answer, and the clinician's summary sent."""

    __tablename__ = "pre_review"

    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", ondelete="CASCADE", unique=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    # The review's start when it was prepared for: a review moved since gets its nudge and its
    # summary again for the new date.
    review_at: datetime = Field(sa_type=UTCDateTime)
    results_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The agenda question the person is on; None before they start, "done" when finished.
    step: str | None = Field(default=None, max_length=20)
    topics: list[str] = Field(default_factory=list, sa_type=JSON)
    own_words: str | None = Field(default=None, sa_type=Text)
    confidence: int | None = None
    hypos: str | None = Field(default=None, max_length=15)
    drives: bool | None = None
    # Two mood questions (PHQ-2), each 0 to 3.
    mood_interest: int | None = None
    mood_down: int | None = None
    agenda_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    agenda_finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    summary_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarePlan(SQLModel, table=True):
    """The care plan agreed at a review. The newest is the person's plan; older ones are kept."""

    __tablename__ = "care_plan"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_review_on: date | None = None
    # Personal targets set by the clinician, by measure: {"hba1c": 58, "blood_pressure": [140, 90]}.
    targets: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    # [{"name": "Practice nurse", "phone": "0121 496 0000"}, ...]
    contacts: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    current: bool = True


class CareGoal(SQLModel, table=True):
    """One goal of a care plan, in the person's words, with its actions and who does each."""

    __tablename__ = "care_goal"

    id: int | None = Field(default=None, primary_key=True)
    care_plan_id: int = Field(foreign_key="care_plan.id", ondelete="CASCADE", index=True)
    position: int
    goal: str = Field(sa_type=Text)
    # [{"action": "Walk to work on Mondays", "who": "person"}, ...]
    actions: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)


class GoalCheckIn(SQLModel, table=True):
    """The person's answer to one check-in on one goal ("on track", "partly", ...)."""

    __tablename__ = "goal_check_in"
    __table_args__ = (UniqueConstraint("goal_id", "round", name="uq_goal_check_in_round"),)

    id: int | None = Field(default=None, primary_key=True)
    goal_id: int = Field(foreign_key="care_goal.id", ondelete="CASCADE", index=True)
    person_id: int = Field(foreign_key="person.id", ondelete="CASCADE", index=True)
    round: int
    answer: str = Field(max_length=12)
    # "Change my goal": the new goal in their words, typed after the press.
    new_goal: str | None = Field(default=None, sa_type=Text)
    answered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
