"""The integration API under /api/v1: JSON in and out, bearer API keys, problem+json errors.

A practice or hospital system sends its patients and appointments here, puts young people in
the transition programme, and a council or practice sends NHS Health Check cohorts. The
ambulance service tells the hypo hotline of severe hypos, and a service manager lists the advice
line's requests with their times and states. For care planning, a practice system sends the
results of the nine care processes, reads the summary of a person's pre-review agenda before
their annual review, and records the care plan agreed at it. The contract is
`bot/openapi.yaml` (served at /api/v1/openapi.json); the tests hold every request and answer
to it. Handlers parse the body, call the service, and render the answer; the services do the
work and write the audit trail (actor `api:<key name>`). Nothing here logs a request body: it
carries NHS numbers and names.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from aiohttp import web
from multidict import MultiMapping
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import content
from bot.context import AppContext
from bot.i18n import LANGUAGES
from bot.models import (
    OPEN_STATUSES,
    AdviceKind,
    AdviceRequest,
    AdviceStatus,
    Appointment,
    AppointmentStatus,
    CareGoal,
    CarePlan,
    GoalCheckIn,
    Measure,
    OutboxMessage,
    OutboxStatus,
    Person,
    Role,
    Transition,
    Treatment,
    utcnow,
)
from bot.plans import Plans, load_plans
from bot.services import (
    advice_line,
    api_keys,
    appointments,
    audit,
    campaigns,
    care_plans,
    care_results,
    enrolment,
    health_checks,
    hypo_hotline,
    outbox,
    pre_review,
)
from bot.services import transition as transitions
from bot.services.appointments import AppointmentRecord, InvalidRecord
from bot.services.care_plans import InvalidPlan
from bot.services.care_results import InvalidResult, ResultValue
from bot.services.enrolment import InvalidField, IssuedCode
from bot.services.health_checks import CohortRecord, InvalidCohortRecord
from bot.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")
PROBLEM_JSON = "application/problem+json"
# Ids are 32-bit integers in PostgreSQL; a larger number is simply no such appointment.
LARGEST_ID = 2**31 - 1
# Retry asking Telegram for the bot's username at most this often when it does not answer.
USERNAME_RETRY_SECONDS = 300.0
# A cohort of 10,000 people is about 1.5 MB of JSON, more than the server's usual 1 MiB body;
# its call alone takes up to this much (room for long names and ids).
MOST_PEOPLE_PER_COHORT = 10_000
COHORT_MAX_BYTES = 8 * 1024 * 1024
# A batch that is wrong throughout would otherwise answer with tens of thousands of errors.
MOST_ERRORS_LISTED = 1_000
# The cohort's name is kept as `cohort:<source>` in a 100-character column.
SOURCE_MAX_LENGTH = 60
# Patients who can be in the transition programme; an at-risk person from a cohort cannot.
PATIENT_ROLES = frozenset({Role.PATIENT, Role.YOUNG_PERSON})
# The outbox template of the monthly check-in, as bot/services/transition.py queues it.
CHECK_IN_TEMPLATE = "transition_check_in"
# The patient's message about an ambulance call-out, as bot/services/hypo_hotline.py queues it.
HYPO_FOLLOW_UP_TEMPLATE = "hypo_follow_up"
# An ambulance crew's clock may run a little ahead of ours: a call-out stamped a few minutes
# "in the future" is still now. Anything further ahead is a wrong time.
CALLOUT_CLOCK_SLACK = timedelta(minutes=5)
# The hotline follows up a hypo within a working day; one older than this is a batch sent
# late or a wrong date, better told to the patient's GP than queued as new.
CALLOUT_OLDEST = timedelta(days=30)
# The ambulance service's own id is kept in a 100-character column.
CALLOUT_ID_MAX_LENGTH = 100
# The advice line's list: how many requests at once unless the caller asks for more or fewer.
ADVICE_LIST_LIMIT = 100
ADVICE_LIST_MOST = 500
# Results in one call: a year of one person's checks fits many times over; a practice's whole
# list is an import (`diabridge import results`), not one call.
MOST_RESULTS_PER_CALL = 500
# The outbox template of a goal check-in, as bot/services/care_plans.py queues it.
GOAL_CHECK_IN_TEMPLATE = "goal_check_in"

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class Problem(Exception):
    """An answer of RFC 9457 problem details, raised anywhere and rendered by the middleware."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[FieldError] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.errors = errors or []
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        document: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            document["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        return web.Response(
            status=self.status,
            text=json.dumps(document, ensure_ascii=False),
            content_type=PROBLEM_JSON,
            headers=self.headers,
        )


def unprocessable(errors: list[FieldError]) -> Problem:
    detail = f"{len(errors)} field{'s' if len(errors) != 1 else ''} to put right; see errors"
    if len(errors) > MOST_ERRORS_LISTED:
        detail += f" (the first {MOST_ERRORS_LISTED} are listed)"
    return Problem(422, "Unprocessable Content", detail, errors[:MOST_ERRORS_LISTED])


# Registration's checks name the command-line flag (--dob); the API names the JSON field.
_FLAG_FIELDS = {"--dob": "date_of_birth"}


def json_field(name: str) -> str:
    return _FLAG_FIELDS.get(name) or name.removeprefix("--").replace("-", "_")


@web.middleware
async def problems(request: web.Request, handler: Route) -> web.StreamResponse:
    """Every error under /api/v1 leaves as problem+json, whichever layer raised it."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except InvalidRecord as error:
        return unprocessable(
            [FieldError(json_field(p.field), p.message) for p in error.problems]
        ).response()
    except InvalidCohortRecord as error:
        # The service stops at the first person it cannot take and says which one it was.
        index = getattr(error, "index", None)
        where = "people" if index is None else f"people[{index}]"
        return unprocessable(
            [FieldError(f"{where}.{p.field}", p.message) for p in error.problems]
        ).response()
    except InvalidField as error:
        if error.field == "status":
            # The request was well formed; the appointment's state does not allow it.
            return Problem(409, "Conflict", error.message).response()
        return unprocessable([FieldError(json_field(error.field), error.message)]).response()
    except appointments.NotFound:
        return Problem(404, "Not Found", "no appointment has this id").response()
    except IntegrityError:
        # Two requests for one new record at the same moment: the database let one in.
        return Problem(
            409, "Conflict", "another request changed this record at the same time; send again"
        ).response()
    except web.HTTPException as error:
        # The router's own 404 and 405, which would otherwise be plain text.
        if error.status < 400:
            raise
        detail = {
            404: f"nothing is at this address; the API is described at {PREFIX}/openapi.json",
            405: f"this address does not take {request.method}",
        }.get(error.status, error.reason)
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return Problem(error.status, error.reason, detail, headers=headers).response()
    except Exception as error:
        # The type only: a message or traceback could carry a value from the request.
        log.error("api: %s in %s %s", type(error).__name__, request.method, request.path)
        return Problem(500, "Internal Server Error", "something went wrong").response()


# Keys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """The API key a request came with."""

    name: str
    scopes: frozenset[str]

    @property
    def actor(self) -> str:
        return f"api:{self.name}"


def _unauthorized(detail: str, *, invalid: bool) -> Problem:
    challenge = 'Bearer realm="diabridge"' + (', error="invalid_token"' if invalid else "")
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


async def _caller(request: web.Request) -> Caller:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(
            "send an API key as `Authorization: Bearer <key>` (diabridge api-key create NAME)",
            invalid=False,
        )
    ctx = request.config_dict[CTX_KEY]
    async with ctx.db.session() as session:
        key = await api_keys.authenticate(session, token.strip(), now=utcnow())
        if key is None:
            raise _unauthorized("this API key is not known or has been revoked", invalid=True)
        return Caller(name=key.name, scopes=frozenset(key.scopes))


Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]


def needs(scope: str) -> Callable[[Handler], Route]:
    """The key must be live and hold `scope`; the handler gets who is calling."""

    def wrap(handler: Handler) -> Route:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            caller = await _caller(request)
            if scope not in caller.scopes:
                raise Problem(
                    403,
                    "Forbidden",
                    f"this API key does not have the {scope!r} scope",
                    headers={
                        "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'
                    },
                )
            return await handler(request, caller)

        return checked

    return wrap


# Reading bodies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One JSON field: its type, whether it must be there, and the shape a string must have."""

    kind: type
    required: bool = False
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    pattern_help: str = ""
    nullable: bool = False  # null is taken, and means "not known"
    bounds: tuple[int, int] | None = None  # the least and most a whole number may be


_TYPE_WORDS = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "an object",
    # Taken as it is; the handler checks the shape (a result's value: a number or text).
    object: "a value",
}
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATE_HELP = "write a date as YYYY-MM-DD, e.g. 2026-12-01"
STARTS_AT = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
)
STARTS_AT_HELP = "write a date and time like 2026-12-01T10:30 (an offset like +01:00 is optional)"

PATIENT_FIELDS: dict[str, Spec] = {
    "external_id": Spec(str, required=True),
    "nhs_number": Spec(str, required=True),
    "name": Spec(str, required=True),
    "date_of_birth": Spec(str, required=True),
    "practice": Spec(str, required=True),
    "language": Spec(str, required=True, choices=LANGUAGES),
    "timezone": Spec(str),
    "issue_code": Spec(bool),
    "diabetes_type": Spec(str, choices=enrolment.DIABETES_TYPES),
    "diagnosed_on": Spec(str, pattern=DATE, pattern_help=DATE_HELP),
}
CHANGE_FIELDS: dict[str, Spec] = {
    "kind": Spec(str),
    "starts_at": Spec(str, pattern=STARTS_AT, pattern_help=STARTS_AT_HELP),
    "duration_minutes": Spec(int),
    "location": Spec(str),
    "address": Spec(str),
    "directions": Spec(str),
    "clinician": Spec(str),
    "phone": Spec(str),
    "practice": Spec(str),
}
APPOINTMENT_FIELDS: dict[str, Spec] = {
    "external_id": Spec(str, required=True),
    "nhs_number": Spec(str),
    "patient_external_id": Spec(str),
    **CHANGE_FIELDS,
    "kind": Spec(str, required=True),
    "starts_at": Spec(str, required=True, pattern=STARTS_AT, pattern_help=STARTS_AT_HELP),
}
ATTENDANCE_FIELDS: dict[str, Spec] = {"attended": Spec(bool, required=True)}
COHORT_FIELDS: dict[str, Spec] = {
    "source": Spec(str, required=True),
    "people": Spec(list, required=True),
}
COHORT_PERSON_FIELDS: dict[str, Spec] = {
    "external_id": Spec(str, required=True),
    "name": Spec(str, required=True),
    "date_of_birth": Spec(str, required=True, pattern=DATE, pattern_help=DATE_HELP),
    "practice": Spec(str, required=True),
    "language": Spec(str, choices=LANGUAGES),
    "last_check_on": Spec(str, nullable=True, pattern=DATE, pattern_help=DATE_HELP),
    "priority": Spec(int, bounds=(0, 9)),
}
SEND_AT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")
SEND_AT_HELP = "write a date and time with its offset, like 2027-01-25T10:00:00+00:00"
CAMPAIGN_FIELDS: dict[str, Spec] = {
    "name": Spec(str, required=True),
    "topic": Spec(str, required=True),
    "languages": Spec(list),
    "diabetes_types": Spec(list),
    "roles": Spec(list),
    "practices": Spec(list),
    "send_at": Spec(str, nullable=True, pattern=SEND_AT, pattern_help=SEND_AT_HELP),
}
TRANSITION_FIELDS: dict[str, Spec] = {
    "started_on": Spec(str, required=True, pattern=DATE, pattern_help=DATE_HELP),
    "named_worker": Spec(str, required=True),
    "named_worker_id": Spec(int, nullable=True, bounds=(1, LARGEST_ID)),
}
OCCURRED_AT_HELP = "write the date and time with its offset, like 2026-11-20T19:05:00+00:00"
HYPO_CALLOUT_FIELDS: dict[str, Spec] = {
    "nhs_number": Spec(str, required=True),
    "occurred_at": Spec(str, required=True),
    "taken_to_hospital": Spec(bool, required=True),
    "callout_id": Spec(str, nullable=True),
}
# The list's `status` filter: a request's status, or `open` for everything still in the team's
# queue. A request nobody holds has the status "open" too, so that one is asked as `unclaimed`.
ADVICE_LIST_STATUSES: dict[str, tuple[AdviceStatus, ...]] = {
    "open": OPEN_STATUSES,
    "unclaimed": (AdviceStatus.OPEN,),
    **{
        status.value: (status,)
        for status in AdviceStatus
        if status not in (AdviceStatus.OPEN, AdviceStatus.DRAFT, AdviceStatus.CANCELLED)
    },
}
ADVICE_LIST_FILTERS = ("status", "kind", "since", "limit")
RESULTS_FIELDS: dict[str, Spec] = {
    "nhs_number": Spec(str),
    "patient_external_id": Spec(str),
    "treatment": Spec(str, choices=tuple(treatment.value for treatment in Treatment)),
    "results": Spec(list, required=True),
}
RESULT_FIELDS: dict[str, Spec] = {
    "measure": Spec(str, required=True, choices=tuple(measure.value for measure in Measure)),
    # A number, or text: "138/84" for a blood pressure, "<0.3" as laboratories write an edge.
    "value": Spec(object, nullable=True),
    "unit": Spec(str, nullable=True),
    "outcome": Spec(str, nullable=True),
    "taken_on": Spec(str, required=True, pattern=DATE, pattern_help=DATE_HELP),
}
CARE_PLAN_FIELDS: dict[str, Spec] = {
    "goals": Spec(list, required=True),
    "targets": Spec(dict),
    "next_review_on": Spec(str, nullable=True, pattern=DATE, pattern_help=DATE_HELP),
    "contacts": Spec(list),
}
GOAL_FIELDS: dict[str, Spec] = {"goal": Spec(str, required=True), "actions": Spec(list)}
ACTION_FIELDS: dict[str, Spec] = {
    "action": Spec(str, required=True),
    "who": Spec(str, required=True),
}
CONTACT_FIELDS: dict[str, Spec] = {
    "name": Spec(str, required=True),
    "phone": Spec(str, required=True),
}


async def read_json(request: web.Request, *, max_bytes: int | None = None) -> Any:
    """The JSON body; `max_bytes` lets one call take more than the server's usual limit."""
    if request.content_type != "application/json":
        raise Problem(
            415, "Unsupported Media Type", "send the body as JSON, Content-Type: application/json"
        )
    if max_bytes is not None:
        request = request.clone(client_max_size=max_bytes)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Problem(
            413, "Content Too Large", "the body is larger than this call takes; send less at once"
        ) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise Problem(
            400,
            "Bad Request",
            "the body is not JSON",
            [FieldError("body", "not valid JSON (check quotes and commas)")],
        ) from None


def read_fields(body: Any, spec: Mapping[str, Spec]) -> tuple[dict[str, Any], list[FieldError]]:
    """The fields that are there and of the right type, and what is wrong with the rest."""
    if not isinstance(body, dict):
        return {}, [FieldError("body", "send a JSON object with the fields of the record")]
    values: dict[str, Any] = {}
    wrong = [
        FieldError(name[:100], "not a field of this record (see /api/v1/openapi.json)")
        for name in body
        if name not in spec
    ]
    for name, rule in spec.items():
        if name not in body:
            if rule.required:
                wrong.append(FieldError(name, "required"))
            continue
        value = body[name]
        if value is None and rule.nullable:
            values[name] = None
        # bool is a kind of int in Python, never in JSON.
        elif not isinstance(value, rule.kind) or (rule.kind is int and isinstance(value, bool)):
            wrong.append(FieldError(name, f"must be {_TYPE_WORDS[rule.kind]}"))
        elif rule.choices and value not in rule.choices:
            wrong.append(FieldError(name, f"{value!r} is not one of {', '.join(rule.choices)}"))
        elif rule.pattern and not rule.pattern.match(value):
            wrong.append(FieldError(name, f"{value!r}: {rule.pattern_help}"))
        elif rule.bounds and not rule.bounds[0] <= value <= rule.bounds[1]:
            least, most = rule.bounds
            wrong.append(FieldError(name, f"must be a whole number from {least} to {most}"))
        else:
            values[name] = value
    return values, wrong


def _value_problems(
    values: Mapping[str, Any], checks: Mapping[str, Callable[[str], object]]
) -> list[FieldError]:
    # The services stop at the first wrong field; a sender wants them all in one answer.
    wrong = []
    for name, check in checks.items():
        if values.get(name) is not None:
            try:
                check(values[name])
            except InvalidField as problem:
                wrong.append(FieldError(name, problem.message))
    return wrong


def _patient_problems(values: Mapping[str, Any], today: date) -> list[FieldError]:
    try:
        # The diagnosis cannot come before the birth; a wrong birth date is named on its own.
        born = enrolment.check_date_of_birth(values["date_of_birth"], today)
    except (KeyError, InvalidField):
        born = None
    return _value_problems(
        values,
        {
            "external_id": enrolment.check_external_id,
            "nhs_number": enrolment.check_nhs_number,
            "name": enrolment.check_name,
            "date_of_birth": lambda raw: enrolment.check_date_of_birth(raw, today),
            "practice": enrolment.check_ods_code,
            "timezone": enrolment.check_timezone,
            "diagnosed_on": lambda raw: enrolment.check_diagnosed_on(raw, today, born),
        },
    )


def _a_date(name: str, raw: str, *, not_after: date | None = None) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise InvalidField(name, f"{raw!r} is not a date in the calendar") from None
    if not_after is not None and day > not_after:
        raise InvalidField(name, "the date is in the future")
    return day


def _occurred_at(raw: str, now: datetime) -> datetime:
    """When the hypo happened: a moment with its offset, not ahead of us, not long past.
    The messages never repeat what was sent: a slip could have put the NHS number here."""
    if not STARTS_AT.match(raw):
        raise InvalidField("occurred_at", f"not a date and time: {OCCURRED_AT_HELP}")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidField(
            "occurred_at", "not a moment in the calendar: check the day, month and hour"
        ) from None
    if moment.tzinfo is None:
        # A crew's local time without its offset is an hour out for half the year.
        raise InvalidField(
            "occurred_at",
            "give the time with its offset (Z for UTC, or +01:00 in British Summer Time), "
            "like 2026-11-20T19:05:00+00:00",
        )
    if moment > now + CALLOUT_CLOCK_SLACK:
        raise InvalidField("occurred_at", "the time is in the future: send when the hypo happened")
    if moment < now - CALLOUT_OLDEST:
        raise InvalidField(
            "occurred_at",
            f"more than {CALLOUT_OLDEST.days} days ago: the hotline follows up recent hypos; "
            "tell the patient's GP instead",
        )
    return moment.astimezone(UTC)


def _callout_id(raw: str) -> str:
    callout_id = raw.strip()
    if not 0 < len(callout_id) <= CALLOUT_ID_MAX_LENGTH:
        raise InvalidField(
            "callout_id",
            f"give the ambulance service's id in 1 to {CALLOUT_ID_MAX_LENGTH} characters, "
            "or leave it out",
        )
    return callout_id


@dataclass(frozen=True)
class AdviceFilters:
    """The advice line list's query, checked."""

    status: str | None = None
    kind: AdviceKind | None = None
    since: date | None = None
    limit: int = ADVICE_LIST_LIMIT

    def describe(self) -> str:
        """For the audit trail: the filters as given (plain words, never a patient's)."""
        given = {"status": self.status, "kind": self.kind, "since": self.since}
        words = [f"{name}={value}" for name, value in given.items() if value is not None]
        return " ".join([*words, f"limit={self.limit}"])


def _advice_filters(query: MultiMapping[str]) -> tuple[AdviceFilters, list[FieldError]]:
    """The list's filters, and every one that is wrong (an unknown one too, so a misspelt
    filter is not silently a list of everything)."""
    wrong = [
        FieldError(name[:100], f"not a filter of this list; use {', '.join(ADVICE_LIST_FILTERS)}")
        for name in dict.fromkeys(query)
        if name not in ADVICE_LIST_FILTERS
    ]
    given: dict[str, str] = {}
    for name in ADVICE_LIST_FILTERS:
        values = query.getall(name, [])
        if len(values) > 1:
            wrong.append(FieldError(name, "give this filter once"))
        elif values:
            given[name] = values[0].strip()
    filters: dict[str, Any] = {}
    if "status" in given:
        if given["status"] in ADVICE_LIST_STATUSES:
            filters["status"] = given["status"]
        else:
            choices = ", ".join(ADVICE_LIST_STATUSES)
            wrong.append(FieldError("status", f"{given['status']!r} is not one of {choices}"))
    if "kind" in given:
        if given["kind"] in AdviceKind.__members__.values():
            filters["kind"] = AdviceKind(given["kind"])
        else:
            choices = ", ".join(kind.value for kind in AdviceKind)
            wrong.append(FieldError("kind", f"{given['kind']!r} is not one of {choices}"))
    if "since" in given:
        if not DATE.match(given["since"]):
            wrong.append(FieldError("since", f"{given['since']!r}: {DATE_HELP}"))
        else:
            try:
                filters["since"] = _a_date("since", given["since"])
            except InvalidField as problem:
                wrong.append(FieldError("since", problem.message))
    if "limit" in given:
        raw = given["limit"]
        # ASCII digits only: int() would also take "٣" or "1_0".
        if re.fullmatch(r"[0-9]{1,4}", raw) and 1 <= int(raw) <= ADVICE_LIST_MOST:
            filters["limit"] = int(raw)
        else:
            wrong.append(
                FieldError("limit", f"must be a whole number from 1 to {ADVICE_LIST_MOST}")
            )
    return AdviceFilters(**filters), wrong


@dataclass
class Cohort:
    source: str
    records: list[CohortRecord]


def _read_cohort(body: Any, today: date) -> tuple[Cohort, list[FieldError]]:
    """The cohort, and every problem of every person in it, each named `people[i].field`.

    All or nothing: one wrong person stops the batch, so the sender is told of them all at
    once rather than one per attempt. The age rule is the service's, and it answers for the
    first person it refuses."""
    values, wrong = read_fields(body, COHORT_FIELDS)
    source = values.get("source", "").strip()
    if "source" in values and not 0 < len(source) <= SOURCE_MAX_LENGTH:
        wrong.append(FieldError("source", f"name the batch in 1 to {SOURCE_MAX_LENGTH} characters"))
    people: list[Any] = values.get("people", [])
    if "people" in values and not people:
        wrong.append(FieldError("people", "the list is empty: send at least one person"))
    if len(people) > MOST_PEOPLE_PER_COHORT:
        wrong.append(
            FieldError(
                "people",
                f"{len(people)} people: send at most {MOST_PEOPLE_PER_COHORT} in one call "
                "and the rest in another",
            )
        )
        return Cohort(source, []), wrong
    records: list[CohortRecord] = []
    first_sent: dict[str, int] = {}
    for index, item in enumerate(people):
        where = f"people[{index}]"
        if not isinstance(item, dict):
            wrong.append(FieldError(where, "send each person as a JSON object"))
            continue
        fields, problems = read_fields(item, COHORT_PERSON_FIELDS)
        problems += _value_problems(
            fields,
            {
                "external_id": enrolment.check_external_id,
                "name": enrolment.check_name,
                "date_of_birth": lambda raw: enrolment.check_date_of_birth(raw, today),
                "practice": enrolment.check_ods_code,
                "last_check_on": lambda raw: _a_date("last_check_on", raw, not_after=today),
            },
        )
        # Twice in one batch would be one person given two invitation days.
        external_id = str(fields.get("external_id", "")).strip()
        if external_id and first_sent.setdefault(external_id, index) != index:
            problems.append(
                FieldError(
                    "external_id",
                    f"sent already as people[{first_sent[external_id]}]; send each person once",
                )
            )
        wrong += [FieldError(f"{where}.{p.field}", p.message) for p in problems]
        if not problems:
            records.append(CohortRecord(**fields))
    return Cohort(source, records), wrong


async def _ids_of_others(session: AsyncSession, records: list[CohortRecord]) -> set[str]:
    """The cohort's external_ids that already name someone not in a cohort (a patient, a
    carer): the service refuses them mid-batch without saying which person it was on."""
    wanted = [record.external_id.strip() for record in records]
    taken: set[str] = set()
    # In slices: a database takes only so many parameters in one statement.
    for start in range(0, len(wanted), 1000):
        taken.update(
            (
                await session.exec(
                    select(Person.external_id).where(
                        col(Person.external_id).in_(wanted[start : start + 1000]),
                        col(Person.role) != Role.AT_RISK,
                    )
                )
            ).all()
        )
    return taken


# Care planning ------------------------------------------------------------------------------


@dataclass
class SentResults:
    """A body of results as read: whose they are, their treatment, and each result whose
    fields have the right shape, with its place in the list."""

    nhs_number: str | None = None
    patient_external_id: str | None = None
    treatment: str | None = None
    items: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def _result_value_problem(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number, or text like 138/84 for a blood pressure"
    try:
        float(value)
    except OverflowError:
        return "is not a number a result can have"
    return None


def _read_results(body: Any) -> tuple[SentResults, list[FieldError]]:
    """The body's shape: every missing or wrong field of every result, named like
    `results[2].taken_on`. What the values mean is checked once the patient is known."""
    values, wrong = read_fields(body, RESULTS_FIELDS)
    sent = SentResults(
        values.get("nhs_number"), values.get("patient_external_id"), values.get("treatment")
    )
    if isinstance(body, dict) and "nhs_number" not in body and "patient_external_id" not in body:
        wrong.append(
            FieldError("nhs_number", "give the patient's NHS number or patient_external_id")
        )
    results: list[Any] = values.get("results", [])
    if "results" in values and not results:
        wrong.append(FieldError("results", "the list is empty: send at least one result"))
    if len(results) > MOST_RESULTS_PER_CALL:
        wrong.append(
            FieldError(
                "results",
                f"{len(results)} results: send at most {MOST_RESULTS_PER_CALL} in one call, "
                "or import a file with `diabridge import results`",
            )
        )
        return sent, wrong
    for index, item in enumerate(results):
        where = f"results[{index}]"
        if not isinstance(item, dict):
            wrong.append(FieldError(where, "send each result as a JSON object"))
            continue
        fields, problems = read_fields(item, RESULT_FIELDS)
        problem = _result_value_problem(fields.get("value"))
        if problem is not None:
            problems.append(FieldError("value", problem))
        wrong += [FieldError(f"{where}.{p.field}", p.message) for p in problems]
        if not problems:
            sent.items.append((index, fields))
    return sent, wrong


def _check_results(
    items: list[tuple[int, dict[str, Any]]], *, today: date, born: date | None
) -> tuple[list[ResultValue], list[FieldError]]:
    """Each result checked as care_results does (units, plausible values, dates), every
    problem named by its place in the list."""
    checked: list[ResultValue] = []
    wrong: list[FieldError] = []
    first: dict[tuple[str, date], int] = {}
    for index, fields in items:
        where = f"results[{index}]"
        try:
            taken_on = date.fromisoformat(fields["taken_on"])
        except ValueError:
            wrong.append(
                FieldError(
                    f"{where}.taken_on", f"{fields['taken_on']!r} is not a date in the calendar"
                )
            )
            continue
        try:
            result = care_results.check_result(
                fields["measure"],
                value=fields.get("value"),
                unit=fields.get("unit"),
                outcome=fields.get("outcome"),
                taken_on=taken_on,
                today=today,
                born=born,
            )
        except InvalidResult as problem:
            wrong.append(FieldError(f"{where}.{problem.field}", str(problem)))
            continue
        # One result per measure and day is kept: two in one call would silently be one.
        key = (result.measure.value, result.taken_on)
        if first.setdefault(key, index) != index:
            wrong.append(
                FieldError(
                    f"{where}.taken_on",
                    f"results[{first[key]}] is {result.measure.value} on the same day; "
                    "send each measure once a day",
                )
            )
            continue
        checked.append(result)
    return checked, wrong


async def _results_patient(session: AsyncSession, sent: SentResults) -> Person:
    """The patient, named as appointments name one: the sender's id first, else the NHS
    number. With both, they must be one person: a result on the wrong record is worse than
    none."""
    person = await appointments.find_patient(
        session, nhs_number=sent.nhs_number, patient_external_id=sent.patient_external_id
    )
    if sent.patient_external_id and sent.nhs_number:
        try:
            number = enrolment.check_nhs_number(sent.nhs_number)
        except InvalidField as problem:
            raise InvalidField("nhs_number", problem.message) from None
        if person.nhs_number != number:
            raise InvalidField(
                "nhs_number", "this NHS number is not the patient's named by patient_external_id"
            )
    if Role(person.role) not in PATIENT_ROLES:
        raise InvalidField(
            "patient_external_id" if sent.patient_external_id else "nhs_number",
            "this is not a patient but a carer, a member of staff or someone in an NHS Health "
            "Check cohort",
        )
    return person


# check_plan counts goals, actions and contacts from 1 (as a clinician reads a plan in the
# chat); the API names places in a list as JSON does, from 0: goals.2.actions.1 is
# goals[1].actions[0].
_PLAN_PLACE = re.compile(r"\b(goals|actions|contacts)\.(\d+)(?=\.|$)")


def _plan_field(where: str) -> str:
    return _PLAN_PLACE.sub(lambda match: f"{match[1]}[{int(match[2]) - 1}]", where)


def _read_list(
    raw: list[Any], where: str, spec: Mapping[str, Spec], wrong: list[FieldError]
) -> list[dict[str, Any]]:
    """Each object of a list with the fields of the right type (the rest named in `wrong`)."""
    read = []
    for index, item in enumerate(raw):
        place = f"{where}[{index}]"
        if not isinstance(item, dict):
            wrong.append(FieldError(place, "send each as a JSON object"))
            read.append({})
            continue
        fields, problems = read_fields(item, spec)
        wrong += [FieldError(f"{place}.{p.field}", p.message) for p in problems]
        read.append(fields)
    return read


def _read_targets(raw: Mapping[str, Any], wrong: list[FieldError]) -> dict[str, Any]:
    """Personal targets of the right JSON type: a number, or "140/90" for blood pressure."""
    targets: dict[str, Any] = {}
    for key, value in raw.items():
        where = f"targets.{key}"[:100]
        if key == Measure.BLOOD_PRESSURE:
            pair = (
                isinstance(value, list)
                and len(value) == 2
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            )
            if not (isinstance(value, str) or pair):
                wrong.append(FieldError(where, 'write it like "140/90"'))
                continue
        elif isinstance(value, bool) or not isinstance(value, int | float):
            wrong.append(FieldError(where, "must be a number"))
            continue
        targets[key] = value
    return targets


def _read_plan(body: Any, today: date) -> tuple[care_plans.PlanInput | None, list[FieldError]]:
    """The plan, checked whole by care_plans.check_plan: every problem at once."""
    values, wrong = read_fields(body, CARE_PLAN_FIELDS)
    if not isinstance(body, dict):
        return None, wrong
    goals = _read_list(values.get("goals", []), "goals", GOAL_FIELDS, wrong)
    for index, goal in enumerate(goals):
        goal["actions"] = _read_list(
            goal.get("actions", []), f"goals[{index}].actions", ACTION_FIELDS, wrong
        )
    contacts = _read_list(values.get("contacts", []), "contacts", CONTACT_FIELDS, wrong)
    targets = _read_targets(values.get("targets", {}), wrong)
    next_review_on = None
    if values.get("next_review_on") is not None:
        try:
            next_review_on = _a_date("next_review_on", values["next_review_on"])
        except InvalidField as problem:
            wrong.append(FieldError("next_review_on", problem.message))
    try:
        plan = care_plans.check_plan(
            goals=goals,
            targets=targets,
            next_review_on=next_review_on,
            contacts=contacts,
            today=today,
        )
    except InvalidPlan as refused:
        # A field already named for its shape ("required", "send each as a JSON object") is
        # not named again, nor are the fields inside it.
        named = [problem.field for problem in wrong]
        wrong += [
            FieldError(_plan_field(where), why)
            for where, why in refused.problems
            if not any(
                _plan_field(where) == field or _plan_field(where).startswith(field + ".")
                for field in named
            )
        ]
        return None, wrong
    return (None if wrong else plan), wrong


def _same_plan(plan: care_plans.PlanInput, current: CarePlan, goals: list[CareGoal]) -> bool:
    """The plan sent is the person's current plan as it is (a retried call)."""
    return (
        current.next_review_on == plan.next_review_on
        and dict(current.targets) == plan.targets
        and list(current.contacts) == plan.contacts
        and [(goal.goal, list(goal.actions)) for goal in goals]
        == [
            (goal.goal, [{"action": what, "who": who} for what, who in goal.actions])
            for goal in plan.goals
        ]
    )


async def _patient(session: AsyncSession, request: web.Request) -> Person:
    """The patient the sender knows by the `external_id` in the address."""
    external_id = request.match_info["external_id"]
    person = (
        await session.exec(select(Person).where(col(Person.external_id) == external_id))
    ).one_or_none()
    if person is None or Role(person.role) not in PATIENT_ROLES:
        raise Problem(404, "Not Found", "no patient has this external_id")
    return person


async def _programme(session: AsyncSession, person: Person) -> Transition | None:
    """The patient's transition programme, running or ended."""
    return (
        await session.exec(select(Transition).where(col(Transition.person_id) == person.id))
    ).one_or_none()


def _appointment_id(request: web.Request) -> int:
    appointment_id = int(request.match_info["id"])
    if not 1 <= appointment_id <= LARGEST_ID:
        raise appointments.NotFound(appointment_id)
    return appointment_id


# Rendering -------------------------------------------------------------------------------


def _time(value: datetime | None, zone: ZoneInfo) -> str | None:
    """With its offset, in the clinic's local time."""
    return value.astimezone(zone).isoformat(timespec="seconds") if value else None


def _code_json(issued: IssuedCode, username: str | None) -> dict[str, Any]:
    """The enrolment code to send the person, the link that opens the bot with it, and when
    it stops working; all null when no code was made."""
    if issued.code is None or issued.expires_at is None:
        return {"code": None, "link": None, "code_expires_at": None}
    return {
        "code": issued.display,
        "link": f"https://t.me/{username}?start={issued.code}" if username else None,
        "code_expires_at": issued.expires_at.isoformat(timespec="seconds"),
    }


def _patient_json(
    person: Person, issued: IssuedCode | None, username: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": person.id,
        "external_id": person.external_id,
        "practice": person.practice_ods,
        "language": person.language,
        "timezone": person.timezone,
        "status": person.status,
        "diabetes_type": person.diabetes_type,
        "diagnosed_on": _day(person.diagnosed_on),
    }
    # A patient sent again without issue_code keeps their code: the answer has none.
    if issued is not None and issued.code is not None and issued.expires_at is not None:
        body.update(_code_json(issued, username))
    return body


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _cohort_person_json(entry: health_checks.CohortEntry, username: str | None) -> dict[str, Any]:
    assert entry.person.id is not None
    issued = IssuedCode(
        code=entry.code,
        person_id=entry.person.id,
        expires_at=entry.code_expires_at,
        reissued=not entry.created,
    )
    return {
        "id": entry.person.id,
        "external_id": entry.person.external_id,
        "created": entry.created,
        "status": entry.check.status,
        "invite_on": _day(entry.invite_on),
        "due_on": _day(entry.check.due_on),
        **_code_json(issued, username),
    }


async def _transition_json(
    session: AsyncSession, person: Person, programme: Transition
) -> dict[str, Any]:
    messages = await outbox.for_topic(session, transitions.topic(programme))
    return {
        "patient_id": person.id,
        "external_id": person.external_id,
        "started_on": programme.started_on.isoformat(),
        "named_worker": programme.named_worker,
        "named_worker_id": programme.worker_id,
        "active": programme.active,
        "check_ins_planned": sum(
            message.template_key == CHECK_IN_TEMPLATE and message.status == OutboxStatus.PENDING
            for message in messages
        ),
    }


async def _readiness_json(session: AsyncSession, person: Person) -> dict[str, Any]:
    """The young person's answers to the readiness checklist and the monthly check-ins."""
    assert person.id is not None
    given = await transitions.answers(session, person.id)
    check_ins = sorted(
        (question.removeprefix("check_in:"), answer)
        for question, answer in given.items()
        if question.startswith("check_in:")
    )
    return {
        "readiness": {
            "answered": sum(key in given for key in transitions.STATEMENT_KEYS),
            "total": len(transitions.STATEMENT_KEYS),
            "areas": [
                {
                    "area": area.area.value,
                    "ready": area.ready,
                    "getting_there": area.getting_there,
                    "total": area.total,
                }
                for area in transitions.progress(given)
            ],
            "statements": [
                {"statement": key, "area": area.value, "answer": given.get(key)}
                for area, key in transitions.CHECKLIST
            ],
        },
        "check_ins": [{"month": month, "answer": answer} for month, answer in check_ins],
    }


async def _appointment_json(
    session: Any, appointment: Appointment, *, zone: ZoneInfo, now: datetime
) -> dict[str, Any]:
    assert appointment.id is not None
    events = await appointments.history(session, appointment.id)
    messages = await outbox.for_topic(session, appointments.topic(appointment.id))
    person = await session.get(Person, appointment.person_id)
    flags = await appointments.open_flags(session, appointment.person_id)
    missed = await appointments.missed_count(session, appointment.person_id, now=now)
    return {
        "id": appointment.id,
        "external_id": appointment.external_id,
        "kind": appointment.kind,
        "starts_at": _time(appointment.starts_at, zone),
        "duration_minutes": appointment.duration_minutes,
        "location": appointment.location,
        "address": appointment.address,
        "directions": appointment.directions,
        "clinician": appointment.clinician,
        "phone": appointment.phone,
        "practice": appointment.practice_ods,
        "status": appointment.status,
        "answer": appointment.answer,
        "answered_at": _time(appointment.answered_at, zone),
        "events": [
            {"event": event.event, "at": _time(event.at, zone), "by": event.actor}
            for event in events
        ],
        "reminders": [
            {
                # Carers the patient invited get their own copies of the reminders.
                "to": "patient" if message.person_id == appointment.person_id else "carer",
                "template": message.template_key,
                "due_at": _time(message.due_at, zone),
                "status": message.status,
                "sent_at": _time(message.sent_at, zone),
            }
            for message in messages
        ],
        "patient": {
            "id": appointment.person_id,
            "external_id": person.external_id if person else None,
            "open_care_flags": [
                {"kind": flag.kind, "detail": flag.detail, "raised_at": _time(flag.raised_at, zone)}
                for flag in flags
            ],
            "missed_last_12_months": missed,
        },
    }


def _follow_up_json(
    follow_up: AdviceRequest, *, created: bool, patient_told: bool, zone: ZoneInfo
) -> dict[str, Any]:
    """A hypo follow-up as the ambulance service sees it: never the NHS number it sent."""
    return {
        "reference": follow_up.reference,
        "status": follow_up.status,
        "occurred_at": _time(follow_up.occurred_at, zone),
        "taken_to_hospital": follow_up.taken_to_hospital,
        "callout_id": follow_up.callout_id,
        "due_at": _time(follow_up.due_at, zone),
        "patient_enrolled": follow_up.patient_id is not None,
        "patient_told": patient_told,
        "created": created,
    }


async def _patient_told(session: AsyncSession, follow_up: AdviceRequest) -> bool:
    """Whether the call-out queued a message to the patient (asked again when it is resent, so
    the answer is the same as the first time)."""
    assert follow_up.id is not None
    messages = await outbox.for_topic(session, advice_line.request_topic(follow_up.id))
    return any(
        message.template_key == HYPO_FOLLOW_UP_TEMPLATE and message.person_id is not None
        for message in messages
    )


def _advice_request_json(entry: advice_line.QueueEntry, zone: ZoneInfo) -> dict[str, Any]:
    """Times and states only: the question, the thread and the NHS number stay in diabridge."""
    request = entry.request
    return {
        "reference": request.reference,
        "kind": request.kind,
        "status": request.status,
        "area": request.area,
        "urgency": request.urgency,
        "practice": request.practice_ods,
        "practice_name": entry.practice,
        "submitted_at": _time(request.submitted_at, zone),
        "due_at": _time(request.due_at, zone),
        "claimed_at": _time(request.claimed_at, zone),
        "first_answer_at": _time(request.first_answer_at, zone),
        "closed_at": _time(request.closed_at, zone),
        "breached": request.breached_at is not None,
        "breached_at": _time(request.breached_at, zone),
        "outcome": request.outcome,
        "helped": request.helped,
        "holder": entry.holder,
        "occurred_at": _time(request.occurred_at, zone),
        "taken_to_hospital": request.taken_to_hospital,
        "reported_by": advice_line.reported_by(request),
    }


# What the handlers share -----------------------------------------------------------------


@dataclass
class _Shared:
    """Per-process things the handlers look up once."""

    settings: Settings
    plans: Plans | None
    username: str | None = None
    username_next_try: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def reminder_plans(self) -> Plans:
        if self.plans is None:
            self.plans = load_plans(self.settings.plans_file)
        return self.plans

    async def bot_username(self) -> str | None:
        """For enrolment links: the configured name, else Telegram's answer (asked once)."""
        if self.settings.bot_username:
            return self.settings.bot_username.lstrip("@")
        if self.username or not self.settings.telegram_bot_token:
            return self.username
        async with self.lock:
            if self.username is None and time.monotonic() >= self.username_next_try:
                self.username = await _ask_telegram_username(self.settings)
                self.username_next_try = time.monotonic() + USERNAME_RETRY_SECONDS
        return self.username


async def _ask_telegram_username(settings: Settings) -> str | None:
    from telegram import Bot

    bot = Bot(
        settings.telegram_bot_token or "",
        base_url=f"{settings.api_root}/bot",
        base_file_url=f"{settings.api_root}/file/bot",
    )
    try:
        async with bot:
            return bot.username
    except Exception as error:
        log.warning("api: the bot's username is not known (%s)", type(error).__name__)
        return None


CTX_KEY: web.AppKey[AppContext] = web.AppKey("api_ctx", AppContext)
SHARED_KEY: web.AppKey[_Shared] = web.AppKey("api_shared", _Shared)


# Handlers --------------------------------------------------------------------------------


@needs(api_keys.PATIENTS)
async def save_patient(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    now = utcnow()
    values, wrong = read_fields(await read_json(request), PATIENT_FIELDS)
    wrong += _patient_problems(values, now.date())
    if wrong:
        raise unprocessable(wrong)
    async with ctx.db.session() as session:
        issued = await enrolment.register_patient(
            session,
            nhs_number_text=values["nhs_number"],
            name=values["name"],
            date_of_birth=values["date_of_birth"],
            practice=values["practice"],
            language=values["language"],
            actor=caller.actor,
            now=now,
            valid_days=ctx.settings.enrolment_code_days,
            timezone=ctx.settings.timezone,
            external_id=values["external_id"],
            patient_timezone=values.get("timezone"),
            issue_code=values.get("issue_code", False),
            diabetes_type=values.get("diabetes_type"),
            diagnosed_on=values.get("diagnosed_on"),
        )
        person = await session.get(Person, issued.person_id)
        assert person is not None
    username = await shared.bot_username() if issued.code else None
    return web.json_response(
        _patient_json(person, issued, username), status=200 if issued.reissued else 201
    )


@needs(api_keys.PATIENTS)
async def get_patient(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        # The record holds the patient's diagnosis: reading it is accounted for.
        await audit.record(
            session, actor=caller.actor, action="patient.view", person_id=person.id, at=utcnow()
        )
        body = _patient_json(person, None, None)
    return web.json_response(body)


@needs(api_keys.APPOINTMENTS)
async def save_appointment(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    values, wrong = read_fields(await read_json(request), APPOINTMENT_FIELDS)
    if "nhs_number" not in values and "patient_external_id" not in values:
        if not any(e.field in ("nhs_number", "patient_external_id") for e in wrong):
            wrong.append(
                FieldError("nhs_number", "give the patient's NHS number or patient_external_id")
            )
    if wrong:
        raise unprocessable(wrong)
    now = utcnow()
    async with ctx.db.session() as session:
        outcome = await appointments.save(
            session,
            AppointmentRecord(**values),
            plans=shared.reminder_plans(),
            now=now,
            actor=caller.actor,
            source=caller.actor,
            default_zone=ctx.settings.zone,
        )
        body = await _appointment_json(
            session, outcome.appointment, zone=ctx.settings.zone, now=now
        )
    if not outcome.created:
        return web.json_response(body)
    return web.json_response(
        body, status=201, headers={"Location": f"{PREFIX}/appointments/{body['id']}"}
    )


@needs(api_keys.APPOINTMENTS)
async def get_appointment(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    appointment_id = _appointment_id(request)
    now = utcnow()
    async with ctx.db.session() as session:
        appointment = await appointments.get(session, appointment_id)
        # Reading a patient's attendance and care flags is itself a thing to account for.
        await audit.record(
            session,
            actor=caller.actor,
            action="appointment.view",
            person_id=appointment.person_id,
            detail=f"appointment={appointment_id}",
            at=now,
        )
        body = await _appointment_json(session, appointment, zone=ctx.settings.zone, now=now)
    return web.json_response(body)


@needs(api_keys.APPOINTMENTS)
async def change_appointment(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    appointment_id = _appointment_id(request)
    values, wrong = read_fields(await read_json(request), CHANGE_FIELDS)
    if wrong:
        raise unprocessable(wrong)
    now = utcnow()
    async with ctx.db.session() as session:
        appointment = await appointments.get(session, appointment_id)
        if appointment.status != AppointmentStatus.BOOKED:
            raise Problem(409, "Conflict", f"the appointment is {appointment.status}")
        # The appointment as it is, with the fields sent laid over it: the service then sees a
        # whole record, exactly as if the sender had sent it all again.
        as_it_is = AppointmentRecord(
            external_id=appointment.external_id,
            kind=appointment.kind,
            starts_at=appointment.starts_at,
            duration_minutes=appointment.duration_minutes,
            location=appointment.location,
            address=appointment.address,
            directions=appointment.directions,
            clinician=appointment.clinician,
            phone=appointment.phone,
            practice=appointment.practice_ods,
        )
        outcome = await appointments.save(
            session,
            replace(as_it_is, **values),
            plans=shared.reminder_plans(),
            now=now,
            actor=caller.actor,
            source=caller.actor,
            default_zone=ctx.settings.zone,
        )
        body = await _appointment_json(
            session, outcome.appointment, zone=ctx.settings.zone, now=now
        )
    return web.json_response(body)


@needs(api_keys.APPOINTMENTS)
async def cancel_appointment(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    appointment_id = _appointment_id(request)
    now = utcnow()
    async with ctx.db.session() as session:
        appointment = await appointments.get(session, appointment_id)
        # Cancelling twice (a retried request) is not an error: it is cancelled either way.
        if appointment.status != AppointmentStatus.CANCELLED:
            await appointments.cancel(session, appointment, now=now, actor=caller.actor)
        body = await _appointment_json(session, appointment, zone=ctx.settings.zone, now=now)
    return web.json_response(body)


@needs(api_keys.APPOINTMENTS)
async def mark_attendance(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    appointment_id = _appointment_id(request)
    values, wrong = read_fields(await read_json(request), ATTENDANCE_FIELDS)
    if wrong:
        raise unprocessable(wrong)
    now = utcnow()
    async with ctx.db.session() as session:
        appointment = await appointments.get(session, appointment_id)
        await appointments.mark_attendance(
            session, appointment, attended=values["attended"], now=now, actor=caller.actor
        )
        body = await _appointment_json(session, appointment, zone=ctx.settings.zone, now=now)
    return web.json_response(body)


@needs(api_keys.HEALTH_CHECKS)
async def import_cohort(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    body = await read_json(request, max_bytes=COHORT_MAX_BYTES)
    now = utcnow()
    # The service's day: the deployment's, so "today" is the same on both sides of midnight UTC.
    today = now.astimezone(ctx.settings.zone).date()
    cohort, wrong = _read_cohort(body, today)
    if wrong:
        raise unprocessable(wrong)
    async with ctx.db.session() as session:
        taken = await _ids_of_others(session, cohort.records)
        if taken:
            raise unprocessable(
                [
                    FieldError(
                        f"people[{index}].external_id",
                        "this id belongs to someone who is not in a cohort (a patient or carer)",
                    )
                    for index, record in enumerate(cohort.records)
                    if record.external_id.strip() in taken
                ]
            )
        entries = await health_checks.import_cohort(
            session,
            cohort.records,
            source=cohort.source,
            actor=caller.actor,
            now=now,
            plans=shared.reminder_plans(),
            per_day=ctx.settings.health_check_invites_per_day,
            timezone=ctx.settings.timezone,
            valid_days=ctx.settings.enrolment_code_days,
        )
    username = await shared.bot_username() if any(entry.code for entry in entries) else None
    return web.json_response(
        {
            "source": cohort.source,
            "people": [_cohort_person_json(entry, username) for entry in entries],
        }
    )


@needs(api_keys.PATIENTS)
async def put_transition(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    values, wrong = read_fields(await read_json(request), TRANSITION_FIELDS)
    if "started_on" in values:
        wrong += _value_problems(values, {"started_on": lambda raw: _a_date("started_on", raw)})
    if wrong:
        raise unprocessable(wrong)
    now = utcnow()
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        try:
            programme = await transitions.enrol(
                session,
                person,
                started_on=date.fromisoformat(values["started_on"]),
                named_worker=values["named_worker"],
                worker_id=values.get("named_worker_id"),
                actor=caller.actor,
                source=caller.actor,
                now=now,
                plans=shared.reminder_plans(),
            )
        except InvalidRecord as error:
            raise unprocessable(
                [FieldError(json_field(p.field), p.message) for p in error.problems]
            ) from None
        body = await _transition_json(session, person, programme)
    return web.json_response(body)


@needs(api_keys.PATIENTS)
async def get_transition(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    now = utcnow()
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        programme = await _programme(session, person)
        if programme is None:
            raise Problem(404, "Not Found", "this patient has not been in the transition programme")
        # A young person's own answers about how ready they feel: reading them is accounted for.
        await audit.record(
            session,
            actor=caller.actor,
            action="transition.view",
            person_id=person.id,
            detail=f"transition={programme.id}",
            at=now,
        )
        body = await _transition_json(session, person, programme)
        body.update(await _readiness_json(session, person))
    return web.json_response(body)


@needs(api_keys.PATIENTS)
async def end_transition(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    now = utcnow()
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        ended = await transitions.end(
            session, person, actor=caller.actor, now=now, plans=shared.reminder_plans()
        )
        programme = await _programme(session, person)
        if not ended or programme is None:
            raise Problem(
                404,
                "Not Found",
                "this patient is not in the transition programme (never put in, or ended already)",
            )
        body = await _transition_json(session, person, programme)
    return web.json_response(body)


def _campaign_json(entry: campaigns.CampaignStatus, zone: ZoneInfo) -> dict[str, Any]:
    campaign = entry.campaign
    return {
        "name": campaign.name,
        "topic": campaign.topic_id,
        "audience": entry.audience.as_json(),
        "send_at": _time(campaign.send_at, zone),
        "created_at": _time(campaign.created_at, zone),
        "created_by": campaign.created_by,
        "recipients": campaign.recipients,
        "counts": dict(entry.counts),
    }


@needs(api_keys.CAMPAIGNS)
async def send_campaign(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    now = utcnow()
    zone = ctx.settings.zone
    values, wrong = read_fields(await read_json(request), CAMPAIGN_FIELDS)
    send_at = None
    if values.get("send_at") is not None:
        try:
            send_at = campaigns.parse_local_time(values["send_at"], zone)
        except InvalidField as problem:
            wrong.append(FieldError("send_at", problem.message))
    library = content.library()
    given = {name for name in values if name not in {e.field for e in wrong}}
    *_, problems = campaigns.check(
        name=values["name"] if "name" in given else None,
        topic_id=values["topic"] if "topic" in given else None,
        audience={name: values[name] for name in campaigns.AUDIENCE_FIELDS if name in given},
        send_at=send_at,
        now=now,
        library=library,
    )
    wrong += [FieldError(p.field, p.message) for p in problems]
    if wrong:
        raise unprocessable(wrong)
    async with ctx.db.session() as session:
        try:
            result = await campaigns.send(
                session,
                name=values["name"],
                topic_id=values["topic"],
                audience={name: values.get(name) for name in campaigns.AUDIENCE_FIELDS},
                send_at=send_at,
                actor=caller.actor,
                now=now,
                library=library,
            )
        except campaigns.CampaignConflict as error:
            raise Problem(409, "Conflict", str(error)) from None
        entry = await campaigns.status(session, result.campaign.name)
    body = _campaign_json(entry, zone)
    body.update(matched=result.matched, queued=result.queued)
    return web.json_response(
        body,
        status=201 if result.created else 200,
        headers={"Location": f"{PREFIX}/campaigns/{result.campaign.name}"},
    )


@needs(api_keys.CAMPAIGNS)
async def get_campaign(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    async with ctx.db.session() as session:
        try:
            entry = await campaigns.status(session, request.match_info["name"])
        except campaigns.NotFound:
            raise Problem(404, "Not Found", "no campaign has this name") from None
    return web.json_response(_campaign_json(entry, ctx.settings.zone))


@needs(api_keys.CAMPAIGNS)
async def list_campaigns(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    async with ctx.db.session() as session:
        entries = await campaigns.list_campaigns(session)
    zone = ctx.settings.zone
    return web.json_response({"campaigns": [_campaign_json(e, zone) for e in entries]})


@needs(api_keys.HYPO_CALLOUTS)
async def record_hypo_callout(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    now = utcnow()
    values, wrong = read_fields(await read_json(request), HYPO_CALLOUT_FIELDS)
    wrong += _value_problems(
        values,
        {
            # Its messages never repeat the number, so the answer cannot echo it.
            "nhs_number": enrolment.check_nhs_number,
            "occurred_at": lambda raw: _occurred_at(raw, now),
            "callout_id": _callout_id,
        },
    )
    if wrong:
        raise unprocessable(wrong)
    number = enrolment.check_nhs_number(values["nhs_number"])
    callout_id = values.get("callout_id")
    async with ctx.db.session() as session:
        callout = await hypo_hotline.record_callout(
            session,
            nhs_number_text=number,
            occurred_at=_occurred_at(values["occurred_at"], now),
            taken_to_hospital=values["taken_to_hospital"],
            callout_id=_callout_id(callout_id) if callout_id is not None else None,
            source=caller.actor,
            targets=ctx.advice_targets(),
            now=now,
        )
        follow_up = callout.request
        if not callout.created and follow_up.nhs_number != number:
            # Two call-outs under one id (two services' numbering, or a typing slip): saying
            # "sent already" would silently drop this patient's follow-up.
            raise Problem(
                409,
                "Conflict",
                "a call-out with this callout_id was sent before for another patient; "
                "check the id, or leave it out to record this one as new",
                [FieldError("callout_id", "used already for another patient")],
            )
        told = callout.patient_told if callout.created else await _patient_told(session, follow_up)
        body = _follow_up_json(
            follow_up, created=callout.created, patient_told=told, zone=ctx.settings.zone
        )
    return web.json_response(body, status=201 if callout.created else 200)


@needs(api_keys.ADVICE_LINE)
async def list_advice_requests(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    zone = ctx.settings.zone
    filters, wrong = _advice_filters(request.query)
    if wrong:
        raise unprocessable(wrong)
    # `since` is a day where the clinic is: from its midnight, summer or winter.
    since = (
        datetime.combine(filters.since, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        if filters.since
        else None
    )
    now = utcnow()
    async with ctx.db.session() as session:
        # One more than asked for tells whether the list stops short of everything that matches.
        entries = await advice_line.listing(
            session,
            statuses=ADVICE_LIST_STATUSES[filters.status] if filters.status else None,
            kind=filters.kind,
            since=since,
            limit=filters.limit + 1,
        )
        shown = entries[: filters.limit]
        # It names no patient, but it is a look at the whole service's work: accounted for.
        await audit.record(
            session,
            actor=caller.actor,
            action="advice.list",
            detail=f"count={len(shown)} {filters.describe()}",
            at=now,
        )
    return web.json_response(
        {
            "advice_requests": [_advice_request_json(entry, zone) for entry in shown],
            "more": len(entries) > filters.limit,
        }
    )


@needs(api_keys.CARE_PLANNING)
async def save_results(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    now = utcnow()
    # The deployment's day, as the cohorts take it: "in the future" means the same on both
    # sides of midnight UTC.
    today = now.astimezone(ctx.settings.zone).date()
    sent, wrong = _read_results(await read_json(request))
    patient_named = (sent.nhs_number or sent.patient_external_id) and not any(
        e.field in ("nhs_number", "patient_external_id") for e in wrong
    )
    async with ctx.db.session() as session:
        person: Person | None = None
        if patient_named:
            try:
                person = await _results_patient(session, sent)
            except InvalidField as problem:
                wrong.append(FieldError(problem.field, problem.message))
        # All or nothing: every result is checked (against the birth date when the patient is
        # known) and every problem named before anything is saved.
        checked, problems = _check_results(
            sent.items, today=today, born=person.date_of_birth if person else None
        )
        wrong += problems
        if wrong or person is None:
            raise unprocessable(wrong)
        saved = await care_results.record(
            session,
            person,
            checked,
            source=caller.actor,
            actor=caller.actor,
            now=now,
            treatment=sent.treatment,
        )
    return web.json_response(
        {"added": saved.added, "updated": saved.updated, "unchanged": saved.unchanged}
    )


@needs(api_keys.CARE_PLANNING)
async def get_pre_review(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    now = utcnow()
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        assert person.id is not None
        review = await pre_review.next_review(session, person.id, now=now)
        summary = await pre_review.summary_for(session, person, now=now)
        if review is None or summary is None:
            raise Problem(
                404,
                "Not Found",
                "no annual review is booked for this patient: book one (POST /appointments, "
                "kind annual_review) and the summary follows",
            )
        # The person's own words, mood and hypos: reading them is accounted for.
        await audit.record(
            session,
            actor=caller.actor,
            action="pre_review.view",
            person_id=person.id,
            detail=f"appointment={review.id}",
            at=now,
        )
    body = {
        "appointment_id": review.id,
        "appointment_external_id": review.external_id,
        **summary.as_dict(),
    }
    return web.json_response(body)


async def _care_plan_json(
    session: AsyncSession,
    person: Person,
    plan: CarePlan,
    goals: list[CareGoal],
    zone: ZoneInfo,
) -> dict[str, Any]:
    assert person.id is not None
    answers = (
        await session.exec(
            select(GoalCheckIn)
            .where(col(GoalCheckIn.goal_id).in_([goal.id for goal in goals]))
            .order_by(col(GoalCheckIn.round))
        )
    ).all()
    planned = (
        await session.exec(
            select(func.count()).where(
                col(OutboxMessage.topic) == care_plans.check_in_topic(person.id),
                col(OutboxMessage.template_key) == GOAL_CHECK_IN_TEMPLATE,
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                col(OutboxMessage.person_id) == person.id,
            )
        )
    ).one()
    targets = dict(plan.targets)
    if isinstance(targets.get(Measure.BLOOD_PRESSURE), list):
        systolic, diastolic = targets[Measure.BLOOD_PRESSURE]
        # As it is sent: "140/90".
        targets[Measure.BLOOD_PRESSURE] = f"{systolic:g}/{diastolic:g}"
    return {
        "id": plan.id,
        "patient_id": person.id,
        "external_id": person.external_id,
        "recorded_by": plan.recorded_by,
        "recorded_at": _time(plan.recorded_at, zone),
        "next_review_on": _day(plan.next_review_on),
        "targets": targets,
        "contacts": list(plan.contacts),
        "goals": [
            {
                "id": goal.id,
                "goal": goal.goal,
                "actions": list(goal.actions),
                "check_ins": [
                    {
                        "round": answer.round,
                        "answer": answer.answer,
                        "new_goal": answer.new_goal,
                        "answered_at": _time(answer.answered_at, zone),
                    }
                    for answer in answers
                    if answer.goal_id == goal.id
                ],
            }
            for goal in goals
        ],
        "check_ins_planned": int(planned),
    }


@needs(api_keys.CARE_PLANNING)
async def put_care_plan(request: web.Request, caller: Caller) -> web.Response:
    ctx, shared = request.config_dict[CTX_KEY], request.config_dict[SHARED_KEY]
    now = utcnow()
    today = now.astimezone(ctx.settings.zone).date()
    plan, wrong = _read_plan(await read_json(request), today)
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        if wrong or plan is None:
            raise unprocessable(wrong)
        assert person.id is not None
        current = await care_plans.current_plan(session, person.id)
        if current is not None and _same_plan(plan, *current):
            # Sent again as it is: the person is not told of a "new" plan twice, and the
            # check-ins already planned stay. The answer shows the plan: audited as a view.
            body = await _shown_care_plan(session, caller, person, current, ctx, now)
            return web.json_response(body)
        recorded = await care_plans.record(
            session,
            person,
            plan,
            actor=caller.actor,
            check_ins=shared.reminder_plans().goal_check_ins,
            now=now,
        )
        body = await _care_plan_json(
            session, person, recorded.plan, recorded.goals, ctx.settings.zone
        )
    return web.json_response(body, status=201)


@needs(api_keys.CARE_PLANNING)
async def get_care_plan(request: web.Request, caller: Caller) -> web.Response:
    ctx = request.config_dict[CTX_KEY]
    now = utcnow()
    async with ctx.db.session() as session:
        person = await _patient(session, request)
        assert person.id is not None
        current = await care_plans.current_plan(session, person.id)
        if current is None:
            raise Problem(404, "Not Found", "no care plan has been recorded for this patient")
        body = await _shown_care_plan(session, caller, person, current, ctx, now)
    return web.json_response(body)


async def _shown_care_plan(
    session: AsyncSession,
    caller: Caller,
    person: Person,
    current: tuple[CarePlan, list[CareGoal]],
    ctx: AppContext,
    now: datetime,
) -> dict[str, Any]:
    """The current plan as JSON; showing it to a caller is a view of patient data, audited."""
    await audit.record(
        session,
        actor=caller.actor,
        action="care_plan.view",
        person_id=person.id,
        detail=f"plan={current[0].id}",
        at=now,
    )
    return await _care_plan_json(session, person, *current, ctx.settings.zone)


@functools.cache
def openapi_text() -> str:
    return json.dumps(yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8")))


async def openapi_document(_request: web.Request) -> web.Response:
    return web.Response(text=openapi_text(), content_type="application/json")


def build_api(ctx: AppContext) -> web.Application:
    """The /api/v1 sub-application; its middleware makes every error problem+json."""
    api = web.Application(middlewares=[problems])
    api[CTX_KEY] = ctx
    api[SHARED_KEY] = _Shared(settings=ctx.settings, plans=ctx.plans)
    one = r"/appointments/{id:\d+}"
    api.router.add_get("/openapi.json", openapi_document, allow_head=False)
    api.router.add_post("/patients", save_patient)
    api.router.add_get("/patients/{external_id}", get_patient, allow_head=False)
    programme = "/patients/{external_id}/transition"
    api.router.add_put(programme, put_transition)
    api.router.add_get(programme, get_transition, allow_head=False)
    api.router.add_delete(programme, end_transition)
    api.router.add_post("/health-check-cohorts", import_cohort)
    api.router.add_post("/campaigns", send_campaign)
    api.router.add_get("/campaigns", list_campaigns, allow_head=False)
    api.router.add_get("/campaigns/{name}", get_campaign, allow_head=False)
    api.router.add_post("/appointments", save_appointment)
    api.router.add_get(one, get_appointment, allow_head=False)
    api.router.add_patch(one, change_appointment)
    api.router.add_delete(one, cancel_appointment)
    api.router.add_post(one + "/attendance", mark_attendance)
    api.router.add_post("/hypo-callouts", record_hypo_callout)
    api.router.add_get("/advice-requests", list_advice_requests, allow_head=False)
    api.router.add_post("/results", save_results)
    api.router.add_get("/patients/{external_id}/pre-review", get_pre_review, allow_head=False)
    care_plan = "/patients/{external_id}/care-plan"
    api.router.add_put(care_plan, put_care_plan)
    api.router.add_get(care_plan, get_care_plan, allow_head=False)
    return api


def add_routes(app: web.Application, ctx: AppContext) -> None:
    app.add_subapp(PREFIX, build_api(ctx))
