"""Patients, appointments, NHS Health Check cohorts, the transition programme and the results of
the nine care processes from CSV files.

The whole file is checked before anything is written: the header first (each unknown or
missing column named, with the column a typo most likely meant), then every row, each problem
with the row's line in the file as a text editor shows it (the header is line 1). Nothing is
imported unless every row is good, unless the caller asks to skip the bad ones.

A CSV row is checked, audited and planned into the outbox exactly like a record from the
command line or the API. Rows that change a record already there go through the same services
one at a time (`enrolment.register_patient`, `appointments.save`, `mark_attendance`). New
patients and new appointments, most of a large file, are written a chunk at a time instead, as
those services write one (tests/test_csv_import.py compares the two row for row): one at a time,
100,000 appointments took some ten statements each. A cohort goes to
`health_checks.import_cohort` in one call, as the API sends it, because invitation days are
shared out across the whole batch; the transition programme goes through `transition.enrol`
and `transition.end`, a row at a time; results go through `care_results.record`, a patient at a
time (one result per patient, measure and day, so a file sent again adds nothing).

Two sessions, on purpose: the checks only read, so a file full of typos never takes the
database's write lock (on SQLite that would hold up the running bot); the writes then happen in
one transaction that is committed only when the import should stand.
"""

from __future__ import annotations

import asyncio
import csv
import difflib
import io
import os
import re
import unicodedata
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.db import Database
from bot.models import (
    STAFF_ROLES,
    Appointment,
    AppointmentEvent,
    AppointmentStatus,
    AuditEvent,
    CarerLink,
    EnrolmentCode,
    Person,
    PersonStatus,
    Practice,
    Role,
    Transition,
)
from bot.plans import Plans
from bot.services import appointments, care_results, enrolment, health_checks, outbox, transition
from bot.services.appointments import DETAIL_FIELDS, AppointmentRecord, InvalidRecord
from bot.services.care_results import InvalidResult, ResultValue
from bot.services.enrolment import InvalidField, IssuedCode
from bot.services.health_checks import CohortEntry, CohortRecord, InvalidCohortRecord

# Rows looked up and written per round trip: small enough for any database's limit on bound
# parameters, large enough that a 100,000-row file needs a few hundred queries, not 100,000.
CHUNK = 500
# A column of this name is ignored on reading: it is the one the bad-rows file adds, so a
# fixed bad-rows file can be imported as it is.
PROBLEM_COLUMN = "problem"
# The enrolment service names fields by their command-line flags; a CSV names them by column.
ENROLMENT_COLUMNS = {
    "--nhs-number": "nhs_number",
    "--name": "name",
    "--dob": "date_of_birth",
    "--practice": "practice",
    "--language": "language",
    "--diabetes-type": "diabetes_type",
    "--diagnosed-on": "diagnosed_on",
}
# How clinics write attendance: yes/no, and the NHS's own "DNA" (did not attend).
ATTENDED_WORDS = {
    "yes": True,
    "y": True,
    "attended": True,
    "true": True,
    "no": False,
    "n": False,
    "dna": False,
    "did not attend": False,
    "false": False,
}
# How the transition list says whether a young person is (still) in the programme.
ACTIVE_WORDS = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False}
# A cohort's name, as the API takes it (HealthCheck.source keeps it after "cohort:").
COHORT_SOURCE_MAX_LENGTH = 60
# Ids are PostgreSQL integers: a larger number is no one's, and must not reach the database.
LARGEST_ID = 2**31 - 1
_DAY_FIRST_DATE = re.compile(r"^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

T = TypeVar("T")


class ImportKind(StrEnum):
    PATIENTS = "patients"
    APPOINTMENTS = "appointments"
    HEALTH_CHECKS = "health-checks"
    TRANSITION = "transition"
    RESULTS = "results"


@dataclass(frozen=True)
class Columns:
    required: tuple[str, ...]
    optional: tuple[str, ...]
    # At least one of these must be in the header.
    one_of: tuple[str, ...] = ()

    @property
    def known(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


COLUMNS = {
    ImportKind.PATIENTS: Columns(
        required=("external_id", "nhs_number", "name", "date_of_birth", "practice"),
        optional=("language", "diabetes_type", "diagnosed_on"),
    ),
    ImportKind.APPOINTMENTS: Columns(
        required=("external_id", "kind", "starts_at"),
        optional=(
            "nhs_number",
            "patient_external_id",
            "duration_minutes",
            *DETAIL_FIELDS,
            "practice",
            "attended",
        ),
        one_of=("nhs_number", "patient_external_id"),
    ),
    ImportKind.HEALTH_CHECKS: Columns(
        required=("external_id", "name", "date_of_birth", "practice"),
        optional=("language", "last_check_on", "priority"),
    ),
    ImportKind.TRANSITION: Columns(
        required=("started_on", "named_worker"),
        optional=("patient_external_id", "nhs_number", "named_worker_id", "active"),
        one_of=("patient_external_id", "nhs_number"),
    ),
    # Every column but treatment, so a file's layout is one and the same for all nine checks;
    # a cell is left empty where it does not apply (no unit for a foot check).
    ImportKind.RESULTS: Columns(
        required=("measure", "value", "unit", "outcome", "taken_on"),
        optional=("nhs_number", "patient_external_id", "treatment"),
        one_of=("nhs_number", "patient_external_id"),
    ),
}


class CsvFileError(ValueError):
    """The file as a whole cannot be read: its encoding or its header. Nothing was imported."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


# Progress: the command line passes tqdm; tests and benchmarks may pass nothing.


class ProgressBar(Protocol):
    def update(self, n: int = 1) -> Any: ...

    def close(self) -> Any: ...


ProgressFactory = Callable[[str, int], ProgressBar]


class _NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(description: str, total: int) -> ProgressBar:
    return _NoProgress()


# Reading the file -------------------------------------------------------------------------


@dataclass(slots=True)
class CsvRow:
    line: int
    cells: list[str]


@dataclass(slots=True)
class BadRow:
    line: int
    cells: list[str]
    problems: list[InvalidField]

    def in_column_order(self, table: CsvTable) -> BadRow:
        """Problems in the order of the file's columns, as the person will read along it."""
        self.problems.sort(key=lambda p: table.index.get(p.field, -1))
        return self

    @property
    def reason(self) -> str:
        return "; ".join(f"{p.field}: {p.message}" for p in self.problems)


@dataclass
class CsvTable:
    header: list[str]  # as written in the file
    index: dict[str, int]  # column name -> position
    rows: list[CsvRow]
    ignored: list[int]  # positions of the problem column and of columns without a name

    def get(self, row: CsvRow, column: str) -> str:
        position = self.index.get(column)
        return row.cells[position].strip() if position is not None else ""

    def has(self, column: str) -> bool:
        return column in self.index


_TEN_DIGITS = re.compile(r"(?<![\d\s-])\d{3}[\s-]?\d{3}[\s-]?\d{4}(?![\d\s-]*\d)")


def without_nhs_numbers(text: str) -> str:
    """A message safe for a terminal or a log: a value echoed back from a shifted column may be
    an NHS number, so anything shaped like one is hidden."""
    return _TEN_DIGITS.sub("[10-digit number hidden]", text)


def column_name(raw: str) -> str:
    """How a header cell is read: "NHS number" and " nhs-number " both mean nhs_number."""
    return re.sub(r"[\s\-]+", "_", raw.strip().lower())


# Headers other systems use, offered as suggestions (never read silently as the column).
COLUMN_SUGGESTIONS = {
    "dob": "date_of_birth",
    "birth_date": "date_of_birth",
    "nhs": "nhs_number",
    "nhs_no": "nhs_number",
    "ods": "practice",
    "ods_code": "practice",
    "practice_code": "practice",
    "lang": "language",
    "id": "external_id",
    "patient_id": "patient_external_id",
    "date": "starts_at",
    "start": "starts_at",
    "appointment_time": "starts_at",
    "type": "kind",
    "duration": "duration_minutes",
    "dna": "attended",
    "diabetes": "diabetes_type",
    "type_of_diabetes": "diabetes_type",
    "diagnosis_date": "diagnosed_on",
    "date_of_diagnosis": "diagnosed_on",
    "diagnosed": "diagnosed_on",
    "last_check": "last_check_on",
    "last_health_check": "last_check_on",
    "last_checked": "last_check_on",
    "start_date": "started_on",
    "started": "started_on",
    "worker": "named_worker",
    "key_worker": "named_worker",
    "worker_id": "named_worker_id",
    "staff_id": "named_worker_id",
    "in_programme": "active",
    "test": "measure",
    "check": "measure",
    "result": "value",
    "units": "unit",
    "date_taken": "taken_on",
    "taken": "taken_on",
    "sample_date": "taken_on",
    "result_date": "taken_on",
    "test_date": "taken_on",
    "medication": "treatment",
}


def _suggestion(name: str, known: Sequence[str]) -> str | None:
    guess = COLUMN_SUGGESTIONS.get(name)
    if guess in known:
        return guess
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.7)
    return close[0] if close else None


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CsvFileError(
            [
                "the file is UTF-16 (Excel's 'Unicode Text'); save it as 'CSV UTF-8 "
                "(Comma delimited)' instead"
            ]
        )
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts the file with a byte order mark.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CsvFileError(
            [
                f"line {line}: the file is not UTF-8 text; in Excel, save it as "
                "'CSV UTF-8 (Comma delimited)' so names in every script survive"
            ]
        ) from None


def _check_header(header: list[str], columns: Columns) -> tuple[dict[str, int], list[int]]:
    problems: list[str] = []
    index: dict[str, int] = {}
    ignored: list[int] = []
    if len(header) == 1 and any(mark in header[0] for mark in ";\t"):
        separator = "semicolons" if ";" in header[0] else "tabs"
        raise CsvFileError(
            [
                f"the columns are separated by {separator}, not commas; save the file as "
                "'CSV UTF-8 (Comma delimited)'"
            ]
        )
    for position, raw in enumerate(header):
        name = column_name(raw)
        if not name or name == PROBLEM_COLUMN:
            ignored.append(position)
            continue
        if name in index:
            problems.append(f"column {raw.strip()!r} appears twice")
            continue
        if name not in columns.known:
            guess = _suggestion(name, columns.known)
            hint = (
                f" (did you mean {guess!r}?)"
                if guess
                else f"; the columns are {', '.join(columns.known)}"
            )
            problems.append(f"unknown column {raw.strip()!r}{hint}")
            continue
        index[name] = position
    if not index and header:
        # A file without its header row: the "unknown columns" would be the first patient's
        # details, NHS number and all, so they are not repeated back.
        raise CsvFileError(
            [
                "the first line must name the columns, and names none of them (is the header "
                f"row missing?); the columns are {', '.join(columns.known)}"
            ]
        )
    for name in columns.required:
        if name not in index:
            problems.append(f"missing column {name!r}")
    if columns.one_of and not any(name in index for name in columns.one_of):
        problems.append(f"missing column: give {' or '.join(map(repr, columns.one_of))}")
    if problems:
        raise CsvFileError(problems)
    return index, ignored


def read_csv(path: Path, columns: Columns) -> tuple[CsvTable, list[BadRow]]:
    """Reads and checks the header; returns the rows, and those whose shape is already wrong.

    Raises CsvFileError when the file cannot be read as a whole.
    """
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CsvFileError([f"cannot read {path} ({error.strerror})"]) from None
    reader = csv.reader(io.StringIO(_decode(data), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError(
            [f"the file is empty; the first line names the columns: {', '.join(columns.known)}"]
        ) from None
    except csv.Error as error:
        raise CsvFileError([f"line 1: {error}"]) from None
    index, ignored = _check_header(header, columns)
    rows: list[CsvRow] = []
    bad: list[BadRow] = []
    last_line = reader.line_num
    width = len(header)
    try:
        for cells in reader:
            # A row's line is where it starts: a quoted cell may run over several lines.
            line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue  # blank lines, and spreadsheets' trailing ",,,," rows
            # NFC: the same name typed on two systems may arrive as different code points.
            cells = [unicodedata.normalize("NFC", cell) for cell in cells]
            if len(cells) != width:
                bad.append(
                    BadRow(
                        line,
                        cells,
                        [
                            InvalidField(
                                "row",
                                f"{len(cells)} values, but the header has {width} columns "
                                "(a comma inside a value needs the value in double quotes)",
                            )
                        ],
                    )
                )
                continue
            stray = [p for p in ignored if cells[p].strip() and column_name(header[p]) == ""]
            if stray:
                bad.append(
                    BadRow(
                        line,
                        cells,
                        [
                            InvalidField(
                                "row", f"a value in column {stray[0] + 1}, which has no name"
                            )
                        ],
                    )
                )
                continue
            rows.append(CsvRow(line, cells))
    except csv.Error as error:
        raise CsvFileError([f"line {reader.line_num}: {error}"]) from None
    return CsvTable(header=header, index=index, rows=rows, ignored=ignored), bad


# What an import did ------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCode:
    """A code to send to a patient: one row of the codes file."""

    line: int
    external_id: str
    name: str
    language: str
    issued: IssuedCode
    # A cohort's: the day their NHS Health Check invitation comes once they have joined.
    invite_on: date | None = None


@dataclass
class ImportReport:
    kind: ImportKind
    source: Path
    rows: int = 0  # rows with data in the file
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    reminders_queued: int = 0
    attended: int = 0
    did_not_attend: int = 0
    # The transition programme: programmes ended by a row with active=no.
    ended: int = 0
    # A cohort: how many are invited on each day, and how many are not due yet (checked less
    # than 5 years ago; each is invited on the day it is due).
    invitations: dict[date, int] = field(default_factory=dict)
    not_due: int = 0
    # Results: the patients whose results the file holds.
    patients: int = 0
    codes: list[NewCode] = field(default_factory=list)
    bad_rows: list[BadRow] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    ignored_columns: list[int] = field(default_factory=list)
    dry_run: bool = False
    skip_bad_rows: bool = False
    # True when the rows counted above are now in the database.
    committed: bool = False
    codes_file: Path | None = None
    bad_rows_file: Path | None = None

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged + self.ended


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _problem(column: str, message: str) -> InvalidField:
    return InvalidField(column, message)


def _duplicates(rows: Iterable[tuple[int, str]], column: str, what: str) -> dict[int, InvalidField]:
    """Every row that shares a value with another: which copy is right is the sender's call."""
    lines_of: dict[str, list[int]] = defaultdict(list)
    for line, value in rows:
        if value:
            lines_of[value].append(line)
    found: dict[int, InvalidField] = {}
    for lines in lines_of.values():
        if len(lines) > 1:
            for line in lines:
                others = ", ".join(str(other) for other in lines if other != line)
                found[line] = _problem(column, f"the same {what} is also on line {others}")
    return found


# Every kind of file, step by step --------------------------------------------------------

E = TypeVar("E")
# A row as its kind's checks made it, with its problems (none: the row is good).
Checked = tuple[E, list[InvalidField]]
# Problems found by comparing rows with one another (the same patient twice), by line.
Repeats = Iterable[tuple[int, InvalidField]]


def _no_repeats(table: CsvTable, entries: Sequence[Any]) -> Repeats:
    return ()


def _source(path: Path) -> str:
    """What a record written from the file names as its source (at most 100 characters)."""
    return f"csv:{path.name}"[:100]


@dataclass(frozen=True)
class _CodesFile:
    """Where an import writes down the enrolment codes it makes (see _commit_with_codes)."""

    path: Path
    link: Callable[[str], str]  # a code's t.me link
    # A cohort's letter also says when the invitation comes.
    invite_days: bool = False


async def _import_file(
    db: Database,
    path: Path,
    kind: ImportKind,
    *,
    check_row: Callable[[CsvTable, CsvRow], tuple[E | None, list[InvalidField]]],
    repeats: Callable[[CsvTable, Sequence[E]], Repeats] = _no_repeats,
    check_database: Callable[[AsyncSession, Sequence[Checked[E]]], Awaitable[None]],
    repeats_after_database: Callable[[CsvTable, Sequence[E]], Repeats] = _no_repeats,
    checking_bar_follows: Literal["rows", "database"],
    import_rows: Callable[[AsyncSession, list[E], ImportReport, CsvTable], Awaitable[None]],
    statistics: Sequence[str] = (),
    codes: _CodesFile | None = None,
    bad_rows_file: Path | None,
    dry_run: bool,
    skip_bad_rows: bool,
    progress: ProgressFactory,
) -> ImportReport:
    """How every kind of file is imported; the kind brings only what is special about it.

    Each row is checked on its own (`check_row`: None for a row too wrong to check further),
    then against the other rows (`repeats`), then a chunk at a time against the database
    (`check_database`, adding to each row's problems), then against the other rows once more
    if only the database can tell two rows are one (`repeats_after_database`). The checking
    bar moves with the rows' own checks or with the database's, whichever does the work.
    Unless there are bad rows not to be skipped, `import_rows` then writes the good rows (its
    progress bar is its own), and the import is committed, with its new `codes` written down
    and the `statistics` of the tables it filled refreshed, or rolled back.
    """
    if codes is not None and not dry_run:
        # Codes already written there may not have been sent yet: never overwrite them.
        await asyncio.to_thread(_refuse_existing, codes.path)
    # Reading, parsing and writing files happen in a thread, so an import started inside the
    # running bot (the API) does not stall it.
    table, bad = await asyncio.to_thread(read_csv, path, COLUMNS[kind])
    report = ImportReport(kind, path, header=table.header, ignored_columns=table.ignored)
    report.dry_run, report.skip_bad_rows = dry_run, skip_bad_rows
    report.rows = len(table.rows) + len(bad)

    bar = progress("checking", len(table.rows))
    problems_of: dict[int, list[InvalidField]] = {}  # each row's, by its line
    entries: list[Checked[E]] = []
    for row in table.rows:
        entry, problems_of[row.line] = check_row(table, row)
        if entry is not None:
            entries.append((entry, problems_of[row.line]))
        if checking_bar_follows == "rows":
            bar.update(1)
    if table.has("external_id"):
        # One id on two rows: which copy is right is the sender's call (in a cohort, it would
        # be one person given two invitation days).
        ids = ((row.line, table.get(row, "external_id")) for row in table.rows)
        for line, problem in _duplicates(ids, "external_id", "id").items():
            problems_of[line].append(problem)
    for line, problem in repeats(table, [entry for entry, _ in entries]):
        problems_of[line].append(problem)
    async with db.session() as session:
        for chunk in _chunks(entries):
            await check_database(session, chunk)
            session.expunge_all()  # only read: a large file need not stay in the session
            if checking_bar_follows == "database":
                bar.update(len(chunk))
    bar.close()
    for line, problem in repeats_after_database(table, [entry for entry, _ in entries]):
        problems_of[line].append(problem)
    bad.extend(
        BadRow(row.line, row.cells, problems_of[row.line]).in_column_order(table)
        for row in table.rows
        if problems_of[row.line]
    )
    report.bad_rows = sorted(bad, key=lambda b: b.line)
    good = [entry for entry, problems in entries if not problems]

    if not (report.bad_rows and not skip_bad_rows):
        async with db.session() as session:
            await import_rows(session, good, report, table)
            # Rows refused while writing (the database changed after the checks) join the rest.
            report.bad_rows.sort(key=lambda b: b.line)
            if dry_run or (report.bad_rows and not skip_bad_rows):
                await session.rollback()
            else:
                await _commit_with_codes(session, report, codes)
                await _refresh_statistics(db, report, *statistics)
    await asyncio.to_thread(_finish, report, bad_rows_file)
    return report


async def _commit_with_codes(
    session: AsyncSession, report: ImportReport, codes: _CodesFile | None
) -> None:
    """Commits, with the new codes written down first and moved into place after: a code is
    never in the database without being written down, and a commit that fails leaves no file
    of codes that would not work."""
    temporary = (
        await asyncio.to_thread(
            _write_codes, codes.path, report.codes, codes.link, invite_days=codes.invite_days
        )
        if codes is not None
        else None
    )
    try:
        await session.commit()
    except BaseException:
        if temporary:
            temporary.unlink(missing_ok=True)
        raise
    report.committed = True
    if temporary and codes is not None:
        await asyncio.to_thread(os.replace, temporary, codes.path)
        report.codes_file = codes.path


# Rows written by one import after which PostgreSQL's statistics are refreshed at once.
ANALYZE_AFTER = 1000


async def _refresh_statistics(db: Database, report: ImportReport, *tables: str) -> None:
    """After a large import, PostgreSQL's planner still sees the tables as they were (empty,
    perhaps) until autovacuum gets round to them, and meanwhile looks rows up by scanning the
    whole table: an import sent again at once, or the dispatcher's next claim, would crawl.
    ANALYZE is cheap (it samples) and takes no lock that stops reading or writing."""
    if not tables or not db.is_postgres or report.created + report.updated < ANALYZE_AFTER:
        return
    try:
        async with db.engine.connect() as connection:
            await connection.execute(text(f"ANALYZE {', '.join(tables)}"))
            await connection.commit()
    except SQLAlchemyError:
        pass  # only an optimisation: the import itself is committed


def _refuse_existing(path: Path) -> None:
    if path.exists():
        raise FileExistsError(path)


CODES_HEADER = ["external_id", "name", "language", "code", "link", "expires", "line"]
# A cohort's letter also says when the invitation comes.
COHORT_CODES_HEADER = [*CODES_HEADER[:5], "invite_on", *CODES_HEADER[5:]]


def _write_codes(
    codes_file: Path,
    codes: Sequence[NewCode],
    link: Callable[[str], str],
    *,
    invite_days: bool = False,
) -> Path | None:
    """Writes the codes beside their final place; the caller moves the file in after the
    commit. No codes, no file."""
    if not codes:
        return None

    def cells(new: NewCode) -> list[str]:
        row = [
            new.external_id,
            new.name,
            new.language,
            new.issued.display,
            link(new.issued.code or ""),
            f"{new.issued.expires_at:%Y-%m-%d %H:%M} UTC",
            str(new.line),
        ]
        if invite_days:
            row.insert(5, new.invite_on.isoformat() if new.invite_on else "")
        return row

    temporary = codes_file.with_name(f".{codes_file.name}.{os.getpid()}.tmp")
    _write_private_csv(
        temporary,
        COHORT_CODES_HEADER if invite_days else CODES_HEADER,
        (cells(new) for new in codes),
    )
    return temporary


def _write_private_csv(path: Path, header: list[str], rows: Iterable[list[str]]) -> None:
    """A new file only its owner can read (it holds codes or NHS numbers). With a byte order
    mark, so Excel shows Devanagari and Urdu names as they are."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The mode above is only for a new file; an old one keeps its mode unless told.
    os.fchmod(descriptor, 0o600)
    with open(descriptor, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_bad_rows(report: ImportReport, path: Path) -> None:
    """The bad rows as they were, with a `problem` column, ready to be fixed and imported."""
    keep = [p for p in range(len(report.header)) if p not in report.ignored_columns]
    header = [report.header[p] for p in keep] + [PROBLEM_COLUMN]

    def cells(bad: BadRow) -> list[str]:
        if len(bad.cells) == len(report.header):
            row = [bad.cells[p] for p in keep]
        else:
            row = list(bad.cells)  # a row of the wrong shape, kept whole
        return [*row, f"line {bad.line}: {bad.reason}"]

    _write_private_csv(path, header, (cells(bad) for bad in report.bad_rows))


def _finish(report: ImportReport, bad_rows_file: Path | None) -> None:
    if bad_rows_file is not None and report.bad_rows:
        write_bad_rows(report, bad_rows_file)
        report.bad_rows_file = bad_rows_file


@cache
def _defaults(model: type[SQLModel]) -> dict[str, Any]:
    """The values the model itself gives a new row (status "booked", revision 0, ...), so a
    row inserted in bulk starts as one added through the ORM. Fields made by a factory (the
    times) are left out: the caller sets them, or the insert fails loudly."""
    return {
        name: info.get_default()
        for name, info in model.model_fields.items()
        if name != "id" and not info.is_required() and info.default_factory is None
    }


async def _audit_many(
    connection: AsyncConnection,
    action: str,
    entries: Iterable[tuple[int | None, str]],
    *,
    actor: str,
    now: datetime,
) -> None:
    """The audit entry a service writes for each record it changes, (person, detail), for a
    whole chunk in one statement."""
    audit = {**_defaults(AuditEvent), "actor": actor, "action": action, "at": now}
    await connection.execute(
        insert(AuditEvent),
        [{**audit, "person_id": person_id, "detail": detail} for person_id, detail in entries],
    )


# Patients --------------------------------------------------------------------------------


@dataclass(slots=True)
class _PatientRow:
    row: CsvRow
    external_id: str
    nhs_number: str
    name: str
    date_of_birth: date
    practice: str
    language: str
    # Whether the checks found the patient registered already. The import looks up only those
    # again: on PostgreSQL a lookup in a table the same transaction is filling would scan it
    # whole each time (its statistics still describe it as it was).
    exists: bool = False
    # From the optional columns; None (not in the file, or empty) keeps what is recorded.
    diabetes_type: str | None = None
    diagnosed_on: date | None = None


def _check_patient(
    table: CsvTable, row: CsvRow, today: date
) -> tuple[_PatientRow | None, list[InvalidField]]:
    problems: list[InvalidField] = []

    def checked(column: str, check: Callable[[str], T]) -> T | None:
        try:
            return check(table.get(row, column))
        except InvalidField as problem:
            problems.append(_problem(ENROLMENT_COLUMNS.get(problem.field, column), problem.message))
            return None

    external_id = table.get(row, "external_id")
    if not external_id:
        problems.append(_problem("external_id", "your system's id for the patient is missing"))
    elif len(external_id) > 100:
        problems.append(_problem("external_id", "longer than 100 characters"))
    number = checked("nhs_number", enrolment.check_nhs_number)
    name = checked("name", enrolment.check_name)
    born = checked("date_of_birth", lambda raw: enrolment.check_date_of_birth(raw, today))
    practice = checked("practice", enrolment.check_ods_code)
    language = checked("language", lambda raw: enrolment.check_language(raw or "en"))
    diabetes_type = checked(
        "diabetes_type", lambda raw: enrolment.check_diabetes_type(raw) if raw else None
    )
    diagnosed_on = checked(
        "diagnosed_on",
        lambda raw: enrolment.check_diagnosed_on(raw, today, born) if raw else None,
    )
    if problems:
        return None, problems
    assert number and name and born and practice and language
    patient = _PatientRow(row, external_id, number, name, born, practice, language)
    patient.diabetes_type, patient.diagnosed_on = diabetes_type, diagnosed_on
    return patient, []


async def _people_by(
    session: AsyncSession, column: Any, values: Iterable[str]
) -> dict[str, Person]:
    wanted = sorted({value for value in values if value})
    if not wanted:
        return {}
    people = (await session.exec(select(Person).where(column.in_(wanted)))).all()
    key = column.key
    return {getattr(person, key): person for person in people}


def _patient_named(
    entry: Any,
    problems: list[InvalidField],
    by_id: dict[str, Person],
    by_number: dict[str, Person],
) -> Person | None:
    """The registered patient a row is about, as appointments find them: the sender's id first,
    with the NHS number checked against it (a row on the wrong record is worse than none), else
    the NHS number. Adds the problem and gives None when there is no such patient, or the
    record is not a patient's (a carer, staff, someone in a Health Check cohort)."""
    said = {problem.field for problem in problems}
    if entry.patient_external_id:
        person = by_id.get(entry.patient_external_id)
        if person is None:
            problems.append(
                _problem(
                    "patient_external_id", "no patient has this id; register the patient first"
                )
            )
        elif (
            entry.nhs_number
            and "nhs_number" not in said
            and by_number.get(entry.nhs_number) is not person
        ):
            problems.append(
                _problem(
                    "nhs_number",
                    "this NHS number is not the patient's named by patient_external_id",
                )
            )
            return None
    elif entry.nhs_number and "nhs_number" not in said:
        person = by_number.get(entry.nhs_number)
        if person is None:
            problems.append(
                _problem("nhs_number", "no patient has this NHS number; register the patient first")
            )
    else:
        return None
    if person is not None and Role(person.role) not in PATIENT_ROLES:
        problems.append(
            _problem(
                entry.patient_column,
                "this is not a patient but a carer, a member of staff or someone in an "
                "NHS Health Check cohort",
            )
        )
        return None
    return person


def _whose(
    patient: _PatientRow, by_number: dict[str, Person], by_id: dict[str, Person]
) -> tuple[Person | None, InvalidField | None]:
    """The record a row updates, by the rules of enrolment.register_patient: the sender's id
    first (so a corrected NHS number updates the same record), then the NHS number."""
    same_id = by_id.get(patient.external_id)
    same_number = by_number.get(patient.nhs_number)
    if same_id is not None and same_number is not None and same_id is not same_number:
        return None, _problem("nhs_number", "another patient has this NHS number")
    if same_id is None and same_number is not None and same_number.external_id is not None:
        return None, _problem(
            "nhs_number", "this NHS number was sent before under another external_id"
        )
    return same_id or same_number, None


async def _people_for(
    session: AsyncSession, patients: Sequence[_PatientRow]
) -> tuple[dict[str, Person], dict[str, Person]]:
    by_number = await _people_by(session, col(Person.nhs_number), (p.nhs_number for p in patients))
    by_id = await _people_by(session, col(Person.external_id), (p.external_id for p in patients))
    return by_number, by_id


async def _check_patients_against_database(
    session: AsyncSession, rows: Sequence[Checked[_PatientRow]]
) -> None:
    """Rows whose external_id and NHS number point at two different people."""
    by_number, by_id = await _people_for(session, [patient for patient, _ in rows])
    for patient, problems in rows:
        person, problem = _whose(patient, by_number, by_id)
        patient.exists = person is not None
        if problem is not None:
            problems.append(problem)


def _same_nhs_number_twice(table: CsvTable, patients: Sequence[_PatientRow]) -> Repeats:
    return _duplicates(
        ((patient.row.line, patient.nhs_number) for patient in patients), "nhs_number", "NHS number"
    ).items()


async def _people_with_a_working_code(
    session: AsyncSession, person_ids: Iterable[int], now: datetime
) -> set[int]:
    ids = sorted(set(person_ids))
    if not ids:
        return set()
    return set(
        (
            await session.exec(
                select(EnrolmentCode.person_id).where(
                    col(EnrolmentCode.person_id).in_(ids),
                    col(EnrolmentCode.used_at).is_(None),
                    col(EnrolmentCode.revoked_at).is_(None),
                    col(EnrolmentCode.expires_at) > now,
                )
            )
        ).all()
    )


def _differs(person: Person, patient: _PatientRow) -> bool:
    """Whether the row changes anything register_patient would write. The language counts only
    until the person has joined: then it is the one they chose in the chat."""
    wanted: dict[str, Any] = {
        "external_id": patient.external_id,
        "nhs_number": patient.nhs_number,
        "display_name": patient.name,
        "date_of_birth": patient.date_of_birth,
        "practice_ods": patient.practice,
    }
    if person.telegram_user_id is None:
        wanted["language"] = patient.language
    if patient.diabetes_type is not None:
        wanted["diabetes_type"] = patient.diabetes_type
    if patient.diagnosed_on is not None:
        wanted["diagnosed_on"] = patient.diagnosed_on
    return any(getattr(person, name) != value for name, value in wanted.items())


async def _import_patient_rows(
    session: AsyncSession,
    patients: Sequence[_PatientRow],
    report: ImportReport,
    *,
    now: datetime,
    actor: str,
    valid_days: int,
    timezone: str,
    progress: ProgressFactory,
) -> None:
    bar = progress("importing", len(patients))
    for chunk in _chunks(patients):
        by_number, by_id = await _people_for(session, [p for p in chunk if p.exists])
        not_joined = [
            person.id
            for person in (*by_number.values(), *by_id.values())
            if person.telegram_user_id is None and person.id is not None
        ]
        has_code = await _people_with_a_working_code(session, not_joined, now)
        new: list[_PatientRow] = []
        for patient in chunk:
            person, problem = _whose(patient, by_number, by_id)
            if person is None and problem is None:
                new.append(patient)
                bar.update(1)
                continue
            if problem is None:
                try:
                    await _import_patient(
                        session,
                        patient,
                        person,
                        report,
                        has_code=person is not None and person.id in has_code,
                        now=now,
                        actor=actor,
                        valid_days=valid_days,
                        timezone=timezone,
                    )
                except InvalidField as refused:
                    problem = _problem(ENROLMENT_COLUMNS.get(refused.field, "row"), refused.message)
            if problem is not None:
                # Only when the database changed after the checks; register_patient refuses
                # before it changes the person.
                report.bad_rows.append(BadRow(patient.row.line, patient.row.cells, [problem]))
            bar.update(1)
        if new:
            await _register_many(
                session, new, report, now=now, actor=actor, valid_days=valid_days, timezone=timezone
            )
        # Written, then let go: a 100,000-row file must not keep every row in the session.
        await session.flush()
        session.expunge_all()
    bar.close()


async def _register_many(
    session: AsyncSession,
    patients: Sequence[_PatientRow],
    report: ImportReport,
    *,
    now: datetime,
    actor: str,
    valid_days: int,
    timezone: str,
) -> None:
    """Registers a chunk of new patients as enrolment.register_patient registers one: the same
    person, single-use code (made and hashed by the enrolment service) and audit entry (tests
    compare the two), in three multi-row statements instead of some six per patient."""
    for ods in sorted({patient.practice for patient in patients}):
        await enrolment.ensure_practice(session, ods)
    connection = await session.connection()
    returned = await connection.execute(
        insert(Person).returning(col(Person.id), col(Person.nhs_number)),
        [
            {
                **_defaults(Person),
                "role": Role.PATIENT,
                "display_name": patient.name,
                "nhs_number": patient.nhs_number,
                "external_id": patient.external_id,
                "date_of_birth": patient.date_of_birth,
                "practice_ods": patient.practice,
                "language": patient.language,
                "timezone": timezone,
                "status": PersonStatus.INVITED,
                "registered_by": actor,
                "diabetes_type": patient.diabetes_type,
                "diagnosed_on": patient.diagnosed_on,
                "created_at": now,
                "updated_at": now,
            }
            for patient in patients
        ],
    )
    ids = {number: person_id for person_id, number in returned.all()}
    expires_at = now + timedelta(days=valid_days)
    codes = {patient.nhs_number: enrolment.new_code() for patient in patients}
    await connection.execute(
        insert(EnrolmentCode),
        [
            {
                **_defaults(EnrolmentCode),
                "code_hash": enrolment.code_hash(codes[patient.nhs_number]),
                "person_id": ids[patient.nhs_number],
                "created_at": now,
                "expires_at": expires_at,
            }
            for patient in patients
        ],
    )
    await _audit_many(
        connection,
        "patient.register",
        ((ids[patient.nhs_number], f"practice={patient.practice}") for patient in patients),
        actor=actor,
        now=now,
    )
    for patient in patients:
        issued = IssuedCode(
            code=codes[patient.nhs_number],
            person_id=ids[patient.nhs_number],
            expires_at=expires_at,
            reissued=False,
        )
        report.codes.append(
            NewCode(patient.row.line, patient.external_id, patient.name, patient.language, issued)
        )
    report.created += len(patients)


async def _import_patient(
    session: AsyncSession,
    patient: _PatientRow,
    person: Person | None,
    report: ImportReport,
    *,
    has_code: bool,
    now: datetime,
    actor: str,
    valid_days: int,
    timezone: str,
) -> None:
    # A code for someone new, or for someone registered before whose code has expired or was
    # replaced. A patient who still holds a working code keeps it, so the letter already sent
    # stays good; one who has joined needs none.
    issue_code = person is None or (person.telegram_user_id is None and not has_code)
    if person is not None and not issue_code and not _differs(person, patient):
        report.unchanged += 1
        return
    issued = await enrolment.register_patient(
        session,
        nhs_number_text=patient.nhs_number,
        name=patient.name,
        date_of_birth=patient.date_of_birth.isoformat(),
        practice=patient.practice,
        language=patient.language,
        actor=actor,
        now=now,
        valid_days=valid_days,
        timezone=timezone,
        external_id=patient.external_id,
        issue_code=issue_code,
        diabetes_type=patient.diabetes_type,
        diagnosed_on=patient.diagnosed_on.isoformat() if patient.diagnosed_on else None,
    )
    if issued.code is not None:
        report.codes.append(
            NewCode(patient.row.line, patient.external_id, patient.name, patient.language, issued)
        )
    if person is None:
        report.created += 1
    else:
        report.updated += 1


async def import_patients(
    db: Database,
    path: Path,
    *,
    now: datetime,
    actor: str,
    valid_days: int,
    timezone: str,
    link: Callable[[str], str],
    codes_file: Path | None = None,
    bad_rows_file: Path | None = None,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: ProgressFactory = _no_progress,
) -> ImportReport:
    """Registers or updates each patient in the file and writes their new codes to
    `codes_file` (created 0600, before the commit, so a code is never in the database
    without being written down). `link(code)` makes the t.me link for a code."""
    return await _import_file(
        db,
        path,
        ImportKind.PATIENTS,
        check_row=lambda table, row: _check_patient(table, row, now.date()),
        repeats=_same_nhs_number_twice,
        check_database=_check_patients_against_database,
        checking_bar_follows="rows",
        import_rows=lambda session, patients, report, _: _import_patient_rows(
            session,
            patients,
            report,
            now=now,
            actor=actor,
            valid_days=valid_days,
            timezone=timezone,
            progress=progress,
        ),
        statistics=("person", "enrolment_code"),
        codes=_CodesFile(codes_file, link) if codes_file is not None else None,
        bad_rows_file=bad_rows_file,
        dry_run=dry_run,
        skip_bad_rows=skip_bad_rows,
        progress=progress,
    )


# Appointments ----------------------------------------------------------------------------


@dataclass(slots=True)
class _AppointmentRow:
    row: CsvRow
    record: AppointmentRecord
    attended: bool | None
    # False when the appointment is attended, missed or cancelled and the row changes nothing
    # about it: save() would refuse it, and there is nothing to save.
    save: bool = True
    # Whether the checks found the appointment; as _PatientRow.exists.
    exists: bool = False
    # The row, sent again as it was: there is nothing to write.
    unchanged: bool = False


def _record(table: CsvTable, row: CsvRow) -> AppointmentRecord:
    return AppointmentRecord(
        external_id=table.get(row, "external_id"),
        kind=table.get(row, "kind"),
        starts_at=table.get(row, "starts_at"),
        nhs_number=table.get(row, "nhs_number") or None,
        patient_external_id=table.get(row, "patient_external_id") or None,
        duration_minutes=table.get(row, "duration_minutes") or None,
        location=table.get(row, "location"),
        address=table.get(row, "address"),
        directions=table.get(row, "directions"),
        clinician=table.get(row, "clinician"),
        phone=table.get(row, "phone"),
        practice=table.get(row, "practice") or None,
    )


def _starts_at_hint(raw: str, zone: ZoneInfo) -> InvalidField | None:
    """What a spreadsheet does to dates, said plainly (appointments.parse_time reads the rest)."""
    text = raw.strip()
    if _DAY_FIRST_DATE.match(text):
        return _problem(
            "starts_at",
            f"{text!r}: write the date and time as YYYY-MM-DD HH:MM, e.g. 2026-12-01 10:30 "
            "(in Excel, format the column as yyyy-mm-dd hh:mm before saving)",
        )
    if _DATE_ONLY.match(text):
        return _problem("starts_at", f"{text!r} has no time of day; write e.g. {text} 10:30")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        there = value.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
        if there.replace(tzinfo=None) != value:
            return _problem(
                "starts_at",
                f"{text} does not exist in {zone.key}: the clocks go forward that night",
            )
    return None


def _check_appointment_fields(
    table: CsvTable, row: CsvRow, zone: ZoneInfo
) -> Checked[_AppointmentRow]:
    """What can be told from the row alone."""
    problems: list[InvalidField] = []
    record = _record(table, row)
    attended: bool | None = None
    attended_text = table.get(row, "attended").lower()
    if attended_text:
        if attended_text in ATTENDED_WORDS:
            attended = ATTENDED_WORDS[attended_text]
        else:
            problems.append(
                _problem("attended", f"{attended_text!r}: write yes, no (or DNA), or leave empty")
            )
    if record.nhs_number:
        try:
            record.nhs_number = enrolment.check_nhs_number(record.nhs_number)
        except InvalidField as problem:
            problems.append(_problem("nhs_number", problem.message))
    hint = _starts_at_hint(str(record.starts_at), zone)
    if hint is not None:
        problems.append(hint)
    return _AppointmentRow(row, record, attended), problems


async def _check_appointments_against_database(
    session: AsyncSession,
    rows: Sequence[Checked[_AppointmentRow]],
    *,
    now: datetime,
    zone: ZoneInfo,
    practices: set[str],
) -> None:
    """The checks appointments.save makes, for a chunk of rows at once, plus attendance.

    save() still checks each row again when it writes; this pass is what lets every bad row be
    reported before anything is written.
    """
    existing = await _existing_appointments(session, (entry for entry, _ in rows))
    by_number, by_id = await _patients_named(session, [entry for entry, _ in rows])
    for entry, problems in rows:
        record = entry.record
        before = existing.get(record.external_id)
        entry.exists = before is not None
        values, field_problems = appointments.check_record(
            record, now=now, zone=zone, creating=before is None
        )
        said = {problem.field for problem in problems}
        problems.extend(p for p in field_problems if p.field not in said)

        # Whose appointment: as appointments.find_patient decides, the patient's id first.
        person: Person | None = None
        patient_column = "patient_external_id" if record.patient_external_id else "nhs_number"
        if record.patient_external_id:
            person = by_id.get(record.patient_external_id)
            if person is None:
                problems.append(
                    _problem("patient_external_id", "no patient has this id; add the patient first")
                )
            elif record.nhs_number and by_number.get(record.nhs_number) is not person:
                problems.append(
                    _problem(
                        "nhs_number",
                        "this NHS number is not the patient's named by patient_external_id",
                    )
                )
        elif record.nhs_number:
            person = by_number.get(record.nhs_number)
            if person is None and "nhs_number" not in said:
                problems.append(
                    _problem("nhs_number", "no patient has this NHS number; add the patient first")
                )
        elif before is None:
            problems.append(
                _problem("nhs_number", "give the patient's NHS number or patient_external_id")
            )
        if before is not None and person is not None and person.id != before.person_id:
            problems.append(_problem(patient_column, "this appointment belongs to another patient"))

        ods = values.get("practice_ods")
        if ods and ods not in practices:
            problems.append(
                _problem(
                    "practice",
                    f"no practice {ods} is known here; check the ODS code, or import the "
                    "practice's patients first",
                )
            )

        if before is not None and before.status != AppointmentStatus.BOOKED:
            if _moved(before, values):
                problems.append(
                    _problem(
                        "external_id",
                        f"this appointment is already {before.status} and cannot be changed",
                    )
                )
            entry.save = False
        if entry.attended is not None:
            starts_at = values.get("starts_at")
            if before is None:
                problems.append(
                    _problem(
                        "attended",
                        "attendance is marked on an appointment already imported; import it "
                        "before the day, then mark it",
                    )
                )
            elif before.status == AppointmentStatus.CANCELLED:
                problems.append(_problem("attended", "the appointment was cancelled"))
            elif starts_at is not None and starts_at > now:
                problems.append(_problem("attended", "the appointment has not started yet"))
        entry.unchanged = (
            before is not None
            and not problems
            and entry.attended is None
            and not _moved(before, values)
            and values.get("practice_ods", before.practice_ods) == before.practice_ods
        )


async def _patients_named(
    session: AsyncSession, entries: Sequence[_AppointmentRow]
) -> tuple[dict[str, Person], dict[str, Person]]:
    """The patients the rows name, by NHS number and by patient_external_id."""
    by_number = await _people_by(
        session, col(Person.nhs_number), (e.record.nhs_number or "" for e in entries)
    )
    by_id = await _people_by(
        session, col(Person.external_id), (e.record.patient_external_id or "" for e in entries)
    )
    return by_number, by_id


def _patient_key(entry: _AppointmentRow) -> tuple[str, str]:
    return (entry.record.patient_external_id or "", entry.record.nhs_number or "")


async def _existing_appointments(
    session: AsyncSession, entries: Iterable[_AppointmentRow]
) -> dict[str, Appointment]:
    wanted = sorted({entry.record.external_id for entry in entries})
    if not wanted:
        return {}
    found = await session.exec(select(Appointment).where(col(Appointment.external_id).in_(wanted)))
    return {appointment.external_id: appointment for appointment in found.all()}


def _moved(before: Appointment, values: dict[str, Any]) -> bool:
    """What makes appointments.save re-plan: the same fields, compared the same way."""
    return any(
        name in values and getattr(before, name) != values[name]
        for name in ("kind", "starts_at", "duration_minutes", *DETAIL_FIELDS)
    )


async def _import_appointment_rows(
    session: AsyncSession,
    entries: Sequence[_AppointmentRow],
    report: ImportReport,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
    zone: ZoneInfo,
    progress: ProgressFactory,
) -> None:
    """New bookings go in a chunk at a time (_book_many); a row that changed nothing when it
    was checked is only counted; everything else (a move, an attendance mark) goes through
    appointments.save and mark_attendance one row at a time."""
    bar = progress("importing", len(entries))
    unchanged = sum(1 for entry in entries if entry.unchanged)
    report.unchanged += unchanged
    bar.update(unchanged)
    # One person's appointments land in one chunk, so their reminders' recipients are looked
    # up once. The order of booking does not matter: each row is its own appointment.
    ordered = sorted((entry for entry in entries if not entry.unchanged), key=_patient_key)
    for chunk in _chunks(ordered):
        existing = await _existing_appointments(session, [e for e in chunk if e.exists])
        booking = [e for e in chunk if e.attended is None and e.record.external_id not in existing]
        by_number, by_id = await _patients_named(session, booking)
        new: list[tuple[_AppointmentRow, Person, dict[str, Any]]] = []
        for entry in chunk:
            record = entry.record
            if entry.attended is None and record.external_id not in existing:
                values, problems = appointments.check_record(
                    record, now=now, zone=zone, creating=True
                )
                person = (
                    by_id.get(record.patient_external_id)
                    if record.patient_external_id
                    else by_number.get(record.nhs_number or "")
                )
                if person is not None and not problems:
                    new.append((entry, person, values))
                    continue
            # save() says what is wrong if anything changed since the checks.
            await _import_one_appointment(
                session,
                entry,
                report,
                plans=plans,
                now=now,
                actor=actor,
                source=source,
                zone=zone,
            )
            bar.update(1)
        if new:
            await _book_many(session, new, report, plans=plans, now=now, actor=actor, source=source)
            bar.update(len(new))
        # Written, then let go: a 100,000-row file must not keep every row in the session.
        await session.flush()
        session.expunge_all()
    bar.close()


async def _import_one_appointment(
    session: AsyncSession,
    entry: _AppointmentRow,
    report: ImportReport,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
    zone: ZoneInfo,
) -> None:
    try:
        created, changed, queued = await _import_appointment(
            session, entry, report, plans=plans, now=now, actor=actor, source=source, zone=zone
        )
    except (InvalidRecord, InvalidField) as refused:
        # Only when the database changed after the checks. Both services refuse before
        # writing anything, so the row is simply left out.
        problems = (
            list(refused.problems)
            if isinstance(refused, InvalidRecord)
            else [_problem("attended", refused.message)]
        )
        report.bad_rows.append(BadRow(entry.row.line, entry.row.cells, problems))
        return
    report.reminders_queued += queued
    if created:
        report.created += 1
    elif changed:
        report.updated += 1
    else:
        report.unchanged += 1


async def _book_many(
    session: AsyncSession,
    new: Sequence[tuple[_AppointmentRow, Person, dict[str, Any]]],
    report: ImportReport,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
) -> None:
    """Books a chunk of new appointments as appointments.save books one: the same appointment,
    "booked" event, audit entry and reminders (tests/test_csv_import.py compares the two), in
    a handful of multi-row statements instead of some ten statements per appointment.

    Written with Core inserts of plain rows: the ORM would insert them one at a time to learn
    each id, and building a model instance per row costs more than the insert itself.
    """
    booked: list[dict[str, Any]] = []
    for _, person, values in new:
        booked.append(
            {
                **_defaults(Appointment),
                **{k: v for k, v in values.items() if k != "practice_ods"},
                "person_id": person.id,
                "practice_ods": values.get("practice_ods") or person.practice_ods,
                "source": source,
                "created_at": now,
                "updated_at": now,
            }
        )
    connection = await session.connection()
    returned = await connection.execute(
        insert(Appointment).returning(col(Appointment.id), col(Appointment.external_id)),
        booked,
    )
    ids = {external_id: appointment_id for appointment_id, external_id in returned.all()}
    for appointment in booked:
        appointment["id"] = ids[appointment["external_id"]]
    await connection.execute(
        insert(AppointmentEvent),
        [
            {
                **_defaults(AppointmentEvent),
                "appointment_id": appointment["id"],
                "event": "booked",
                "actor": actor,
                "at": now,
            }
            for appointment in booked
        ],
    )
    await _audit_many(
        connection,
        "appointment.book",
        (
            (
                appointment["person_id"],
                f"appointment={appointment['id']} kind={appointment['kind']}",
            )
            for appointment in booked
        ),
        actor=actor,
        now=now,
    )
    receivers = await _recipients(session, [person for _, person, _ in new])
    young = set(
        (
            await session.exec(
                select(Transition.person_id).where(
                    col(Transition.person_id).in_(sorted(receivers)),
                    col(Transition.active).is_(True),
                )
            )
        ).all()
    )
    reminders = [
        row
        for appointment in booked
        for row in appointments.reminder_rows(
            appointment,
            receivers[appointment["person_id"]],
            plans=plans,
            now=now,
            young=appointment["person_id"] in young,
        )
    ]
    report.created += len(booked)
    report.reminders_queued += await outbox.queue_many(session, reminders)


async def _recipients(
    session: AsyncSession, people: Iterable[Person]
) -> dict[int, list[tuple[Person, Person]]]:
    """appointments.recipients for each person, asked only of those with a carer link: the
    others receive their own reminders and no one else's (one query for the whole chunk)."""
    by_id = {person.id: person for person in people if person.id is not None}
    linked = set(
        (
            await session.exec(
                select(CarerLink.patient_id).where(col(CarerLink.patient_id).in_(sorted(by_id)))
            )
        ).all()
    )
    return {
        person_id: (
            await appointments.recipients(session, person)
            if person_id in linked
            else [(person, person)]
        )
        for person_id, person in by_id.items()
    }


async def _import_appointment(
    session: AsyncSession,
    entry: _AppointmentRow,
    report: ImportReport,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
    zone: ZoneInfo,
) -> tuple[bool, bool, int]:
    """One row: (created, changed, reminders queued)."""
    created = changed = False
    queued = 0
    appointment: Appointment | None = None
    if entry.save:
        outcome = await appointments.save(
            session,
            entry.record,
            plans=plans,
            now=now,
            actor=actor,
            source=source,
            default_zone=zone,
        )
        appointment, created, changed = outcome.appointment, outcome.created, outcome.replanned
        queued = outcome.reminders_queued
    if entry.attended is None:
        return created, changed, queued
    if appointment is None:
        appointment = await appointments.by_external_id(session, entry.record.external_id)
        if appointment is None:
            raise InvalidField("attended", "the appointment is no longer there")
    # After a save the appointment is booked and (checked) has started, which mark_attendance
    # accepts; so a refusal here has always come before anything of this row was written.
    status = appointment.status
    await appointments.mark_attendance(
        session, appointment, attended=entry.attended, now=now, actor=actor
    )
    if appointment.status != status:
        changed = True
        if entry.attended:
            report.attended += 1
        else:
            report.did_not_attend += 1
    return created, changed, queued


async def import_appointments(
    db: Database,
    path: Path,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    default_zone: ZoneInfo,
    bad_rows_file: Path | None = None,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: ProgressFactory = _no_progress,
) -> ImportReport:
    """Books, moves or marks attendance for each appointment in the file, by its external_id:
    sending a row again updates the appointment, and a new time re-plans its reminders."""
    practices: set[str] | None = None  # the practices known here, looked up once

    async def check_database(
        session: AsyncSession, rows: Sequence[Checked[_AppointmentRow]]
    ) -> None:
        nonlocal practices
        if practices is None:
            practices = set((await session.exec(select(Practice.ods_code))).all())
        await _check_appointments_against_database(
            session, rows, now=now, zone=default_zone, practices=practices
        )

    return await _import_file(
        db,
        path,
        ImportKind.APPOINTMENTS,
        check_row=lambda table, row: _check_appointment_fields(table, row, default_zone),
        check_database=check_database,
        checking_bar_follows="database",
        import_rows=lambda session, entries, report, _: _import_appointment_rows(
            session,
            entries,
            report,
            plans=plans,
            now=now,
            actor=actor,
            source=_source(path),
            zone=default_zone,
            progress=progress,
        ),
        statistics=("appointment", "outbox_message"),
        bad_rows_file=bad_rows_file,
        dry_run=dry_run,
        skip_bad_rows=skip_bad_rows,
        progress=progress,
    )


# NHS Health Check cohorts -----------------------------------------------------------------


def _cohort_record(table: CsvTable, row: CsvRow) -> CohortRecord:
    return CohortRecord(
        external_id=table.get(row, "external_id"),
        name=table.get(row, "name"),
        date_of_birth=table.get(row, "date_of_birth"),
        practice=table.get(row, "practice"),
        language=table.get(row, "language") or "en",
        last_check_on=table.get(row, "last_check_on") or None,
        priority=table.get(row, "priority") or None,
    )


# A row of a cohort file, and the record import_cohort is sent for it.
_CohortRow = tuple[CsvRow, CohortRecord]


async def _ids_of_others(session: AsyncSession, external_ids: Iterable[str]) -> set[str]:
    """The ids that already name someone not in a cohort (a patient, a carer):
    import_cohort would refuse the first of them only part way through the batch."""
    wanted = sorted({external_id for external_id in external_ids if external_id})
    if not wanted:
        return set()
    found = await session.exec(
        select(Person.external_id).where(
            col(Person.external_id).in_(wanted), col(Person.role) != Role.AT_RISK
        )
    )
    return {external_id for external_id in found.all() if external_id}


async def _check_cohort_against_database(
    session: AsyncSession, rows: Sequence[Checked[_CohortRow]]
) -> None:
    taken = await _ids_of_others(session, (record.external_id for (_, record), _ in rows))
    for (_, record), problems in rows:
        if record.external_id in taken:
            problems.append(
                _problem(
                    "external_id",
                    "this id belongs to someone who is not in a cohort (a patient or "
                    "carer registered here)",
                )
            )


def _count_people_added(session: AsyncSession, bar: ProgressBar) -> Callable[[], None]:
    """import_cohort takes the whole file in one call, so the bar is moved by what it writes:
    its audit entry for each person, counted as each is flushed. Returns what stops it."""

    def flushed(sync_session: Any, _context: Any) -> None:
        # After a flush, `new` still lists what that flush inserted.
        added = sum(
            1
            for instance in sync_session.new
            if isinstance(instance, AuditEvent) and instance.action == "health_check.cohort"
        )
        if added:
            bar.update(added)

    target = session.sync_session
    event.listen(target, "after_flush", flushed)
    return lambda: event.remove(target, "after_flush", flushed)


def _count_cohort(
    report: ImportReport,
    cohort: Sequence[_CohortRow],
    entries: Sequence[CohortEntry],
) -> None:
    for (row, _), entry in zip(cohort, entries, strict=True):
        if entry.created:
            report.created += 1
        else:
            report.updated += 1
        if entry.invite_on is not None:
            report.invitations[entry.invite_on] = report.invitations.get(entry.invite_on, 0) + 1
        else:
            report.not_due += 1
        if entry.code is None:
            continue  # joined already, or still holds the code posted to them
        person = entry.person
        report.codes.append(
            NewCode(
                row.line,
                person.external_id or "",
                person.display_name,
                person.language,
                IssuedCode(
                    code=entry.code,
                    person_id=person.id or 0,
                    expires_at=entry.code_expires_at,
                    reissued=not entry.created,
                ),
                # Someone checked less than 5 years ago is invited on the day it is due.
                invite_on=entry.invite_on or entry.check.due_on,
            )
        )


async def _add_cohort(
    session: AsyncSession,
    cohort: Sequence[_CohortRow],
    report: ImportReport,
    table: CsvTable,
    *,
    source: str,
    actor: str,
    now: datetime,
    plans: Plans,
    per_day: int,
    timezone: str,
    valid_days: int,
    skip_bad_rows: bool,
    progress: ProgressFactory,
) -> None:
    """All the good rows in one call to import_cohort: the invitation days are shared out
    over the whole file, highest priority first, `per_day` a day."""
    while cohort:
        bar = progress("importing", len(cohort))
        stop_counting = _count_people_added(session, bar)
        try:
            entries = await health_checks.import_cohort(
                session,
                [record for _, record in cohort],
                source=source,
                actor=actor,
                now=now,
                plans=plans,
                per_day=per_day,
                timezone=timezone,
                valid_days=valid_days,
            )
            await session.flush()  # the last person's audit entry, so the bar reaches the end
        except InvalidCohortRecord as refused:
            # Only when the database changed after the checks (someone registered under one
            # of these ids meanwhile). The service stops part way through the batch: undo
            # it all, and leave the refused rows out if the good ones are to go in.
            await session.rollback()
            refused_at = {index for index, _ in refused.records}
            for index, problems in refused.records:
                row = cohort[index][0]
                report.bad_rows.append(BadRow(row.line, row.cells, problems).in_column_order(table))
            if not skip_bad_rows:
                return
            cohort = [item for index, item in enumerate(cohort) if index not in refused_at]
            continue
        finally:
            stop_counting()
            bar.close()
        _count_cohort(report, cohort, entries)
        return


async def import_health_checks(
    db: Database,
    path: Path,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    per_day: int,
    timezone: str,
    valid_days: int,
    link: Callable[[str], str],
    source: str | None = None,
    codes_file: Path | None = None,
    bad_rows_file: Path | None = None,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: ProgressFactory = _no_progress,
) -> ImportReport:
    """Adds an NHS Health Check cohort from a practice or council: each person gets an
    at-risk record, an enrolment code (written to `codes_file` as for patients, with the day
    of their invitation) and an invitation day. `source` names the batch (default: the file's
    name). Sending someone again updates them by their external_id."""
    # The service's own day, so its age rule answers here as it will when it writes.
    today = now.astimezone(ZoneInfo(timezone)).date()

    def check_row(table: CsvTable, row: CsvRow) -> Checked[_CohortRow]:
        record = _cohort_record(table, row)
        # The checks import_cohort makes, asked of every row first: it would stop at the
        # first wrong one having written nothing, and every bad row is to be reported.
        _, problems = health_checks._check_cohort_record(record, today)
        return (row, record), list(problems)

    return await _import_file(
        db,
        path,
        ImportKind.HEALTH_CHECKS,
        check_row=check_row,
        check_database=_check_cohort_against_database,
        checking_bar_follows="rows",
        import_rows=lambda session, cohort, report, table: _add_cohort(
            session,
            cohort,
            report,
            table,
            source=(source or path.stem)[:COHORT_SOURCE_MAX_LENGTH],
            actor=actor,
            now=now,
            plans=plans,
            per_day=per_day,
            timezone=timezone,
            valid_days=valid_days,
            skip_bad_rows=skip_bad_rows,
            progress=progress,
        ),
        statistics=("person", "enrolment_code", "health_check"),
        codes=_CodesFile(codes_file, link, invite_days=True) if codes_file is not None else None,
        bad_rows_file=bad_rows_file,
        dry_run=dry_run,
        skip_bad_rows=skip_bad_rows,
        progress=progress,
    )


# The transition programme -----------------------------------------------------------------

# Who can be in the programme: a patient, or a young person (as the API's transition calls).
PATIENT_ROLES = frozenset({Role.PATIENT, Role.YOUNG_PERSON})


@dataclass(slots=True)
class _TransitionRow:
    row: CsvRow
    # The column that names the patient: problems about the patient (their age) go there.
    patient_column: str
    patient_external_id: str
    nhs_number: str
    active: bool
    started_on: date | None
    named_worker: str
    worker_id: int | None
    person_id: int | None = None


def _check_transition_fields(
    table: CsvTable, row: CsvRow
) -> tuple[_TransitionRow, list[InvalidField]]:
    """What can be told from the row alone. A row ending the programme needs only the patient."""
    problems: list[InvalidField] = []
    external_id = table.get(row, "patient_external_id")
    number = table.get(row, "nhs_number")
    patient_column = (
        "patient_external_id" if external_id or not table.has("nhs_number") else "nhs_number"
    )
    if number:
        try:
            number = enrolment.check_nhs_number(number)
        except InvalidField as problem:
            problems.append(_problem("nhs_number", problem.message))
    elif not external_id:
        problems.append(
            _problem(patient_column, "give the patient's patient_external_id or NHS number")
        )
    active = True
    active_text = table.get(row, "active").lower()
    if active_text in ACTIVE_WORDS:
        active = ACTIVE_WORDS[active_text]
    elif active_text:
        problems.append(
            _problem("active", f"{active_text!r}: write yes, or no to end the programme")
        )
    started_on: date | None = None
    worker_id: int | None = None
    named_worker = " ".join(table.get(row, "named_worker").split())
    if active:
        started_text = table.get(row, "started_on")
        try:
            started_on = date.fromisoformat(started_text)
        except ValueError:
            problems.append(
                _problem(
                    "started_on",
                    f"{started_text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-09-15"
                    if started_text
                    else "the day the programme started is missing (YYYY-MM-DD)",
                )
            )
        if not named_worker:
            problems.append(_problem("named_worker", "give the named worker's name"))
        elif len(named_worker) > 200:
            problems.append(_problem("named_worker", "longer than 200 characters"))
        worker_text = table.get(row, "named_worker_id")
        if worker_text.isascii() and worker_text.isdigit() and 1 <= int(worker_text) <= LARGEST_ID:
            worker_id = int(worker_text)
        elif worker_text:
            problems.append(
                _problem(
                    "named_worker_id",
                    f"{worker_text!r} is not a staff id: the number of the worker's diabridge "
                    "staff account, or leave it empty",
                )
            )
    entry = _TransitionRow(
        row, patient_column, external_id, number, active, started_on, named_worker, worker_id
    )
    return entry, problems


def _age_problem(person: Person, now: datetime) -> str | None:
    """transition.enrol's age rule, asked of every row before anything is written."""
    if person.date_of_birth is None:
        return None
    today = now.astimezone(ZoneInfo(person.timezone)).date()
    age = health_checks.age_on(person.date_of_birth, today)
    if transition.MIN_AGE <= age <= transition.MAX_AGE:
        return None
    return (
        f"the patient is {age} by the date of birth registered; the programme is for "
        f"{transition.MIN_AGE} to {transition.MAX_AGE}"
    )


async def _check_transition_against_database(
    session: AsyncSession,
    rows: Sequence[Checked[_TransitionRow]],
    *,
    now: datetime,
) -> None:
    """The checks transition.enrol makes, for a chunk of rows at once, and whose row it is.
    enrol checks each row again when it writes; this pass reports every bad row first."""
    by_id = await _people_by(
        session, col(Person.external_id), (entry.patient_external_id for entry, _ in rows)
    )
    by_number = await _people_by(
        session,
        col(Person.nhs_number),
        (
            entry.nhs_number
            for entry, problems in rows
            if not any(p.field == "nhs_number" for p in problems)
        ),
    )
    worker_ids = sorted({entry.worker_id for entry, _ in rows if entry.worker_id is not None})
    staff: set[int | None] = set()
    if worker_ids:
        staff = set(
            (
                await session.exec(
                    select(Person.id).where(
                        col(Person.id).in_(worker_ids), col(Person.role).in_(sorted(STAFF_ROLES))
                    )
                )
            ).all()
        )
    for entry, problems in rows:
        person = _patient_named(entry, problems, by_id, by_number)
        if person is None:
            continue
        entry.person_id = person.id
        if not entry.active:
            continue
        age = _age_problem(person, now)
        if age is not None:
            problems.append(_problem(entry.patient_column, age))
        if entry.worker_id is not None and entry.worker_id not in staff:
            # transition.enrol's words.
            problems.append(_problem("named_worker_id", "no member of staff has this id"))


async def _import_transition_row(
    session: AsyncSession,
    entry: _TransitionRow,
    person: Person,
    programme: Transition | None,
    report: ImportReport,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
) -> None:
    if not entry.active:
        if await transition.end(session, person, actor=actor, now=now, plans=plans):
            report.ended += 1
        else:
            report.unchanged += 1  # not in the programme (ended already, perhaps by this file)
        return
    assert entry.started_on is not None
    running = programme is not None and programme.active
    if (
        programme is not None
        and programme.active
        and (
            (programme.started_on, programme.named_worker, programme.worker_id)
            == (entry.started_on, entry.named_worker, entry.worker_id)
        )
    ):
        # The row as it was sent before: nothing to change. enrol would re-plan the monthly
        # check-ins from next month on, and so drop the one still to come this month.
        report.unchanged += 1
        return
    try:
        await transition.enrol(
            session,
            person,
            started_on=entry.started_on,
            named_worker=entry.named_worker,
            worker_id=entry.worker_id,
            actor=actor,
            source=source,
            now=now,
            plans=plans,
        )
    except InvalidRecord as refused:
        # Only when the database changed after the checks; enrol refuses before it writes.
        # The age is the registered date of birth's, which the file names by the patient.
        problems = [
            _problem(entry.patient_column if p.field == "date_of_birth" else p.field, p.message)
            for p in refused.problems
        ]
        report.bad_rows.append(BadRow(entry.row.line, entry.row.cells, problems))
        return
    if running:
        report.updated += 1
    else:
        report.created += 1


async def _import_transition_rows(
    session: AsyncSession,
    entries: Sequence[_TransitionRow],
    report: ImportReport,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    source: str,
    progress: ProgressFactory,
) -> None:
    bar = progress("importing", len(entries))
    for chunk in _chunks(entries):
        ids = sorted({entry.person_id for entry in chunk if entry.person_id is not None})
        people = {
            person.id: person
            for person in (await session.exec(select(Person).where(col(Person.id).in_(ids)))).all()
        }
        programmes = {
            programme.person_id: programme
            for programme in (
                await session.exec(select(Transition).where(col(Transition.person_id).in_(ids)))
            ).all()
        }
        for entry in chunk:
            person = people.get(entry.person_id)
            if person is None:
                # Erased (/forget) since the checks.
                report.bad_rows.append(
                    BadRow(
                        entry.row.line,
                        entry.row.cells,
                        [_problem(entry.patient_column, "the patient is no longer registered")],
                    )
                )
            else:
                await _import_transition_row(
                    session,
                    entry,
                    person,
                    programmes.get(entry.person_id or 0),
                    report,
                    plans=plans,
                    now=now,
                    actor=actor,
                    source=source,
                )
            bar.update(1)
        await session.flush()
        session.expunge_all()
    bar.close()


def _same_patient_twice(table: CsvTable, entries: Sequence[_TransitionRow]) -> Repeats:
    """The same young person twice (perhaps once by id, once by NHS number): which row is
    right is the sender's call."""
    twice = _duplicates(
        ((entry.row.line, str(entry.person_id or "")) for entry in entries), "patient", "patient"
    )
    return [
        (entry.row.line, _problem(entry.patient_column, twice[entry.row.line].message))
        for entry in entries
        if entry.row.line in twice
    ]


async def import_transition(
    db: Database,
    path: Path,
    *,
    plans: Plans,
    now: datetime,
    actor: str,
    bad_rows_file: Path | None = None,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: ProgressFactory = _no_progress,
) -> ImportReport:
    """Puts each young person in the transition programme, updates it, or (active=no) ends
    it. The patient must be registered already. A row sent again as it was changes nothing."""
    return await _import_file(
        db,
        path,
        ImportKind.TRANSITION,
        check_row=_check_transition_fields,
        check_database=lambda session, rows: _check_transition_against_database(
            session, rows, now=now
        ),
        repeats_after_database=_same_patient_twice,
        checking_bar_follows="database",
        import_rows=lambda session, entries, report, _: _import_transition_rows(
            session,
            entries,
            report,
            plans=plans,
            now=now,
            actor=actor,
            source=_source(path),
            progress=progress,
        ),
        bad_rows_file=bad_rows_file,
        dry_run=dry_run,
        skip_bad_rows=skip_bad_rows,
        progress=progress,
    )


# Results of the nine care processes -------------------------------------------------------


@dataclass(slots=True)
class _ResultRow:
    row: CsvRow
    # The column that names the patient: problems about the patient go there.
    patient_column: str
    patient_external_id: str
    nhs_number: str
    treatment: str | None
    result: ResultValue
    person_id: int | None = None


def _check_result_fields(
    table: CsvTable, row: CsvRow, *, today: date
) -> tuple[_ResultRow | None, list[InvalidField]]:
    """What can be told from the row alone: the result is checked as the API checks it (units,
    plausible values, the date), all but against the patient's birth date."""
    problems: list[InvalidField] = []
    external_id = table.get(row, "patient_external_id")
    number = table.get(row, "nhs_number")
    patient_column = (
        "patient_external_id" if external_id or not table.has("nhs_number") else "nhs_number"
    )
    if number:
        try:
            number = enrolment.check_nhs_number(number)
        except InvalidField as problem:
            problems.append(_problem("nhs_number", problem.message))
    elif not external_id:
        problems.append(
            _problem(patient_column, "give the patient's patient_external_id or NHS number")
        )
    treatment: str | None = None
    try:
        treatment = care_results.check_treatment(table.get(row, "treatment"))
    except InvalidResult as problem:
        problems.append(_problem("treatment", str(problem)))
    taken_text = table.get(row, "taken_on")
    result: ResultValue | None = None
    try:
        taken_on = date.fromisoformat(taken_text)
    except ValueError:
        problems.append(
            _problem(
                "taken_on",
                f"{taken_text!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-10-02"
                if taken_text
                else "the day the result was taken is missing (YYYY-MM-DD)",
            )
        )
    else:
        try:
            result = care_results.check_result(
                table.get(row, "measure"),
                value=table.get(row, "value") or None,
                unit=table.get(row, "unit") or None,
                outcome=table.get(row, "outcome") or None,
                taken_on=taken_on,
                today=today,
            )
        except InvalidResult as problem:
            problems.append(_problem(problem.field, str(problem)))
    if result is None:
        return None, problems
    return _ResultRow(row, patient_column, external_id, number, treatment, result), problems


async def _check_results_against_database(
    session: AsyncSession, rows: Sequence[Checked[_ResultRow]], *, today: date
) -> None:
    """Whose each row is (as the transition file names a patient), and that the result was
    not taken before they were born."""
    by_id = await _people_by(
        session, col(Person.external_id), (entry.patient_external_id for entry, _ in rows)
    )
    by_number = await _people_by(
        session,
        col(Person.nhs_number),
        (
            entry.nhs_number
            for entry, problems in rows
            if not any(p.field == "nhs_number" for p in problems)
        ),
    )
    for entry, problems in rows:
        person = _patient_named(entry, problems, by_id, by_number)
        if person is None:
            continue
        entry.person_id = person.id
        try:
            care_results.check_date(entry.result.taken_on, today=today, born=person.date_of_birth)
        except InvalidResult as problem:
            problems.append(_problem("taken_on", str(problem)))


def _results_repeated(table: CsvTable, entries: Sequence[_ResultRow]) -> Repeats:
    """One measure twice on one day for one patient (one result a day is kept: which is right
    is the sender's call), and two treatments for one patient."""
    found: list[tuple[int, InvalidField]] = []
    known = [entry for entry in entries if entry.person_id is not None]
    twice = _duplicates(
        (
            (
                entry.row.line,
                f"{entry.person_id}:{entry.result.measure.value}:{entry.result.taken_on}",
            )
            for entry in known
        ),
        "measure",
        "patient, measure and day",
    )
    found += [(line, problem) for line, problem in twice.items()]
    treatments: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for entry in known:
        if entry.treatment and entry.person_id is not None:
            treatments[entry.person_id][entry.treatment].append(entry.row.line)
    for given in treatments.values():
        if len(given) < 2:
            continue
        for treatment, lines in given.items():
            others = ", ".join(
                f"{other} on line {', '.join(map(str, at))}"
                for other, at in given.items()
                if other != treatment
            )
            found += [
                (line, _problem("treatment", f"the same patient has {others}; give one"))
                for line in lines
            ]
    return found


async def _import_result_rows(
    session: AsyncSession,
    entries: Sequence[_ResultRow],
    report: ImportReport,
    *,
    now: datetime,
    actor: str,
    source: str,
    progress: ProgressFactory,
) -> None:
    by_person: dict[int, list[_ResultRow]] = defaultdict(list)
    for entry in entries:
        assert entry.person_id is not None
        by_person[entry.person_id].append(entry)
    bar = progress("importing", len(entries))
    for chunk in _chunks(list(by_person)):
        people = {
            person.id: person
            for person in (
                await session.exec(select(Person).where(col(Person.id).in_(chunk)))
            ).all()
        }
        for person_id in chunk:
            theirs = by_person[person_id]
            person = people.get(person_id)
            if person is None:
                # Erased (/forget) since the checks.
                report.bad_rows.extend(
                    BadRow(
                        entry.row.line,
                        entry.row.cells,
                        [_problem(entry.patient_column, "the patient is no longer registered")],
                    )
                    for entry in theirs
                )
            else:
                # care_results.record, as the API saves results: audited once per patient.
                saved = await care_results.record(
                    session,
                    person,
                    [entry.result for entry in theirs],
                    source=source,
                    actor=actor,
                    now=now,
                    treatment=next((e.treatment for e in theirs if e.treatment), None),
                )
                report.created += saved.added
                report.updated += saved.updated
                report.unchanged += saved.unchanged
                report.patients += 1
            bar.update(len(theirs))
        await session.flush()
        session.expunge_all()
    bar.close()


async def import_results(
    db: Database,
    path: Path,
    *,
    now: datetime,
    actor: str,
    default_zone: ZoneInfo,
    bad_rows_file: Path | None = None,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: ProgressFactory = _no_progress,
) -> ImportReport:
    """Saves each result for a patient registered already: one per patient, measure and day,
    so a file sent again changes nothing and a corrected value replaces the old one."""
    # The deployment's day, as the API takes it: "in the future" means the same to both.
    today = now.astimezone(default_zone).date()
    return await _import_file(
        db,
        path,
        ImportKind.RESULTS,
        check_row=lambda table, row: _check_result_fields(table, row, today=today),
        check_database=lambda session, rows: _check_results_against_database(
            session, rows, today=today
        ),
        repeats_after_database=_results_repeated,
        checking_bar_follows="database",
        import_rows=lambda session, entries, report, _: _import_result_rows(
            session,
            entries,
            report,
            now=now,
            actor=actor,
            source=_source(path),
            progress=progress,
        ),
        statistics=("care_result",),
        bad_rows_file=bad_rows_file,
        dry_run=dry_run,
        skip_bad_rows=skip_bad_rows,
        progress=progress,
    )
