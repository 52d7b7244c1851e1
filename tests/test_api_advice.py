"""The hypo hotline and the advice line over the integration API: the ambulance service's
call-outs (POST /api/v1/hypo-callouts) and the service manager's list of requests
(GET /api/v1/advice-requests).

Every exchange goes through tests/test_api.py's client, which holds it to bot/openapi.yaml.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlmodel import col, select

from bot.db import Database
from bot.models import (
    AdviceKind,
    AdviceMessageKind,
    AdviceRequest,
    AuditEvent,
    OutboxMessage,
    Person,
    PersonStatus,
    Priority,
    Role,
    TeamChat,
)
from bot.services import advice_line, api_keys
from bot.services.advice_line import Helped, Outcome, Step, Targets
from tests.test_api import (  # noqa: F401  (api, clock: fixtures)
    AMY,
    NHS,
    NHS_DIGITS,
    NOW,
    OTHER_NHS,
    Answer,
    Api,
    _new_key,
    _without_dropped,
    api,
    clock,
)

LONDON = ZoneInfo("Europe/London")
AMBULANCE = "scas-hypo"
MANAGER = "service-manager"
TEAM_CHAT = -1001234567890
# A number with a right check digit that no patient in these tests has.
UNKNOWN_NHS = "999 000 0018"
UNKNOWN_DIGITS = "9990000018"
# The patient a GP asks about; typed into the GP's request, never in the API's answers.
ASKED_ABOUT = "943 476 5870"
ASKED_ABOUT_DIGITS = "9434765870"
QUESTION = "Swollen hot right foot after a minor knock, no fever: please advise on next steps"
DRAFT_QUESTION = "Unsent draft about insulin pump settings overnight for a young adult"
REPLY = "Please arrange an urgent foot clinic review today and send a photo if possible"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


# tests/test_api.py's client and clock, under names of their own (the imported fixture names
# would be shadowed by every test's parameters).
@pytest.fixture
def client(api: Api) -> Api:  # noqa: F811
    return api


@pytest.fixture
def traveller(clock: time_machine.Traveller) -> time_machine.Traveller:  # noqa: F811
    return clock


@pytest.fixture
async def hotline(db: Database) -> str:
    """The ambulance service's key: call-outs only."""
    return await _new_key(db, AMBULANCE, [api_keys.HYPO_CALLOUTS])


@pytest.fixture
async def reports(db: Database) -> str:
    """A service manager's key: the advice line's list only."""
    return await _new_key(db, MANAGER, [api_keys.ADVICE_LINE])


@pytest.fixture
async def team_chat(db: Database) -> int:
    """The specialist team's group, where each follow-up's card appears."""
    async with db.session() as session:
        session.add(TeamChat(chat_id=TEAM_CHAT, title="Diabetes team", registered_by="person:1"))
    return TEAM_CHAT


async def call_out(client: Api, key: str, **changes: Any) -> Answer:
    """A call-out as the ambulance service sends it: a hypo twenty minutes ago."""
    body = {
        "nhs_number": UNKNOWN_NHS,
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=20)).isoformat(),
        "taken_to_hospital": False,
        **changes,
    }
    return await client.call("POST", "/hypo-callouts", _without_dropped(body), key=key)


async def follow_ups(db: Database) -> list[AdviceRequest]:
    async with db.session() as session:
        return list(
            (await session.exec(select(AdviceRequest).order_by(col(AdviceRequest.id)))).all()
        )


async def outbox_rows(db: Database, template: str) -> list[OutboxMessage]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.template_key) == template)
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        )


# Call-outs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("called_at", "due_at"),
    [
        pytest.param("2026-11-27T19:00", "2026-11-30T17:00:00+00:00", id="friday-evening"),
        # Christmas Day (Friday), the weekend, then Boxing Day's substitute Monday.
        pytest.param("2026-12-24T19:00", "2026-12-29T17:00:00+00:00", id="christmas-eve"),
        # The spring bank holiday Monday, in British Summer Time.
        pytest.param("2026-05-22T19:00", "2026-05-26T17:00:00+01:00", id="spring-bank-holiday"),
    ],
)
async def test_a_callout_is_a_follow_up_due_within_one_working_day(
    client: Api,
    db: Database,
    traveller: time_machine.Traveller,
    hotline: str,
    team_chat: int,
    called_at: str,
    due_at: str,
):
    traveller.move_to(local(called_at))
    answer = await call_out(client, hotline, taken_to_hospital=True, callout_id="SCAS-118734")

    assert answer.status == 201
    [follow_up] = await follow_ups(db)
    assert answer.body == {
        "reference": follow_up.reference,
        "status": "open",
        "occurred_at": (local(called_at) - timedelta(minutes=20)).isoformat(),
        "taken_to_hospital": True,
        "callout_id": "SCAS-118734",
        "due_at": due_at,
        "patient_enrolled": False,
        "patient_told": False,
        "created": True,
    }
    assert answer.body["reference"] == f"H-{follow_up.id:06d}"
    assert follow_up.kind == AdviceKind.HYPO and follow_up.source == f"api:{AMBULANCE}"
    assert follow_up.due_at == datetime.fromisoformat(due_at)
    # The team's group gets the card at once, naming who told us.
    [card] = await outbox_rows(db, "advice_card")
    assert card.chat_id == TEAM_CHAT and card.due_at == local(called_at)
    assert card.params["reference"] == follow_up.reference
    assert card.params["reported_by"] == "ambulance_service"
    assert card.params["taken_to_hospital"] is True


async def test_the_same_callout_sent_again_changes_nothing(
    client: Api,
    db: Database,
    traveller: time_machine.Traveller,
    hotline: str,
    team_chat: int,
):
    first = await call_out(client, hotline, callout_id="SCAS-2026-118734")
    assert first.status == 201

    traveller.shift(timedelta(minutes=3))
    # A retry after a lost answer, even with a field the crew corrected since.
    again = await call_out(client, hotline, callout_id="SCAS-2026-118734", taken_to_hospital=True)
    assert again.status == 200
    assert again.body == {**first.body, "created": False}
    [follow_up] = await follow_ups(db)
    assert follow_up.taken_to_hospital is False
    assert len(await outbox_rows(db, "advice_card")) == 1

    # The same id for another patient is not the same call-out: refused, not dropped.
    clash = await call_out(client, hotline, callout_id="SCAS-2026-118734", nhs_number=NHS)
    assert clash.status == 409 and clash.fields == {"callout_id"}
    assert len(await follow_ups(db)) == 1

    # Without its own id, each call is a hypo of its own.
    one, two = await call_out(client, hotline), await call_out(client, hotline)
    assert (one.status, two.status) == (201, 201)
    assert len({first.body["reference"], one.body["reference"], two.body["reference"]}) == 3
    assert len(await follow_ups(db)) == 3

    # A retry racing the first call: one follow-up, and the loser is told to send again.
    racing = await asyncio.gather(
        *(call_out(client, hotline, callout_id="SCAS-2026-118800") for _ in range(2))
    )
    assert sorted(answer.status for answer in racing) in ([200, 201], [201, 409])
    assert len(await follow_ups(db)) == 4


async def test_a_patient_who_joined_is_told_and_an_unknown_number_is_followed_up_too(
    client: Api,
    db: Database,
    traveller: time_machine.Traveller,
    hotline: str,
    team_chat: int,
):
    assert (await client.patient()).status == 201  # Irfan, registered by his practice
    assert (await client.patient(**AMY)).status == 201  # Amy, who has not joined the chat yet
    async with db.session() as session:
        irfan = (
            await session.exec(select(Person).where(col(Person.nhs_number) == NHS_DIGITS))
        ).one()
        # He joins the chat (what his code does through the bot).
        irfan.status, irfan.telegram_user_id, irfan.telegram_chat_id = PersonStatus.ACTIVE, 71, 71
        irfan_id = irfan.id

    told = await call_out(client, hotline, nhs_number=NHS, callout_id="SCAS-1")
    assert told.status == 201
    assert told.body["patient_enrolled"] is True and told.body["patient_told"] is True
    [message] = await outbox_rows(db, "hypo_follow_up")
    assert message.person_id == irfan_id and message.due_at == NOW
    assert message.priority == Priority.ADVICE_LINE
    # Sent again, the answer still says he was told, and he is not told twice.
    again = await call_out(client, hotline, nhs_number=NHS, callout_id="SCAS-1")
    assert again.status == 200 and again.body["patient_told"] is True
    assert len(await outbox_rows(db, "hypo_follow_up")) == 1

    not_joined = await call_out(client, hotline, nhs_number=OTHER_NHS)
    assert not_joined.status == 201
    assert not_joined.body["patient_enrolled"] is True
    assert not_joined.body["patient_told"] is False

    unknown = await call_out(client, hotline)
    assert unknown.status == 201
    assert unknown.body["patient_enrolled"] is False and unknown.body["patient_told"] is False

    # Only Irfan got a message; the team has a card for each of the three follow-ups.
    assert [m.person_id for m in await outbox_rows(db, "hypo_follow_up")] == [irfan_id]
    cards = await outbox_rows(db, "advice_card")
    assert [card.params["reference"] for card in cards] == [
        told.body["reference"],
        not_joined.body["reference"],
        unknown.body["reference"],
    ]
    assert all(card.chat_id == TEAM_CHAT for card in cards)
    # The team calls the GP about someone diabridge does not know: the number is kept for it.
    stranger = (await follow_ups(db))[-1]
    assert stranger.nhs_number == UNKNOWN_DIGITS and stranger.patient_id is None
    # The follow-up of a known patient carries their practice.
    assert (await follow_ups(db))[0].practice_ods == "Y01234"


async def test_a_callout_without_the_right_key_or_with_wrong_fields_is_refused(
    client: Api,
    db: Database,
    hotline: str,
    reports: str,
    team_chat: int,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="aiosqlite")  # it logs statement parameters at DEBUG
    answers: list[Answer] = []

    async def refused(status: int, **changes: Any) -> Answer:
        answer = await call_out(client, hotline, **changes)
        answers.append(answer)
        assert answer.status == status, answer.body
        return answer

    good = {
        "nhs_number": NHS,
        "occurred_at": "2026-11-23T09:40:00+00:00",
        "taken_to_hospital": False,
    }
    for key in (None, "dbk_not-a-real-key"):
        unknown = await client.call("POST", "/hypo-callouts", good, key=key)
        answers.append(unknown)
        assert unknown.status == 401 and unknown.headers["WWW-Authenticate"].startswith("Bearer")
    for key in (client.key, reports):  # a practice's key; the service manager's key
        forbidden = await client.call("POST", "/hypo-callouts", good, key=key)
        answers.append(forbidden)
        assert forbidden.status == 403 and "hypo-callouts" in forbidden.body["detail"]

    broken = await client.call(
        "POST", "/hypo-callouts", raw=b'{"nhs_number": "943 476', key=hotline
    )
    assert broken.status == 400 and broken.fields == {"body"}
    form = await client.call(
        "POST",
        "/hypo-callouts",
        raw=b"nhs_number=9434765919",
        content_type="application/x-www-form-urlencoded",
        key=hotline,
    )
    assert form.status == 415
    listed = await client.call("POST", "/hypo-callouts", [good], key=hotline)
    assert listed.status == 422 and listed.fields == {"body"}

    empty = await client.call("POST", "/hypo-callouts", {}, key=hotline)
    assert empty.status == 422
    assert empty.fields == {"nhs_number", "occurred_at", "taken_to_hospital"}
    assert {e["message"] for e in empty.body["errors"]} == {"required"}

    def message(answer: Answer, field: str) -> str:
        assert answer.fields == {field}
        return {e["field"]: e["message"] for e in answer.body["errors"]}[field]

    assert "check digit" in message(await refused(422, nhs_number="943 476 5918"), "nhs_number")
    assert "10 digits" in message(await refused(422, nhs_number="999 000 001"), "nhs_number")
    assert "offset" in message(await refused(422, occurred_at="2026-11-23T09:40"), "occurred_at")
    future = (NOW + timedelta(hours=1)).isoformat()
    assert "future" in message(await refused(422, occurred_at=future), "occurred_at")
    old = (NOW - timedelta(days=31)).isoformat()
    assert "30 days" in message(await refused(422, occurred_at=old), "occurred_at")
    assert "calendar" in message(
        await refused(422, occurred_at="2026-02-30T10:00:00Z"), "occurred_at"
    )
    assert "date and time" in message(await refused(422, occurred_at="last night"), "occurred_at")
    assert "true or false" in message(
        await refused(422, taken_to_hospital="no"), "taken_to_hospital"
    )
    message(await refused(422, taken_to_hospital=0), "taken_to_hospital")
    message(await refused(422, callout_id=""), "callout_id")
    message(await refused(422, callout_id="x" * 101), "callout_id")
    message(await refused(422, callout_id=118734), "callout_id")
    message(await refused(422, patient_name="Irfan Ahmed"), "patient_name")
    # Everything wrong at once is named at once.
    everything = await refused(
        422, nhs_number="943 476 5918", occurred_at="2026-11-23 09:40", taken_to_hospital=None
    )
    assert everything.fields == {"nhs_number", "occurred_at", "taken_to_hospital"}

    assert await follow_ups(db) == []
    assert await outbox_rows(db, "advice_card") == []
    # A crew's clock a minute or two ahead of ours is still now.
    ahead = await call_out(client, hotline, occurred_at=(NOW + timedelta(minutes=2)).isoformat())
    assert ahead.status == 201

    # No NHS number sent is echoed back or logged, right or wrong. (The messages' own example,
    # 943 476 5919, is Irfan's number written with spaces, so his is looked for as digits.)
    said = json.dumps([answer.body for answer in answers]) + json.dumps(ahead.body)
    for number in ("943 476 5918", "9434765918", "999 000 001", UNKNOWN_NHS, UNKNOWN_DIGITS):
        assert number not in said and number not in caplog.text
    assert NHS_DIGITS not in said and NHS_DIGITS not in caplog.text and NHS not in caplog.text
    assert caplog.records


# The advice line's list -------------------------------------------------------------------


async def _person(db: Database, role: Role, name: str, user_id: int, **values: Any) -> Person:
    async with db.session() as session:
        person = Person(
            role=role,
            display_name=name,
            status=PersonStatus.ACTIVE,
            telegram_user_id=user_id,
            telegram_chat_id=user_id,
            **values,
        )
        session.add(person)
    return person


async def _gp_asks(
    db: Database, gp: Person, *, area: str, urgency: str, question: str, send: bool = True
) -> AdviceRequest:
    """A GP goes through the steps in the chat; `send=False` leaves the draft unsent."""
    now = datetime.now(UTC)
    async with db.session() as session:
        draft = await advice_line.start_draft(session, gp, now=now)
        for step, value in [
            (Step.AREA, area),
            (Step.URGENCY, urgency),
            (Step.NHS_NUMBER, ASKED_ABOUT),
            (Step.AGE, "58"),
            (Step.SEX, "male"),
            (Step.QUESTION, question),
        ]:
            await advice_line.answer_step(session, draft, step, value, now=now)
        await advice_line.finish_attachments(session, draft, now=now)
        if send:
            await advice_line.submit(session, draft, targets=Targets(), now=now)
    return draft


async def _listing(client: Api, key: str, query: str = "") -> list[str]:
    answer = await client.call("GET", f"/advice-requests{query}", key=key)
    assert answer.status == 200, answer.body
    return [entry["reference"] for entry in answer.body["advice_requests"]]


async def test_the_list_shows_times_and_states_never_the_question_or_nhs_number(
    client: Api,
    db: Database,
    traveller: time_machine.Traveller,
    hotline: str,
    reports: str,
    team_chat: int,
):
    assert (await client.patient()).status == 201  # Irfan, and his practice Y01234
    gp = await _person(db, Role.GP, "Dr Sarah Jones", 81, practice_ods="Y01234")
    nurse = await _person(
        db, Role.SPECIALIST, "Priya Patel", 82, job_title="Diabetes specialist nurse"
    )
    assert gp.id is not None and nurse.id is not None

    # Monday: an urgent question, claimed, answered, closed, and the GP says it helped.
    foot = await _gp_asks(db, gp, area="foot", urgency="urgent", question=QUESTION)
    assert foot.id is not None
    traveller.move_to(NOW + timedelta(minutes=30))
    async with db.session() as session:
        await advice_line.claim(session, foot.id, nurse, now=datetime.now(UTC))
    traveller.move_to(NOW + timedelta(hours=1))
    async with db.session() as session:
        await advice_line.start_writing(
            session, foot.id, nurse, AdviceMessageKind.REPLY, now=datetime.now(UTC)
        )
        compose = await advice_line.writing(session, nurse.id)
        assert compose is not None
        await advice_line.post(session, compose, nurse, REPLY, now=datetime.now(UTC))
    traveller.move_to(NOW + timedelta(hours=2))
    async with db.session() as session:
        await advice_line.close(
            session, foot.id, nurse, Outcome.ADVICE_GIVEN, now=datetime.now(UTC)
        )
        await advice_line.rate(session, foot.id, gp, Helped.YES, now=datetime.now(UTC))
    # Tuesday: a routine question nobody claims; a draft thrown away, and one left unsent.
    traveller.move_to(local("2026-11-24T09:30"))
    kidney = await _gp_asks(db, gp, area="kidney", urgency="routine", question=QUESTION)
    await _gp_asks(db, gp, area="other", urgency="routine", question=QUESTION, send=False)
    async with db.session() as session:
        thrown = await advice_line.draft_of(session, gp)
        assert thrown is not None
        await advice_line.cancel_draft(session, thrown, now=datetime.now(UTC))
    await _gp_asks(
        db, gp, area="insulin_pump", urgency="routine", question=DRAFT_QUESTION, send=False
    )
    # Thursday: the routine question is past its two working days; an ambulance call-out.
    traveller.move_to(local("2026-11-26T10:00"))
    async with db.session() as session:
        assert (await advice_line.watch(session, now=datetime.now(UTC))).breached == 1
    hypo = await call_out(client, hotline, nhs_number=NHS, taken_to_hospital=True)
    assert hypo.status == 201

    everything = await client.call("GET", "/advice-requests", key=reports)
    assert everything.status == 200 and everything.body["more"] is False
    rows = everything.body["advice_requests"]
    # The newest first; the drafts were never sent, so they are not there.
    assert [row["reference"] for row in rows] == [
        hypo.body["reference"],
        kidney.reference,
        foot.reference,
    ]
    hypo_row, kidney_row, foot_row = rows
    assert foot_row == {
        "reference": foot.reference,
        "kind": "advice",
        "status": "closed",
        "area": "foot",
        "urgency": "urgent",
        "practice": "Y01234",
        "practice_name": "Y01234",
        "submitted_at": "2026-11-23T10:00:00+00:00",
        "due_at": "2026-11-24T10:00:00+00:00",
        "claimed_at": "2026-11-23T10:30:00+00:00",
        "first_answer_at": "2026-11-23T11:00:00+00:00",
        "closed_at": "2026-11-23T12:00:00+00:00",
        "breached": False,
        "breached_at": None,
        "outcome": "advice_given",
        "helped": "yes",
        "holder": "Priya Patel",
        "occurred_at": None,
        "taken_to_hospital": None,
        "reported_by": None,
    }
    assert kidney_row["status"] == "open" and kidney_row["holder"] is None
    assert kidney_row["due_at"] == "2026-11-26T09:30:00+00:00"
    assert kidney_row["breached"] is True
    assert kidney_row["breached_at"] == "2026-11-26T10:00:00+00:00"
    assert hypo_row["kind"] == "hypo" and hypo_row["reported_by"] == "ambulance_service"
    assert hypo_row["taken_to_hospital"] is True and hypo_row["area"] is None
    assert hypo_row["occurred_at"] == "2026-11-26T09:40:00+00:00"
    assert hypo_row["practice"] == "Y01234" and hypo_row["due_at"] == "2026-11-27T10:00:00+00:00"

    said = json.dumps(everything.body)
    for secret in (NHS, NHS_DIGITS, ASKED_ABOUT, ASKED_ABOUT_DIGITS, QUESTION, REPLY):
        assert secret not in said
    assert "insulin" not in said and "Irfan" not in said

    newest, oldest = hypo.body["reference"], foot.reference
    assert await _listing(client, reports, "?status=open") == [newest, kidney.reference]
    assert await _listing(client, reports, "?status=unclaimed") == [newest, kidney.reference]
    assert await _listing(client, reports, "?status=closed") == [oldest]
    assert await _listing(client, reports, "?status=claimed") == []
    assert await _listing(client, reports, "?kind=advice") == [kidney.reference, oldest]
    assert await _listing(client, reports, "?kind=hypo") == [newest]
    assert await _listing(client, reports, "?since=2026-11-24") == [newest, kidney.reference]
    assert await _listing(client, reports, "?status=open&kind=advice") == [kidney.reference]
    first = await client.call("GET", "/advice-requests?limit=1", key=reports)
    assert [row["reference"] for row in first.body["advice_requests"]] == [newest]
    assert first.body["more"] is True

    # Each look at the list is in the audit trail, with how many it showed.
    async with db.session() as session:
        trail = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.action) == "advice.list")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [event.actor for event in trail] == [f"api:{MANAGER}"] * 10
    assert trail[0].detail == "count=3 limit=100"
    assert trail[1].detail == "count=2 status=open limit=100"
    assert trail[-1].detail == "count=1 limit=1"


async def test_a_wrong_filter_or_key_is_refused_and_not_audited(
    client: Api,
    db: Database,
    hotline: str,
    reports: str,
):
    async def refused(query: str) -> dict[str, str]:
        answer = await client.call("GET", f"/advice-requests{query}", key=reports)
        assert answer.status == 422, answer.body
        return {e["field"]: e["message"] for e in answer.body["errors"]}

    assert "open, unclaimed, claimed" in (await refused("?status=pending"))["status"]
    assert set(await refused("?status=draft")) == {"status"}  # drafts are never listed
    assert set(await refused("?kind=question")) == {"kind"}
    assert "YYYY-MM-DD" in (await refused("?since=yesterday"))["since"]
    assert "calendar" in (await refused("?since=2026-13-01"))["since"]
    for limit in ("0", "501", "ten", "-5", "1.5"):
        assert "1 to 500" in (await refused(f"?limit={limit}"))["limit"]
    assert set(await refused("?stauts=open")) == {"stauts"}  # a misspelt filter is not ignored
    assert set(await refused("?kind=advice&kind=hypo")) == {"kind"}
    every = await refused("?status=pending&kind=question&since=soon&limit=0")
    assert set(every) == {"status", "kind", "since", "limit"}

    assert (await client.call("GET", "/advice-requests", key=None)).status == 401
    for key in (hotline, client.key):  # the ambulance service's key; a practice's key
        forbidden = await client.call("GET", "/advice-requests", key=key)
        assert forbidden.status == 403 and "advice-line" in forbidden.body["detail"]

    async with db.session() as session:
        listed = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "advice.list"))
        ).all()
    assert listed == []


def test_keys_are_made_with_the_new_scopes():
    assert api_keys.check_scopes(["hypo-callouts", "advice-line"]) == (
        api_keys.HYPO_CALLOUTS,
        api_keys.ADVICE_LINE,
    )
    # Neither is given by default: a practice's key reaches neither the hotline nor the list.
    assert api_keys.ADVICE_LINE not in api_keys.DEFAULT_SCOPES
    assert api_keys.HYPO_CALLOUTS not in api_keys.DEFAULT_SCOPES
