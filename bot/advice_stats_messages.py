"""The words of `/stats` in the specialist team's group: this month's advice-line figures on
one screen, the chart's labels and caption, and the refusals. The figures' definitions are in
bot.services.advice_stats."""

from __future__ import annotations

from datetime import date, tzinfo

from bot.advice_messages import AREA_NAMES, URGENCY_NAMES
from bot.i18n import Markup, Translator, escape
from bot.render import Reply
from bot.services.advice_stats import WEEKS, AnswerTimes, MonthFigures

# The team's group reads English, like the cards the advice line puts there.
TEAM_LANGUAGE = "en"
SEPARATOR = " · "


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _counts(t: Translator, names: dict[str, str], counts: dict[str, int]) -> Markup:
    return Markup(
        SEPARATOR.join(
            t._(
                "%(name)s (%(count)s)",
                name=Markup(t._(names[key]) if key in names else escape(key)),
                count=count,
            )
            for key, count in counts.items()
        )
    )


def _answer_lines(t: Translator, working: AnswerTimes, clock: AnswerTimes) -> list[str]:
    if not working.answered:
        return [t._("<b>Time to first answer</b>: none answered yet.")]
    return [
        "<b>"
        + t.ngettext(
            "Time to first answer (%(num)s request answered)",
            "Time to first answer (%(num)s requests answered)",
            working.answered,
        )
        + "</b>",
        t._(
            "Median: %(working)s working hours (%(clock)s hours on the clock)",
            working=_hours(working.median),
            clock=_hours(clock.median),
        ),
        t._(
            "90th percentile: %(working)s working hours (%(clock)s hours on the clock)",
            working=_hours(working.p90),
            clock=_hours(clock.p90),
        ),
    ]


def stats_reply(t: Translator, figures: MonthFigures, zone: tzinfo) -> Reply:
    month = t.date(figures.month, "MMMM y")
    today = figures.now.astimezone(zone).date()
    lines = [
        t._("📊 <b>Advice line: %(month)s</b>", month=month),
        t._("So far this month, to %(date)s.", date=t.date(today, "long")),
        "",
    ]
    if figures.empty:
        lines.append(t._("No requests yet this month."))
        return Reply("\n".join(lines))
    if figures.total:
        lines += [
            "<b>"
            + t.ngettext("%(num)s advice request", "%(num)s advice requests", figures.total)
            + "</b>",
            t._("By area: %(counts)s", counts=_counts(t, AREA_NAMES, figures.by_area)),
            t._("By urgency: %(counts)s", counts=_counts(t, URGENCY_NAMES, figures.by_urgency)),
            "",
            *_answer_lines(t, figures.working_hours, figures.clock_hours),
            t.ngettext(
                "⏰ %(num)s request missed its answer target.",
                "⏰ %(num)s requests missed their answer target.",
                figures.breached,
            )
            if figures.breached
            else t._("✅ No request has missed its answer target."),
        ]
    else:
        lines.append(t._("No advice requests yet this month."))
    lines.append("")
    hypo = figures.hypo
    if hypo.total:
        lines += [
            "<b>"
            + t.ngettext("%(num)s hypo follow-up", "%(num)s hypo follow-ups", hypo.total)
            + "</b>",
            t._("✅ Done within a working day: %(count)s", count=hypo.in_time),
            t._("⚠️ Not done in time: %(count)s", count=hypo.not_in_time),
            t._("⏳ Still open, within time: %(count)s", count=hypo.open),
        ]
    else:
        lines.append(t._("No hypo follow-ups yet this month."))
    lines += [
        "",
        t._(
            "<i>Working hours are 09:00 to 17:00, Monday to Friday, without bank holidays. "
            "Requests count in the month they were sent.</i>"
        ),
    ]
    return Reply("\n".join(lines))


def chart_title(t: Translator) -> str:
    return t._("Advice line: the last %(weeks)s weeks", weeks=WEEKS)


def chart_labels(t: Translator) -> dict[str, str]:
    """Plain text the chart's font can draw (no emoji)."""
    return {
        "routine": t._("Routine advice"),
        "urgent": t._("Urgent advice"),
        "hypo": t._("Hypo follow-ups"),
        "breaches": t._("Missed target (advice)"),
        "requests": t._("Requests"),
        "weeks": t._("Week starting"),
    }


def week_label(t: Translator, monday: date) -> str:
    return t.date(monday, "d MMM")


def chart_caption(t: Translator) -> str:
    return t._(
        "Requests per week over the last %(weeks)s weeks, by the week they were sent.",
        weeks=WEEKS,
    )


def team_only(t: Translator) -> Reply:
    return Reply(t._("Only the diabetes team can see these figures."))


def not_team_group(t: Translator) -> Reply:
    return Reply(t._("/stats works in the team's group."))
