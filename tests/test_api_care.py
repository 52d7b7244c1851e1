"""Care planning from outside: results in (POST /api/v1/results and `diabridge import results`),
the pre-review summary and the care plan over the API, and the person's own copy and erasure of
it all (/mydata, /forget).

Every API exchange goes through tests/test_api.py's client, which holds it to bot/openapi.yaml.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlmodel import col, select

from bot import cli
from bot.db import Database
from bot.models import (
    Appointment,
    AuditEvent,
    CareGoal,
    CarePlan,
    CareResult,
    CarerLink,
    GoalCheckIn,
    OutboxMessage,
    OutboxStatus,
    Person,
    PersonStatus,
    PreReview,
    Role,
)
from bot.plans import load_plans
from bot.services import account, api_keys, care_plans, csv_import, pre_review
from bot.services.csv_import import CsvFileError, ImportReport
from bot.services.pre_review import AgendaStep, AgendaTopic, HypoAnswer
from tests.test_api import (  # noqa: F401  (api, clock: fixtures)
    IRFAN,
    NHS,
    NHS_DIGITS,
    NOW,
    OTHER_NHS,
    Answer,
    Api,
    _new_key,
    api,
    clock,
)
from tests.test_csv_import import LONDON, read_csv, write

CARE_KEY = "emis-care"
PLANS = load_plans()
# 23 November 2026: results from the autumn, a review booked for mid-December.
REVIEW_AT = "2026-12-15T10:30"
GOOD_RESULTS = [
    {"measure": "hba1c", "value": 7.0, "unit": "%", "taken_on": "2026-10-02"},
    {"measure": "blood_pressure", "value": "138/84", "unit": "mmHg", "taken_on": "2026-10-02"},
    {"measure": "foot_check", "outcome": "low", "taken_on": "2026-10-02"},
]
PLAN = {
    "goals": [
        {
            "goal": "Walk to work three days a week",
            "actions": [
                {"action": "Walk on Monday, Wednesday and Friday", "who": "person"},
                {"action": "Ask about walking at the next visit", "who": "practice_nurse"},
            ],
        },
        {"goal": "Eat less rice in the evening", "actions": []},
    ],
    "targets": {"hba1c": 58, "blood_pressure": "140/90"},
    "next_review_on": "2027-11-20",
    "contacts": [{"name": "Practice nurse", "phone": "0121 496 0000"}],
}


# tests/test_api.py's client and clock, under names of their own (the imported fixture names
# would be shadowed by every test's parameters).
@pytest.fixture
def client(api: Api) -> Api:  # noqa: F811
    return api


@pytest.fixture
def traveller(clock: time_machine.Traveller) -> time_machine.Traveller:  # noqa: F811
    return clock


@pytest.fixture
async def care(client: Api, db: Database) -> Api:
    """The practice system's key for care planning, with Irfan (type 2) registered."""
    key = await _new_key(db, CARE_KEY, [api_keys.CARE_PLANNING])
    assert (await client.patient(diabetes_type="type2")).status == 201
    client.key, client.patients_key = key, client.key  # type: ignore[attr-defined]
    return client


async def results(client: Api, body: dict[str, Any], **kw: Any) -> Answer:
    return await client.call("POST", "/results", body, **kw)


def problems(answer: Answer) -> dict[str, str]:
    return {error["field"]: error["message"] for error in answer.body["errors"]}


async def rows(db: Database, model: Any, *where: Any) -> list[Any]:
    async with db.session() as session:
        return list((await session.exec(select(model).where(*where))).all())


async def audits(db: Database, action: str) -> list[AuditEvent]:
    return await rows(db, AuditEvent, col(AuditEvent.action) == action)


async def irfan(db: Database) -> Person:
    (person,) = await rows(db, Person, col(Person.external_id) == IRFAN["external_id"])
    return person


async def joins(db: Database) -> None:
    """Irfan joins the chat with his code (the pre-review goes to people who have joined)."""
    async with db.session() as session:
        person = await session.get(Person, (await irfan(db)).id)
        assert person is not None
        person.status, person.telegram_user_id, person.telegram_chat_id = (
            PersonStatus.ACTIVE,
            700_001,
            700_001,
        )
        session.add(person)


# POST /results ----------------------------------------------------------------------------------


async def test_results_are_saved_and_the_same_call_again_changes_nothing(care: Api, db: Database):
    body = {"patient_external_id": IRFAN["external_id"], "treatment": "hypo_risk"}
    first = await results(care, {**body, "results": GOOD_RESULTS})
    assert first.status == 200
    assert first.body == {"added": 3, "updated": 0, "unchanged": 3 - 3}

    again = await results(care, {**body, "results": GOOD_RESULTS})
    assert (again.status, again.body) == (200, {"added": 0, "updated": 0, "unchanged": 3})

    # Named by NHS number, a corrected HbA1c replaces the one of that day.
    corrected = [{"measure": "hba1c", "value": 52, "unit": "mmol/mol", "taken_on": "2026-10-02"}]
    fixed = await results(care, {"nhs_number": NHS, "results": corrected})
    assert fixed.body == {"added": 0, "updated": 1, "unchanged": 0}

    kept = await rows(db, CareResult)
    assert sorted((r.measure, r.value, r.value2, r.outcome) for r in kept) == [
        ("blood_pressure", 138, 84, None),
        ("foot_check", None, None, "low"),
        ("hba1c", 52, None, None),
    ]
    assert {r.source for r in kept} == {f"api:{CARE_KEY}"}
    assert (await irfan(db)).treatment == "hypo_risk"
    # Audited as the key, with the measures and counts only: never a value or an NHS number.
    trail = await audits(db, "results.record")
    assert [(a.actor, a.detail) for a in trail] == [
        (
            f"api:{CARE_KEY}",
            "added 3, updated 0: blood_pressure, foot_check, hba1c; treatment changed",
        ),
        (f"api:{CARE_KEY}", "added 0, updated 1: hba1c"),
    ]
    assert all(NHS_DIGITS not in a.detail and "52" not in a.detail for a in trail)


async def test_hba1c_in_percent_is_kept_in_mmol_mol(care: Api, db: Database):
    sent = [{"measure": "hba1c", "value": "6.5", "unit": "%", "taken_on": "2026-11-23"}]
    answer = await results(care, {"patient_external_id": IRFAN["external_id"], "results": sent})
    assert answer.body == {"added": 1, "updated": 0, "unchanged": 0}
    (row,) = await rows(db, CareResult)
    assert (row.value, row.taken_on) == (48, date(2026, 11, 23))


async def test_one_wrong_result_refuses_the_call_and_every_problem_is_named(
    care: Api, db: Database
):
    sent = [
        GOOD_RESULTS[0],
        {"measure": "hba1c", "value": 5, "unit": "mmol/mol", "taken_on": "2026-10-02"},
        {"measure": "blood_pressure", "value": "400/20", "unit": "mmHg", "taken_on": "2026-10-02"},
        {"measure": "foot_check", "taken_on": "2026-10-02"},
        {"measure": "bmi", "value": 27, "unit": "kg/m2", "taken_on": "2026-11-24"},
        {"measure": "cholesterol", "value": 4.2, "unit": "mmol/L", "taken_on": "2016-11-01"},
        {"measure": "egfr", "value": 75, "unit": "ml/min/1.73m2", "taken_on": "2026-02-30"},
        {"measure": "hba1c", "value": 3.9, "unit": "%", "taken_on": "2026-09-01"},
        {"measure": "hba1c", "value": 48, "taken_on": "2026-09-02"},
        {"measure": "hba1c", "value": 53, "unit": "mmol/mol", "taken_on": "2026-10-02"},
    ]
    answer = await results(care, {"patient_external_id": IRFAN["external_id"], "results": sent})
    assert answer.status == 422
    assert problems(answer) == {
        "results[1].value": "HbA1c 5 mmol/mol is below 20, the lowest that can be right: "
        "check the value and the unit",
        "results[2].value": "systolic blood pressure 400 mmHg is above 260, the highest that "
        "can be right: check the value and the unit",
        "results[3].outcome": "foot_check needs an outcome: one of low, moderate, high, active",
        "results[4].taken_on": "the date 2026-11-24 is in the future",
        "results[5].taken_on": "the date 2016-11-01 is more than 10 years ago",
        "results[6].taken_on": "'2026-02-30' is not a date in the calendar",
        "results[7].value": "HbA1c 3.9% is outside 4% to 20%, the range that can be right: "
        "check the value and the unit",
        "results[8].unit": "hba1c needs a unit: % or mmol/mol",
        # One result is kept a day: a second HbA1c that day is named against the first.
        "results[9].taken_on": "results[0] is hba1c on the same day; send each measure once a day",
    }
    assert answer.body["detail"] == "9 fields to put right; see errors"
    # All or nothing: the good one was not saved either.
    assert await rows(db, CareResult) == []
    assert await audits(db, "results.record") == []


async def test_missing_and_mistyped_fields_are_named(care: Api, db: Database):
    answer = await results(
        care,
        {"results": [{"value": 48}, "hba1c", {"measure": "ldl", "value": True, "taken_on": 7}]},
    )
    assert answer.status == 422
    assert problems(answer) == {
        "nhs_number": "give the patient's NHS number or patient_external_id",
        "results[0].measure": "required",
        "results[0].taken_on": "required",
        "results[1]": "send each result as a JSON object",
        "results[2].measure": "'ldl' is not one of hba1c, blood_pressure, cholesterol, egfr, "
        "creatinine, urine_acr, foot_check, bmi, smoking, eye_screening",
        "results[2].taken_on": "must be a string",
        "results[2].value": "must be a number, or text like 138/84 for a blood pressure",
    }
    empty = await results(care, {"nhs_number": NHS, "results": []}, document_allows=False)
    assert problems(empty) == {"results": "the list is empty: send at least one result"}
    no_list = await results(care, {"nhs_number": NHS}, document_allows=False)
    assert problems(no_list) == {"results": "required"}
    treatment = await results(
        care, {"nhs_number": NHS, "treatment": "insulin", "results": GOOD_RESULTS}
    )
    assert problems(treatment) == {
        "treatment": "'insulin' is not one of lifestyle, low_hypo_risk, hypo_risk"
    }
    assert await rows(db, CareResult) == []


async def test_an_unknown_or_mismatched_patient_is_refused_as_appointments_refuse_one(
    care: Api, db: Database
):
    unknown_id = await results(care, {"patient_external_id": "NOBODY", "results": GOOD_RESULTS})
    assert problems(unknown_id) == {
        "patient_external_id": "no patient has this id; add the patient first"
    }
    unknown_number = await results(care, {"nhs_number": OTHER_NHS, "results": GOOD_RESULTS})
    assert problems(unknown_number) == {
        "nhs_number": "no patient has this NHS number; add the patient first"
    }
    # A result on the wrong record is worse than none: both given, they must agree.
    mismatched = await results(
        care,
        {
            "patient_external_id": IRFAN["external_id"],
            "nhs_number": OTHER_NHS,
            "results": GOOD_RESULTS,
        },
    )
    assert problems(mismatched) == {
        "nhs_number": "this NHS number is not the patient's named by patient_external_id"
    }
    wrong_digit = await results(care, {"nhs_number": "943 476 5918", "results": GOOD_RESULTS})
    assert problems(wrong_digit) == {
        "nhs_number": "the check digit does not match: please copy the number again"
    }
    assert await rows(db, CareResult) == []


async def test_a_result_before_the_patient_was_born_is_refused(care: Api, db: Database):
    child = {**IRFAN, "external_id": "EMIS-KID", "nhs_number": OTHER_NHS}
    child.update(name="Zara Ahmed", date_of_birth="2019-06-01", diabetes_type="type1")
    care.key, saved_key = care.patients_key, care.key  # type: ignore[attr-defined]
    assert (await care.call("POST", "/patients", child)).status == 201
    care.key = saved_key
    sent = [{"measure": "bmi", "value": 16, "unit": "kg/m2", "taken_on": "2019-05-31"}]
    answer = await results(care, {"patient_external_id": "EMIS-KID", "results": sent})
    assert problems(answer) == {
        "results[0].taken_on": "the date 2019-05-31 is before the person was born"
    }


async def test_care_planning_needs_its_own_scope(client: Api, db: Database):
    assert api_keys.CARE_PLANNING in api_keys.SCOPES
    assert api_keys.CARE_PLANNING not in api_keys.DEFAULT_SCOPES
    assert (await client.patient()).status == 201
    body = {"patient_external_id": IRFAN["external_id"], "results": GOOD_RESULTS}
    refused = await results(client, body)
    assert refused.status == 403
    assert refused.body["detail"] == "this API key does not have the 'care-planning' scope"
    for path in ("pre-review", "care-plan"):
        answer = await client.call("GET", f"/patients/{IRFAN['external_id']}/{path}")
        assert answer.status == 403
    assert (
        await client.call("PUT", f"/patients/{IRFAN['external_id']}/care-plan", PLAN)
    ).status == 403
    assert await rows(db, CareResult) == []


# GET /patients/{id}/pre-review -----------------------------------------------------------------


async def book_review(client: Api, db: Database) -> int:
    client.key, care_key = client.patients_key, client.key  # type: ignore[attr-defined]
    booked = await client.appointment(
        external_id="EMIS-REVIEW-1",
        kind="annual_review",
        starts_at=REVIEW_AT,
        clinician="Nurse Patel",
    )
    client.key = care_key
    assert booked.status == 201
    return booked.body["id"]


async def test_the_pre_review_summary_shows_results_against_targets_and_the_agenda(
    care: Api, db: Database, traveller: time_machine.Traveller
):
    path = f"/patients/{IRFAN['external_id']}/pre-review"
    no_review = await care.call("GET", path)
    assert no_review.status == 404
    assert no_review.body["detail"].startswith("no annual review is booked for this patient")
    assert (await care.call("GET", "/patients/NOBODY/pre-review")).status == 404

    sent = [
        {"measure": "hba1c", "value": 58, "unit": "mmol/mol", "taken_on": "2026-10-02"},
        {"measure": "hba1c", "value": 64, "unit": "mmol/mol", "taken_on": "2025-10-01"},
        {"measure": "blood_pressure", "value": "138/84", "unit": "mmHg", "taken_on": "2026-10-02"},
    ]
    body = {"patient_external_id": IRFAN["external_id"], "treatment": "hypo_risk"}
    assert (await results(care, {**body, "results": sent})).status == 200
    review_id = await book_review(care, db)
    await joins(db)

    # Fourteen days before, the results go out and the agenda is answered in the chat.
    traveller.move_to(datetime(2026, 12, 1, 10, 5, tzinfo=UTC))
    now = datetime.now(UTC)
    async with db.session() as session:
        await pre_review.plan(session, plans=PLANS, now=now)
        person = await session.get(Person, (await irfan(db)).id)
        assert person is not None and person.id is not None
        agenda = await pre_review.current(session, person.id, now=now)
        assert agenda is not None
        pre_review.toggle_topic(agenda, AgendaTopic.HYPOS, now)
        pre_review.toggle_topic(agenda, AgendaTopic.SUGAR, now)
        pre_review.topics_done(agenda, now)
        pre_review.save_words(agenda, "Fewer hypos at work", now)
        pre_review.save_confidence(agenda, 4, now)
        pre_review.save_hypos(agenda, HypoAnswer.NEEDED_HELP, now)
        pre_review.save_drives(agenda, True, now)
        await pre_review.save_mood(session, agenda, AgendaStep.MOOD_INTEREST, 2, now)
        await pre_review.save_mood(session, agenda, AgendaStep.MOOD_DOWN, 1, now)
        session.add(agenda)

    answer = await care.call("GET", path)
    assert answer.status == 200
    summary = answer.body
    assert (summary["appointment_id"], summary["appointment_external_id"]) == (
        review_id,
        "EMIS-REVIEW-1",
    )
    assert summary["person_name"] == "Irfan Ahmed" and summary["clinician"] == "Nurse Patel"
    assert summary["review_at"] == "2026-12-15T10:30:00+00:00"
    hba1c, pressure = summary["lines"]
    assert (hba1c["measure"], hba1c["latest"]["value"], hba1c["verdict"]) == (
        "hba1c",
        58,
        "off_target",
    )
    assert hba1c["target"] == {
        "rule": "at_most",
        "value": 53,
        "value2": None,
        "personal": False,
        "basis": "hypo_risk",
    }
    assert (hba1c["previous"]["taken_on"], hba1c["change"]) == ("2025-10-01", -6.0)
    assert (pressure["latest"]["value"], pressure["latest"]["value2"]) == (138, 84)
    assert pressure["verdict"] == "on_target"
    assert "foot_check" in summary["missing"] and "hba1c" not in summary["missing"]
    assert summary["topics"] == ["hypos", "sugar"]
    assert summary["own_words"] == "Fewer hypos at work"
    assert (summary["confidence"], summary["hypos"], summary["drives"]) == (4, "needed_help", True)
    assert (summary["mood_score"], summary["agenda_finished"]) == (3, True)
    assert summary["flags"] == ["severe_hypo", "low_mood"]

    (viewed,) = await audits(db, "pre_review.view")
    assert (viewed.actor, viewed.detail) == (f"api:{CARE_KEY}", f"appointment={review_id}")


# PUT and GET /patients/{id}/care-plan ----------------------------------------------------------


async def test_a_care_plan_is_recorded_planned_and_read_back(
    care: Api, db: Database, traveller: time_machine.Traveller
):
    path = f"/patients/{IRFAN['external_id']}/care-plan"
    none_yet = await care.call("GET", path)
    assert none_yet.status == 404
    assert none_yet.body["detail"] == "no care plan has been recorded for this patient"

    recorded = await care.call("PUT", path, PLAN)
    assert recorded.status == 201
    plan = recorded.body
    assert plan["recorded_by"] == f"api:{CARE_KEY}"
    assert plan["targets"] == {"hba1c": 58, "blood_pressure": "140/90"}
    assert plan["next_review_on"] == "2027-11-20"
    assert plan["contacts"] == [{"name": "Practice nurse", "phone": "0121 496 0000"}]
    walk, rice = plan["goals"]
    assert walk["goal"] == "Walk to work three days a week" and walk["check_ins"] == []
    assert walk["actions"][1] == {
        "action": "Ask about walking at the next visit",
        "who": "practice_nurse",
    }
    assert isinstance(walk["id"], int) and rice["actions"] == []
    # Every 4 weeks until the next review: 12 rounds (the last on 25 October 2027), two goals.
    assert plan["check_ins_planned"] == 24
    check_ins = await rows(db, OutboxMessage, col(OutboxMessage.template_key) == "goal_check_in")
    assert len(check_ins) == 24
    (ready,) = await rows(db, OutboxMessage, col(OutboxMessage.template_key) == "care_plan_ready")
    assert ready.person_id == (await irfan(db)).id
    (trail,) = await audits(db, "care_plan.record")
    assert trail.actor == f"api:{CARE_KEY}" and NHS_DIGITS not in trail.detail

    # Sent again as it is: nothing new, nobody told twice.
    again = await care.call("PUT", path, PLAN)
    assert again.status == 200 and again.body["id"] == plan["id"]
    assert len(await rows(db, CarePlan)) == 1
    assert len(await rows(db, OutboxMessage)) == 25
    # Its answer shows the plan, so it is audited as a view.
    (shown,) = await audits(db, "care_plan.view")
    assert shown.actor == f"api:{CARE_KEY}"

    # The person answers a check-in; the clinician reads the plan with the answer.
    async with db.session() as session:
        person = await session.get(Person, ready.person_id)
        assert person is not None
        await care_plans.answer_check_in(
            session, person, walk["id"], 1, care_plans.CheckInAnswer.PARTLY, now=NOW
        )
    read = await care.call("GET", path)
    assert read.status == 200
    assert read.body["goals"][0]["check_ins"] == [
        {
            "round": 1,
            "answer": "partly",
            "new_goal": None,
            "answered_at": "2026-11-23T10:00:00+00:00",
        }
    ]
    (_, viewed) = await audits(db, "care_plan.view")
    assert (viewed.actor, viewed.detail) == (f"api:{CARE_KEY}", f"plan={plan['id']}")

    # A changed plan replaces it: the old one is kept, its check-ins still to come cancelled.
    changed = {**PLAN, "goals": PLAN["goals"][:1], "next_review_on": None}
    replaced = await care.call("PUT", path, changed)
    assert replaced.status == 201 and replaced.body["id"] != plan["id"]
    assert replaced.body["next_review_on"] is None
    # Without a next review date, a year of check-ins: 13 rounds of one goal.
    assert replaced.body["check_ins_planned"] == 13
    old, new = sorted(await rows(db, CarePlan), key=lambda p: p.id)
    assert (old.current, new.current) == (False, True)
    statuses = [m.status for m in check_ins]
    assert statuses == [OutboxStatus.PENDING] * 24
    old_ones = await rows(
        db,
        OutboxMessage,
        col(OutboxMessage.id).in_([m.id for m in check_ins]),
    )
    assert {m.status for m in old_ones} == {OutboxStatus.CANCELLED}
    assert (await care.call("GET", "/patients/NOBODY/care-plan")).status == 404
    assert (await care.call("PUT", "/patients/NOBODY/care-plan", PLAN)).status == 404


async def test_a_care_plan_with_problems_names_every_one_and_saves_nothing(care: Api, db: Database):
    path = f"/patients/{IRFAN['external_id']}/care-plan"
    wrong = {
        "goals": [
            {"goal": "Walk more", "actions": [{"action": "Walk", "who": "neighbour"}]},
            {"goal": " ", "actions": ["walk"]},
            {"actions": [{"action": "", "who": "gp"}]},
        ],
        "targets": {"hba1c": 30, "blood_pressure": "200/50", "ldl": 2, "bmi": "thin"},
        "next_review_on": "2026-11-01",
        "contacts": [{"name": "Nurse", "phone": "call the surgery"}],
    }
    answer = await care.call("PUT", path, wrong)
    assert answer.status == 422
    assert problems(answer) == {
        "goals[0].actions[0].who": "'neighbour' is not one of person, carer, gp, "
        "practice_nurse, diabetes_team, pharmacist, dietitian",
        "goals[1].goal": "write the goal in the person's words",
        "goals[1].actions[0]": "send each as a JSON object",
        "goals[2].goal": "required",
        "goals[2].actions[0].action": "say what will be done",
        "targets.bmi": "must be a number",
        "targets.hba1c": "30 mmol/mol is outside 40 to 100",
        "targets.blood_pressure": "200/50 is not a blood pressure target that can be meant "
        "(systolic 100 to 180, diastolic 50 to 110)",
        "targets.ldl": "no personal target for 'ldl'; use blood_pressure, hba1c, cholesterol, bmi",
        "next_review_on": "2026-11-01 is not in the future",
        "contacts[0].phone": "'call the surgery' is not a phone number",
    }
    no_goals = await care.call("PUT", path, {"targets": {"hba1c": 58}}, document_allows=False)
    assert problems(no_goals) == {"goals": "required"}
    a_list = await care.call("PUT", path, [PLAN], document_allows=False)
    assert problems(a_list) == {"body": "send a JSON object with the fields of the record"}
    too_many = {"goals": [{"goal": f"Goal {n}"} for n in range(6)]}
    assert problems(await care.call("PUT", path, too_many, document_allows=False)) == {
        "goals": "at most 5 goals; agree the ones that matter most"
    }
    assert await rows(db, CarePlan) == [] and await rows(db, OutboxMessage) == []


async def test_a_personal_target_from_the_plan_is_used_in_the_pre_review(care: Api, db: Database):
    sent = [{"measure": "hba1c", "value": 58, "unit": "mmol/mol", "taken_on": "2026-10-02"}]
    body = {"patient_external_id": IRFAN["external_id"], "treatment": "hypo_risk"}
    await results(care, {**body, "results": sent})
    await book_review(care, db)
    path = f"/patients/{IRFAN['external_id']}"
    assert (await care.call("PUT", f"{path}/care-plan", PLAN)).status == 201
    (line,) = (await care.call("GET", f"{path}/pre-review")).body["lines"]
    assert line["verdict"] == "on_target"
    assert line["target"] == {
        "rule": "at_most",
        "value": 58,
        "value2": None,
        "personal": True,
        "basis": "personal",
    }
    # The summary shows the goals of the current plan, with their (no) answers yet.
    summary = (await care.call("GET", f"{path}/pre-review")).body
    assert [g["goal"] for g in summary["goals"]] == [g["goal"] for g in PLAN["goals"]]


# `diabridge import results` ---------------------------------------------------------------------

RESULTS_HEADER = "patient_external_id,nhs_number,measure,value,unit,outcome,taken_on,treatment\n"
RESULTS_FILE = (
    RESULTS_HEADER
    + "EMIS-000123,,hba1c,7.0,%,,2026-10-02,hypo_risk\n"
    + ",943 476 5919,blood_pressure,138/84,mmHg,,2026-10-02,\n"
    + "EMIS-000123,943 476 5919,foot_check,,,moderate,2026-10-02,\n"
    + "EMIS-000123,,egfr,>90,mL/min/1.73m2,,2026-10-02,\n"
)


async def import_results(db: Database, path: Path, **options: Any) -> ImportReport:
    return await csv_import.import_results(
        db, path, now=NOW, actor="cli:nurse", default_zone=LONDON, **options
    )


async def test_a_results_file_is_imported_once_and_again_changes_nothing(
    care: Api, db: Database, tmp_path: Path
):
    path = write(tmp_path, RESULTS_FILE, "results.csv", bom=True)
    report = await import_results(db, path)
    assert report.committed and report.bad_rows == []
    assert (report.rows, report.created, report.updated, report.unchanged) == (4, 4, 0, 0)
    assert report.patients == 1
    kept = {r.measure: r for r in await rows(db, CareResult)}
    assert kept["hba1c"].value == 53.0 and kept["egfr"].value == 90
    assert kept["foot_check"].outcome == "moderate"
    assert {r.source for r in kept.values()} == {"csv:results.csv"}
    assert (await irfan(db)).treatment == "hypo_risk"

    again = await import_results(db, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert len(await rows(db, CareResult)) == 4
    (trail,) = await audits(db, "results.record")
    assert trail.actor == "cli:nurse" and "53" not in trail.detail


async def test_a_typo_in_a_results_file_is_reported_by_line_and_the_good_rows_kept_if_asked(
    care: Api, db: Database, tmp_path: Path
):
    text = (
        RESULTS_FILE
        + "EMIS-000123,,hba1c,5,mmol/mol,,2026-10-03,\n"
        + "EMIS-000123,,blood_pressure,138/84,mmHg,,2026-13-01,\n"
        + "NOBODY,,bmi,27,kg/m2,,2026-10-02,\n"
        + "EMIS-000123,,smoking,,,ex,2026-10-02,lifestyle\n"
        + "EMIS-000123,,blood_pressure,140/84,mmHg,,2026-10-02,\n"
        + "EMIS-000123,,eye_screening,,,clear,2026-10-02,\n"
    )
    path = write(tmp_path, text)
    report = await import_results(db, path)
    assert not report.committed
    assert {bad.line: bad.reason for bad in report.bad_rows} == {
        2: "treatment: the same patient has lifestyle on line 9; give one",
        3: "measure: the same patient, measure and day is also on line 10",
        6: "value: HbA1c 5 mmol/mol is below 20, the lowest that can be right: check the "
        "value and the unit",
        7: "taken_on: '2026-13-01' is not a date: write it as YYYY-MM-DD, e.g. 2026-10-02",
        8: "patient_external_id: no patient has this id; register the patient first",
        9: "treatment: the same patient has hypo_risk on line 2; give one",
        10: "measure: the same patient, measure and day is also on line 3",
        11: "outcome: eye_screening outcome 'clear' is not one of no_retinopathy, background, "
        "referred",
    }
    assert await rows(db, CareResult) == []

    # With --skip-bad-rows the others are kept, and the bad ones written to a file to fix.
    bad_file = tmp_path / "file.bad.csv"
    kept = await import_results(db, path, skip_bad_rows=True, bad_rows_file=bad_file)
    assert kept.committed and (kept.created, len(kept.bad_rows)) == (2, 8)
    assert sorted(r.measure for r in await rows(db, CareResult)) == ["egfr", "foot_check"]
    fix = read_csv(bad_file)
    assert fix[2]["problem"].startswith("line 6: value: HbA1c 5 mmol/mol is below 20")


async def test_a_results_file_missing_a_column_names_it(db: Database, tmp_path: Path):
    path = write(tmp_path, "nhs_number,measure,result,unit,taken_on\n")
    with pytest.raises(CsvFileError) as caught:
        await import_results(db, path)
    assert caught.value.problems == [
        "unknown column 'result' (did you mean 'value'?)",
        "missing column 'value'",
        "missing column 'outcome'",
    ]
    no_patient = write(tmp_path, "measure,value,unit,outcome,taken_on\n", "other.csv")
    with pytest.raises(CsvFileError) as caught:
        await import_results(db, no_patient)
    assert caught.value.problems == ["missing column: give 'nhs_number' or 'patient_external_id'"]


def test_the_command_imports_results_and_says_what_happened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "diabridge_nhs_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    patients = write(
        tmp_path,
        "external_id,nhs_number,name,date_of_birth,practice,language\n"
        "EMIS-000123,943 476 5919,Irfan Ahmed,1984-03-02,Y01234,ur\n",
        "patients.csv",
    )
    assert cli.main(["import", "patients", str(patients), "--quiet"]) == 0
    capsys.readouterr()
    today = datetime.now(LONDON).date().isoformat()
    text = RESULTS_FILE.replace("2026-10-02", today)
    path = write(tmp_path, text, "results.csv")

    assert cli.main(["import", "results", str(path), "--dry-run"]) == 0
    said = capsys.readouterr().out
    assert "results.csv: 4 rows: 4 would be added, 0 would be updated, 0 unchanged." in said
    assert "Dry run: nothing was changed." in said
    assert cli.main(["import", "results", str(path)]) == 0
    said = capsys.readouterr().out
    assert "results.csv: 4 rows: 4 added, 0 updated, 0 unchanged." in said
    assert "Results kept for 1 patient: each sees theirs, against their targets" in said
    assert cli.main(["import", "results", str(path)]) == 0
    assert "0 added, 0 updated, 4 unchanged" in capsys.readouterr().out

    typo = write(
        tmp_path,
        RESULTS_HEADER + f",943 476 5918,hba1c,48,mmol/mol,,{today},\n",
        "typo.csv",
    )
    assert cli.main(["import", "results", str(typo)]) == 1
    said = capsys.readouterr()
    assert "line 2: nhs_number: the check digit does not match" in said.err
    assert "typo.csv: 1 bad row of 1; nothing was imported." in said.out
    assert "943 476 5918" not in said.out + said.err
    with pytest.raises(SystemExit):
        cli.main(["import", "results", "--help"])
    assert "Required columns: measure, value, unit, outcome, taken_on." in capsys.readouterr().out


# /mydata and /forget ---------------------------------------------------------------------------


async def test_mydata_holds_results_agenda_and_care_plans_and_forget_erases_them(
    care: Api, db: Database, traveller: time_machine.Traveller
):
    body = {"patient_external_id": IRFAN["external_id"], "treatment": "low_hypo_risk"}
    await results(care, {**body, "results": GOOD_RESULTS})
    await book_review(care, db)
    path = f"/patients/{IRFAN['external_id']}/care-plan"
    plan = (await care.call("PUT", path, PLAN)).body
    person_id = plan["patient_id"]
    async with db.session() as session:
        # A carer the patient invited, who gets their reminders and a copy of the plan's news.
        carer = Person(
            role=Role.CARER, display_name="Sana", status=PersonStatus.ACTIVE, language="ur"
        )
        session.add(carer)
        await session.flush()
        session.add(
            CarerLink(
                patient_id=person_id,
                carer_id=carer.id,
                accepted_at=NOW,
                created_at=NOW,
            )
        )
        person = await session.get(Person, person_id)
        assert person is not None
        await care_plans.answer_check_in(
            session,
            person,
            plan["goals"][0]["id"],
            1,
            care_plans.CheckInAnswer.CHANGE,
            now=NOW,
        )
    assert (await care.call("PUT", path, {**PLAN, "next_review_on": "2027-10-01"})).status == 201
    await joins(db)
    traveller.move_to(datetime(2026, 12, 1, 10, 5, tzinfo=UTC))
    async with db.session() as session:
        await pre_review.plan(session, plans=PLANS, now=datetime.now(UTC))
        agenda = await pre_review.current(session, person_id, now=datetime.now(UTC))
        assert agenda is not None
        pre_review.save_words(agenda, "Fewer hypos at work", datetime.now(UTC))
        session.add(agenda)

    async with db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        exported = await account.export_personal_data(session, person, datetime.now(UTC))
    exported = json.loads(json.dumps(exported))  # as /mydata sends it
    assert exported["treatment"] == "low_hypo_risk"
    assert sorted((r["measure"], r["value"], r["outcome"]) for r in exported["results"]) == [
        ("blood_pressure", 138, None),
        ("foot_check", None, "low"),
        ("hba1c", 53.0, None),
    ]
    (prepared,) = exported["annual_review_preparation"]
    assert prepared["what_matters_most"] == "Fewer hypos at work"
    assert prepared["review_at"].startswith("2026-12-15T10:30")
    old, current = exported["care_plans"]
    assert (old["current"], current["current"]) == (False, True)
    assert old["goals"][0]["goal"] == "Walk to work three days a week"
    assert old["goals"][0]["check_ins"][0]["answer"] == "change"
    assert current["next_review_on"] == "2027-10-01"
    assert current["targets"] == {"hba1c": 58.0, "blood_pressure": [140.0, 90.0]}

    carer_copies = await rows(
        db,
        OutboxMessage,
        col(OutboxMessage.template_key) == "care_plan_ready",
        col(OutboxMessage.person_id) != person_id,
    )
    assert carer_copies, "the carer is told of the plan"
    async with db.session() as session:
        person = await session.get(Person, person_id)
        assert person is not None
        await account.erase(session, person, datetime.now(UTC))
    for model in (CareResult, PreReview, CarePlan, CareGoal, GoalCheckIn, Appointment):
        assert await rows(db, model) == [], model.__name__
    # What the carer was to be told names the person: it goes too.
    assert await rows(db, OutboxMessage, col(OutboxMessage.person_id).is_not(None)) == []
    (erased,) = await audits(db, "person.erase")
    assert erased.person_id == person_id
    # The audit trail keeps who looked and changed what, but nothing that identifies them.
    for entry in await rows(db, AuditEvent, col(AuditEvent.person_id) == person_id):
        assert entry.detail == ""
