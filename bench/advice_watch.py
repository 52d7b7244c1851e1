"""The advice line's minute watch: how long one run takes when many requests fall due at once
(every one raised again and breached), and when there is nothing to do (every other minute).

    .venv/bin/python bench/advice_watch.py [--requests 1000] [--database-url URL]

SQLite in a temporary folder by default. Prints the two times.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import SQLModel

from bot.db import Database
from bot.models import AdviceKind, AdviceRequest, AdviceStatus
from bot.services import advice_line


async def run(requests: int, database_url: str) -> None:
    db = Database(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.drop_all)
        await connection.run_sync(SQLModel.metadata.create_all)
    now = datetime.now(UTC)
    async with db.session() as session:
        for _ in range(requests):
            request = AdviceRequest(
                kind=AdviceKind.ADVICE,
                status=AdviceStatus.OPEN,
                area="foot",
                urgency="routine",
                question="x" * 400,
            )
            advice_line.start_clock(request, advice_line.Targets(), now - timedelta(days=10))
            session.add(request)
    started = time.perf_counter()
    async with db.session() as session:
        report = await advice_line.watch(session, now=now)
    busy = time.perf_counter() - started
    started = time.perf_counter()
    async with db.session() as session:
        await advice_line.watch(session, now=now)
    idle = time.perf_counter() - started
    print(f"{requests} requests due at once: raised {report.raised}, breached {report.breached}")
    print(f"  that run: {busy:.2f} s ({busy / requests * 1000:.1f} ms a request)")
    print(f"  a run with nothing to do: {idle * 1000:.1f} ms")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        asyncio.run(run(args.requests, url))


if __name__ == "__main__":
    main()
