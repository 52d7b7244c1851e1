"""The pre-review job: how long one run takes when a whole practice list's annual reviews reach
their results day at once (each person with two years of results for the nine care processes),
when their summaries fall due at once, and when there is nothing to do (most runs).

    .venv/bin/python bench/pre_review.py [--people 2000] [--database-url URL]

SQLite in a temporary folder by default. Prints the three times.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import SQLModel

from bot.db import Database
from bot.models import Appointment, CareResult, Person, PersonStatus, Practice, Role
from bot.plans import load_plans
from bot.services import pre_review

# (measure, value, value2, outcome) a year apart, as a practice's system would send them.
RESULTS = [
    ("hba1c", 58.0, None, None),
    ("blood_pressure", 138.0, 84.0, None),
    ("cholesterol", 4.6, None, None),
    ("egfr", 72.0, None, None),
    ("urine_acr", 2.1, None, None),
    ("foot_check", None, None, "moderate"),
    ("bmi", 27.4, None, None),
    ("smoking", None, None, "ex"),
    ("eye_screening", None, None, "no_retinopathy"),
]


async def run(people: int, database_url: str) -> None:
    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
        await connection.run_sync(SQLModel.metadata.create_all)
    plans = load_plans()
    review_at = datetime(2027, 2, 10, 10, 30, tzinfo=UTC)
    results_day = datetime(2027, 1, 27, 10, 0, tzinfo=UTC)
    summary_day = datetime(2027, 2, 8, 8, 0, tzinfo=UTC)
    async with db.session() as session:
        session.add(Practice(ods_code="M85001", name="Soho Road", staff_chat_id=-1001))
        await session.flush()
        for number in range(people):
            person = Person(
                role=Role.PATIENT,
                display_name=f"Person {number}",
                practice_ods="M85001",
                status=PersonStatus.ACTIVE,
                telegram_user_id=10_000 + number,
                telegram_chat_id=10_000 + number,
                diabetes_type="type2",
                date_of_birth=date(1955, 1, 1),
            )
            session.add(person)
            await session.flush()
            for years_ago in (0, 1):
                for measure, value, value2, outcome in RESULTS:
                    session.add(
                        CareResult(
                            person_id=person.id,
                            measure=measure,
                            taken_on=date(2027 - years_ago, 1, 6),
                            value=value,
                            value2=value2,
                            outcome=outcome,
                        )
                    )
            session.add(
                Appointment(
                    external_id=f"R{number}",
                    person_id=person.id,
                    kind="annual_review",
                    starts_at=review_at,
                    practice_ods="M85001",
                )
            )
    timings = []
    for moment in (results_day, summary_day, summary_day + timedelta(minutes=5)):
        # As the job runs it: batches, each in its own transaction, until nothing is left.
        started, longest, results, summaries, more = time.perf_counter(), 0.0, 0, 0, True
        while more:
            batch_started = time.perf_counter()
            async with db.session() as session:
                report = await pre_review.plan(session, plans=plans, now=moment)
            longest = max(longest, time.perf_counter() - batch_started)
            results += report.results_sent
            summaries += report.summaries_sent
            more = report.more
        timings.append((time.perf_counter() - started, longest, results + summaries))
    (results_s, results_longest, sent), (summary_s, summary_longest, summed), (idle_s, _, _) = (
        timings
    )
    print(f"{people} annual reviews reaching their results day at once: sent {sent}")
    print(
        f"  {results_s:.2f} s ({results_s / people * 1000:.1f} ms a person); "
        f"longest transaction {results_longest:.2f} s"
    )
    print(f"  their summaries two days before: sent {summed}")
    print(
        f"  {summary_s:.2f} s ({summary_s / people * 1000:.1f} ms a person); "
        f"longest transaction {summary_longest:.2f} s"
    )
    print(f"  a run with nothing to do: {idle_s * 1000:.1f} ms")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(run(args.people, url))


if __name__ == "__main__":
    main()
