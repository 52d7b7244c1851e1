"""CSV import benchmark: a clinic's 100,000 appointments for 20,000 patients, planned.

Writes a patients file and an appointments file to a temporary folder, imports both through
bot.services.csv_import (what `diabridge import` runs), then imports the appointments file a
second time (every row unchanged, as a nightly re-send would be). Prints the time, rows per
second, peak memory and the outbox rows planned.

    .venv/bin/python bench/plan.py [--appointments 100000] [--patients 20000]
        [--database-url URL] [--tracemalloc] [--profile]

SQLite in the temporary folder by default; PostgreSQL with BENCH_DATABASE_URL or
--database-url (its public schema is dropped and migrated afresh). --tracemalloc adds
Python's own peak allocation figure (and slows the run); --profile prints where the time goes
(by cumulative time, or by BENCH_SORT=tottime).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import csv
import os
import pstats
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, text
from sqlmodel import select

from bot.db import Database
from bot.models import Appointment, OutboxMessage
from bot.plans import AppointmentKind, load_plans
from bot.services import csv_import

LONDON = ZoneInfo("Europe/London")
LANGUAGES = ("en", "hi", "ur")
NAMES = ("Irfan Ahmed", "सीता देवी", "عائشہ خان", "Margaret Jones", "Gurpreet Singh")
PRACTICES = ("Y01234", "A81001", "B82005", "C83010")


def nhs_number(n: int) -> str | None:
    """The n-th candidate from 400 000 000 with its modulus 11 check digit; None when no
    check digit fits (remainder 1), as for one number in eleven."""
    digits = f"{400_000_000 + n:09d}"
    total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return None if check == 10 else digits + str(check)


def write_patients(path: Path, count: int) -> list[str]:
    """Returns the NHS numbers, so the appointments can name some patients by them."""
    numbers: list[str] = []
    n = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["external_id", "nhs_number", "name", "date_of_birth", "practice", "language"]
        )
        while len(numbers) < count:
            number = nhs_number(n)
            n += 1
            if number is None:
                continue
            index = len(numbers)
            writer.writerow(
                [
                    f"PAT-{index}",
                    number,
                    NAMES[index % len(NAMES)],
                    f"{1940 + index % 60}-{1 + index % 12:02d}-{1 + index % 28:02d}",
                    PRACTICES[index % len(PRACTICES)],
                    LANGUAGES[index % len(LANGUAGES)],
                ]
            )
            numbers.append(number)
    return numbers


def write_appointments(path: Path, count: int, numbers: list[str], start: datetime) -> None:
    kinds = [kind.value for kind in AppointmentKind]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "external_id",
                "nhs_number",
                "patient_external_id",
                "kind",
                "starts_at",
                "duration_minutes",
                "location",
                "address",
                "clinician",
                "phone",
                "practice",
            ]
        )
        for n in range(count):
            patient = n % len(numbers)
            # Spread over the coming year, in clinic hours, local time as clinics write it.
            day = start.date() + timedelta(days=3 + n % 360)
            at = f"{day:%Y-%m-%d} {9 + n % 8:02d}:{(n % 4) * 15:02d}"
            # Half the rows name the patient by NHS number, half by the practice's id.
            by_number = n % 2 == 0
            writer.writerow(
                [
                    f"APPT-{n}",
                    numbers[patient] if by_number else "",
                    "" if by_number else f"PAT-{patient}",
                    kinds[n % len(kinds)],
                    at,
                    "30",
                    "Riverside Surgery",
                    "12 High Street, Leicester",
                    "Nurse Patel",
                    "01632 960123",
                    PRACTICES[patient % len(PRACTICES)],
                ]
            )


async def fresh_database(url: str) -> Database:
    db = Database(url)
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await db.upgrade()
    return db


async def count(db: Database, table: type[Appointment] | type[OutboxMessage]) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).select_from(table))).one())


def maxrss_mb() -> float:
    # Kilobytes on Linux, bytes on macOS.
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


async def timed_import(
    db: Database, path: Path, now: datetime, args: argparse.Namespace
) -> tuple[csv_import.ImportReport, float, float | None]:
    plans = load_plans()
    if args.tracemalloc:
        tracemalloc.start()
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    report = await csv_import.import_appointments(
        db, path, plans=plans, now=now, actor="bench", default_zone=LONDON
    )
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    peak = None
    if args.tracemalloc:
        peak = tracemalloc.get_traced_memory()[1] / 1024 / 1024
        tracemalloc.stop()
    if profiler:
        order = os.environ.get("BENCH_SORT", "cumulative")  # or tottime
        pstats.Stats(profiler).sort_stats(order).print_stats(25)
    return report, elapsed, peak


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'plan.db'}"
        backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
        print(
            f"diabridge CSV import: {args.appointments:,} appointments for "
            f"{args.patients:,} patients, {backend}"
        )
        now = datetime.now(UTC)
        patients_file = Path(folder) / "patients.csv"
        appointments_file = Path(folder) / "appointments.csv"
        numbers = write_patients(patients_file, args.patients)
        write_appointments(appointments_file, args.appointments, numbers, now)
        size = appointments_file.stat().st_size / 1024 / 1024
        db = await fresh_database(url)
        try:
            started = time.perf_counter()
            patients = await csv_import.import_patients(
                db,
                patients_file,
                now=now,
                actor="bench",
                valid_days=14,
                timezone="Europe/London",
                link=lambda code: f"https://t.me/bench_bot?start={code}",
                codes_file=Path(folder) / "patients.codes.csv",
            )
            took = time.perf_counter() - started
            assert patients.committed and not patients.bad_rows, patients.bad_rows[:3]
            print(
                f"\n1. patients: {patients.created:,} registered, {len(patients.codes):,} codes "
                f"written, in {took:.1f} s ({patients.created / took:,.0f} rows/s)"
            )

            rss_before = maxrss_mb()
            report, elapsed, peak = await timed_import(db, appointments_file, now, args)
            assert report.committed and not report.bad_rows, report.bad_rows[:3]
            planned = await count(db, OutboxMessage)
            print(f"\n2. appointments file ({size:.1f} MB), first import")
            print(f"  booked:                      {report.created:,}")
            print(f"  total time:                  {elapsed:.1f} s")
            print(f"  rows per second:             {report.rows / elapsed:,.0f}")
            print(f"  reminders queued (report):   {report.reminders_queued:,}")
            print(f"  outbox rows planned (table): {planned:,}")
            print(
                f"  peak RSS (maxrss):           {maxrss_mb():.0f} MB (before: {rss_before:.0f} MB)"
            )
            if peak is not None:
                print(f"  tracemalloc peak:            {peak:.0f} MB")

            again, elapsed, peak = await timed_import(db, appointments_file, now, args)
            print("\n3. the same file again (nothing changed)")
            print(f"  unchanged:                   {again.unchanged:,}")
            print(f"  total time:                  {elapsed:.1f} s")
            print(f"  rows per second:             {again.rows / elapsed:,.0f}")
            print(f"  new outbox rows:             {await count(db, OutboxMessage) - planned:,}")
            print(f"  appointments in the table:   {await count(db, Appointment):,}")
            if peak is not None:
                print(f"  tracemalloc peak:            {peak:.0f} MB")
        finally:
            await db.dispose()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--appointments", type=int, default=100_000)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--tracemalloc", action="store_true", help="measure Python's peak")
    parser.add_argument("--profile", action="store_true", help="print a cProfile summary")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
