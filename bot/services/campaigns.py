"""Education campaigns: one topic of the library sent to a cohort, through the outbox.

An admin (command line) or another system (API) names a campaign, a topic and who it is for
(languages, diabetes types, roles, practices; each an "any of", all of them together). Every
active person in that cohort gets one `education_campaign` outbox row, at the lowest priority,
so reminders and safety messages always go first. The row's dedupe key is the campaign and the
person: sending the campaign again reaches only people not reached yet (people who joined since,
or who match wider filters), and nobody ever gets it twice. Progress and delivery are counted
from the outbox rows, which carry the topic `campaign:<id>`.

Knows nothing of Telegram; the page is rendered at send time in each person's language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.content import Library
from bot.i18n import LANGUAGES
from bot.models import (
    Campaign,
    DiabetesType,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Priority,
    Role,
)
from bot.services import audit, outbox
from bot.services.appointments import InvalidRecord
from bot.services.enrolment import ODS_CODE, InvalidField

TEMPLATE = "education_campaign"
TOPIC_PREFIX = "campaign:"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")
NAME_HELP = "use up to 60 letters, digits, dots, dashes or underscores, e.g. ramadan-2027"
DIABETES_TYPES: tuple[str, ...] = tuple(kind.value for kind in DiabetesType)
# Campaigns are for patients, carers, young people and the public; never for staff.
ROLES: tuple[str, ...] = tuple(role.value for role in Role if not role.is_staff)
AUDIENCE_FIELDS = ("languages", "diabetes_types", "roles", "practices")
# A send time this little in the past is taken as "now" (the clock of the caller may lag).
PAST_GRACE = timedelta(minutes=1)
# Further ahead than this is more likely a typo in the year than a plan.
LATEST_AHEAD = timedelta(days=366)
# Rows per INSERT: a cohort of 50,000 people is 50 statements, not 50,000.
CHUNK = 1000
MOST_VALUES = 50


class InvalidCampaign(InvalidRecord):
    """Every wrong field of a campaign (`problems`, each an InvalidField)."""


class CampaignConflict(ValueError):
    """A campaign of this name exists already with another topic."""


class NotFound(LookupError):
    pass


def topic(campaign_id: int) -> str:
    """The outbox topic of a campaign's messages."""
    return f"{TOPIC_PREFIX}{campaign_id}"


@dataclass(frozen=True)
class Audience:
    """Who a campaign is for. An empty tuple sets no limit on that (any language, ...);
    `roles` empty means every role a campaign may reach (never staff)."""

    languages: tuple[str, ...] = ()
    diabetes_types: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    practices: tuple[str, ...] = ()

    def as_json(self) -> dict[str, list[str]]:
        return {name: list(getattr(self, name)) for name in AUDIENCE_FIELDS}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> Audience:
        raw = raw or {}
        return cls(**{name: tuple(raw.get(name) or ()) for name in AUDIENCE_FIELDS})

    def describe(self) -> str:
        parts = [
            f"{label} {', '.join(values)}"
            for label, values in (
                ("languages", self.languages),
                ("diabetes types", self.diabetes_types),
                ("roles", self.roles),
                ("practices", self.practices),
            )
            if values
        ]
        return "; ".join(parts) or "everyone (no filters)"


def check_name(raw: str) -> str:
    name = (raw or "").strip()
    if not NAME_PATTERN.match(name):
        raise InvalidField("name", f"{raw!r}: {NAME_HELP}")
    return name


def check_audience(raw: Mapping[str, Any]) -> tuple[Audience, list[InvalidField]]:
    """The audience with its values tidied (practices in capitals, no repeats), and every
    value that is not known, named by its field."""
    problems: list[InvalidField] = []
    unknown = [str(name) for name in raw if name not in AUDIENCE_FIELDS]
    problems += [InvalidField(name[:100], "not a filter of a campaign") for name in unknown]
    allowed: dict[str, tuple[str, ...] | None] = {
        "languages": LANGUAGES,
        "diabetes_types": DIABETES_TYPES,
        "roles": ROLES,
        "practices": None,
    }
    chosen: dict[str, tuple[str, ...]] = {}
    for name, choices in allowed.items():
        values = raw.get(name) or ()
        if isinstance(values, str) or not isinstance(values, Iterable):
            problems.append(InvalidField(name, "must be a list"))
            chosen[name] = ()
            continue
        values = list(values)
        if not all(isinstance(value, str) for value in values):
            problems.append(InvalidField(name, "must be a list of strings"))
            chosen[name] = ()
            continue
        if len(values) > MOST_VALUES:
            problems.append(InvalidField(name, f"at most {MOST_VALUES} values"))
        tidied = [value.strip().upper() if choices is None else value.strip() for value in values]
        if choices is None:
            wrong = [value for value in tidied if not ODS_CODE.match(value)]
            if wrong:
                problems.append(
                    InvalidField(
                        name,
                        f"{', '.join(repr(v) for v in wrong)}: not an ODS code, like Y01234",
                    )
                )
        else:
            wrong = [value for value in tidied if value not in choices]
            if wrong:
                message = f"{', '.join(repr(v) for v in wrong)}: use {', '.join(choices)}"
                if name == "roles" and any(v in {r.value for r in Role} for v in wrong):
                    message += " (campaigns never go to staff)"
                problems.append(InvalidField(name, message))
        chosen[name] = tuple(dict.fromkeys(tidied))
    return Audience(**chosen), problems


def parse_local_time(raw: str, zone: ZoneInfo, field: str = "send_at") -> datetime:
    """`2027-01-25 10:00` as local time in `zone`, or ISO 8601 with an offset; UTC back."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidField(field, f"{raw!r} is not a date and time like 2027-01-25 10:00") from None
    if value.tzinfo is None:
        local = value.replace(tzinfo=zone)
        # A time the clocks skip (01:30 on the last Sunday of March) does not exist.
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
            raise InvalidField(field, f"{raw!r}: the clocks go forward then; choose another time")
        value = local
    return value.astimezone(UTC)


@dataclass(frozen=True)
class SendResult:
    campaign: Campaign  # not stored on a dry run of a new campaign (its id is None)
    created: bool  # a new campaign (or, on a dry run, one that would be new)
    matched: int  # people in the cohort now
    queued: int  # of them, queued by this call (on a dry run: who would be)
    due_at: datetime  # when this call's messages are due
    dry_run: bool = False


@dataclass(frozen=True)
class CampaignStatus:
    campaign: Campaign
    counts: dict[str, int]  # every OutboxStatus, 0 when none

    @property
    def audience(self) -> Audience:
        return Audience.from_json(self.campaign.audience)

    @property
    def waiting(self) -> int:
        return self.counts[OutboxStatus.PENDING] + self.counts[OutboxStatus.SENDING]


async def by_name(session: AsyncSession, name: str) -> Campaign | None:
    return (await session.exec(select(Campaign).where(col(Campaign.name) == name))).one_or_none()


async def _matching_ids(session: AsyncSession, audience: Audience) -> list[int]:
    """The ids of everyone a message can reach now who is in the cohort, in one query."""
    conditions: list[Any] = [
        col(Person.status) == PersonStatus.ACTIVE,
        col(Person.telegram_chat_id).is_not(None),
        col(Person.paused_at).is_(None),
        col(Person.role).in_(audience.roles or ROLES),
    ]
    if audience.languages:
        conditions.append(col(Person.language).in_(audience.languages))
    if audience.diabetes_types:
        conditions.append(col(Person.diabetes_type).in_(audience.diabetes_types))
    if audience.practices:
        conditions.append(col(Person.practice_ods).in_(audience.practices))
    ids = (await session.exec(select(Person.id).where(*conditions).order_by(col(Person.id)))).all()
    return [person_id for person_id in ids if person_id is not None]


async def _reached(session: AsyncSession, campaign_id: int) -> set[int]:
    """Everyone the campaign has a message for already, whatever became of it."""
    ids = (
        await session.exec(
            select(OutboxMessage.person_id).where(col(OutboxMessage.topic) == topic(campaign_id))
        )
    ).all()
    return {person_id for person_id in ids if person_id is not None}


def check(
    *,
    name: str | None,
    topic_id: str | None,
    audience: Mapping[str, Any] | Audience,
    send_at: datetime | None,
    now: datetime,
    library: Library,
) -> tuple[str, str, Audience, datetime, list[InvalidField]]:
    """The name, topic, audience and send time tidied, and every problem with them. A name or
    topic of None is not checked (the caller has said already what is wrong with it)."""
    problems: list[InvalidField] = []
    if name is not None:
        try:
            name = check_name(name)
        except InvalidField as problem:
            problems.append(problem)
    if isinstance(audience, Audience):
        audience = audience.as_json()
    chosen, wrong = check_audience(audience)
    problems += wrong
    if send_at is not None and send_at.tzinfo is None:
        raise ValueError("naive datetime given as a campaign's send time")
    when = now if send_at is None else send_at.astimezone(UTC)
    if when < now - PAST_GRACE:
        problems.append(InvalidField("send_at", "the time is in the past"))
    elif when > now + LATEST_AHEAD:
        problems.append(InvalidField("send_at", "more than a year ahead; check the year"))
    when = max(when, now)
    if topic_id is not None:
        topic_id = topic_id.strip()
        problems += _topic_problems(library, topic_id, now, when)
    return name or "", topic_id or "", chosen, when, problems


def _topic_problems(
    library: Library, topic_id: str, now: datetime, when: datetime
) -> list[InvalidField]:
    found = library.topic(topic_id)
    if found is None:
        message = f"{topic_id!r} is not a topic of the library (its folder in content/)"
    elif not found.shown_on(now.date()):
        message = (
            f"{topic_id!r} is withdrawn: its review was due {found.review_due.isoformat()}; "
            "it can be sent once it has been reviewed"
        )
    elif not found.shown_on(when.date()):
        message = (
            f"{topic_id!r} is withdrawn for review before the send time (review due "
            f"{found.review_due.isoformat()}); review it first or send it sooner"
        )
    else:
        return []
    return [InvalidField("topic", message)]


async def send(
    session: AsyncSession,
    *,
    name: str,
    topic_id: str,
    audience: Mapping[str, Any] | Audience,
    send_at: datetime | None,
    actor: str,
    now: datetime,
    library: Library,
    dry_run: bool = False,
) -> SendResult:
    """Queues the topic for everyone in the cohort not reached yet; with `dry_run`, only
    counts them. Raises InvalidCampaign (every wrong field) or CampaignConflict."""
    name, topic_id, chosen, when, problems = check(
        name=name or "",
        topic_id=topic_id or "",
        audience=audience,
        send_at=send_at,
        now=now,
        library=library,
    )
    if problems:
        raise InvalidCampaign(problems)

    campaign = await by_name(session, name)
    if campaign is not None and campaign.topic_id != topic_id:
        raise CampaignConflict(
            f"the campaign {name!r} exists already and sends the topic {campaign.topic_id!r}; "
            f"choose another name to send {topic_id!r}"
        )
    created = campaign is None
    matched = await _matching_ids(session, chosen)
    reached = (
        set() if campaign is None or campaign.id is None else await _reached(session, campaign.id)
    )
    new = [person_id for person_id in matched if person_id not in reached]
    if campaign is None:
        campaign = Campaign(
            name=name,
            topic_id=topic_id,
            audience=chosen.as_json(),
            send_at=when,
            created_by=actor[:100],
            created_at=now,
        )
    if dry_run:
        return SendResult(campaign, created, len(matched), len(new), when, dry_run=True)

    if created:
        session.add(campaign)
        await session.flush()
    else:
        # The filters of the latest send; the people reached before keep their message.
        campaign.audience = chosen.as_json()
        session.add(campaign)
    assert campaign.id is not None
    queued = 0
    for start in range(0, len(new), CHUNK):
        rows = [
            {
                "template_key": TEMPLATE,
                "dedupe_key": f"{TOPIC_PREFIX}{campaign.id}:{person_id}",
                "due_at": when,
                "priority": Priority.EDUCATION,
                "params": {"topic": topic_id},
                "person_id": person_id,
                "topic": topic(campaign.id),
            }
            for person_id in new[start : start + CHUNK]
        ]
        queued += await outbox.queue_many(session, rows)
    campaign.recipients += queued
    await audit.record(
        session,
        actor=actor,
        action="campaign.send",
        detail=(
            f"name={name} topic={topic_id} {'new' if created else 'again'} "
            f"matched={len(matched)} queued={queued} audience={chosen.describe()}"
        )[:500],
        at=now,
    )
    await session.flush()
    return SendResult(campaign, created, len(matched), queued, when)


async def _counts(session: AsyncSession, topics: list[str]) -> dict[str, dict[str, int]]:
    rows = (
        await session.exec(
            select(OutboxMessage.topic, OutboxMessage.status, func.count())
            .where(col(OutboxMessage.topic).in_(topics))
            .group_by(col(OutboxMessage.topic), col(OutboxMessage.status))
        )
    ).all()
    counts = {name: {status.value: 0 for status in OutboxStatus} for name in topics}
    for name, status, count in rows:
        if name is not None and status in counts[name]:
            counts[name][status] = int(count)
    return counts


async def status(session: AsyncSession, name: str) -> CampaignStatus:
    """The campaign and its messages by status (pending, sending, sent, failed, cancelled)."""
    campaign = await by_name(session, name)
    if campaign is None or campaign.id is None:
        raise NotFound(f"no campaign is named {name!r}")
    counts = await _counts(session, [topic(campaign.id)])
    return CampaignStatus(campaign, counts[topic(campaign.id)])


async def list_campaigns(session: AsyncSession) -> list[CampaignStatus]:
    """Every campaign, the latest sent first, with its counts (one query for all)."""
    campaigns = list(
        (
            await session.exec(
                select(Campaign).order_by(col(Campaign.send_at).desc(), col(Campaign.id).desc())
            )
        ).all()
    )
    topics = [topic(campaign.id) for campaign in campaigns if campaign.id is not None]
    counts = await _counts(session, topics) if topics else {}
    return [
        CampaignStatus(campaign, counts[topic(campaign.id)])
        for campaign in campaigns
        if campaign.id is not None
    ]
