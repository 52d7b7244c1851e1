"""/stats in the specialist team's group: the month's figures (by area and urgency, median and
90th-percentile time to first answer in working hours, breaches, hypo follow-ups within a working
day), the 12-week series, its PNG chart, and the command end to end with who may use it."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib.image
import pytest
import time_machine
from sqlmodel import col, select

from bot import advice_stats_messages as words
from bot.advice_chart import weekly_chart_png
from bot.db import Database
from bot.i18n import LANGUAGES, translator
from bot.models import (
    AdviceKind,
    AdviceRequest,
    AdviceStatus,
    AuditEvent,
    Person,
)
from bot.services import advice_stats, outbox, specialist_team
from bot.services.advice_line import Targets
from bot.services.advice_stats import HypoFigures, MonthFigures, WeekRow, nearest_rank
from bot.working_days import add_working_time
from tests.fake_bot_api import UserSim, group_text
from tests.harness import BotUnderTest, running_bot
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=LONDON)  # a Wednesday
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TARGETS = Targets()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)


def advice(
    area: str,
    urgency: str,
    submitted: datetime,
    answered: datetime | None = None,
    *,
    breached: datetime | None = None,
    status: str | None = None,
) -> AdviceRequest:
    request = AdviceRequest(
        kind=AdviceKind.ADVICE,
        status=status or (AdviceStatus.ANSWERED if answered else AdviceStatus.OPEN),
        area=area,
        urgency=urgency,
        submitted_at=submitted,
        first_answer_at=answered,
        breached_at=breached,
        question="What should we do about the metformin dose?",
        nhs_number="9434765919",
    )
    request.due_at = add_working_time(submitted, TARGETS.working_time(request))
    return request


def hypo(
    submitted: datetime, answered: datetime | None = None, *, status: str | None = None
) -> AdviceRequest:
    request = AdviceRequest(
        kind=AdviceKind.HYPO,
        status=status or (AdviceStatus.ANSWERED if answered else AdviceStatus.OPEN),
        submitted_at=submitted,
        first_answer_at=answered,
        occurred_at=submitted,
        source="ambulance",
    )
    request.due_at = add_working_time(submitted, TARGETS.working_time(request))
    return request


def november() -> list[AdviceRequest]:
    """Seven advice requests and four hypo follow-ups sent in November 2026, and some that
    are not November's: a draft, October's, and one from late August."""
    return [
        # Answered in 1, 2, 3, 4, 16 and 12 working hours (clock: 1, 2, 3, 68, 32, 28).
        advice("foot", "routine", local(2026, 11, 2, 9), local(2026, 11, 2, 10)),
        advice("foot", "urgent", local(2026, 11, 3, 9), local(2026, 11, 3, 11)),
        advice("kidney", "routine", local(2026, 11, 4, 10), local(2026, 11, 4, 13)),
        # Friday 16:00 to Monday 12:00: one working hour on Friday, three on Monday.
        advice("insulin_pump", "routine", local(2026, 11, 6, 16), local(2026, 11, 9, 12)),
        advice("foot", "routine", local(2026, 11, 10, 9), local(2026, 11, 11, 17)),
        # Urgent, due Thursday 17:00, answered Friday 13:00: breached.
        advice(
            "kidney",
            "urgent",
            local(2026, 11, 12, 9),
            local(2026, 11, 13, 13),
            breached=local(2026, 11, 12, 17),
        ),
        advice("type1", "routine", local(2026, 11, 16, 9), status=AdviceStatus.CLAIMED),
        # A draft was never sent.
        AdviceRequest(kind=AdviceKind.ADVICE, status=AdviceStatus.DRAFT, area="foot"),
        # Hypo follow-ups: reached in time; reached late; not reached and past due; still open.
        hypo(local(2026, 11, 2, 10), local(2026, 11, 2, 15)),
        hypo(local(2026, 11, 3, 10), local(2026, 11, 4, 12)),
        hypo(local(2026, 11, 5, 10), status=AdviceStatus.CLAIMED),
        hypo(local(2026, 11, 18, 11)),
        # October's (Saturday 31 October, late evening) and a hypo on 20 October.
        advice("antenatal", "urgent", local(2026, 10, 31, 23, 30), local(2026, 11, 2, 9, 30)),
        hypo(local(2026, 10, 20, 9), local(2026, 10, 20, 12)),
        # Monday 31 August 00:30 in London is still Sunday in UTC: the first week's.
        advice("other", "routine", local(2026, 8, 31, 0, 30), breached=local(2026, 9, 3, 9)),
        # Thirteen weeks back: not on the chart.
        advice("other", "urgent", local(2026, 8, 25, 10)),
    ]


async def seed(db: Database, rows: list[AdviceRequest]) -> None:
    async with db.session() as session:
        session.add_all(rows)


# The month's figures ------------------------------------------------------------------------


async def test_the_month_by_area_urgency_answer_times_breaches_and_hypos(db: Database):
    await seed(db, november())
    async with db.session() as session:
        figures = await advice_stats.month_figures(session, now=NOW.astimezone(UTC), zone=LONDON)

    assert figures.month == date(2026, 11, 1)
    assert figures.total == 7
    # Most asked first; equal counts in the order the GP chooses from.
    assert list(figures.by_area.items()) == [
        ("foot", 3),
        ("kidney", 2),
        ("insulin_pump", 1),
        ("type1", 1),
    ]
    assert figures.by_urgency == {"routine": 5, "urgent": 2}
    # Working hours 1, 2, 3, 4, 12, 16: the median between 3 and 4; the 90th percentile by
    # nearest rank is the 6th of 6 (interpolating would have said 14).
    assert figures.working_hours.answered == 6
    assert figures.working_hours.median == pytest.approx(3.5)
    assert figures.working_hours.p90 == pytest.approx(16)
    # Clock hours 1, 2, 3, 28, 32, 68.
    assert figures.clock_hours.median == pytest.approx(15.5)
    assert figures.clock_hours.p90 == pytest.approx(68)
    assert figures.breached == 1
    assert figures.hypo == HypoFigures(total=4, in_time=1, late=1, overdue=1, open=1)
    assert figures.hypo.not_in_time == 2


async def test_the_month_is_london_s_month_not_utc_s(db: Database):
    # 1 October 00:30 BST is 30 September 23:30 UTC: October's. 30 September 23:30 BST is not.
    await seed(
        db,
        [
            advice("foot", "routine", local(2026, 10, 1, 0, 30)),
            advice("kidney", "routine", local(2026, 9, 30, 23, 30)),
        ],
    )
    async with db.session() as session:
        figures = await advice_stats.month_figures(
            session, now=local(2026, 10, 15, 12), zone=LONDON
        )
    assert figures.total == 1 and figures.by_area == {"foot": 1}
    assert figures.working_hours.answered == 0 and figures.working_hours.median is None


async def test_an_empty_month(db: Database):
    # Only last month's requests: this month is empty.
    await seed(db, [advice("foot", "routine", local(2026, 10, 5, 9), local(2026, 10, 5, 10))])
    async with db.session() as session:
        figures = await advice_stats.month_figures(session, now=NOW, zone=LONDON)
    assert figures.empty
    assert figures.by_area == {} and figures.hypo == HypoFigures()


def test_nearest_rank_percentile():
    assert nearest_rank(range(1, 11), 90) == 9
    assert nearest_rank(range(1, 21), 90) == 18
    assert nearest_rank([5.0], 90) == 5.0
    assert nearest_rank([3, 1, 2], 90) == 3
    with pytest.raises(ValueError):
        nearest_rank([], 90)


# The weekly series ----------------------------------------------------------------------------


async def test_twelve_weeks_monday_to_sunday_in_london(db: Database):
    await seed(db, november())
    async with db.session() as session:
        weeks = await advice_stats.weekly_series(session, now=NOW, zone=LONDON)

    assert len(weeks) == 12
    assert weeks[0].week == date(2026, 8, 31) and weeks[-1].week == date(2026, 11, 16)
    assert all(row.week.weekday() == 0 for row in weeks)
    by_week = {row.week: row for row in weeks}
    assert by_week[date(2026, 8, 31)] == WeekRow(date(2026, 8, 31), routine=1, breaches=1)
    assert by_week[date(2026, 10, 19)] == WeekRow(date(2026, 10, 19), hypo=1)
    assert by_week[date(2026, 10, 26)] == WeekRow(date(2026, 10, 26), urgent=1)
    assert by_week[date(2026, 11, 2)] == WeekRow(date(2026, 11, 2), routine=3, urgent=1, hypo=3)
    assert by_week[date(2026, 11, 9)] == WeekRow(date(2026, 11, 9), routine=1, urgent=1, breaches=1)
    assert by_week[date(2026, 11, 16)] == WeekRow(date(2026, 11, 16), routine=1, hypo=1)
    quiet = set(by_week) - {date(2026, m, d) for m, d in ((8, 31), (10, 19), (10, 26))}
    quiet -= {date(2026, 11, d) for d in (2, 9, 16)}
    assert all(by_week[week] == WeekRow(week) for week in quiet)
    # Everything sent from 31 August on is on the chart; 25 August is not.
    assert sum(r.routine + r.urgent + r.hypo for r in weeks) == 14


# The chart ----------------------------------------------------------------------------------


def test_the_chart_is_a_png_of_the_weeks():
    t = translator("en")
    rows = [
        WeekRow(date(2026, 8, 31) + timedelta(weeks=i), routine=i % 4, urgent=i % 2, hypo=1)
        for i in range(12)
    ]
    png = weekly_chart_png(
        rows,
        title=words.chart_title(t),
        labels=words.chart_labels(t),
        week_label=lambda day: words.week_label(t, day),
    )
    assert png.startswith(PNG_SIGNATURE)
    assert 10_000 < len(png) < 200_000
    image = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert image.shape == (450, 800, 4)
    # Not a blank picture: the bars are drawn in more than a few colours.
    assert len({tuple(pixel) for pixel in image.reshape(-1, 4)[::37]}) > 5


def test_a_chart_of_quiet_weeks_and_missing_labels():
    rows = [WeekRow(date(2026, 8, 31) + timedelta(weeks=i)) for i in range(12)]
    labels = words.chart_labels(translator("en"))
    assert weekly_chart_png(rows, title="Quiet", labels=labels).startswith(PNG_SIGNATURE)
    with pytest.raises(ValueError, match="weeks"):
        weekly_chart_png(
            rows, title="Quiet", labels={k: v for k, v in labels.items() if k != "weeks"}
        )


# The words ----------------------------------------------------------------------------------


def test_the_summary_reads_the_figures():
    figures = MonthFigures(
        month=date(2026, 11, 1),
        now=NOW,
        total=7,
        by_area={"foot": 3, "kidney": 2, "insulin_pump": 1, "type1": 1},
        by_urgency={"routine": 5, "urgent": 2},
        working_hours=advice_stats.answer_times([1, 2, 3, 4, 12, 16]),
        clock_hours=advice_stats.answer_times([1, 2, 3, 28, 32, 68]),
        breached=1,
        hypo=HypoFigures(total=4, in_time=1, late=1, overdue=1, open=1),
    )
    text = words.stats_reply(translator("en"), figures, LONDON).text
    assert "<b>Advice line: November 2026</b>" in text
    assert "to 18 November 2026" in text
    assert "<b>7 advice requests</b>" in text
    assert "By area: Foot (3) · Kidney (2) · Insulin pump (1) · Type 1 (1)" in text
    assert "By urgency: Routine (5) · Urgent (2)" in text
    assert "(6 requests answered)" in text
    assert "Median: 3.5 working hours (15.5 hours on the clock)" in text
    assert "90th percentile: 16 working hours (68 hours on the clock)" in text
    assert "1 request missed its answer target" in text
    assert "<b>4 hypo follow-ups</b>" in text
    assert "Done within a working day: 1" in text
    assert "Not done in time: 2" in text
    assert "Still open, within time: 1" in text
    assert len(text) < 1500  # one screen


def test_an_empty_month_says_so_and_renders_in_every_language():
    empty = MonthFigures(month=date(2026, 11, 1), now=NOW)
    text = words.stats_reply(translator("en"), empty, LONDON).text
    assert "No requests yet this month." in text
    assert "Median" not in text
    only_hypos = MonthFigures(month=date(2026, 11, 1), now=NOW, hypo=HypoFigures(total=1, open=1))
    text = words.stats_reply(translator("en"), only_hypos, LONDON).text
    assert "No advice requests yet this month." in text and "1 hypo follow-up" in text
    for language in LANGUAGES:
        t = translator(language)
        assert t.finish(words.stats_reply(t, only_hypos, LONDON).text)


# End to end -----------------------------------------------------------------------------------

TEAM_GROUP = -100_424_242
OTHER_GROUP = -100_999_001


@pytest.fixture
async def bot(tmp_path):
    async with running_bot(tmp_path) as running:
        yield running


async def joined_staff(bot: BotUnderTest, role: str, user_id: int, practice: str | None):
    issued = await bot.invite_staff(role, "Sam Jones", practice=practice)
    user = UserSim(user_id, first_name="Sam")
    await join_with_code(bot, user, issued.code, "en")
    async with bot.db.session() as session:
        await outbox.cancel_pending_for_person(session, issued.person_id, reason="test")
    return user, issued.person_id


async def register_team_group(bot: BotUnderTest, specialist_id: int) -> None:
    async with bot.db.session() as session:
        issued = await specialist_team.issue_code(session, actor="cli:test", now=datetime.now(UTC))
    async with bot.db.session() as session:
        await specialist_team.register(
            session,
            issued.code,
            chat_id=TEAM_GROUP,
            title="Diabetes team",
            person=await session.get(Person, specialist_id),
            now=datetime.now(UTC),
        )


async def test_a_specialist_gets_the_figures_and_the_chart_in_the_team_group(bot: BotUnderTest):
    specialist, specialist_id = await joined_staff(bot, "specialist", 950_001, None)
    gp, _ = await joined_staff(bot, "gp", 950_002, "Y01234")
    stranger = 950_003
    await register_team_group(bot, specialist_id)
    await seed(bot.db, november())

    with time_machine.travel(NOW, tick=False):
        await bot.send(group_text(TEAM_GROUP, specialist.user_id, "/stats"))
    said = bot.said_to(TEAM_GROUP)
    assert [m.method for m in said] == ["sendMessage", "sendPhoto"]
    text = said[0].plain_text or ""
    assert "Advice line: November 2026" in text
    assert "7 advice requests" in text
    assert "By area: Foot (3) · Kidney (2)" in text
    assert "Median: 3.5 working hours" in text
    assert "90th percentile: 16 working hours" in text
    assert "4 hypo follow-ups" in text and "Done within a working day: 1" in text

    photos = bot.fake.calls_of("sendPhoto")
    assert len(photos) == 1
    assert "last 12 weeks" in (said[1].caption or "")
    assert said[1].photo is not None
    filename, png = said[1].photo
    assert filename == "advice-line-2026-11.png" and png.startswith(PNG_SIGNATURE)
    assert matplotlib.image.imread(io.BytesIO(png), format="png").shape == (450, 800, 4)
    async with bot.db.session() as session:
        seen = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "advice.stats"))
        ).all()
    assert [(e.actor, e.detail) for e in seen] == [
        (f"person:{specialist_id}", f"chat={TEAM_GROUP} month=2026-11")
    ]

    # A GP in the team's group, or someone the bot does not know, is refused; no chart.
    for user_id in (gp.user_id, stranger):
        with time_machine.travel(NOW, tick=False):
            await bot.send(group_text(TEAM_GROUP, user_id, "/stats"))
        assert bot.last(TEAM_GROUP).text == "Only the diabetes team can see these figures."
    # In another group, even the specialist is pointed to the team's group.
    with time_machine.travel(NOW, tick=False):
        await bot.send(group_text(OTHER_GROUP, specialist.user_id, "/stats"))
    assert bot.last(OTHER_GROUP).text == "/stats works in the team's group."
    assert len(bot.fake.calls_of("sendPhoto")) == 1
    async with bot.db.session() as session:
        audited = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "advice.stats"))
        ).all()
    assert len(audited) == 1


async def test_an_empty_month_in_the_team_group(bot: BotUnderTest):
    specialist, specialist_id = await joined_staff(bot, "specialist", 950_011, None)
    await register_team_group(bot, specialist_id)
    with time_machine.travel(NOW, tick=False):
        await bot.send(group_text(TEAM_GROUP, specialist.user_id, "/stats"))
    said = bot.said_to(TEAM_GROUP)
    assert "No requests yet this month." in (said[0].plain_text or "")
    assert said[-1].method == "sendPhoto"
