"""The outbox and its dispatcher, against the fake Bot API, with the clock moved by time-machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import select
from telegram import Bot

from bot.db import Database
from bot.i18n import translator
from bot.models import OutboxMessage, OutboxStatus, Person, PersonStatus, Priority, Role
from bot.services import account, outbox
from scheduler.dispatcher import OutboxDispatcher, quiet_until
from scheduler.leadership import DispatchLeadership
from tests.conftest import make_settings
from tests.fake_bot_api import FakeBotAPI

LONDON = ZoneInfo("Europe/London")
QUIET = (time(21, 0), time(8, 0))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    api = FakeBotAPI()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    telegram_bot = Bot(
        "123456:TEST-TOKEN", base_url=f"{fake.root}/bot", base_file_url=f"{fake.root}/file/bot"
    )
    async with telegram_bot:
        yield telegram_bot


def dispatcher_for(db: Database, bot: Bot, worker_id: str = "worker-a", **overrides: object):
    return OutboxDispatcher(db, bot, make_settings(db.url, **overrides), worker_id=worker_id)


async def add_person(db: Database, chat_id: int, language: str = "en", name: str = "Brian") -> int:
    async with db.session() as session:
        person = Person(
            role=Role.PATIENT,
            display_name=name,
            language=language,
            telegram_user_id=chat_id,
            telegram_chat_id=chat_id,
            status=PersonStatus.ACTIVE,
        )
        session.add(person)
        await session.flush()
        assert person.id is not None
        return person.id


async def queue_followup(
    db: Database,
    person_id: int,
    due: datetime,
    key: str | None = None,
    priority: Priority = Priority.EDUCATION,
) -> bool:
    async with db.session() as session:
        return await outbox.queue(
            session,
            template_key="welcome_followup",
            dedupe_key=key or f"followup:{person_id}",
            due_at=due,
            priority=priority,
            person_id=person_id,
        )


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as session:
        return list((await session.exec(select(OutboxMessage).order_by(OutboxMessage.id))).all())


# Quiet hours as a pure function -------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 22:30 GMT on the night the clocks go forward: ends 08:00 BST, which is 07:00 UTC.
        (datetime(2026, 3, 28, 22, 30, tzinfo=UTC), datetime(2026, 3, 29, 7, 0, tzinfo=UTC)),
        # 23:00 BST on the night the clocks go back: ends 08:00 GMT, which is 08:00 UTC.
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 8, 0, tzinfo=UTC)),
        # After midnight, the same morning.
        (datetime(2026, 6, 1, 1, 0, tzinfo=UTC), datetime(2026, 6, 1, 7, 0, tzinfo=UTC)),
        # Daytime: not quiet.
        (datetime(2026, 6, 1, 12, 0, tzinfo=UTC), None),
        # 20:59 local in summer (19:59 UTC) is before the quiet period.
        (datetime(2026, 6, 1, 19, 59, tzinfo=UTC), None),
    ],
)
def test_quiet_until_follows_the_local_clock_across_clock_changes(now, expected):
    assert quiet_until(now, LONDON, QUIET) == expected


def test_no_quiet_hours_when_switched_off():
    assert quiet_until(datetime(2026, 6, 1, 23, 0, tzinfo=UTC), LONDON, None) is None


# Queueing ---------------------------------------------------------------------------------


async def test_a_planner_running_twice_queues_once(db: Database):
    person_id = await add_person(db, 111)
    due = datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert await queue_followup(db, person_id, due) is True
    assert await queue_followup(db, person_id, due) is False
    assert len(await rows(db)) == 1


# Dispatching ----------------------------------------------------------------------------------


async def test_rendered_at_send_time_in_the_language_of_that_moment(db, fake, bot):
    with time_machine.travel(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), tick=False):
        person_id = await add_person(db, 201, language="en", name="Irfan")
        await queue_followup(db, person_id, datetime(2026, 11, 24, 10, 0, tzinfo=UTC))
        async with db.session() as session:
            person = await session.get(Person, person_id)
            assert person is not None
            await account.set_language(session, person, "ur", datetime.now(UTC))
    with time_machine.travel(datetime(2026, 11, 24, 10, 0, tzinfo=UTC), tick=False):
        report = await dispatcher_for(db, bot).run_once()
    assert report.sent == 1
    [message] = fake.messages_to(201)
    ur = translator("ur")
    assert ur.finish(ur._("• /stop to pause messages")) in message.text
    assert "Irfan" in message.text
    assert "to pause messages" not in message.text  # no English left
    assert message.parse_mode == "HTML"
    [row] = await rows(db)
    assert row.status == OutboxStatus.SENT and row.telegram_message_id == message.message_id


async def test_quiet_hours_defer_to_the_morning_across_the_spring_clock_change(db, fake, bot):
    person_id = await add_person(db, 301)
    with time_machine.travel(datetime(2026, 3, 28, 22, 30, tzinfo=UTC), tick=False):
        await queue_followup(db, person_id, datetime(2026, 3, 28, 22, 0, tzinfo=UTC))
        report = await dispatcher_for(db, bot).run_once()
    assert report.deferred == 1 and fake.messages_to(301) == []
    [row] = await rows(db)
    assert row.status == OutboxStatus.PENDING and row.attempts == 0
    assert row.due_at == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)  # 08:00 BST
    with time_machine.travel(datetime(2026, 3, 29, 6, 59, tzinfo=UTC), tick=False):
        assert (await dispatcher_for(db, bot).run_once()).sent == 0
    with time_machine.travel(datetime(2026, 3, 29, 7, 0, tzinfo=UTC), tick=False):
        assert (await dispatcher_for(db, bot).run_once()).sent == 1
    assert len(fake.messages_to(301)) == 1


async def test_quiet_hours_defer_to_the_morning_across_the_autumn_clock_change(db, fake, bot):
    person_id = await add_person(db, 302)
    with time_machine.travel(datetime(2026, 10, 24, 22, 0, tzinfo=UTC), tick=False):
        await queue_followup(db, person_id, datetime(2026, 10, 24, 21, 0, tzinfo=UTC))
        await dispatcher_for(db, bot).run_once()
    [row] = await rows(db)
    assert row.due_at == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 08:00 GMT


async def test_safety_messages_are_not_held_by_quiet_hours(db, fake, bot):
    person_id = await add_person(db, 303)
    with time_machine.travel(datetime(2026, 6, 1, 1, 0, tzinfo=UTC), tick=False):
        await queue_followup(
            db, person_id, datetime(2026, 6, 1, 1, 0, tzinfo=UTC), priority=Priority.SAFETY
        )
        report = await dispatcher_for(db, bot).run_once()
    assert report.sent == 1 and len(fake.messages_to(303)) == 1


async def test_higher_priority_goes_first(db, fake, bot):
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        first = await add_person(db, 401, name="Education")
        second = await add_person(db, 402, name="Safety")
        now = datetime.now(UTC)
        await queue_followup(db, first, now - timedelta(hours=1), priority=Priority.EDUCATION)
        await queue_followup(db, second, now, priority=Priority.SAFETY)
        await dispatcher_for(db, bot, dispatch_concurrency=1).run_once()
    sends = [m.chat_id for m in fake.messages if m.method == "sendMessage"]
    assert sends == [402, 401]


async def test_retry_after_reschedules_without_counting_an_attempt(db, fake, bot):
    person_id = await add_person(db, 501)
    fake.fail_next("sendMessage", error_code=429, description="Too Many Requests", retry_after=7)
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        await queue_followup(db, person_id, datetime.now(UTC))
        report = await dispatcher_for(db, bot).run_once()
    assert report.retried == 1
    [row] = await rows(db)
    assert row.status == OutboxStatus.PENDING and row.attempts == 0
    assert row.due_at == datetime(2026, 6, 1, 12, 0, 7, tzinfo=UTC)
    assert "retry after 7" in (row.last_error or "")


async def test_server_errors_back_off_exponentially_then_fail(db, fake, bot):
    person_id = await add_person(db, 601)
    fake.fail_next("sendMessage", error_code=500, description="Internal Server Error", times=3)
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    await queue_followup(db, person_id, start)
    expected_delays = [30, 60]
    moment = start
    for attempt, delay in enumerate(expected_delays, start=1):
        with time_machine.travel(moment, tick=False):
            await dispatcher_for(db, bot, max_send_attempts=3).run_once()
        [row] = await rows(db)
        assert row.status == OutboxStatus.PENDING and row.attempts == attempt
        assert row.due_at == moment + timedelta(seconds=delay)
        moment = row.due_at
    with time_machine.travel(moment, tick=False):
        await dispatcher_for(db, bot, max_send_attempts=3).run_once()
    [row] = await rows(db)
    assert row.status == OutboxStatus.FAILED and row.attempts == 3
    assert "500" in (row.last_error or "") or "Internal" in (row.last_error or "")
    assert fake.messages_to(601) == []


async def test_bad_request_fails_at_once_and_keeps_the_error(db, fake, bot):
    person_id = await add_person(db, 701)
    fake.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        await queue_followup(db, person_id, datetime.now(UTC))
        await dispatcher_for(db, bot).run_once()
    [row] = await rows(db)
    assert row.status == OutboxStatus.FAILED and row.attempts == 1
    assert "chat not found" in (row.last_error or "").lower()


async def test_forbidden_deactivates_the_person_and_cancels_their_other_messages(db, fake, bot):
    person_id = await add_person(db, 801)
    fake.block_chat(801)
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        now = datetime.now(UTC)
        await queue_followup(db, person_id, now, key="now")
        await queue_followup(db, person_id, now + timedelta(days=3), key="later")
        await dispatcher_for(db, bot).run_once()
    now_row, later_row = await rows(db)
    assert now_row.status == OutboxStatus.FAILED and "Forbidden" in (now_row.last_error or "")
    assert later_row.status == OutboxStatus.CANCELLED
    async with db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None and person.status == PersonStatus.INACTIVE


async def test_a_paused_person_gets_nothing(db, fake, bot):
    person_id = await add_person(db, 851)
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        async with db.session() as session:
            person = await session.get(Person, person_id)
            assert person is not None
            await account.pause(session, person, datetime.now(UTC))
        await queue_followup(db, person_id, datetime.now(UTC))
        await dispatcher_for(db, bot).run_once()
    [row] = await rows(db)
    assert row.status == OutboxStatus.CANCELLED and fake.messages_to(851) == []


async def test_a_lease_held_by_a_crashed_dispatcher_is_taken_over(db, fake, bot):
    person_id = await add_person(db, 901)
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        await queue_followup(db, person_id, start)
        # Dispatcher A claims the row and dies before sending anything.
        async with db.session() as session:
            claimed = await outbox.claim_due(
                session, now=start, worker_id="crashed", limit=10, lease_seconds=60
            )
        assert len(claimed) == 1
        report = await dispatcher_for(db, bot, worker_id="b").run_once()
        assert report.sent == 0  # the lease is still held
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        report = await dispatcher_for(db, bot, worker_id="b").run_once()
    assert report.sent == 1
    assert len(fake.messages_to(901)) == 1
    [row] = await rows(db)
    assert row.status == OutboxStatus.SENT and row.leased_by == "b"


async def test_an_unknown_template_fails_the_row_not_the_dispatcher(db, fake, bot):
    person_id = await add_person(db, 951)
    with time_machine.travel(datetime(2026, 6, 1, 12, 0, tzinfo=UTC), tick=False):
        async with db.session() as session:
            await outbox.queue(
                session,
                template_key="no_such_template",
                dedupe_key="x",
                due_at=datetime.now(UTC),
                priority=Priority.REMINDER,
                person_id=person_id,
            )
        await queue_followup(db, person_id, datetime.now(UTC))
        report = await dispatcher_for(db, bot).run_once()
    assert report.failed == 1 and report.sent == 1


async def test_two_dispatchers_racing_on_postgres_never_send_twice(postgres_db, fake, bot):
    db = postgres_db
    people = [await add_person(db, 10_000 + n, name=f"P{n}") for n in range(120)]
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    for person_id in people:
        await queue_followup(db, person_id, start)
    with time_machine.travel(start, tick=False):
        first = dispatcher_for(db, bot, worker_id="a", dispatch_batch_size=10)
        second = dispatcher_for(db, bot, worker_id="b", dispatch_batch_size=10)
        reports = await asyncio.gather(first.run_once(), second.run_once())
    assert sum(r.sent for r in reports) == 120
    assert all(r.sent > 0 for r in reports), "both dispatchers should have claimed work"
    chats = [m.chat_id for m in fake.messages if m.method == "sendMessage"]
    assert sorted(chats) == sorted(10_000 + n for n in range(120))
    assert {row.status for row in await rows(db)} == {OutboxStatus.SENT}


async def test_only_one_process_holds_the_dispatch_role_on_postgres(postgres_db):
    from tests.conftest import TEST_DATABASE_URL

    assert TEST_DATABASE_URL
    other_process = Database(TEST_DATABASE_URL)
    first, second = DispatchLeadership(postgres_db), DispatchLeadership(other_process)
    try:
        assert await first.acquire() is True
        assert await second.acquire() is False
        # The holder's connection dies (as when its process is killed): the role moves on.
        assert first._connection is not None
        await first._connection.close()
        first._connection = None
        assert await second.acquire() is True
        assert await first.acquire() is False
    finally:
        await first.release()
        await second.release()
        await other_process.dispose()


async def test_taking_the_role_hands_back_rows_a_dead_dispatcher_held(postgres_db):
    db = postgres_db
    person_id = await add_person(db, 990)
    start = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    await queue_followup(db, person_id, start)
    async with db.session() as session:
        await outbox.claim_due(session, now=start, worker_id="dead", limit=5, lease_seconds=600)
    leadership = DispatchLeadership(db)
    try:
        assert await leadership.acquire()
    finally:
        await leadership.release()
    [row] = await rows(db)
    assert row.status == OutboxStatus.PENDING and row.leased_by is None
