"""The advice line's weekly chart for `/stats`, drawn as a PNG with matplotlib.

It uses matplotlib's object API (a `Figure` with its own Agg canvas), never pyplot: no global
state, so a chart can be drawn in a worker thread while the bot goes on answering. Every word
on it comes from the caller (the catalogs). The bundled DejaVu Sans draws Latin, Greek and
Cyrillic letters but not emoji, Devanagari or Urdu shaping: the team's group is in English.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from datetime import date

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.services.advice_stats import WeekRow

# 800 x 450 pixels: readable on a phone, a few tens of kilobytes.
SIZE_INCHES = (8, 4.5)
DPI = 100
# The NHS identity's blues, and its warm yellow and red for what needs attention.
COLOURS = {
    "routine": "#005EB8",
    "urgent": "#41B6E6",
    "hypo": "#FFB81C",
    "breaches": "#DA291C",
}
# The keys of `labels`.
LABEL_KEYS = ("routine", "urgent", "hypo", "breaches", "requests", "weeks")


def _short_date(day: date) -> str:
    return f"{day.day} {day:%b}"


def weekly_chart_png(
    rows: Sequence[WeekRow],
    *,
    title: str,
    labels: dict[str, str],
    week_label: Callable[[date], str] = _short_date,
) -> bytes:
    """Stacked bars per week (routine advice, urgent advice, hypo follow-ups) with breaches as a
    line, each week named by its Monday (`week_label`, in the reader's locale)."""
    missing = set(LABEL_KEYS) - labels.keys()
    if missing:
        raise ValueError(f"chart labels missing: {sorted(missing)}")
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    x = list(range(len(rows)))
    routine = [row.routine for row in rows]
    urgent = [row.urgent for row in rows]
    hypo = [row.hypo for row in rows]
    breaches = [row.breaches for row in rows]
    under_hypo = [a + b for a, b in zip(routine, urgent, strict=True)]

    axes.bar(x, routine, color=COLOURS["routine"], label=labels["routine"], zorder=2)
    axes.bar(x, urgent, bottom=routine, color=COLOURS["urgent"], label=labels["urgent"], zorder=2)
    axes.bar(x, hypo, bottom=under_hypo, color=COLOURS["hypo"], label=labels["hypo"], zorder=2)
    axes.plot(
        x,
        breaches,
        color=COLOURS["breaches"],
        marker="o",
        linewidth=2,
        label=labels["breaches"],
        zorder=3,
    )

    axes.set_title(title, loc="left", fontsize=13, fontweight="bold")
    axes.set_ylabel(labels["requests"])
    axes.set_xlabel(labels["weeks"], fontsize=9)
    axes.set_xticks(x, [week_label(row.week) for row in rows], fontsize=9)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    top = max([a + b for a, b in zip(under_hypo, hypo, strict=True)] + breaches + [0])
    axes.set_ylim(0, max(top * 1.1, 4))
    axes.grid(axis="y", color="#D8DDE0", zorder=0)
    axes.spines[["top", "right"]].set_visible(False)
    # Below the chart, where it never hides a bar; the bars first, as they are stacked.
    handles = dict(zip(*reversed(axes.get_legend_handles_labels()), strict=True))
    names = [labels[key] for key in ("routine", "urgent", "hypo", "breaches")]
    figure.legend(
        [handles[name] for name in names],
        names,
        loc="outside lower center",
        ncols=4,
        fontsize=9,
        frameon=False,
    )

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
