"""`diabridge import ...`: patients, appointments, NHS Health Check cohorts, the transition
programme and the results of the nine care processes from CSV files.

The checking and importing are bot.services.csv_import's; this module reads the command line,
shows progress, and tells the practice what happened in words they can act on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from bot import cli_session
from bot.db import Database
from bot.i18n import LANGUAGES
from bot.models import Measure
from bot.plans import AppointmentKind, PlanFileError, load_plans
from bot.services import csv_import, transition
from bot.services.care_results import OUTCOMES
from bot.services.csv_import import (
    COLUMNS,
    CsvFileError,
    ImportKind,
    ImportReport,
    ProgressBar,
    without_nhs_numbers,
)
from bot.settings import Settings

NAME = "import"
# More than this and the terminal scrolls past the first ones; the bad-rows file has them all.
SHOWN_BAD_ROWS = 200


def _columns_help(kind: ImportKind) -> str:
    columns = COLUMNS[kind]
    return (
        f"Required columns: {', '.join(columns.required)}. Optional: {', '.join(columns.optional)}."
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        NAME,
        help="import patients, appointments, NHS Health Check cohorts, the transition "
        "programme or results from a CSV file",
        description="Import a CSV file (UTF-8, comma separated, the first line naming the "
        "columns). Every row is checked first; nothing is imported unless every row is good, "
        "unless --skip-bad-rows. Exit status: 0 all good, 1 bad rows, 2 a usage error.",
    )
    kinds = parser.add_subparsers(dest="import_kind", required=True, metavar="WHAT")
    patients = kinds.add_parser(
        "patients",
        help="register patients; writes their enrolment codes to a file to send them",
        description=f"{_columns_help(ImportKind.PATIENTS)} date_of_birth is YYYY-MM-DD; "
        f"practice is the ODS code; language is one of {', '.join(LANGUAGES)} (default en). "
        "diabetes_type is type1, type2 or other and diagnosed_on is YYYY-MM-DD (both optional; "
        "empty keeps what is recorded); a patient diagnosed in the last 180 days is offered the "
        "course for their type once they have joined. "
        "A patient already registered is updated; a new code is issued only to a patient "
        "without a working one.",
    )
    patients.add_argument(
        "--codes-file",
        type=Path,
        metavar="FILE",
        help="where to write the new codes and links, readable only by you "
        "(default FILE with .codes.csv, e.g. patients.codes.csv; never overwritten)",
    )
    patients.add_argument(
        "--valid-days", type=_positive_days, help="days the new codes work (default 14)"
    )
    appointments = kinds.add_parser(
        "appointments",
        help="book, move or mark attendance for appointments",
        description=f"{_columns_help(ImportKind.APPOINTMENTS)} Give nhs_number or "
        "patient_external_id (or both). kind is one of "
        f"{', '.join(kind.value for kind in AppointmentKind)}. starts_at is ISO 8601, or "
        "YYYY-MM-DD HH:MM in local time (DIABRIDGE_TIMEZONE, default Europe/London). attended "
        "is yes, no (or DNA), or empty. A row whose external_id was imported before updates "
        "that appointment; a new time re-plans its reminders.",
    )
    health_checks = kinds.add_parser(
        "health-checks",
        help="add an NHS Health Check cohort; writes their codes and invitation days to a file",
        description=f"{_columns_help(ImportKind.HEALTH_CHECKS)} external_id is your id for the "
        "person; date_of_birth and last_check_on are YYYY-MM-DD; practice is the ODS code; "
        f"language is one of {', '.join(LANGUAGES)} (default en); priority is 0 (default) to 9. "
        "Everyone must be 40 to 74; the exclusions (conditions, statins) are yours to have "
        "checked. Invitation days go highest priority first, "
        "DIABRIDGE_HEALTH_CHECK_INVITES_PER_DAY a day (default 200), in the file's order within "
        "a priority; someone checked less than 5 years ago is invited when it is due. A person "
        "sent before is updated by external_id.",
    )
    health_checks.add_argument(
        "--source",
        type=_batch_name,
        metavar="NAME",
        help="a name for the batch, e.g. riverside-2026-11 (default: the file's name)",
    )
    health_checks.add_argument(
        "--codes-file",
        type=Path,
        metavar="FILE",
        help="where to write the new codes, links and invitation days, readable only by you "
        "(default FILE with .codes.csv, e.g. cohort.codes.csv; never overwritten)",
    )
    programme = kinds.add_parser(
        "transition",
        help="put young people in the transition programme, update it, or end it",
        description=f"{_columns_help(ImportKind.TRANSITION)} Give patient_external_id or "
        "nhs_number (or both) of a patient registered already, aged 13 to 25. started_on is "
        "YYYY-MM-DD (monthly check-ins come on that day of the month); named_worker is their "
        "worker's name; named_worker_id, if given, is the worker's diabridge staff account "
        "(their alerts go there). active is yes (default) or no: no ends the programme, and "
        "needs only the patient. A row sent again as it was changes nothing.",
    )
    results = kinds.add_parser(
        "results",
        help="results of the nine care processes (HbA1c, blood pressure, ...)",
        description=f"{_columns_help(ImportKind.RESULTS)} Give patient_external_id or "
        "nhs_number (or both) of a patient registered already. measure is one of "
        f"{', '.join(m.value for m in Measure)}. value and unit for a measurement: HbA1c in "
        "mmol/mol or % (converted with the IFCC formula), blood pressure as 138/84 in mmHg, "
        "cholesterol in mmol/L or mg/dL, egfr in mL/min/1.73m2, creatinine in umol/L, "
        "urine_acr in mg/mmol, bmi in kg/m2. outcome for a check without a number: "
        + "; ".join(
            f"{measure.value}: {', '.join(o.value for o in kinds)}"
            for measure, kinds in OUTCOMES.items()
        )
        + ". Leave a cell empty where it does not apply. taken_on is YYYY-MM-DD: not in the "
        "future, not before the patient's birth, not more than 10 years ago. treatment "
        "(optional; what the HbA1c target depends on) is lifestyle, low_hypo_risk or hypo_risk; "
        "empty keeps what is recorded. One result is kept per patient, measure and day: a "
        "file imported again changes nothing, a corrected value replaces the old one.",
    )
    for command in (patients, appointments, health_checks, programme, results):
        command.add_argument("file", type=Path, metavar="FILE.csv")
        command.add_argument(
            "--dry-run",
            action="store_true",
            help="check everything and say what would happen, without changing anything",
        )
        command.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="import the good rows and write the bad ones to --bad-rows-file",
        )
        command.add_argument(
            "--bad-rows-file",
            type=Path,
            metavar="FILE",
            help="where to write the bad rows with a 'problem' column, to fix and import "
            "again (default with --skip-bad-rows: FILE with .bad.csv)",
        )
        command.add_argument(
            "--quiet", action="store_true", help="no progress bar (none either off a terminal)"
        )


def _batch_name(raw: str) -> str:
    name = raw.strip()
    if not 0 < len(name) <= csv_import.COHORT_SOURCE_MAX_LENGTH:
        raise argparse.ArgumentTypeError(
            f"name the batch in 1 to {csv_import.COHORT_SOURCE_MAX_LENGTH} characters"
        )
    return name


def _positive_days(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 90:
        raise argparse.ArgumentTypeError("between 1 and 90 days")
    return value


def _progress(quiet: bool) -> csv_import.ProgressFactory:
    disable = quiet or not sys.stderr.isatty()

    def bar(description: str, total: int) -> ProgressBar:
        # delay: a small file is done before a bar would be worth drawing.
        return tqdm(
            desc=description,
            total=total,
            unit=" rows",
            unit_scale=True,
            file=sys.stderr,
            disable=disable,
            delay=0.5,
            leave=False,
        )

    return bar


def _link(username: str | None) -> Callable[[str], str]:
    def link(code: str) -> str:
        return f"https://t.me/{username or '<bot username>'}?start={code}"

    return link


async def _run_import(
    args: argparse.Namespace,
    settings: Settings,
    *,
    codes_file: Path | None,
    bad_rows_file: Path | None,
    username: str | None,
) -> ImportReport:
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        now, actor, progress = datetime.now(UTC), cli_session.actor(), _progress(args.quiet)
        if args.import_kind == ImportKind.PATIENTS:
            return await csv_import.import_patients(
                db,
                args.file,
                now=now,
                actor=actor,
                valid_days=args.valid_days or settings.enrolment_code_days,
                timezone=settings.timezone,
                link=_link(username),
                codes_file=codes_file,
                bad_rows_file=bad_rows_file,
                dry_run=args.dry_run,
                skip_bad_rows=args.skip_bad_rows,
                progress=progress,
            )
        if args.import_kind == ImportKind.HEALTH_CHECKS:
            return await csv_import.import_health_checks(
                db,
                args.file,
                plans=load_plans(settings.plans_file),
                now=now,
                actor=actor,
                per_day=settings.health_check_invites_per_day,
                timezone=settings.timezone,
                valid_days=settings.enrolment_code_days,
                link=_link(username),
                source=args.source,
                codes_file=codes_file,
                bad_rows_file=bad_rows_file,
                dry_run=args.dry_run,
                skip_bad_rows=args.skip_bad_rows,
                progress=progress,
            )
        if args.import_kind == ImportKind.RESULTS:
            return await csv_import.import_results(
                db,
                args.file,
                now=now,
                actor=actor,
                default_zone=settings.zone,
                bad_rows_file=bad_rows_file,
                dry_run=args.dry_run,
                skip_bad_rows=args.skip_bad_rows,
                progress=progress,
            )
        if args.import_kind == ImportKind.TRANSITION:
            return await csv_import.import_transition(
                db,
                args.file,
                plans=load_plans(settings.plans_file),
                now=now,
                actor=actor,
                bad_rows_file=bad_rows_file,
                dry_run=args.dry_run,
                skip_bad_rows=args.skip_bad_rows,
                progress=progress,
            )
        return await csv_import.import_appointments(
            db,
            args.file,
            plans=load_plans(settings.plans_file),
            now=now,
            actor=actor,
            default_zone=settings.zone,
            bad_rows_file=bad_rows_file,
            dry_run=args.dry_run,
            skip_bad_rows=args.skip_bad_rows,
            progress=progress,
        )
    finally:
        await db.dispose()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from bot.cli import _bot_username

    path: Path = args.file
    if not path.is_file():
        print(f"error: {path}: no such file", file=sys.stderr)
        return 2
    kind = ImportKind(args.import_kind)
    codes_file: Path | None = None
    username: str | None = None
    # Both hand out enrolment codes, which are written to a file to send.
    if kind in (ImportKind.PATIENTS, ImportKind.HEALTH_CHECKS) and not args.dry_run:
        codes_file = args.codes_file or path.with_suffix(".codes.csv")
        if codes_file.exists():
            print(
                f"error: {codes_file} already exists, perhaps with codes not sent yet; send "
                "them and move the file away, or give another --codes-file",
                file=sys.stderr,
            )
            return 2
        # Asked before the import, so a slow network never holds a transaction open.
        username = asyncio.run(_bot_username(settings))
    if kind not in (ImportKind.PATIENTS, ImportKind.RESULTS):
        # Each of the others plans messages: a broken plans file stops it before it starts.
        try:
            load_plans(settings.plans_file)
        except PlanFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    bad_rows_file = args.bad_rows_file
    if bad_rows_file is None and args.skip_bad_rows:
        bad_rows_file = path.with_suffix(".bad.csv")
    try:
        report = asyncio.run(
            _run_import(
                args,
                settings,
                codes_file=codes_file,
                bad_rows_file=bad_rows_file,
                username=username,
            )
        )
    except CsvFileError as error:
        for problem in error.problems:
            print(f"error: {path}: {without_nhs_numbers(problem)}", file=sys.stderr)
        print("Nothing was imported.", file=sys.stderr)
        return 1
    except FileExistsError as error:
        print(f"error: {error.args[0]} already exists", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        # The class only: a database's own message can quote the values (an NHS number).
        print(
            f"error: the database refused the import ({type(error).__name__}); nothing was "
            "imported. If someone changed the same records meanwhile, run it again.",
            file=sys.stderr,
        )
        return 1
    _report_bad_rows(report)
    for line in describe(report, username_known=bool(username)):
        print(line)
    return 1 if report.bad_rows else 0


def _report_bad_rows(report: ImportReport) -> None:
    # Each problem on its own line, with the row's line in the file. A value a message quotes
    # may be an NHS number in the wrong column: those never reach a terminal or a log.
    for bad in report.bad_rows[:SHOWN_BAD_ROWS]:
        for problem in bad.problems:
            message = without_nhs_numbers(problem.message)
            print(f"line {bad.line}: {problem.field}: {message}", file=sys.stderr)
    hidden = len(report.bad_rows) - SHOWN_BAD_ROWS
    if hidden > 0 and report.bad_rows_file is None:
        print(
            f"... and {hidden:,} more bad rows: pass --bad-rows-file to have them all in a file",
            file=sys.stderr,
        )


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count:,} {one if count == 1 else (many or one + 's')}"


def describe(report: ImportReport, *, username_known: bool = True) -> list[str]:
    """What happened, for the person who ran the import."""
    lines: list[str] = []
    name = report.source.name
    bad = len(report.bad_rows)
    if report.bad_rows and not report.skip_bad_rows:
        nothing = "nothing would be imported" if report.dry_run else "nothing was imported"
        others = report.rows - bad
        lines.append(
            f"{name}: {_plural(bad, 'bad row')} of {report.rows:,}; {nothing}. Fix them and "
            "import the file again"
            + (f", or use --skip-bad-rows to import the other {others:,}." if others else ".")
        )
    else:
        skipped = f"; {_plural(bad, 'bad row')} left out" if bad else ""
        lines.append(f"{name}: {_plural(report.rows, 'row')}: {_counts(report)}{skipped}.")
        if report.kind == ImportKind.APPOINTMENTS:
            verb = "would be queued" if report.dry_run else "queued"
            lines.append(f"{_plural(report.reminders_queued, 'reminder')} {verb}.")
            if report.attended or report.did_not_attend:
                lines.append(
                    f"Attendance {'would be ' if report.dry_run else ''}marked: "
                    f"{report.attended:,} attended, {report.did_not_attend:,} did not attend."
                )
        elif report.kind == ImportKind.TRANSITION:
            lines.extend(_programme_lines(report))
        elif report.kind == ImportKind.RESULTS:
            lines.extend(_results_lines(report))
        else:
            if report.kind == ImportKind.HEALTH_CHECKS:
                lines.extend(_invitation_lines(report))
            lines.extend(_code_lines(report, username_known=username_known))
        if report.dry_run:
            lines.append("Dry run: nothing was changed.")
    if report.bad_rows_file is not None:
        lines.append(
            f"The bad rows are in {report.bad_rows_file}, each with its problem: fix them there "
            "and import that file."
        )
    return lines


def _counts(report: ImportReport) -> str:
    would = "would be " if report.dry_run else ""
    if report.kind == ImportKind.TRANSITION:
        return (
            f"{report.created:,} {'would join' if report.dry_run else 'joined'} the programme, "
            f"{report.updated:,} {would}updated, {report.ended:,} {would}ended, "
            f"{report.unchanged:,} unchanged"
        )
    made = {
        ImportKind.PATIENTS: "registered",
        ImportKind.APPOINTMENTS: "booked",
        ImportKind.HEALTH_CHECKS: "added",
        ImportKind.RESULTS: "added",
    }[report.kind]
    counts = f"{report.created:,} {would}{made}, {report.updated:,} {would}updated"
    # A cohort's people are always written again (priority, invitation day): none unchanged.
    if report.kind != ImportKind.HEALTH_CHECKS:
        counts += f", {report.unchanged:,} unchanged"
    return counts


# More invitation days than this are summed up as a range.
SHOWN_DAYS = 7


def _invitation_lines(report: ImportReport) -> list[str]:
    lines: list[str] = []
    days = sorted(report.invitations.items())
    if days:
        if len(days) <= SHOWN_DAYS:
            when = ", ".join(f"{count:,} on {day.isoformat()}" for day, count in days)
        else:
            most = max(count for _, count in days)
            when = (
                f"{sum(count for _, count in days):,} from {days[0][0].isoformat()} to "
                f"{days[-1][0].isoformat()}, at most {most:,} a day"
            )
        lines.append(
            f"Invitations{' would be' if report.dry_run else ''}: {when} (each comes on its "
            "day once the person has joined, or when they join if later)."
        )
    if report.not_due:
        lines.append(
            f"{_plural(report.not_due, 'person', 'people')} not due yet (a check less than 5 "
            "years ago): each is invited on the day it is due."
        )
    return lines


def _code_lines(report: ImportReport, *, username_known: bool) -> list[str]:
    codes = _plural(len(report.codes), "enrolment code")
    if report.dry_run:
        return [f"{codes} would be issued."]
    if report.codes_file is None:
        return ["No new enrolment codes: everyone already has a working code or has joined."]
    if report.kind == ImportKind.HEALTH_CHECKS:
        what, who = f"{codes}, links and invitation days", "person"
    else:
        what, who = f"{codes} and links", "patient"
    lines = [
        f"{what} written to {report.codes_file} (only you can read it): send each {who} "
        "theirs by text or letter, then delete the file."
    ]
    if not username_known:
        lines.append(
            "(Set TELEGRAM_BOT_USERNAME, or TELEGRAM_BOT_TOKEN, to put the bot's name in the "
            "links.)"
        )
    return lines


def _programme_lines(report: ImportReport) -> list[str]:
    lines: list[str] = []
    would = "would be " if report.dry_run else ""
    changed = report.created + report.updated
    if changed:
        lines.append(
            f"Monthly check-ins {would}planned for "
            f"{_plural(changed, 'young person', 'young people')}: the next "
            f"{transition.CHECK_INS_AHEAD} each, and their reminders in the young people's "
            "wording."
        )
    if report.ended:
        lines.append(
            f"{_plural(report.ended, 'programme')} {would}ended: the check-ins stop and the "
            "reminders go back to the adult wording."
        )
    return lines


def _results_lines(report: ImportReport) -> list[str]:
    if not report.patients:
        return []
    would = "would be " if report.dry_run else ""
    return [
        f"Results {would}kept for {_plural(report.patients, 'patient')}: each sees theirs, "
        "against their targets, before their next booked annual review."
    ]
