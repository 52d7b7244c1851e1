"""Education campaigns: one topic to a cohort, through the outbox at the lowest priority, never
twice to one person; from the service, the command line and the API, and end to end in each
language."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, update
from sqlmodel import col, select

from bot import cli
from bot.content import Library
from bot.context import AppContext
from bot.db import Database
from bot.i18n import translator
from bot.models import (
    AuditEvent,
    Campaign,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Practice,
    Priority,
)
from bot.plans import load_plans
from bot.services import api_keys, campaigns
from bot.services.campaigns import CampaignConflict, InvalidCampaign
from bot.web import build_web_app
from tests.campaign_library import TITLES, use_library, write_library
from tests.conftest import make_settings
from tests.fake_bot_api import UserSim
from tests.harness import BotUnderTest, assert_no_english, button_texts, running_bot
from tests.test_api import Api
from tests.test_e2e_journeys import join_with_code

LONDON = ZoneInfo("Europe/London")
# A Monday morning in January; Ramadan 2027 starts about 8 February.
NOW = datetime(2027, 1, 11, 10, 0, tzinfo=UTC)
TWO_WEEKS_BEFORE = datetime(2027, 1, 25, 10, 0, tzinfo=UTC)
HINDI_URDU_TYPE_2 = {"languages": ["hi", "ur"], "diabetes_types": ["type2"]}
_ids = itertools.count(1)


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Library:
    return use_library(tmp_path / "content", monkeypatch)


async def add_person(
    db: Database,
    *,
    language: str = "ur",
    diabetes_type: str | None = "type2",
    role: str = "patient",
    practice: str | None = "Y01234",
    status: PersonStatus = PersonStatus.ACTIVE,
    chat: bool = True,
    paused: bool = False,
) -> int:
    number = next(_ids)
    async with db.session() as session:
        for ods in ("Y01234", "Y05678"):
            if await session.get(Practice, ods) is None:
                session.add(Practice(ods_code=ods, name=f"Practice {ods}"))
        person = Person(
            role=role,
            display_name=f"Person {number}",
            language=language,
            diabetes_type=diabetes_type,
            practice_ods=practice,
            status=status,
            telegram_user_id=990_000 + number if chat else None,
            telegram_chat_id=990_000 + number if chat else None,
            paused_at=NOW if paused else None,
        )
        session.add(person)
        await session.flush()
        assert person.id is not None
        return person.id


async def send(
    db: Database, library: Library, name: str = "ramadan-2027", **changes: Any
) -> campaigns.SendResult:
    arguments: dict[str, Any] = {
        "name": name,
        "topic_id": "ramadan",
        "audience": HINDI_URDU_TYPE_2,
        "send_at": TWO_WEEKS_BEFORE,
        "actor": "cli:admin",
        "now": NOW,
        "library": library,
        **changes,
    }
    async with db.session() as session:
        return await campaigns.send(session, **arguments)


async def campaign_rows(db: Database, name: str = "ramadan-2027") -> list[OutboxMessage]:
    async with db.session() as session:
        campaign = await campaigns.by_name(session, name)
        assert campaign is not None and campaign.id is not None
        rows = await session.exec(
            select(OutboxMessage).where(col(OutboxMessage.topic) == campaigns.topic(campaign.id))
        )
        return list(rows.all())


# The service ---------------------------------------------------------------------------------


async def test_the_cohort_is_everyone_reachable_who_matches_every_filter(db, library):
    urdu = await add_person(db, language="ur")
    hindi_carer = await add_person(db, language="hi", role="carer", practice=None)
    other_practice = await add_person(db, language="hi", practice="Y05678")
    outside = [
        await add_person(db, language="en"),
        await add_person(db, language="ur", diabetes_type="type1"),
        await add_person(db, language="ur", diabetes_type=None),
        await add_person(db, status=PersonStatus.INVITED, chat=False),  # has not joined
        await add_person(db, status=PersonStatus.INACTIVE),  # blocked the bot
        await add_person(db, paused=True),  # sent /stop
        await add_person(db, role="gp"),  # staff never get a campaign
        await add_person(db, role="admin"),
    ]

    result = await send(db, library)
    assert (result.created, result.matched, result.queued) == (True, 3, 3)
    rows = await campaign_rows(db)
    assert {row.person_id for row in rows} == {urdu, hindi_carer, other_practice}
    assert not {row.person_id for row in rows} & set(outside)
    campaign_id = result.campaign.id
    for row in rows:
        assert row.template_key == "education_campaign"
        assert row.params == {"topic": "ramadan"}
        assert row.priority == Priority.EDUCATION == max(Priority)
        assert row.due_at == TWO_WEEKS_BEFORE
        assert row.status == OutboxStatus.PENDING
        assert row.dedupe_key == f"campaign:{campaign_id}:{row.person_id}"
    async with db.session() as session:
        stored = await campaigns.by_name(session, "ramadan-2027")
        assert stored is not None
        assert (stored.topic_id, stored.recipients, stored.created_by) == (
            "ramadan",
            3,
            "cli:admin",
        )
        assert stored.audience == {
            "languages": ["hi", "ur"],
            "diabetes_types": ["type2"],
            "roles": [],
            "practices": [],
        }

    # Narrower: patients of one practice (a lower-case code is read as the ODS code).
    narrow = await send(
        db,
        library,
        "ramadan-y01234",
        audience={**HINDI_URDU_TYPE_2, "roles": ["patient"], "practices": ["y01234"]},
    )
    assert narrow.queued == 1
    assert [row.person_id for row in await campaign_rows(db, "ramadan-y01234")] == [urdu]


async def test_without_filters_it_reaches_every_non_staff_person_and_starts_now(db, library):
    people = {
        await add_person(db, language=lang, role=role)
        for lang, role in [
            ("en", "patient"),
            ("hi", "carer"),
            ("ur", "young_person"),
            ("en", "at_risk"),
        ]
    }
    await add_person(db, role="nurse")
    result = await send(db, library, audience={}, send_at=None)
    assert result.queued == 4
    rows = await campaign_rows(db)
    assert {row.person_id for row in rows} == people
    assert {row.due_at for row in rows} == {NOW}


async def test_sending_again_reaches_only_new_people_and_never_anyone_twice(db, library):
    first = await add_person(db, language="ur")
    second = await add_person(db, language="hi")
    assert (await send(db, library)).queued == 2
    # One was sent, the other cancelled (they blocked the bot, then came back).
    rows = await campaign_rows(db)
    async with db.session() as session:
        for row, status in zip(rows, (OutboxStatus.SENT, OutboxStatus.CANCELLED), strict=True):
            await session.exec(
                update(OutboxMessage).where(col(OutboxMessage.id) == row.id).values(status=status)
            )

    again = await send(db, library)
    assert (again.created, again.matched, again.queued) == (False, 2, 0)

    newcomer = await add_person(db, language="ur")
    # The practice records a diabetes type after the first send.
    late = await add_person(db, language="hi", diabetes_type=None)
    async with db.session() as session:
        late_person = await session.get(Person, late)
        assert late_person is not None
        late_person.diabetes_type = "type2"
        session.add(late_person)
    third = await send(db, library, send_at=None)
    assert (third.created, third.matched, third.queued) == (False, 4, 2)
    rows = await campaign_rows(db)
    assert sorted(row.person_id for row in rows) == sorted([first, second, newcomer, late])
    assert len({row.dedupe_key for row in rows}) == 4
    # The newcomers' messages start now: the first send's time has not come yet, but theirs
    # is the time of this send.
    assert {row.due_at for row in rows if row.person_id in (newcomer, late)} == {NOW}

    # Wider filters add only the people they add.
    english = await add_person(db, language="en")
    wider = await send(db, library, audience={"diabetes_types": ["type2"]})
    assert (wider.matched, wider.queued) == (5, 1)
    assert english in {row.person_id for row in await campaign_rows(db)}
    async with db.session() as session:
        stored = await campaigns.by_name(session, "ramadan-2027")
        assert stored is not None and stored.recipients == 5
        assert stored.send_at == TWO_WEEKS_BEFORE  # when it started


async def test_the_same_name_with_another_topic_is_refused(db, library):
    await add_person(db)
    await send(db, library)
    with pytest.raises(CampaignConflict, match=r"ramadan-2027.*'ramadan'.*another name"):
        await send(db, library, topic_id="eid")
    assert len(await campaign_rows(db)) == 1
    # Under its own name the other topic goes.
    assert (await send(db, library, "eid-2027", topic_id="eid")).queued == 1


async def test_a_withdrawn_or_unknown_topic_is_refused(db, library):
    await add_person(db)
    with pytest.raises(InvalidCampaign) as withdrawn:
        await send(db, library, topic_id="old-advice")
    assert [(p.field, "withdrawn" in p.message) for p in withdrawn.value.problems] == [
        ("topic", True)
    ]
    with pytest.raises(InvalidCampaign) as unknown:
        await send(db, library, topic_id="no-such-page")
    assert unknown.value.problems[0].field == "topic"
    # Ramadan's page is withdrawn after its review is 90 days overdue (2028-01-30): a send
    # planned after that would only fail, so it is refused now.
    with pytest.raises(InvalidCampaign, match="before the send time"):
        await send(
            db,
            library,
            now=datetime(2027, 12, 1, tzinfo=UTC),
            send_at=datetime(2028, 2, 1, tzinfo=UTC),
        )
    async with db.session() as session:
        assert (await session.exec(select(Campaign))).all() == []
        assert (await session.exec(select(OutboxMessage))).all() == []


async def test_every_wrong_value_is_named_and_nothing_is_kept(db, library):
    await add_person(db)
    with pytest.raises(InvalidCampaign) as refused:
        await send(
            db,
            library,
            "ramadan 2027!",
            audience={
                "languages": ["ur", "pa"],
                "diabetes_types": ["type3"],
                "roles": ["patient", "gp"],
                "practices": ["Y01234", "12"],
            },
            send_at=NOW - timedelta(hours=1),
        )
    problems = {p.field: p.message for p in refused.value.problems}
    assert set(problems) == {
        "name",
        "languages",
        "diabetes_types",
        "roles",
        "practices",
        "send_at",
    }
    assert "'pa'" in problems["languages"] and "en, hi, ur" in problems["languages"]
    assert "never go to staff" in problems["roles"]
    assert "'12'" in problems["practices"]
    assert "past" in problems["send_at"]
    with pytest.raises(InvalidCampaign, match="a year ahead"):
        await send(db, library, send_at=datetime(2029, 1, 25, 10, tzinfo=UTC))
    # A moment ago (the caller's clock lagging) is now.
    result = await send(db, library, send_at=NOW - timedelta(seconds=20))
    assert {row.due_at for row in await campaign_rows(db)} == {NOW} and result.queued == 1
    async with db.session() as session:
        assert len((await session.exec(select(Campaign))).all()) == 1


async def test_a_dry_run_counts_and_changes_nothing(db, library):
    await add_person(db)
    await add_person(db, language="hi")
    dry = await send(db, library, dry_run=True)
    assert (dry.created, dry.matched, dry.queued, dry.dry_run) == (True, 2, 2, True)
    async with db.session() as session:
        assert (await session.exec(select(Campaign))).all() == []
        assert (await session.exec(select(OutboxMessage))).all() == []
        assert (await session.exec(select(AuditEvent))).all() == []
    await send(db, library)
    await add_person(db)
    dry_again = await send(db, library, dry_run=True)
    assert (dry_again.created, dry_again.matched, dry_again.queued) == (False, 3, 1)
    assert len(await campaign_rows(db)) == 2


async def test_status_counts_the_messages_by_status_and_the_audit_keeps_no_patient_data(
    db, library
):
    people = [await add_person(db) for _ in range(5)]
    await send(db, library)
    rows = await campaign_rows(db)
    outcomes = [OutboxStatus.SENT, OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.CANCELLED]
    async with db.session() as session:
        for row, status in zip(rows, outcomes, strict=False):
            await session.exec(
                update(OutboxMessage).where(col(OutboxMessage.id) == row.id).values(status=status)
            )
    # Sent now, before Ramadan's: the list shows the latest send time first.
    await send(
        db, library, "eid-2027", topic_id="eid", audience={"languages": ["en"]}, send_at=None
    )
    async with db.session() as session:
        entry = await campaigns.status(session, "ramadan-2027")
        assert entry.counts == {"pending": 1, "sending": 0, "sent": 2, "failed": 1, "cancelled": 1}
        assert entry.campaign.recipients == 5 and entry.waiting == 1
        listed = await campaigns.list_campaigns(session)
        assert [(e.campaign.name, e.campaign.recipients) for e in listed] == [
            ("ramadan-2027", 5),
            ("eid-2027", 0),
        ]
        with pytest.raises(campaigns.NotFound):
            await campaigns.status(session, "nobody")
        audit = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "campaign.send"))
        ).all()
    assert [(a.actor, a.person_id) for a in audit] == [("cli:admin", None)] * 2
    assert "name=ramadan-2027 topic=ramadan new matched=5 queued=5" in audit[0].detail
    for person_id in people:
        assert f"Person {person_id}" not in audit[0].detail


async def test_a_large_cohort_takes_a_few_statements_not_one_per_person(db, library):
    async with db.session() as session:
        session.add(Practice(ods_code="Y01234", name="Riverside"))
        await session.flush()
        session.add_all(
            Person(
                role="patient",
                display_name=f"P{n}",
                language="ur",
                diabetes_type="type2",
                practice_ods="Y01234",
                status=PersonStatus.ACTIVE,
                telegram_user_id=5_000_000 + n,
                telegram_chat_id=5_000_000 + n,
            )
            for n in range(2_500)
        )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2])[:40])

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await send(db, library)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert result.queued == 2_500
    # A handful of selects, the campaign, three chunks of rows (each may be a few batches of
    # the driver's own), the audit: far fewer than 2,500.
    assert len(statements) < 40, statements
    assert len(await campaign_rows(db)) == 2_500


# The command line ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("DIABRIDGE_CONTENT_DIR", str(write_library(tmp_path / "content")))
    monkeypatch.setenv("DIABRIDGE_TIMEZONE", "Europe/London")
    monkeypatch.chdir(tmp_path)
    with time_machine.travel(NOW, tick=False):
        yield url


def _people(url: str, *specs: dict[str, Any]) -> list[int]:
    async def work() -> list[int]:
        db = Database(url)
        try:
            await db.upgrade()
            return [await add_person(db, **spec) for spec in specs]
        finally:
            await db.dispose()

    return asyncio.run(work())


def test_campaign_send_status_and_list_from_the_command_line(cli_env, capsys):
    _people(cli_env, {"language": "ur"}, {"language": "hi"}, {"language": "en"})
    argv = ["campaign", "send", "ramadan-2027", "--topic", "ramadan"]
    filters = ["--language", "hi", "--language", "ur", "--diabetes-type", "type2"]
    assert cli.main([*argv, *filters, "--at", "2027-01-25 10:00", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run, nothing queued: 2 people match" in out and "would get 'ramadan'" in out

    assert cli.main([*argv, *filters, "--at", "2027-01-25 10:00"]) == 0
    out = capsys.readouterr().out
    assert (
        "Campaign ramadan-2027 (ramadan): 2 people queued (languages hi, ur; diabetes types "
        "type2), sending from 2027-01-25 10:00 Europe/London." in out
    )
    assert "diabridge campaign status ramadan-2027" in out

    # Again, once someone new has joined: only they are added.
    _people(cli_env, {"language": "ur"})
    assert cli.main([*argv, *filters]) == 0
    assert "was sent before: 1 more person queued" in capsys.readouterr().out

    assert cli.main(["campaign", "status", "ramadan-2027"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        "ramadan-2027 (ramadan): 3 people; sent 0, waiting 3, failed 0, cancelled 0"
    )
    assert "Sending from 2027-01-25 10:00 Europe/London" in out

    assert cli.main(["campaign", "list"]) == 0
    assert "ramadan-2027 (ramadan): 3 people; sent 0, waiting 3" in capsys.readouterr().out


def test_a_summer_time_is_local_time(cli_env, capsys):
    _people(cli_env, {"language": "ur"})
    assert (
        cli.main(["campaign", "send", "summer", "--topic", "ramadan", "--at", "2027-06-01 10:00"])
        == 0
    )
    assert "sending from 2027-06-01 10:00 Europe/London" in capsys.readouterr().out

    async def due() -> set[datetime]:
        db = Database(cli_env)
        try:
            return {row.due_at for row in await campaign_rows(db, "summer")}
        finally:
            await db.dispose()

    assert asyncio.run(due()) == {datetime(2027, 6, 1, 9, 0, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--language", "pa"], "error: --language: 'pa': use en, hi, ur"),
        (["--diabetes-type", "type3"], "error: --diabetes-type: 'type3': use type1, type2, other"),
        (["--role", "specialist"], "error: --role: 'specialist'"),
        (["--practice", "1234"], "error: --practice: '1234': not an ODS code"),
        (["--at", "2027-01-01 10:00"], "error: --at: the time is in the past"),
        (["--at", "25/01/2027"], "error: --at: '25/01/2027' is not a date and time"),
        (["--at", "2027-03-28 01:30"], "error: --at: '2027-03-28 01:30': the clocks go forward"),
        (["--topic", "old-advice"], "error: --topic: 'old-advice' is withdrawn"),
        (["--topic", "nothing"], "error: --topic: 'nothing' is not a topic of the library"),
    ],
)
def test_bad_input_is_named_and_exits_2(cli_env, capsys, extra, expected):
    _people(cli_env, {"language": "ur"})
    argv = ["campaign", "send", "ramadan-2027", "--topic", "ramadan", *extra]
    assert cli.main(argv) == 2
    assert expected in capsys.readouterr().err
    assert cli.main(["campaign", "list"]) == 0
    assert "No campaigns yet" in capsys.readouterr().out


def test_every_wrong_flag_at_once_and_a_name_kept_for_its_topic(cli_env, capsys):
    _people(cli_env, {"language": "ur"})
    argv = ["campaign", "send", "ramadan-2027", "--topic", "ramadan"]
    assert cli.main([*argv, "--language", "pa", "--role", "gp"]) == 2
    err = capsys.readouterr().err
    assert "--language:" in err and "--role:" in err
    assert cli.main(argv) == 0
    capsys.readouterr()
    assert cli.main(["campaign", "send", "ramadan-2027", "--topic", "eid"]) == 2
    assert "error: NAME: the campaign 'ramadan-2027' exists already" in capsys.readouterr().err
    assert cli.main(["campaign", "status", "nobody"]) == 2
    assert "no campaign is named 'nobody'" in capsys.readouterr().err


def test_a_library_that_fails_its_check_stops_the_send(cli_env, tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken"
    (broken / "ramadan").mkdir(parents=True)
    (broken / "ramadan" / "en.md").write_text("no front matter", encoding="utf-8")
    monkeypatch.setenv("DIABRIDGE_CONTENT_DIR", str(broken))
    assert cli.main(["campaign", "send", "x", "--topic", "ramadan"]) == 2
    assert "diabridge content check" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["campaign"], ["campaign", "send"], ["campaign", "status"], ["campaign", "list"]]
)
def test_every_campaign_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([*argv, "--help"])
    assert done.value.code == 0
    assert "usage: diabridge campaign" in capsys.readouterr().out


# The API -------------------------------------------------------------------------------------


@pytest.fixture
async def api(db: Database, library: Library) -> AsyncIterator[Api]:
    with time_machine.travel(NOW, tick=False):
        settings = make_settings(db.url)
        ctx = AppContext(settings=settings, db=db, plans=load_plans(settings.plans_file))
        client = TestClient(TestServer(build_web_app(ctx, None)))
        await client.start_server()
        async with db.session() as session:
            key = await api_keys.create(
                session, "public-health", scopes=[api_keys.CAMPAIGNS], now=NOW, actor="cli:t"
            )
            practice_key = await api_keys.create(session, "emis", now=NOW, actor="cli:t")
        try:
            yield Api(client, key.key, cohort_key=practice_key.key, settings=settings)
        finally:
            await client.close()


RAMADAN_BODY = {
    "name": "ramadan-2027",
    "topic": "ramadan",
    "languages": ["hi", "ur"],
    "diabetes_types": ["type2"],
    "send_at": "2027-01-25T10:00:00+00:00",
}


async def test_the_api_sends_a_campaign_and_reports_its_progress(api: Api, db: Database):
    await add_person(db, language="ur")
    await add_person(db, language="hi")
    await add_person(db, language="en")

    sent = await api.call("POST", "/campaigns", RAMADAN_BODY)
    assert sent.status == 201
    assert sent.headers["Location"] == "/api/v1/campaigns/ramadan-2027"
    assert sent.body["matched"] == sent.body["queued"] == sent.body["recipients"] == 2
    assert sent.body["send_at"] == "2027-01-25T10:00:00+00:00"
    assert sent.body["created_by"] == "api:public-health"
    assert sent.body["counts"] == {
        "pending": 2,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "cancelled": 0,
    }
    assert sent.body["audience"] == {
        "languages": ["hi", "ur"],
        "diabetes_types": ["type2"],
        "roles": [],
        "practices": [],
    }

    again = await api.call("POST", "/campaigns", RAMADAN_BODY)
    assert again.status == 200 and again.body["queued"] == 0 and again.body["recipients"] == 2
    await add_person(db, language="ur")
    newcomer = await api.call("POST", "/campaigns", {**RAMADAN_BODY, "send_at": None})
    assert newcomer.status == 200
    assert (newcomer.body["matched"], newcomer.body["queued"]) == (3, 1)
    assert newcomer.body["counts"]["pending"] == 3

    other = await api.call("POST", "/campaigns", {**RAMADAN_BODY, "topic": "eid"})
    assert other.status == 409 and "another name" in other.body["detail"]

    one = await api.call("GET", "/campaigns/ramadan-2027")
    assert one.status == 200 and one.body["recipients"] == 3 and "queued" not in one.body
    listed = await api.call("GET", "/campaigns")
    assert [c["name"] for c in listed.body["campaigns"]] == ["ramadan-2027"]
    missing = await api.call("GET", "/campaigns/nobody")
    assert missing.status == 404


async def test_the_api_names_every_wrong_field(api: Api):
    wrong = await api.call(
        "POST",
        "/campaigns",
        {
            "name": "ramadan 2027",
            "topic": "old-advice",
            "languages": ["pa"],
            "diabetes_types": "type2",
            "roles": ["gp"],
            "practices": ["12"],
            "send_at": "2027-01-01T10:00:00+00:00",
            "colour": "green",
        },
        document_allows=False,
    )
    assert wrong.status == 422
    assert wrong.fields == {
        "name",
        "topic",
        "languages",
        "diabetes_types",
        "roles",
        "practices",
        "send_at",
        "colour",
    }
    no_offset = await api.call(
        "POST",
        "/campaigns",
        {**RAMADAN_BODY, "send_at": "2027-01-25T10:00"},
        document_allows=False,
    )
    assert no_offset.status == 422 and no_offset.fields == {"send_at"}
    bare = await api.call("POST", "/campaigns", {}, document_allows=False)
    assert bare.status == 422 and bare.fields == {"name", "topic"}
    listed = await api.call("GET", "/campaigns")
    assert listed.body == {"campaigns": []}


async def test_the_api_needs_a_key_with_the_campaigns_scope(api: Api):
    for key in (None, "dbk_not-a-key"):
        refused = await api.call("POST", "/campaigns", RAMADAN_BODY, key=key)
        assert refused.status == 401
    # A practice's usual key (patients, appointments) cannot send to a cohort.
    answers = [
        await api.call("POST", "/campaigns", RAMADAN_BODY, key=api.cohort_key),
        await api.call("GET", "/campaigns", key=api.cohort_key),
        await api.call("GET", "/campaigns/ramadan-2027", key=api.cohort_key),
    ]
    for answer in answers:
        assert answer.status == 403 and "campaigns" in answer.body["detail"]


# End to end ----------------------------------------------------------------------------------


@pytest.fixture
async def bot(tmp_path: Path, library: Library) -> AsyncIterator[BotUnderTest]:
    async with running_bot(tmp_path) as running:
        yield running


async def _join(bot: BotUnderTest, user_id: int, nhs: str, language: str, kind: str | None):
    issued = await bot.register_patient(language=language, nhs_number=nhs, name="Irfan Ahmed")
    user = UserSim(user_id, first_name="Irfan")
    await join_with_code(bot, user, issued.code, language)
    async with bot.db.session() as session:
        person = await session.get(Person, issued.person_id)
        assert person is not None and person.status == PersonStatus.ACTIVE
        person.diabetes_type = kind
        session.add(person)
    return user


@pytest.mark.parametrize("language", ["en", "hi", "ur"])
async def test_receive_a_campaign_once(bot: BotUnderTest, library: Library, language: str):
    other_language = "en" if language != "en" else "ur"
    with time_machine.travel(NOW, tick=False):
        reader = await _join(bot, 710_001, "943 476 5919", language, "type2")
        type_1 = await _join(bot, 710_002, "401 023 2137", language, "type1")
        elsewhere = await _join(bot, 710_003, "943 476 5870", other_language, "type2")
        before = {u.user_id: len(bot.said_to(u.user_id)) for u in (reader, type_1, elsewhere)}
        audience = {"languages": [language], "diabetes_types": ["type2"]}
        async with bot.db.session() as session:
            first = await campaigns.send(
                session,
                name=f"ramadan-{language}",
                topic_id="ramadan",
                audience=audience,
                send_at=None,
                actor="cli:admin",
                now=NOW,
                library=library,
            )
        assert first.queued == 1
        await bot.dispatch()
        await bot.dispatch()
        async with bot.db.session() as session:
            again = await campaigns.send(
                session,
                name=f"ramadan-{language}",
                topic_id="ramadan",
                audience=audience,
                send_at=None,
                actor="cli:admin",
                now=NOW,
                library=library,
            )
        assert again.queued == 0
        await bot.dispatch()

    t = translator(language)
    title = TITLES["ramadan"][language]
    got = [
        m for m in bot.said_to(reader.user_id)[before[reader.user_id] :] if title in (m.text or "")
    ]
    assert len(got) == 1, [m.text for m in bot.said_to(reader.user_id)]
    page = got[0]
    assert t._("📣 Your diabetes team thought this page would be useful now.") in page.text
    assert button_texts(bot.fake, page)[:2] == [t._("👍 Yes"), t._("👎 Not really")]
    if language != "en":
        assert_no_english(page.text)
        assert "Ramadan" not in page.text
    for outsider in (type_1, elsewhere):
        assert len(bot.said_to(outsider.user_id)) == before[outsider.user_id]
    async with bot.db.session() as session:
        entry = await campaigns.status(session, f"ramadan-{language}")
    assert entry.counts["sent"] == 1 and entry.waiting == 0 and entry.campaign.recipients == 1
