"""The advice line's figures for the specialist team's `/stats`: this month's requests, how soon
the team answered, breaches, hypo follow-ups, and a weekly series for the chart.

Definitions (the team reads these as targets, so they are spelled out):

- A request belongs to the calendar month (or ISO week, Monday to Sunday) in which it was
  **submitted**, in local time (Europe/London). Drafts and cancelled drafts were never
  submitted and are not counted. A request submitted this month counts here however long it
  takes, so the current month's breaches and open follow-ups can still grow.
- **Time to first answer** is `working_time_between(submitted_at, first_answer_at)`: working
  hours (09:00 to 17:00, Monday to Friday, without bank holidays), because the targets are in
  working days. Time waiting on the GP after the team asked for more is included (it is not
  stored separately). Clock hours are given too.
- **Median** is `statistics.median` (the mean of the middle two for an even count). The **90th
  percentile** is by the nearest-rank method: the smallest answer time such that at least 90%
  of answered requests took no longer, so "90% were answered within it" is exactly true and the
  figure is always a time that really happened.
- A **breach** is an advice request the watch marked breached (`breached_at`): not answered
  by its due time. Hypo follow-ups are counted in their own figures, not here.
- A **hypo follow-up** is done when the team reached the person (`first_answer_at`); it is done
  within target when that is no later than its due time (one working day). One not done is
  still open while its due time is ahead and it is not closed; otherwise it was not done in time.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import (
    OPEN_STATUSES,
    AdviceArea,
    AdviceKind,
    AdviceRequest,
    AdviceUrgency,
    Person,
)
from bot.services import audit
from bot.services.specialist_team import is_member as is_team_member
from bot.services.specialist_team import is_team_chat
from bot.working_days import working_time_between

# Who may see the figures: the team, in its own group.
WEEKS = 12
P90 = 90
HOUR = timedelta(hours=1)


class NotTeamChat(PermissionError):
    """Not the team's registered group."""


class NotTeamMember(PermissionError):
    """Not an enrolled specialist or admin."""


@dataclass(frozen=True)
class AnswerTimes:
    """Time to first answer, in hours; None when nothing was answered."""

    answered: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass(frozen=True)
class HypoFigures:
    total: int = 0
    in_time: int = 0  # the person reached by the due time
    late: int = 0  # reached, but after the due time
    overdue: int = 0  # not reached, and the due time has passed (or it was closed)
    open: int = 0  # not reached yet, and still within time

    @property
    def not_in_time(self) -> int:
        return self.late + self.overdue


@dataclass(frozen=True)
class MonthFigures:
    month: date  # the first day of the month, local
    now: datetime
    total: int = 0  # advice requests submitted this month
    # Most asked first; areas and urgencies with no requests are left out.
    by_area: dict[str, int] = field(default_factory=dict)
    by_urgency: dict[str, int] = field(default_factory=dict)
    working_hours: AnswerTimes = AnswerTimes()  # the headline
    clock_hours: AnswerTimes = AnswerTimes()
    breached: int = 0
    hypo: HypoFigures = HypoFigures()

    @property
    def empty(self) -> bool:
        return self.total == 0 and self.hypo.total == 0


@dataclass(frozen=True)
class WeekRow:
    week: date  # the Monday the ISO week starts on, local
    routine: int = 0
    urgent: int = 0
    hypo: int = 0
    breaches: int = 0  # advice requests submitted that week and since breached


# Percentiles --------------------------------------------------------------------------------


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile: the value at rank ceil(percent/100 * n) of the sorted list."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def answer_times(hours: Sequence[float]) -> AnswerTimes:
    if not hours:
        return AnswerTimes()
    return AnswerTimes(len(hours), statistics.median(hours), nearest_rank(hours, P90))


# Periods ------------------------------------------------------------------------------------


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def month_start(now: datetime, zone: ZoneInfo) -> date:
    return now.astimezone(zone).date().replace(day=1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def week_start(moment: datetime, zone: ZoneInfo) -> date:
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def _area(value: str | None) -> str:
    return value or AdviceArea.OTHER.value


def _urgency(value: str | None) -> str:
    # A submitted request always has one; without, it ran on the routine target (Targets).
    return value or AdviceUrgency.ROUTINE.value


def _most_first(counts: Counter[str], order: Sequence[str]) -> dict[str, int]:
    """Largest first; equal counts in the order the GP sees them; unknown keys last."""
    rank = {key: index for index, key in enumerate(order)}
    keys = sorted(counts, key=lambda key: (-counts[key], rank.get(key, len(rank)), key))
    return {key: counts[key] for key in keys if counts[key]}


# Figures ------------------------------------------------------------------------------------


async def month_figures(session: AsyncSession, *, now: datetime, zone: ZoneInfo) -> MonthFigures:
    """The calendar month (in `zone`) that contains `now`."""
    first = month_start(now, zone)
    starts, ends = _midnight(first, zone), _midnight(_next_month(first), zone)
    in_month = _submitted_between(starts, ends)

    # Counts by area and urgency: grouped in SQL.
    by_area: Counter[str] = Counter()
    by_urgency: Counter[str] = Counter()
    total = breached = 0
    groups = (
        await session.exec(
            select(
                AdviceRequest.area,
                AdviceRequest.urgency,
                func.count(),
                func.count(col(AdviceRequest.breached_at)),
            )
            .where(col(AdviceRequest.kind) == AdviceKind.ADVICE, *in_month)
            .group_by(col(AdviceRequest.area), col(AdviceRequest.urgency))
        )
    ).all()
    for area, urgency, count, breaches in groups:
        by_area[_area(area)] += count
        by_urgency[_urgency(urgency)] += count
        total += count
        breached += breaches

    # Answer times: only the two moments of each answered request.
    answered = (
        await session.exec(
            select(AdviceRequest.submitted_at, AdviceRequest.first_answer_at).where(
                col(AdviceRequest.kind) == AdviceKind.ADVICE,
                col(AdviceRequest.first_answer_at).is_not(None),
                *in_month,
            )
        )
    ).all()
    working, clock = [], []
    for submitted_at, first_answer_at in answered:
        assert submitted_at is not None and first_answer_at is not None
        working.append(working_time_between(submitted_at, first_answer_at, zone) / HOUR)
        clock.append(max(first_answer_at - submitted_at, timedelta(0)) / HOUR)

    return MonthFigures(
        month=first,
        now=now,
        total=total,
        by_area=_most_first(by_area, list(AdviceArea)),
        by_urgency=_most_first(by_urgency, list(AdviceUrgency)),
        working_hours=answer_times(working),
        clock_hours=answer_times(clock),
        breached=breached,
        hypo=await _hypo_figures(session, in_month, now),
    )


def _submitted_between(starts: datetime, ends: datetime) -> tuple[ColumnElement[bool], ...]:
    return (col(AdviceRequest.submitted_at) >= starts, col(AdviceRequest.submitted_at) < ends)


async def _hypo_figures(
    session: AsyncSession, in_month: tuple[ColumnElement[bool], ...], now: datetime
) -> HypoFigures:
    rows = (
        await session.exec(
            select(AdviceRequest.status, AdviceRequest.due_at, AdviceRequest.first_answer_at).where(
                col(AdviceRequest.kind) == AdviceKind.HYPO, *in_month
            )
        )
    ).all()
    in_time = late = overdue = still_open = 0
    open_statuses = {status.value for status in OPEN_STATUSES}
    for status, due_at, first_answer_at in rows:
        if first_answer_at is not None:
            if due_at is None or first_answer_at <= due_at:
                in_time += 1
            else:
                late += 1
        elif status in open_statuses and (due_at is None or due_at > now):
            still_open += 1
        else:
            overdue += 1
    return HypoFigures(
        total=len(rows), in_time=in_time, late=late, overdue=overdue, open=still_open
    )


async def weekly_series(
    session: AsyncSession, *, now: datetime, zone: ZoneInfo, weeks: int = WEEKS
) -> list[WeekRow]:
    """One row per ISO week (Monday to Sunday, local), oldest first, the last being this week's;
    weeks with nothing in them are rows of zeros."""
    this_week = week_start(now, zone)
    mondays = [this_week - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    starts = _midnight(mondays[0], zone)
    ends = _midnight(this_week + timedelta(weeks=1), zone)
    rows = (
        await session.exec(
            select(
                AdviceRequest.kind,
                AdviceRequest.urgency,
                AdviceRequest.submitted_at,
                AdviceRequest.breached_at,
            ).where(*_submitted_between(starts, ends))
        )
    ).all()
    counts: dict[date, Counter[str]] = {monday: Counter() for monday in mondays}
    for kind, urgency, submitted_at, breached_at in rows:
        assert submitted_at is not None
        week = counts[week_start(submitted_at, zone)]
        if kind == AdviceKind.HYPO:
            week["hypo"] += 1
            continue
        week[_urgency(urgency)] += 1
        if breached_at is not None:
            week["breaches"] += 1
    return [
        WeekRow(
            week=monday,
            routine=counts[monday][AdviceUrgency.ROUTINE.value],
            urgent=counts[monday][AdviceUrgency.URGENT.value],
            hypo=counts[monday]["hypo"],
            breaches=counts[monday]["breaches"],
        )
        for monday in mondays
    ]


# /stats ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamStats:
    month: MonthFigures
    weeks: list[WeekRow]


async def team_stats(
    session: AsyncSession,
    person: Person | None,
    *,
    chat_id: int,
    now: datetime,
    zone: ZoneInfo,
) -> TeamStats:
    """The figures for `/stats`: only in the team's group (NotTeamChat), and only for an
    enrolled specialist or admin (NotTeamMember). Seeing them is audited."""
    if not await is_team_chat(session, chat_id):
        raise NotTeamChat(chat_id)
    if not is_team_member(person):
        raise NotTeamMember
    assert person is not None
    stats = TeamStats(
        month=await month_figures(session, now=now, zone=zone),
        weeks=await weekly_series(session, now=now, zone=zone),
    )
    await audit.record(
        session,
        actor=audit.person_actor(person.id),
        action="advice.stats",
        detail=f"chat={chat_id} month={stats.month.month:%Y-%m}",
        at=now,
    )
    return stats
