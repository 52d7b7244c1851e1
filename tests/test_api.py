"""The integration API (/api/v1): keys, patients, appointments, the transition programme,
NHS Health Check cohorts, and the OpenAPI document.

Every request these tests send and every answer they get is checked against
bot/openapi.yaml with openapi-core: an answer must match the document, a request the server
accepts must be one the document allows, and a request the document forbids must be refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from aiohttp.test_utils import TestClient, TestServer
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate as validate_spec
from sqlmodel import col, select
from werkzeug.datastructures import Headers, ImmutableMultiDict

from bot import cli
from bot.api import OPENAPI_FILE
from bot.context import AppContext
from bot.db import Database
from bot.models import (
    ApiKey,
    Appointment,
    AuditEvent,
    EnrolmentCode,
    HealthCheck,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    Role,
    Transition,
)
from bot.plans import load_plans
from bot.services import api_keys, appointments, outbox, transition
from bot.settings import Settings
from bot.web import build_web_app
from tests.campaign_library import use_library
from tests.conftest import make_settings

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
NHS = "943 476 5919"
NHS_DIGITS = "9434765919"
OTHER_NHS = "401 023 2137"
SENDER = "emis-y01234"
COUNCIL = "council-ph"

IRFAN = {
    "external_id": "EMIS-000123",
    "nhs_number": NHS,
    "name": "Irfan Ahmed",
    "date_of_birth": "1984-03-02",
    "practice": "Y01234",
    "language": "ur",
}
# 17 on NOW: in the transition programme's ages (13 to 25).
AMY = {
    "external_id": "EMIS-000456",
    "nhs_number": OTHER_NHS,
    "name": "Amy Shah",
    "date_of_birth": "2009-05-01",
    "practice": "Y01234",
    "language": "en",
}
AMY_PROGRAMME = f"/patients/{AMY['external_id']}/transition"

SPEC: dict[str, Any] = yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8"))
# openapi-core reads only plain JSON bodies unless told that problem+json is JSON too.
OPENAPI = OpenAPI.from_dict(
    SPEC, config=Config(extra_media_type_deserializers={"application/problem+json": json.loads})
)
SERVER = SPEC["servers"][0]["url"]


# Holding each exchange to the document -----------------------------------------------------


@dataclass
class SpecRequest:
    """A request as openapi-core reads it."""

    method: str
    path: str
    body: bytes | None
    content_type: str
    headers: dict[str, str]
    query: str = ""
    host_url: str = "http://127.0.0.1"
    parameters: RequestParameters = field(init=False)

    def __post_init__(self) -> None:
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(self.query, keep_blank_values=True)),
            header=Headers(self.headers),
        )


@dataclass
class SpecResponse:
    status_code: int
    content_type: str
    headers: Headers
    data: bytes


def _template(path: str) -> str | None:
    """The document's path (e.g. /appointments/{id}) that a request path falls under."""
    for template in SPEC["paths"]:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(SERVER + template))
        if re.fullmatch(pattern, path):
            return template
    return None


@dataclass
class Answer:
    status: int
    headers: Headers
    body: Any

    @property
    def fields(self) -> set[str]:
        return {error["field"] for error in self.body.get("errors", [])}


# Which operations were driven, and how they answered: (path, method) -> statuses.
EXERCISED: dict[tuple[str, str], set[int]] = {}
UNSET: Any = object()
DROP: Any = object()  # a field left out of the record


class Api:
    """A client for /api/v1 that holds every exchange to the OpenAPI document."""

    def __init__(
        self, client: TestClient, key: str, *, cohort_key: str = "", settings: Settings
    ) -> None:
        self.client, self.key = client, key
        # A council's key, with the health-checks scope only.
        self.cohort_key = cohort_key
        # The server's own settings: a test may change one before calling.
        self.settings = settings

    async def call(
        self,
        method: str,
        path: str,
        body: Any = UNSET,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        key: str | None = UNSET,
        document_allows: bool | None = None,
    ) -> Answer:
        key = self.key if key is UNSET else key
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        data = raw if raw is not None else None if body is UNSET else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        # The document's path has no query string; openapi-core reads that on its own.
        full, _, query = (SERVER + path).partition("?")
        async with self.client.request(
            method, SERVER + path, data=data, headers=headers
        ) as response:
            payload = await response.read()
            status, answer_headers = response.status, Headers(list(response.headers.items()))
            answer_type = response.headers.get("Content-Type", "")
        request = SpecRequest(
            method.lower(), full, data, content_type if data else "", headers, query
        )
        try:
            OPENAPI.validate_request(request)
            request_ok = True
        except OpenAPIError:
            request_ok = False
        # Every answer, good or bad, must be one the document describes.
        OPENAPI.validate_response(
            request, SpecResponse(status, answer_type.split(";")[0], answer_headers, payload)
        )
        if 200 <= status < 300:
            assert request_ok, f"{method} {path}: accepted a request the document forbids"
        if document_allows is not None:
            assert request_ok is document_allows, f"{method} {path}: the document disagrees"
        if not request_ok:
            assert status >= 400, f"{method} {path}: a request the document forbids was taken"
        if status >= 400:
            assert answer_type.startswith("application/problem+json")
        template = _template(full)
        assert template is not None
        EXERCISED.setdefault((template, method.lower()), set()).add(status)
        return Answer(status, answer_headers, json.loads(payload) if payload else None)

    async def patient(self, document_allows: bool | None = None, **changes: Any) -> Answer:
        record = _without_dropped({**IRFAN, **changes})
        return await self.call("POST", "/patients", record, document_allows=document_allows)

    async def appointment(self, document_allows: bool | None = None, **changes: Any) -> Answer:
        record = {
            "external_id": "EMIS-APPT-1",
            "patient_external_id": IRFAN["external_id"],
            "kind": "diabetes_clinic",
            "starts_at": "2026-12-15T10:30",
            "location": "Riverside Surgery",
            **changes,
        }
        return await self.call(
            "POST", "/appointments", _without_dropped(record), document_allows=document_allows
        )

    async def cohort(
        self,
        people: list[Any],
        *,
        source: str = "riverside-2026-11",
        key: str | None = UNSET,
        document_allows: bool | None = None,
    ) -> Answer:
        return await self.call(
            "POST",
            "/health-check-cohorts",
            {"source": source, "people": people},
            key=self.cohort_key if key is UNSET else key,
            document_allows=document_allows,
        )


def cohort_person(external_id: str, **changes: Any) -> dict[str, Any]:
    """Someone of 56 on NOW, never checked: eligible for an NHS Health Check today."""
    record = {
        "external_id": external_id,
        "name": f"Person {external_id}",
        "date_of_birth": "1970-05-01",
        "practice": "Y01234",
        **changes,
    }
    return _without_dropped(record)


def _without_dropped(record: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in record.items() if value is not DROP}


# Fixtures --------------------------------------------------------------------------------


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


async def _new_key(db: Database, name: str, scopes: list[str] | None = None) -> str:
    async with db.session() as session:
        issued = await api_keys.create(session, name, scopes=scopes, now=NOW, actor="cli:test")
    return issued.key


@pytest.fixture
async def api(db: Database, clock: time_machine.Traveller) -> AsyncIterator[Api]:
    settings = make_settings(db.url)
    ctx = AppContext(settings=settings, db=db, plans=load_plans(settings.plans_file))
    client = TestClient(TestServer(build_web_app(ctx, None)))
    await client.start_server()
    try:
        yield Api(
            client,
            await _new_key(db, SENDER),
            cohort_key=await _new_key(db, COUNCIL, [api_keys.HEALTH_CHECKS]),
            settings=settings,
        )
    finally:
        await client.close()


async def _reminders(db: Database, appointment_id: int) -> list[OutboxMessage]:
    async with db.session() as session:
        return await outbox.for_topic(session, appointments.topic(appointment_id))


def _local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


# The document ----------------------------------------------------------------------------


def test_the_document_is_valid_openapi_3_1():
    validate_spec(SPEC)
    assert SPEC["openapi"].startswith("3.1")
    # Every operation that needs a key says which scope, and the scopes are the ones keys get.
    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for requirement in operation.get("security", SPEC["security"]):
                for scope in requirement.get("apiKey", []):
                    assert scope in api_keys.SCOPES, (path, method, scope)


async def test_the_document_is_served_without_a_key(api: Api):
    answer = await api.call("GET", "/openapi.json", key=None)
    assert answer.status == 200
    assert answer.body == json.loads(json.dumps(SPEC))


async def test_every_operation_is_driven_with_good_and_bad_requests(
    api: Api, clock: time_machine.Traveller, db: Database, tmp_path, monkeypatch
):
    """Walks each path and method of the document with a good and a bad request."""
    EXERCISED.clear()
    assert (await api.call("GET", "/openapi.json", key=None)).status == 200

    assert (await api.patient()).status == 201
    assert (await api.patient(language="pa", document_allows=False)).status == 422
    assert (await api.call("GET", f"/patients/{IRFAN['external_id']}")).status == 200
    assert (await api.call("GET", "/patients/NOBODY")).status == 404

    booked = await api.appointment()
    assert booked.status == 201
    assert booked.headers["Location"] == f"{SERVER}/appointments/{booked.body['id']}"
    one = f"/appointments/{booked.body['id']}"
    bad = await api.call("POST", "/appointments", {"kind": "dentist"}, document_allows=False)
    assert bad.status == 422

    assert (await api.call("GET", one)).status == 200
    assert (await api.call("GET", "/appointments/999999")).status == 404

    assert (await api.call("PATCH", one, {"clinician": "Dr Shah"})).status == 200
    assert (await api.call("PATCH", one, {"starts_at": 7}, document_allows=False)).status == 422

    early = await api.call("POST", one + "/attendance", {"attended": True})
    assert early.status == 422 and early.fields == {"attended"}  # it has not started yet
    assert (
        await api.call("POST", one + "/attendance", {"came": "yes"}, document_allows=False)
    ).status == 422

    assert (await api.call("DELETE", one)).status == 200
    assert (await api.call("DELETE", "/appointments/999999")).status == 404
    assert (await api.call("POST", one + "/attendance", {"attended": True})).status == 409

    for no_such_id in ("0", "2147483648", "99999999999999999999"):
        missing = await api.call("GET", f"/appointments/{no_such_id}", document_allows=False)
        assert missing.status == 404

    tomorrow = await api.appointment(external_id="EMIS-APPT-2", starts_at="2026-11-24T09:00")
    clock.move_to(datetime(2026, 11, 24, 12, 0, tzinfo=UTC))
    came = await api.call(
        "POST", f"/appointments/{tomorrow.body['id']}/attendance", {"attended": True}
    )
    assert came.status == 200 and came.body["status"] == "attended"

    assert (await api.cohort([cohort_person("HC-1")])).status == 200
    assert (await api.cohort([{"name": 7}], document_allows=False)).status == 422

    assert (await api.patient(**AMY)).status == 201
    programme = {"started_on": "2026-09-15", "named_worker": "Sam Jones"}
    assert (await api.call("PUT", AMY_PROGRAMME, programme)).status == 200
    assert (await api.call("PUT", "/patients/NOBODY/transition", programme)).status == 404
    assert (await api.call("GET", AMY_PROGRAMME)).status == 200
    assert (await api.call("GET", "/patients/NOBODY/transition")).status == 404
    assert (await api.call("DELETE", AMY_PROGRAMME)).status == 200
    assert (await api.call("DELETE", AMY_PROGRAMME)).status == 404

    use_library(tmp_path / "content", monkeypatch)
    campaigns_key = await _new_key(db, "campaigns", [api_keys.CAMPAIGNS])
    campaign = {"name": "ramadan-2027", "topic": "ramadan", "languages": ["ur"]}
    sent = await api.call("POST", "/campaigns", campaign, key=campaigns_key)
    assert sent.status == 201
    bad_campaign = {**campaign, "languages": ["pa"]}
    refused = await api.call(
        "POST", "/campaigns", bad_campaign, key=campaigns_key, document_allows=False
    )
    assert refused.status == 422
    assert (await api.call("GET", "/campaigns", key=campaigns_key)).status == 200
    assert (await api.call("GET", "/campaigns")).status == 403
    assert (await api.call("GET", "/campaigns/ramadan-2027", key=campaigns_key)).status == 200
    assert (await api.call("GET", "/campaigns/nobody", key=campaigns_key)).status == 404

    hotline_key = await _new_key(db, "ambulance", [api_keys.HYPO_CALLOUTS, api_keys.ADVICE_LINE])
    callout = {"nhs_number": NHS, "occurred_at": "2026-11-24T11:40:00Z", "taken_to_hospital": True}
    assert (await api.call("POST", "/hypo-callouts", callout, key=hotline_key)).status == 201
    naive = {**callout, "occurred_at": "2026-11-24T11:40"}
    refused = await api.call(
        "POST", "/hypo-callouts", naive, key=hotline_key, document_allows=False
    )
    assert refused.status == 422
    listed = await api.call("GET", "/advice-requests?kind=hypo&limit=5", key=hotline_key)
    assert listed.status == 200
    unlimited = await api.call(
        "GET", "/advice-requests?limit=0", key=hotline_key, document_allows=False
    )
    assert unlimited.status == 422

    care_key = await _new_key(db, "care", [api_keys.CARE_PLANNING])
    irfan = IRFAN["external_id"]
    hba1c = {"measure": "hba1c", "value": 53, "unit": "mmol/mol", "taken_on": "2026-11-20"}
    sent = {"patient_external_id": irfan, "results": [hba1c]}
    assert (await api.call("POST", "/results", sent, key=care_key)).status == 200
    unnamed = {"results": [hba1c]}
    refused = await api.call("POST", "/results", unnamed, key=care_key, document_allows=False)
    assert refused.status == 422
    pre_review = f"/patients/{irfan}/pre-review"
    assert (await api.call("GET", pre_review, key=care_key)).status == 404
    review = await api.appointment(
        external_id="EMIS-APPT-3", kind="annual_review", starts_at="2026-12-20T10:00"
    )
    assert review.status == 201
    assert (await api.call("GET", pre_review, key=care_key)).status == 200
    care_plan = f"/patients/{irfan}/care-plan"
    plan = {"goals": [{"goal": "Walk to work", "actions": [{"action": "Walk", "who": "person"}]}]}
    assert (await api.call("GET", care_plan, key=care_key)).status == 404
    assert (await api.call("PUT", care_plan, plan, key=care_key)).status == 201
    no_goals = {"goals": "walk more"}
    refused = await api.call("PUT", care_plan, no_goals, key=care_key, document_allows=False)
    assert refused.status == 422
    assert (await api.call("GET", care_plan, key=care_key)).status == 200

    for path, operations in SPEC["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            statuses = EXERCISED.get((path, method), set())
            assert any(200 <= s < 300 for s in statuses), f"{method} {path}: no good request"
            if any(code.startswith("4") for code in operation["responses"]):
                assert any(400 <= s < 500 for s in statuses), f"{method} {path}: no bad request"


# Keys ------------------------------------------------------------------------------------


async def test_a_missing_unknown_or_revoked_key_gets_401_and_a_missing_scope_403(
    api: Api, db: Database
):
    for key in (None, "dbk_not-a-real-key", "not-even-the-prefix"):
        answer = await api.call("POST", "/patients", IRFAN, key=key)
        assert answer.status == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    async with api.client.post(
        f"{SERVER}/patients", json=IRFAN, headers={"Authorization": f"Basic {api.key}"}
    ) as response:
        assert response.status == 401

    patients_only = await _new_key(db, "patients-only", ["patients"])
    assert (await api.call("POST", "/patients", IRFAN, key=patients_only)).status == 201
    booked = await api.appointment()
    assert booked.status == 201  # the default key has both scopes
    refused = await api.call("GET", f"/appointments/{booked.body['id']}", key=patients_only)
    assert refused.status == 403 and "appointments" in refused.body["detail"]
    hypo_only = await _new_key(db, "hypo-line", ["hypo-callouts"])
    assert (await api.call("POST", "/patients", IRFAN, key=hypo_only)).status == 403

    # A cohort needs the health-checks scope, which a practice's default key does not have;
    # a council's health-checks key reaches no patient.
    no_cohorts = await api.cohort([cohort_person("HC-1")], key=api.key)
    assert no_cohorts.status == 403 and "health-checks" in no_cohorts.body["detail"]
    assert no_cohorts.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", scope="health-checks"'
    )
    assert (await api.cohort([cohort_person("HC-1")], key=patients_only)).status == 403
    assert (await api.call("POST", "/patients", IRFAN, key=api.cohort_key)).status == 403
    assert (await api.call("GET", AMY_PROGRAMME, key=api.cohort_key)).status == 403
    assert (await api.cohort([cohort_person("HC-1")])).status == 200

    async with db.session() as session:
        await api_keys.revoke(session, "patients-only", now=NOW, actor="cli:test")
        used = await api_keys.by_name(session, SENDER)
        assert used is not None and used.last_used_at == NOW
    revoked = await api.call("POST", "/patients", IRFAN, key=patients_only)
    assert revoked.status == 401 and "revoked" in revoked.body["detail"]


def test_api_key_create_prints_the_key_once_and_keeps_only_its_hash(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["api-key", "create", "emis-y01234"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("dbk_") and len(key) > 40
    assert cli.main(["api-key", "create", "pas", "--scope", "hypo-callouts"]) == 0
    assert cli.main(["api-key", "create", "council", "--scope", "health-checks"]) == 0
    capsys.readouterr()
    assert cli.main(["api-key", "create", "emis-y01234"]) == 2
    assert "NAME" in capsys.readouterr().err
    assert cli.main(["api-key", "list"]) == 0
    listed = capsys.readouterr().out
    assert "emis-y01234  patients,appointments" in listed and "hypo-callouts" in listed
    assert key not in listed
    assert cli.main(["api-key", "revoke", "emis-y01234"]) == 0
    assert cli.main(["api-key", "revoke", "nobody"]) == 2
    with pytest.raises(SystemExit):
        cli.main(["api-key", "create", "x", "--scope", "everything"])

    async def stored() -> list[ApiKey]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'keys.db'}")
        try:
            async with db.session() as session:
                return list((await session.exec(select(ApiKey))).all())
        finally:
            await db.dispose()

    keys = {k.name: k for k in asyncio.run(stored())}
    assert keys["emis-y01234"].key_hash == api_keys.hash_key(key) != key
    assert keys["emis-y01234"].revoked_at is not None and keys["pas"].revoked_at is None
    assert keys["pas"].scopes == ["hypo-callouts"]
    assert keys["council"].scopes == ["health-checks"]


# Patients --------------------------------------------------------------------------------


async def test_a_new_patient_gets_a_code_and_link_and_sending_again_updates(api: Api, db: Database):
    first = await api.patient()
    assert first.status == 201
    code = first.body["code"].replace("-", "")
    assert first.body["link"] == f"https://t.me/diabridge_test_bot?start={code}"
    assert datetime.fromisoformat(first.body["code_expires_at"]) == NOW + timedelta(days=14)
    assert first.body["status"] == "invited" and first.body["language"] == "ur"

    again = await api.patient(name="Irfan A. Ahmed", language="en", timezone="Asia/Karachi")
    assert again.status == 200 and again.body["id"] == first.body["id"]
    # The letter already posted keeps working: no new code unless asked for.
    assert "code" not in again.body
    assert again.body["timezone"] == "Asia/Karachi" and again.body["language"] == "en"

    reissued = await api.patient(name="Irfan A. Ahmed", issue_code=True)
    assert reissued.status == 200 and reissued.body["code"].replace("-", "") != code

    async with db.session() as session:
        person = (await session.exec(select(Person))).one()
        assert person.display_name == "Irfan A. Ahmed" and person.external_id == "EMIS-000123"
        codes = (await session.exec(select(EnrolmentCode))).all()
        assert sorted(c.revoked_at is None for c in codes) == [False, True]

    # The same NHS number sent under another id of the sender's is a second record of one person.
    clash = await api.patient(external_id="EMIS-999")
    assert clash.status == 422 and clash.fields == {"nhs_number"}


async def test_the_same_new_patient_sent_twice_at_once_makes_one_record(api: Api, db: Database):
    answers = await asyncio.gather(api.patient(), api.patient())
    statuses = sorted(answer.status for answer in answers)
    # The second either sees the first (200) or meets it in the database (409: send again).
    assert statuses in ([200, 201], [201, 409])
    async with db.session() as session:
        assert len((await session.exec(select(Person))).all()) == 1


async def test_each_wrong_patient_field_is_named(api: Api, db: Database):
    record = {**IRFAN, "nhs_number": "943 476 5918", "date_of_birth": "2030-01-01"}
    record.update(language="pa", practice="12", timezone="Mars/Olympus", colour="blue")
    del record["name"]
    answer = await api.call("POST", "/patients", record, document_allows=False)
    assert answer.status == 422
    assert answer.fields == {
        "nhs_number",
        "date_of_birth",
        "language",
        "practice",
        "timezone",
        "colour",
        "name",
    }
    assert "check digit" in {e["field"]: e["message"] for e in answer.body["errors"]}["nhs_number"]

    not_json = await api.call("POST", "/patients", raw=b"{nhs_number: 943", document_allows=False)
    assert not_json.status == 400 and not_json.fields == {"body"}
    listed = await api.call("POST", "/patients", [IRFAN], document_allows=False)
    assert listed.status == 422 and listed.fields == {"body"}
    typed = await api.call("POST", "/patients", {**IRFAN, "issue_code": "yes"})
    assert typed.status == 422 and typed.fields == {"issue_code"}
    form = await api.call(
        "POST",
        "/patients",
        raw=b"name=Irfan",
        content_type="application/x-www-form-urlencoded",
        document_allows=False,
    )
    assert form.status == 415
    async with db.session() as session:
        assert (await session.exec(select(Person))).all() == []


# Appointments ----------------------------------------------------------------------------


async def test_booking_queues_reminders_moving_replans_and_cancelling_cancels(
    api: Api, db: Database
):
    assert (await api.patient()).status == 201
    booked = await api.appointment()
    assert booked.status == 201
    appointment_id = booked.body["id"]
    assert booked.body["starts_at"] == "2026-12-15T10:30:00+00:00"
    assert booked.body["status"] == "booked" and booked.body["answer"] is None
    assert [e["event"] for e in booked.body["events"]] == ["booked"]
    assert booked.body["events"][0]["by"] == f"api:{SENDER}"
    # The diabetes clinic plan: a week before at 10:00, the evening before, two hours before.
    planned = {_local("2026-12-08T10:00"), _local("2026-12-14T18:00"), _local("2026-12-15T08:30")}
    rows = await _reminders(db, appointment_id)
    assert {r.due_at for r in rows} == planned
    assert {r.status for r in rows} == {OutboxStatus.PENDING}
    assert {datetime.fromisoformat(r["due_at"]) for r in booked.body["reminders"]} == planned
    assert {r["to"] for r in booked.body["reminders"]} == {"patient"}

    # Sending the same appointment again changes nothing and queues nothing twice.
    same = await api.appointment()
    assert same.status == 200 and same.body["id"] == appointment_id
    assert len(await _reminders(db, appointment_id)) == 3

    moved = await api.call(
        "PATCH", f"/appointments/{appointment_id}", {"starts_at": "2026-12-22T14:00"}
    )
    assert moved.status == 200
    assert moved.body["starts_at"] == "2026-12-22T14:00:00+00:00"
    assert moved.body["location"] == "Riverside Surgery"  # what was not sent stays
    assert [e["event"] for e in moved.body["events"]] == ["booked", "moved"]
    rows = await _reminders(db, appointment_id)
    pending = {r.due_at for r in rows if r.status == OutboxStatus.PENDING}
    assert pending == {
        _local("2026-12-15T10:00"),
        _local("2026-12-21T18:00"),
        _local("2026-12-22T12:00"),
    }
    assert {r.due_at for r in rows if r.status == OutboxStatus.CANCELLED} == planned

    # A time with an offset is that moment: 09:00 in Karachi is 04:00 in London in winter.
    offset = await api.call(
        "PATCH", f"/appointments/{appointment_id}", {"starts_at": "2026-12-22T09:00:00+05:00"}
    )
    assert offset.body["starts_at"] == "2026-12-22T04:00:00+00:00"

    cancelled = await api.call("DELETE", f"/appointments/{appointment_id}")
    assert cancelled.status == 200 and cancelled.body["status"] == "cancelled"
    assert {r.status for r in await _reminders(db, appointment_id)} == {OutboxStatus.CANCELLED}
    assert {r["status"] for r in cancelled.body["reminders"]} == {"cancelled"}
    again = await api.call("DELETE", f"/appointments/{appointment_id}")
    assert again.status == 200 and [e["event"] for e in again.body["events"]][-1] == "cancelled"
    assert len(again.body["events"]) == 4
    changed = await api.call("PATCH", f"/appointments/{appointment_id}", {"clinician": "Dr Li"})
    assert changed.status == 409

    async with db.session() as session:
        assert len((await session.exec(select(Appointment))).all()) == 1


async def test_an_appointment_by_nhs_number_and_each_wrong_field_named(api: Api, db: Database):
    assert (await api.patient()).status == 201
    by_number = await api.appointment(
        external_id="PAS-77", patient_external_id=DROP, nhs_number="9434765919"
    )
    assert by_number.status == 201

    unknown = await api.appointment(
        external_id="PAS-78", patient_external_id=DROP, nhs_number=OTHER_NHS
    )
    assert unknown.status == 422 and unknown.fields == {"nhs_number"}

    parse = await api.call(
        "POST",
        "/appointments",
        {"external_id": "PAS-79", "duration_minutes": "30", "starts_at": "next Tuesday", "x": 1},
        document_allows=False,
    )
    assert parse.status == 422
    assert parse.fields == {"duration_minutes", "starts_at", "x", "kind", "nhs_number"}

    wrong = await api.appointment(
        external_id="PAS-80",
        kind="dentist",
        starts_at="2026-11-01T10:00",
        duration_minutes=1000,
        practice="12",
        phone="0" * 41,
        document_allows=False,
    )
    assert wrong.status == 422
    assert wrong.fields == {"kind", "starts_at", "duration_minutes", "practice", "phone"}
    past = await api.appointment(external_id="PAS-81", starts_at="2026-11-01T10:00")
    assert past.status == 422 and past.fields == {"starts_at"}
    assert "past" in past.body["errors"][0]["message"]

    async with db.session() as session:
        assert [a.external_id for a in (await session.exec(select(Appointment))).all()] == [
            "PAS-77"
        ]


async def test_two_missed_appointments_in_a_year_raise_the_flag_shown_on_get(
    api: Api, db: Database, clock: time_machine.Traveller
):
    assert (await api.patient()).status == 201
    first = await api.appointment(external_id="A1", starts_at="2026-11-25T09:00")
    second = await api.appointment(external_id="A2", starts_at="2026-12-03T09:00")
    assert first.status == second.status == 201

    clock.move_to(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    missed = await api.call(
        "POST", f"/appointments/{first.body['id']}/attendance", {"attended": False}
    )
    assert missed.status == 200 and missed.body["status"] == "missed"
    assert missed.body["patient"] == {
        "id": missed.body["patient"]["id"],
        "external_id": IRFAN["external_id"],
        "open_care_flags": [],
        "missed_last_12_months": 1,
    }
    assert "appointment_missed" in {r["template"] for r in missed.body["reminders"]}

    clock.move_to(datetime(2026, 12, 3, 12, 0, tzinfo=UTC))
    await api.call("POST", f"/appointments/{second.body['id']}/attendance", {"attended": False})
    shown = await api.call("GET", f"/appointments/{second.body['id']}")
    assert shown.status == 200 and shown.body["status"] == "missed"
    assert [f["kind"] for f in shown.body["patient"]["open_care_flags"]] == ["missed_appointments"]
    assert shown.body["patient"]["missed_last_12_months"] == 2
    assert [e["event"] for e in shown.body["events"]] == ["booked", "missed"]
    assert shown.body["events"][-1]["at"] == "2026-12-03T12:00:00+00:00"

    # The same flag is on every appointment of the patient's, with the first one's record too.
    earlier = await api.call("GET", f"/appointments/{first.body['id']}")
    assert earlier.body["patient"]["open_care_flags"] == shown.body["patient"]["open_care_flags"]


async def test_what_the_api_does_is_audited_and_no_nhs_number_is_logged(
    api: Api, db: Database, clock: time_machine.Traveller, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    # aiosqlite logs every statement with its parameters at DEBUG; the process runs at INFO
    # (bot/cli.py), where it says nothing. Everything else is held to DEBUG.
    caplog.set_level(logging.INFO, logger="aiosqlite")
    assert (await api.patient()).status == 201
    assert (await api.patient(name="Irfan A. Ahmed")).status == 200
    assert (await api.patient(nhs_number="943 476 5918")).status == 422
    booked = await api.appointment(nhs_number=NHS, patient_external_id=DROP)
    one = f"/appointments/{booked.body['id']}"
    await api.call("PATCH", one, {"starts_at": "2026-12-16T10:30"})
    await api.call("GET", one)
    clock.move_to(datetime(2026, 12, 17, tzinfo=UTC))
    await api.call("POST", one + "/attendance", {"attended": True})
    other = await api.appointment(external_id="EMIS-APPT-2", starts_at="2026-12-20T10:00")
    await api.call("DELETE", f"/appointments/{other.body['id']}")
    await api.call("POST", "/appointments", raw=b'{"nhs_number": "' + NHS.encode())

    async with db.session() as session:
        trail = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.actor) == f"api:{SENDER}")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [event.action for event in trail] == [
        "patient.register",
        "patient.update",
        "appointment.book",
        "appointment.moved",
        "appointment.view",
        "appointment.attended",
        "appointment.book",
        "appointment.cancel",
    ]
    assert all(event.person_id == trail[0].person_id for event in trail)
    for event in trail:
        assert NHS_DIGITS not in event.detail and "Irfan" not in event.detail
    assert caplog.records  # the access log and others were captured
    assert NHS_DIGITS not in caplog.text and NHS not in caplog.text
    assert "943 476 5918" not in caplog.text


# NHS Health Check cohorts ----------------------------------------------------------------


async def test_a_cohort_is_invited_highest_priority_first_a_days_sending_at_a_time(
    api: Api, db: Database, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="aiosqlite")  # as in the audit test below
    api.settings.health_check_invites_per_day = 2
    people = [
        cohort_person("HC-1", priority=0),
        cohort_person("HC-2", priority=5, last_check_on="2019-03-01", language="hi"),
        cohort_person("HC-3", priority=5, language="ur"),
        # Checked 4 years 11 months ago: not due for a month, so no day of today's sending.
        cohort_person("HC-4", priority=9, last_check_on="2021-12-23", date_of_birth="1960-02-02"),
        cohort_person("HC-5", priority=9, last_check_on=None),
    ]
    answer = await api.cohort(people)
    assert answer.status == 200 and answer.body["source"] == "riverside-2026-11"
    sent = answer.body["people"]
    assert [p["external_id"] for p in sent] == ["HC-1", "HC-2", "HC-3", "HC-4", "HC-5"]
    # Two a day, priority 9 first, then 5 in the order sent, then 0.
    assert [p["invite_on"] for p in sent] == [
        "2026-11-24",
        "2026-11-23",
        "2026-11-24",
        None,
        "2026-11-23",
    ]
    assert sent[3]["due_on"] == "2026-12-23" and sent[3]["status"] == "not_yet"
    assert all(p["due_on"] == p["invite_on"] for p in sent if p["invite_on"])
    assert {p["status"] for p in sent} == {"not_yet"}  # invited when they join
    for person in sent:
        assert person["created"] is True
        code = person["code"].replace("-", "")
        assert person["link"] == f"https://t.me/diabridge_test_bot?start={code}"
        assert datetime.fromisoformat(person["code_expires_at"]) == NOW + timedelta(days=14)

    async with db.session() as session:
        by_id = {p.external_id: p for p in (await session.exec(select(Person))).all()}
        assert {p.role for p in by_id.values()} == {Role.AT_RISK}
        assert by_id["HC-3"].language == "ur" and by_id["HC-1"].language == "en"
        checks = {c.person_id: c for c in (await session.exec(select(HealthCheck))).all()}
        assert {c.source for c in checks.values()} == {"cohort:riverside-2026-11"}
        assert checks[by_id["HC-4"].id].priority == 9
        assert checks[by_id["HC-2"].id].last_check_on == date(2019, 3, 1)
        trail = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.actor) == f"api:{COUNCIL}"))
        ).all()
        assert [e.action for e in trail] == ["health_check.cohort"] * 5
        assert {e.person_id for e in trail} == {p.id for p in by_id.values()}
        # HC-3 joins with her code (as the bot would mark her).
        by_id["HC-3"].telegram_user_id = 820_503
        by_id["HC-3"].status = PersonStatus.ACTIVE

    # Sent again: updated, not doubled; someone who has joined needs no code.
    again = await api.cohort([cohort_person("HC-3", priority=5, name="Khadija Ahmed")])
    assert again.status == 200
    [khadija] = again.body["people"]
    assert khadija["id"] == sent[2]["id"] and khadija["created"] is False
    assert khadija["code"] is None and khadija["link"] is None
    assert khadija["code_expires_at"] is None
    async with db.session() as session:
        assert len((await session.exec(select(Person))).all()) == 5

    for person in people:
        assert person["name"] not in caplog.text
        assert all(person["name"] not in event.detail for event in trail)
    assert "Khadija" not in caplog.text


async def test_a_cohort_is_all_or_nothing_and_every_wrong_field_is_named(api: Api, db: Database):
    # The second person is 39: the NHS Health Check is from 40, so nobody is added.
    younger = await api.cohort(
        [cohort_person("HC-1"), cohort_person("HC-2", date_of_birth="1987-06-01")]
    )
    assert younger.status == 422 and younger.fields == {"people[1].date_of_birth"}
    assert "40 to 74" in younger.body["errors"][0]["message"]

    # Every problem of every person, in one answer.
    shapes = await api.cohort(
        [
            cohort_person("HC-1", name=DROP, priority=12, language="pa"),
            "HC-2",
            cohort_person("HC-3"),
            cohort_person(
                " HC-3 ",
                last_check_on="2030-01-01",
                date_of_birth="02/03/1970",
                practice="12",
                colour="blue",
            ),
            cohort_person("HC-5", priority="9", date_of_birth="1970-02-30"),
        ],
        document_allows=False,
    )
    assert shapes.status == 422
    assert shapes.fields == {
        "people[0].name",
        "people[0].priority",
        "people[0].language",
        "people[1]",
        "people[3].external_id",
        "people[3].last_check_on",
        "people[3].date_of_birth",
        "people[3].practice",
        "people[3].colour",
        "people[4].priority",
        "people[4].date_of_birth",
    }
    messages = {e["field"]: e["message"] for e in shapes.body["errors"]}
    assert "people[2]" in messages["people[3].external_id"]
    assert "0 to 9" in messages["people[0].priority"]

    empty = await api.cohort([], source=" ", document_allows=False)
    assert empty.status == 422 and empty.fields == {"source", "people"}
    shapeless = await api.call(
        "POST",
        "/health-check-cohorts",
        {"people": {"HC-1": cohort_person("HC-1")}},
        key=api.cohort_key,
        document_allows=False,
    )
    assert shapeless.status == 422 and shapeless.fields == {"source", "people"}

    # A patient's id is not someone for a cohort; the answer says which person it was.
    assert (await api.patient()).status == 201
    patient = await api.cohort([cohort_person("HC-1"), cohort_person(IRFAN["external_id"])])
    assert patient.status == 422 and patient.fields == {"people[1].external_id"}

    # More than 10,000 in one call: refused whole, though the body is over the usual 1 MiB.
    crowd = [cohort_person(f"HC-{n:06d}", name=f"Person number {n:06d}") for n in range(10_001)]
    assert len(json.dumps(crowd)) > 1024 * 1024
    too_many = await api.cohort(crowd, document_allows=False)
    assert too_many.status == 422 and too_many.fields == {"people"}
    huge = await api.call(
        "POST",
        "/health-check-cohorts",
        raw=b'{"source": "' + b"x" * (9 * 1024 * 1024) + b'"}',
        key=api.cohort_key,
    )
    assert huge.status == 413

    async with db.session() as session:
        assert (await session.exec(select(HealthCheck))).all() == []
        assert [p.external_id for p in (await session.exec(select(Person))).all()] == [
            IRFAN["external_id"]
        ]


# The transition programme ----------------------------------------------------------------


async def _staff(db: Database, name: str = "Sam Jones") -> int:
    async with db.session() as session:
        worker = Person(role=Role.SPECIALIST, display_name=name, status=PersonStatus.ACTIVE)
        session.add(worker)
        await session.flush()
        assert worker.id is not None
        return worker.id


async def _pending_check_ins(db: Database) -> int:
    async with db.session() as session:
        rows = (
            await session.exec(
                select(OutboxMessage).where(
                    col(OutboxMessage.template_key) == "transition_check_in",
                    col(OutboxMessage.status) == OutboxStatus.PENDING,
                )
            )
        ).all()
    return len(rows)


async def test_a_young_person_in_the_programme_and_their_progress_for_the_worker(
    api: Api, db: Database
):
    amy = await api.patient(**AMY)
    assert amy.status == 201
    sam = await _staff(db)
    put = await api.call(
        "PUT",
        AMY_PROGRAMME,
        {"started_on": "2026-09-15", "named_worker": "Sam Jones", "named_worker_id": sam},
    )
    assert put.status == 200
    assert put.body == {
        "patient_id": amy.body["id"],
        "external_id": AMY["external_id"],
        "started_on": "2026-09-15",
        "named_worker": "Sam Jones",
        "named_worker_id": sam,
        "active": True,
        "check_ins_planned": transition.CHECK_INS_AHEAD,
    }
    assert await _pending_check_ins(db) == transition.CHECK_INS_AHEAD

    nothing_yet = await api.call("GET", AMY_PROGRAMME)
    assert nothing_yet.status == 200 and nothing_yet.body["readiness"]["answered"] == 0
    assert {s["answer"] for s in nothing_yet.body["readiness"]["statements"]} == {None}

    # Amy answers some of /ready in the chat, and December's check-in.
    async with db.session() as session:
        person = await session.get(Person, amy.body["id"])
        assert person is not None
        for key, answer in (
            ("my_type", "yes"),
            ("hba1c", "getting_there"),
            ("prescriptions", "not_yet"),
        ):
            await transition.answer_statement(session, person, key=key, answer=answer, now=NOW)
        await transition.check_in(session, person, month="2026-12", answer="good", now=NOW)

    shown = await api.call("GET", AMY_PROGRAMME)
    assert shown.status == 200 and shown.body["active"] is True
    readiness = shown.body["readiness"]
    assert readiness["answered"] == 3 and readiness["total"] == 10
    assert readiness["areas"] == [
        {"area": "knowing", "ready": 1, "getting_there": 1, "total": 4},
        {"area": "managing", "ready": 0, "getting_there": 0, "total": 3},
        {"area": "adult_services", "ready": 0, "getting_there": 0, "total": 3},
    ]
    answers = {s["statement"]: s["answer"] for s in readiness["statements"]}
    assert answers["prescriptions"] == "not_yet" and answers["speak_alone"] is None
    assert shown.body["check_ins"] == [{"month": "2026-12", "answer": "good"}]

    ended = await api.call("DELETE", AMY_PROGRAMME)
    assert ended.status == 200
    assert ended.body["active"] is False and ended.body["check_ins_planned"] == 0
    assert await _pending_check_ins(db) == 0
    assert (await api.call("DELETE", AMY_PROGRAMME)).status == 404
    # The worker can still read where Amy got to.
    after = await api.call("GET", AMY_PROGRAMME)
    assert after.body["active"] is False and after.body["readiness"]["answered"] == 3

    async with db.session() as session:
        trail = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.action).startswith("transition."))
                .order_by(col(AuditEvent.id))
            )
        ).all()
        [programme] = (await session.exec(select(Transition))).all()
    assert [(e.action, e.actor) for e in trail] == [
        ("transition.enrol", f"api:{SENDER}"),
        ("transition.view", f"api:{SENDER}"),
        ("transition.view", f"api:{SENDER}"),
        ("transition.end", f"api:{SENDER}"),
        ("transition.view", f"api:{SENDER}"),
    ]
    assert {e.person_id for e in trail} == {amy.body["id"]}
    assert all("Amy" not in e.detail and "Sam" not in e.detail for e in trail)
    assert programme.source == f"api:{SENDER}" and programme.active is False


async def test_updating_the_programme_plans_the_check_ins_again(api: Api, db: Database):
    assert (await api.patient(**AMY)).status == 201
    first = {"started_on": "2026-09-15", "named_worker": "Sam Jones"}
    assert (await api.call("PUT", AMY_PROGRAMME, first)).status == 200
    moved = await api.call(
        "PUT", AMY_PROGRAMME, {"started_on": "2026-10-01", "named_worker": "Priya Patel"}
    )
    assert moved.status == 200 and moved.body["named_worker"] == "Priya Patel"
    assert moved.body["check_ins_planned"] == transition.CHECK_INS_AHEAD


async def test_the_programme_refuses_wrong_fields_ages_and_people_who_are_not_patients(
    api: Api, db: Database
):
    programme = {"started_on": "2026-09-15", "named_worker": "Sam Jones"}
    assert (await api.patient()).status == 201  # Irfan is 42
    adult = await api.call("PUT", f"/patients/{IRFAN['external_id']}/transition", programme)
    assert adult.status == 422 and adult.fields == {"date_of_birth"}
    assert "13 to 25" in adult.body["errors"][0]["message"]

    for method in ("GET", "DELETE"):
        assert (await api.call(method, "/patients/NOBODY/transition")).status == 404
    amy = await api.patient(**AMY)
    assert amy.status == 201
    # Amy is a patient, but not (yet) in the programme.
    assert (await api.call("GET", AMY_PROGRAMME)).status == 404
    assert (await api.call("DELETE", AMY_PROGRAMME)).status == 404

    shapes = await api.call(
        "PUT",
        AMY_PROGRAMME,
        {"started_on": "15/09/2026", "named_worker_id": "7", "colour": "blue"},
        document_allows=False,
    )
    assert shapes.status == 422
    assert shapes.fields == {"started_on", "named_worker_id", "colour", "named_worker"}
    no_such_day = await api.call("PUT", AMY_PROGRAMME, {**programme, "started_on": "2026-02-30"})
    assert no_such_day.status == 422 and no_such_day.fields == {"started_on"}
    blank = await api.call("PUT", AMY_PROGRAMME, {**programme, "named_worker": "   "})
    assert blank.status == 422 and blank.fields == {"named_worker"}
    # A patient is not a member of staff; a number past the ids' range is no one.
    for worker_id, allowed in ((amy.body["id"], True), (2**31, False), (0, False)):
        not_staff = await api.call(
            "PUT",
            AMY_PROGRAMME,
            {**programme, "named_worker_id": worker_id},
            document_allows=allowed,
        )
        assert not_staff.status == 422 and not_staff.fields == {"named_worker_id"}

    # Someone from a health check cohort has an external_id too, but is not a patient.
    assert (await api.cohort([cohort_person("HC-1")])).status == 200
    assert (await api.call("PUT", "/patients/HC-1/transition", programme)).status == 404

    async with db.session() as session:
        assert (await session.exec(select(Transition))).all() == []

    # A sender's id with a slash in it goes in the address percent-encoded.
    slashed = await api.patient(
        external_id="RBH/77", nhs_number="485 777 3457", name="Tom Lee", date_of_birth="2010-01-01"
    )
    assert slashed.status == 201
    put = await api.call("PUT", "/patients/RBH%2F77/transition", programme)
    assert put.status == 200 and put.body["external_id"] == "RBH/77"
    assert put.body["patient_id"] == slashed.body["id"]
