"""Working time in England: 09:00 to 17:00, Monday to Friday, without England and Wales bank
holidays (the `holidays` package). Used wherever a target is "within one working day"."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays

DAY_STARTS, DAY_ENDS = time(9, 0), time(17, 0)
LONDON = ZoneInfo("Europe/London")


@cache
def _bank_holidays(year: int) -> holidays.HolidayBase:
    # England's list is England and Wales's: the same bank holidays.
    return holidays.UK(subdiv="ENG", years=year)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _bank_holidays(day.year)


def next_working_moment(now: datetime, zone: ZoneInfo = LONDON) -> datetime:
    """Now, if it is working time; otherwise 09:00 on the next working day (in UTC)."""
    local = now.astimezone(zone)
    if is_working_day(local.date()) and DAY_STARTS <= local.time() < DAY_ENDS:
        return now.astimezone(UTC)
    day = local.date() if local.time() < DAY_STARTS else local.date() + timedelta(days=1)
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, DAY_STARTS, tzinfo=zone).astimezone(UTC)


WORKING_DAY = datetime.combine(date.min, DAY_ENDS) - datetime.combine(date.min, DAY_STARTS)


def add_working_time(start: datetime, amount: timedelta, zone: ZoneInfo = LONDON) -> datetime:
    """The moment `amount` of working time after `start` (a request made on Friday at 16:00
    with two working days to answer is due on Tuesday at 16:00)."""
    moment = next_working_moment(start, zone).astimezone(zone)
    left = amount
    while True:
        day_end = datetime.combine(moment.date(), DAY_ENDS, tzinfo=zone)
        today = day_end - moment
        if left <= today:
            return (moment + left).astimezone(UTC)
        left -= today
        moment = next_working_moment(day_end, zone).astimezone(zone)


def working_time_between(start: datetime, end: datetime, zone: ZoneInfo = LONDON) -> timedelta:
    """How much working time lies between two moments (none if `end` is not after `start`)."""
    total = timedelta(0)
    moment = next_working_moment(start, zone).astimezone(zone)
    end = end.astimezone(zone)
    while moment < end:
        day_end = datetime.combine(moment.date(), DAY_ENDS, tzinfo=zone)
        total += min(day_end, end) - moment
        moment = next_working_moment(day_end, zone).astimezone(zone)
    return total
