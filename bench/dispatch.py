"""Outbox dispatch benchmark: throughput against a rate-limited fake Bot API, and a crash.

Queues N messages (default 20,000, to 2,000 people), then dispatches them from a worker
process against a fake Bot API that answers 429 above `--rate` messages a second. Prints the
achieved rate as a fraction of the limit, the 429 count, and lost and duplicated messages.
Then the same again with the worker killed (SIGKILL) halfway and a new one started.

    .venv/bin/python bench/dispatch.py [--messages 20000] [--rate 200] [--database-url URL]

The limit is configurable because Telegram's real 30/s would make one run take 11 minutes;
the dispatcher's own limiter is set to the same figure, as it would be in production.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert
from sqlmodel import col, select

from bench.people import enrolled_patient_rows
from bot.db import Database
from bot.models import OutboxMessage, OutboxStatus, Person, Priority
from tests.fake_bot_api import FakeBotAPI

TOKEN = "123456:BENCH"


# The worker process ---------------------------------------------------------------------------


def _bench_template(t, params, who):  # type: ignore[no-untyped-def]
    from bot.render import Reply

    return Reply(f"bench {params['n']}")


async def worker(database_url: str, api_root: str, rate: float, lease: int) -> None:
    from telegram.ext import AIORateLimiter, ExtBot
    from telegram.request import HTTPXRequest

    from bot.app import quiet_rate_limiter_log
    from bot.settings import Settings
    from bot.templates import OUTBOX_TEMPLATES
    from scheduler.dispatcher import OutboxDispatcher
    from scheduler.leadership import DispatchLeadership

    OUTBOX_TEMPLATES["bench"] = _bench_template
    quiet_rate_limiter_log()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        database_url=database_url,
        quiet_hours="",
        rate_overall_per_second=rate,
        lease_seconds=lease,
        dispatch_batch_size=max(50, int(rate)),
    )
    db = Database(database_url)
    bot = ExtBot(
        TOKEN,
        base_url=f"{api_root}/bot",
        base_file_url=f"{api_root}/file/bot",
        request=HTTPXRequest(connection_pool_size=32, pool_timeout=30),
        rate_limiter=AIORateLimiter(overall_max_rate=rate, overall_time_period=1, max_retries=0),
    )
    leadership = DispatchLeadership(db)
    dispatcher = OutboxDispatcher(db, bot, settings)
    async with bot:
        while True:
            if await leadership.acquire():
                await dispatcher.run_once()
            async with db.session() as session:
                left = (
                    await session.exec(
                        select(func.count()).where(
                            col(OutboxMessage.status).in_(
                                [OutboxStatus.PENDING, OutboxStatus.SENDING]
                            )
                        )
                    )
                ).one()
            if not left:
                break
            await asyncio.sleep(0.2)
    await leadership.release()
    await db.dispose()


# The parent: the fake Bot API, the queue, the clock ------------------------------------------


async def prepare(database_url: str, messages: int, people: int) -> None:
    db = Database(database_url)
    if db.is_postgres:
        from sqlalchemy import text

        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await db.upgrade()
    now = datetime.now(UTC)
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(
            insert(Person),
            enrolled_patient_rows(people, 1_000_000),
        )
        ids = list((await session.exec(select(Person.id).order_by(col(Person.id)))).all())
        # Round robin over people, as a day's reminders would be: one person's messages
        # are spread through the queue rather than bunched.
        await connection.execute(
            insert(OutboxMessage),
            [
                {
                    "person_id": ids[n % people],
                    "template_key": "bench",
                    "params": {"n": n},
                    "due_at": now,
                    "priority": int(Priority.REMINDER),
                    "status": OutboxStatus.PENDING,
                    "attempts": 0,
                    "dedupe_key": f"bench:{n}",
                    "created_at": now,
                }
                for n in range(messages)
            ],
        )
    await db.dispose()


async def outcome(database_url: str) -> Counter[str]:
    db = Database(database_url)
    async with db.session() as session:
        rows = (
            await session.exec(
                select(OutboxMessage.status, func.count()).group_by(col(OutboxMessage.status))
            )
        ).all()
    await db.dispose()
    return Counter(dict(rows))


def start_worker(args: argparse.Namespace, database_url: str, root: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            "--database-url",
            database_url,
            "--api",
            root,
            "--rate",
            str(args.rate),
            "--lease",
            str(args.lease),
        ],
        cwd=ROOT,
    )


async def wait_for_exit(process: subprocess.Popen) -> None:
    while process.poll() is None:
        await asyncio.sleep(0.1)


async def one_run(args: argparse.Namespace, database_url: str, kill: bool) -> dict[str, float]:
    await prepare(database_url, args.messages, args.people)
    fake = FakeBotAPI(rate_limit_per_second=args.rate)
    root = await fake.start()
    process = start_worker(args, database_url, root)
    killed_at = restarted_at = None
    try:
        if kill:
            while len(fake.messages) < args.messages // 2:
                await asyncio.sleep(0.01)
                if process.poll() is not None:
                    break
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed_at = time.monotonic()
            process = start_worker(args, database_url, root)
            restarted_at = time.monotonic()
        await wait_for_exit(process)
    finally:
        if process.poll() is None:
            process.kill()
        await fake.stop()
    sends = [m for m in fake.messages if m.method == "sendMessage"]
    times = sorted(call.at for call in fake.calls if call.method == "sendMessage")
    seen = Counter(m.text for m in sends)
    duplicates = sum(count - 1 for count in seen.values() if count > 1)
    statuses = await outcome(database_url)
    delivered = len(seen)
    lost = args.messages - delivered
    elapsed = (times[-1] - times[0]) if len(times) > 1 else float("nan")
    # Time no worker was sending: the longest pause around and after the kill. The dead
    # worker's last requests can still reach the fake API just after the kill, so the pause
    # is measured between sends rather than from the kill itself.
    idle = 0.0
    if kill and killed_at is not None:
        around = [t for t in times if t >= killed_at - 5.0]
        idle = max((b - a for a, b in itertools.pairwise(around)), default=0.0)
    accepted = len(sends)
    return {
        "accepted": accepted,
        "elapsed": elapsed,
        "rate": accepted / elapsed if elapsed else float("nan"),
        "rate_fraction": (accepted / (elapsed - idle)) / args.rate if elapsed else float("nan"),
        "too_many_requests": fake.too_many_requests,
        "lost": lost,
        "duplicates": duplicates,
        "failed_rows": statuses.get(OutboxStatus.FAILED, 0),
        "idle_after_kill": idle,
        "restart_delay": (restarted_at - killed_at) if killed_at and restarted_at else 0.0,
    }


def report(title: str, figures: dict[str, float], rate: float) -> None:
    print(f"\n{title}")
    print(f"  delivered (accepted by the fake API): {figures['accepted']:.0f}")
    print(f"  elapsed, first to last send:          {figures['elapsed']:.1f} s")
    print(f"  achieved rate:                        {figures['rate']:.1f}/s of a {rate:g}/s limit")
    print(f"  achieved rate / limit (sending time): {figures['rate_fraction']:.3f}")
    print(f"  429 answers:                          {figures['too_many_requests']:.0f}")
    print(f"  lost messages:                        {figures['lost']:.0f}")
    print(f"  duplicated messages:                  {figures['duplicates']:.0f}")
    print(f"  rows failed:                          {figures['failed_rows']:.0f}")
    if figures["idle_after_kill"]:
        print(f"  longest pause in sending after kill:  {figures['idle_after_kill']:.1f} s")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:

        def url(name: str) -> str:
            return args.database_url or f"sqlite+aiosqlite:///{Path(folder) / name}"

        backend = "PostgreSQL" if url("").startswith("postgresql") else "SQLite"
        print(
            f"diabridge outbox dispatch: {args.messages} messages to {args.people} people, "
            f"limit {args.rate:g}/s, {backend}, lease {args.lease}s"
        )
        steady = await one_run(args, url("steady.db"), kill=False)
        report("1. one dispatcher, start to finish", steady, args.rate)
        crashed = await one_run(args, url("killed.db"), kill=True)
        report("2. dispatcher killed (SIGKILL) halfway, a new one started", crashed, args.rate)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--people", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=200.0, help="the fake API's limit per second")
    parser.add_argument("--lease", type=int, default=10, help="seconds before a lease lapses")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.worker:
        asyncio.run(worker(arguments.database_url, arguments.api, arguments.rate, arguments.lease))
    else:
        asyncio.run(main(arguments))
