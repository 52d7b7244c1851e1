"""Update handling benchmark: the whole bot (webhook mode) against a bare PTB echo bot.

Both run in their own process against the same fake Bot API, fed the same stream of updates:
enrolled patients sending text and pressing menu buttons. Prints, for each, the rate it
sustains when pushed as hard as the load generator can (replies per second), and p50/p99
latency (webhook POST to the reply reaching the fake Bot API) at a steady 100 updates a second.

    .venv/bin/python bench/updates.py [--updates 3000] [--people 300] [--steady-rate 100]

The bot's own sending limiter is raised for this run: Telegram's 30 messages a second would
otherwise cap both rates and hide the handling cost being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
from sqlalchemy import insert

from bench.people import enrolled_patient_rows
from bot.db import Database
from bot.models import Person
from tests.fake_bot_api import FakeBotAPI, UserSim

TOKEN = "123456:BENCH"
SECRET = "bench-secret"
FIRST_USER = 5_000_000


# The two bots, each run as `bench/updates.py --serve {bot,echo}` --------------------------------


async def serve_whole_bot(api: str, port: int, database_url: str) -> None:
    from bot.app import serve
    from bot.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        telegram_bot_token=TOKEN,
        telegram_api_url=api,
        database_url=database_url,
        http_port=port,
        webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
        webhook_secret=SECRET,
        rate_overall_per_second=100_000,
    )
    await serve(settings, webhook=True)


def serve_echo_bot(api: str, port: int) -> None:
    """The baseline: python-telegram-bot's own echo example, on its own webhook server."""
    from telegram import Update
    from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

    async def echo(update: Update, _context: object) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(update.effective_message.text or "")

    async def pressed(update: Update, _context: object) -> None:
        query = update.callback_query
        assert query is not None and update.effective_chat is not None
        await query.answer()
        await update.effective_chat.send_message(query.data or "")

    application = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .concurrent_updates(64)
        .connection_pool_size(128)
        .build()
    )
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    application.run_webhook(
        listen="127.0.0.1",
        port=port,
        url_path="telegram/webhook",
        secret_token=SECRET,
        webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
    )


# The load generator -------------------------------------------------------------------------


async def enrol(database_url: str, people: int) -> None:
    db = Database(database_url)
    await db.upgrade()
    async with db.session() as session:
        connection = await session.connection()
        await connection.execute(
            insert(Person),
            enrolled_patient_rows(people, FIRST_USER, ("en", "hi", "ur")),
        )
    await db.dispose()


def update_stream(count: int, people: int, fake: FakeBotAPI) -> list[tuple[int, dict]]:
    """Alternating text and menu-button presses from `people` enrolled patients."""
    users = [UserSim(FIRST_USER + n, first_name=f"P{n}") for n in range(people)]
    stream = []
    for index in range(count):
        user = users[index % people]
        if index % 2:
            stream.append((user.user_id, user.text("what should I eat today")))
        else:
            stream.append((user.user_id, _press_update(user, "menu:help")))
    return stream


def _press_update(user: UserSim, data: str) -> dict:
    """A menu-button press on a (notional) earlier bot message; the data is what matters."""
    update = user.text("menu")
    message = update["message"]
    message["from"] = {"id": 1, "is_bot": True, "first_name": "diabridge"}
    return {
        "update_id": update["update_id"],
        "callback_query": {
            "id": str(update["update_id"]),
            "from": dict(user.user),
            "chat_instance": str(user.user_id),
            "message": message,
            "data": data,
        },
    }


async def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.post(
                    f"http://127.0.0.1:{port}/telegram/webhook",
                    json={},
                    headers={"X-Telegram-Bot-Api-Secret-Token": "not-it"},
                ) as response:
                    if response.status in (400, 403):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the bot did not start listening")


async def replies_received(fake: FakeBotAPI, since: int, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for c in fake.calls[since:] if c.method == "sendMessage") >= expected:
            return
        await asyncio.sleep(0.01)


async def drive(
    fake: FakeBotAPI,
    port: int,
    stream: list[tuple[int, dict]],
    rate: float | None,
) -> tuple[float, list[float]]:
    """Posts the stream (at `rate` a second, or as fast as 64 connections go); returns the
    replies per second and each update's latency in milliseconds."""
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    since = len(fake.calls)
    sent_at: dict[int, deque[float]] = defaultdict(deque)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def post(chat_id: int, update: dict) -> None:
            sent_at[chat_id].append(time.monotonic())
            async with http.post(url, json=update, headers=headers) as response:
                await response.read()

        started = time.monotonic()
        if rate:
            tasks = []
            for index, (chat_id, update) in enumerate(stream):
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(post(chat_id, update)))
            await asyncio.gather(*tasks)
        else:
            queue = deque(stream)

            async def pump() -> None:
                while queue:
                    chat_id, update = queue.popleft()
                    await post(chat_id, update)

            await asyncio.gather(*(pump() for _ in range(64)))
        await replies_received(fake, since, len(stream), timeout=120)
    replies = [c for c in fake.calls[since:] if c.method == "sendMessage"]
    latencies = []
    for call in replies:
        queue_of_chat = sent_at.get(int(call.params["chat_id"]))
        if queue_of_chat:
            latencies.append((call.at - queue_of_chat.popleft()) * 1000)
    finished = max(c.at for c in replies) if replies else time.monotonic()
    return len(replies) / (finished - started), latencies


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(
    label: str, command: list[str], port: int, fake: FakeBotAPI, args: argparse.Namespace
) -> dict[str, float]:
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        await wait_ready(port)
        warmup = update_stream(min(200, args.updates), args.people, fake)
        await drive(fake, port, warmup, rate=None)
        rate, _ = await drive(fake, port, update_stream(args.updates, args.people, fake), None)
        steady_count = int(args.steady_rate * args.steady_seconds)
        _, latencies = await drive(
            fake, port, update_stream(steady_count, args.people, fake), args.steady_rate
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
    figures = {
        "rate": rate,
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "answered": len(latencies),
    }
    print(
        f"  {label:<28} {figures['rate']:8.1f} updates/s   "
        f"p50 {figures['p50']:6.1f} ms   p99 {figures['p99']:6.1f} ms   "
        f"({figures['answered']:.0f} answered at {args.steady_rate:g}/s)"
    )
    return figures


async def main(args: argparse.Namespace) -> None:
    fake = FakeBotAPI()
    api = await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        database_url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'updates.db'}"
        await enrol(database_url, args.people)
        print(
            f"diabridge update handling: {args.updates} updates from {args.people} enrolled "
            f"patients (text and menu buttons), then {args.steady_rate:g}/s for "
            f"{args.steady_seconds:g} s; {'PostgreSQL' if 'postgres' in database_url else 'SQLite'}"
        )
        me = [sys.executable, __file__, "--api", api]
        whole = await measure(
            "diabridge (webhook)",
            [*me, "--serve", "bot", "--port", str(args.port), "--database-url", database_url],
            args.port,
            fake,
            args,
        )
        echo = await measure(
            "bare PTB echo bot (webhook)",
            [*me, "--serve", "echo", "--port", str(args.port + 1)],
            args.port + 1,
            fake,
            args,
        )
    await fake.stop()
    print(f"  ratio diabridge / echo rate: {whole['rate'] / echo['rate']:.2f}")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=3000)
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--steady-rate", type=float, default=100)
    parser.add_argument("--steady-seconds", type=float, default=20)
    parser.add_argument("--port", type=int, default=18_080)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--serve", choices=["bot", "echo"], help=argparse.SUPPRESS)
    parser.add_argument("--api", help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse()
    if arguments.serve == "bot":
        asyncio.run(serve_whole_bot(arguments.api, arguments.port, arguments.database_url))
    elif arguments.serve == "echo":
        serve_echo_bot(arguments.api, arguments.port)
    else:
        asyncio.run(main(arguments))
