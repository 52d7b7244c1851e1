"""`diabridge content ...`: the education library's governance check and its ratings."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.cli_session import in_session
from bot.content import check_library
from bot.services import education
from bot.settings import Settings

NAME = "content"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        NAME,
        help="the education library (content/)",
        description="The education library: one folder per topic, a Markdown file per language.",
    )
    tasks = group.add_subparsers(dest="content_command", required=True, metavar="TASK")
    check = tasks.add_parser(
        "check",
        help="check every topic (languages, front matter, sources, links, structure, review dates)",
        description=(
            "Fails (exit 1) when a topic lacks a language, a front-matter field or a source, "
            "links to a topic that does not exist, or when its languages disagree on sections, "
            "list items or numbers. Warns when a review date has passed; a topic more than 90 "
            "days past review is no longer shown by the bot."
        ),
    )
    check.add_argument("folder", nargs="?", help="default: DIABRIDGE_CONTENT_DIR")
    check.add_argument(
        "--today", help="check review dates as on this day (YYYY-MM-DD); default today"
    )
    tasks.add_parser(
        "ratings",
        help='"was this page helpful?" answers, counted per topic and language',
        description="The latest answer of each person, counted per topic and language.",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.content_command == "check":
        return _check(args, settings)
    if args.content_command == "ratings":
        return _ratings(settings)
    return 2


def _ratings(settings: Settings) -> int:
    counts = in_session(settings, education.rating_counts)
    if not counts:
        print("no answers yet")
        return 0
    print(f"{'topic':<30} {'language':<9} {'helpful':>8} {'not':>5} {'share':>6}")
    for row in counts:
        total = row.helpful + row.not_helpful
        print(
            f"{row.topic_id:<30} {row.language:<9} {row.helpful:>8} {row.not_helpful:>5} "
            f"{row.helpful / total:>6.0%}"
        )
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.folder) if args.folder else settings.content_dir
    try:
        today = (
            datetime.strptime(args.today, "%Y-%m-%d").date()
            if args.today
            else datetime.now(UTC).astimezone(settings.zone).date()
        )
    except ValueError:
        print("error: --today must be a date like 2026-11-23", file=sys.stderr)
        return 2
    findings = check_library(folder, today)
    for finding in findings:
        print(finding, file=sys.stderr if finding.level == "error" else sys.stdout)
    errors = sum(1 for f in findings if f.level == "error")
    warnings = len(findings) - errors
    topics = sum(1 for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else 0
    print(f"{topics} topics checked: {errors} errors, {warnings} warnings")
    return 1 if errors else 0
