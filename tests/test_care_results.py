"""Results of the nine care processes and their targets: units, plausible values, NICE targets
by age, type and treatment, personal targets, and the boundaries of each.

What is asserted is what a sender or a person reads: the reason a value is refused, the value
kept in its unit, and whether a result shows as on target, not on target or "ask at the review".
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.db import Database
from bot.models import (
    AuditEvent,
    CareProcess,
    CareResult,
    DiabetesType,
    Measure,
    Person,
    PersonStatus,
    Role,
    Treatment,
)
from bot.services import care_results
from bot.services.care_results import InvalidResult, check_result, months_before
from bot.services.care_targets import (
    Reading,
    Target,
    Verdict,
    age_on,
    assess,
    line_from_dict,
    lines_for_review,
    target_for,
)

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TAKEN = date(2026, 10, 2)


def checked(measure: str, value: str | float | None = None, unit: str | None = None, **kw):
    kw.setdefault("taken_on", TAKEN)
    return check_result(
        measure, value=value, unit=unit, outcome=kw.pop("outcome", None), today=TODAY, **kw
    )


def refused(measure: str, value: str | float | None = None, unit: str | None = None, **kw):
    with pytest.raises(InvalidResult) as caught:
        checked(measure, value, unit, **kw)
    return caught.value


def verdict(
    measure: Measure,
    value: float | None = None,
    value2: float | None = None,
    *,
    outcome: str | None = None,
    diabetes_type: str | None = DiabetesType.TYPE2,
    treatment: str | None = Treatment.LOW_HYPO_RISK,
    age: int | None = 60,
    urine_acr: float | None = None,
    personal: dict | None = None,
) -> Verdict:
    target = target_for(
        measure,
        diabetes_type=diabetes_type,
        treatment=treatment,
        age=age,
        urine_acr=urine_acr,
        personal=personal,
    )
    return assess(measure, Reading(TAKEN, value, value2, outcome), target)


# Plausible values and units ------------------------------------------------------------------


@pytest.mark.parametrize(("value", "kept"), [("20", 20.0), ("200", 200.0), ("48", 48.0)])
def test_hba1c_from_20_to_200_mmol_mol_is_kept_as_sent(value, kept):
    assert checked("hba1c", value, "mmol/mol").value == kept


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            "19.9",
            "HbA1c 19.9 mmol/mol is below 20, the lowest that can be right: check the value and "
            "the unit",
        ),
        (
            "200.1",
            "HbA1c 200.1 mmol/mol is above 200, the highest that can be right: check the value "
            "and the unit",
        ),
        ("5", "HbA1c 5 mmol/mol is below 20, the lowest that can be right"),
    ],
)
def test_hba1c_outside_20_to_200_mmol_mol_is_refused_with_the_reason(value, reason):
    problem = refused("hba1c", value, "mmol/mol")
    assert str(problem).startswith(reason)
    assert problem.field == "value"


@pytest.mark.parametrize(
    ("percent", "mmol_mol"),
    # IFCC: mmol/mol = 10.929 x (% - 2.15), in whole numbers, halves up (47.54 is 48).
    [
        ("4.0", 20),
        ("6.5", 48),
        ("7.0", 53),
        ("7.5", 58),
        ("8.0", 64),
        ("20.0", 195),
        ("7", 53),
    ],
)
def test_hba1c_in_percent_is_converted_with_the_ifcc_formula(percent, mmol_mol):
    assert checked("hba1c", percent, "%").value == mmol_mol
    assert checked("HbA1c", percent, " Percent ").value == mmol_mol


@pytest.mark.parametrize("percent", ["3.9", "20.1", "48"])
def test_hba1c_percent_outside_4_to_20_is_refused(percent):
    problem = refused("hba1c", percent, "%")
    assert f"HbA1c {float(percent):g}% is outside 4% to 20%" in str(problem)
    assert problem.field == "value"


def test_hba1c_needs_its_unit_and_a_wrong_one_is_named():
    missing = refused("hba1c", "48", None)
    assert (str(missing), missing.field) == ("hba1c needs a unit: % or mmol/mol", "unit")
    wrong = refused("hba1c", "48", "mg/dL")
    assert str(wrong) == "hba1c cannot be in 'mg/dL': send it in % or mmol/mol"
    assert wrong.field == "unit"
    # Spacing and case of a unit do not matter.
    assert checked("hba1c", "48", "MMOL / MOL").value == 48


def test_cholesterol_in_mg_dl_is_converted_and_a_bmi_without_a_unit_is_read_in_kg_m2():
    assert checked("cholesterol", "193.35", "mg/dL").value == 5.0
    assert checked("cholesterol", "4.2", "mmol/L").value == 4.2
    assert checked("bmi", "27.4", None).value == 27.4
    assert checked("urine_acr", "<0.3", "mg/mmol").value == 0.3
    assert checked("egfr", ">90", "mL/min/1.73m²").value == 90


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("400/20", "systolic blood pressure 400 mmHg is above 260"),
        ("138/20", "diastolic blood pressure 20 mmHg is below 30"),
        ("80/120", "blood pressure 80/120: the first number (systolic) must be the higher one"),
        ("138", "blood pressure '138' is not written as systolic/diastolic, like 138/84"),
    ],
)
def test_a_blood_pressure_that_cannot_be_right_is_refused(text, reason):
    assert reason in str(refused("blood_pressure", text, "mmHg"))


def test_a_blood_pressure_is_kept_as_its_two_numbers():
    result = checked("blood_pressure", " 138 / 84 ", "mmHg")
    assert (result.value, result.value2) == (138, 84)


def test_an_outcome_is_one_of_its_words():
    assert checked("foot_check", outcome="Moderate").outcome == "moderate"
    assert checked("smoking", outcome="ex").outcome == "ex"
    problem = refused("eye_screening", outcome="clear")
    assert str(problem) == (
        "eye_screening outcome 'clear' is not one of no_retinopathy, background, referred"
    )
    assert problem.field == "outcome"
    assert refused("foot_check").field == "outcome"


def test_an_unknown_measure_and_a_missing_value_are_named():
    unknown = refused("ldl", "2.1", "mmol/L")
    assert unknown.field == "measure" and "unknown measure 'ldl'" in str(unknown)
    empty = refused("bmi", " ", None)
    assert (str(empty), empty.field) == ("bmi needs a value", "value")
    assert "'abc' is not a number" in str(refused("bmi", "abc", "kg/m2"))


def test_dates_in_the_future_before_birth_or_over_10_years_ago_are_refused():
    tomorrow = refused("bmi", "25", taken_on=TODAY + timedelta(days=1))
    assert (str(tomorrow), tomorrow.field) == ("the date 2026-11-24 is in the future", "taken_on")
    assert checked("bmi", "25", taken_on=TODAY).taken_on == TODAY
    born = date(2020, 3, 2)  # a child with type 1
    before_birth = refused("bmi", "25", taken_on=date(2020, 3, 1), born=born)
    assert str(before_birth) == "the date 2020-03-01 is before the person was born"
    assert checked("bmi", "25", taken_on=born, born=born).taken_on == born
    oldest = TODAY - care_results.OLDEST
    assert checked("bmi", "25", taken_on=oldest).taken_on == oldest
    too_old = refused("bmi", "25", taken_on=oldest - timedelta(days=1))
    assert "is more than 10 years ago" in str(too_old) and too_old.field == "taken_on"


def test_treatment_is_one_of_three_and_empty_keeps_what_is_recorded():
    assert care_results.check_treatment(" Hypo_Risk ") == "hypo_risk"
    assert care_results.check_treatment("") is None
    with pytest.raises(InvalidResult) as caught:
        care_results.check_treatment("insulin")
    assert str(caught.value) == (
        "treatment 'insulin' is not one of lifestyle, low_hypo_risk, hypo_risk"
    )


# Targets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "treatment", "expected"),
    [
        (48, Treatment.LOW_HYPO_RISK, Verdict.ON_TARGET),
        (48.5, Treatment.LOW_HYPO_RISK, Verdict.OFF_TARGET),
        (48, Treatment.LIFESTYLE, Verdict.ON_TARGET),
        (49, Treatment.LIFESTYLE, Verdict.OFF_TARGET),
        (53, Treatment.HYPO_RISK, Verdict.ON_TARGET),
        (53.1, Treatment.HYPO_RISK, Verdict.OFF_TARGET),
        # Treatment unknown: 48 is on target, 49 to 53 depends on it, above 53 is not.
        (48, None, Verdict.ON_TARGET),
        (49, None, Verdict.ASK),
        (53, None, Verdict.ASK),
        (53.1, None, Verdict.OFF_TARGET),
    ],
)
def test_hba1c_target_for_type_2_depends_on_the_treatment(value, treatment, expected):
    assert verdict(Measure.HBA1C, value, treatment=treatment) is expected


def test_hba1c_target_for_type_1_is_48_whatever_the_treatment():
    for treatment in (Treatment.HYPO_RISK, None):
        assert verdict(Measure.HBA1C, 48, diabetes_type="type1", treatment=treatment) is (
            Verdict.ON_TARGET
        )
        assert verdict(Measure.HBA1C, 49, diabetes_type="type1", treatment=treatment) is (
            Verdict.OFF_TARGET
        )


@pytest.mark.parametrize(
    ("systolic", "diastolic", "expected"),
    [
        (139, 89, Verdict.ON_TARGET),
        (140, 89, Verdict.OFF_TARGET),
        (139, 90, Verdict.OFF_TARGET),
    ],
)
def test_blood_pressure_under_80_is_below_140_90(systolic, diastolic, expected):
    assert verdict(Measure.BLOOD_PRESSURE, systolic, diastolic, age=79) is expected


def test_blood_pressure_target_becomes_150_90_on_the_80th_birthday():
    born = date(1946, 12, 7)
    review_day = date(2026, 12, 7)
    assert age_on(born, review_day - timedelta(days=1)) == 79
    assert age_on(born, review_day) == 80
    assert age_on(date(1948, 2, 29), date(2028, 2, 28)) == 79  # a leap-day birthday
    assert age_on(date(1948, 2, 29), date(2028, 2, 29)) == 80
    for on_day, expected in (
        (review_day - timedelta(days=1), Verdict.OFF_TARGET),
        (review_day, Verdict.ON_TARGET),
    ):
        (line,) = lines_for_review(
            [result(Measure.BLOOD_PRESSURE, date(2026, 11, 1), 145, 85)],
            diabetes_type="type2",
            treatment=None,
            born=born,
            on_day=on_day,
        )
        assert line.verdict is expected
    assert verdict(Measure.BLOOD_PRESSURE, 149, 89, age=80) is Verdict.ON_TARGET
    assert verdict(Measure.BLOOD_PRESSURE, 150, 89, age=80) is Verdict.OFF_TARGET
    assert verdict(Measure.BLOOD_PRESSURE, 149, 90, age=80) is Verdict.OFF_TARGET
    # Without a date of birth, 140/90 (the target for most people).
    assert verdict(Measure.BLOOD_PRESSURE, 145, 85, age=None) is Verdict.OFF_TARGET


@pytest.mark.parametrize(
    ("systolic", "diastolic", "acr", "expected"),
    [
        (134, 84, None, Verdict.ON_TARGET),
        (135, 84, None, Verdict.OFF_TARGET),
        (134, 85, None, Verdict.OFF_TARGET),
        (134, 84, 69.9, Verdict.ON_TARGET),
        # With a urine ACR of 70 mg/mmol or more: below 130/80.
        (134, 84, 70, Verdict.OFF_TARGET),
        (129, 79, 70, Verdict.ON_TARGET),
        (130, 79, 70, Verdict.OFF_TARGET),
        (129, 80, 70, Verdict.OFF_TARGET),
    ],
)
def test_blood_pressure_for_type_1_is_below_135_85_or_130_80_with_acr_70(
    systolic, diastolic, acr, expected
):
    assert (
        verdict(Measure.BLOOD_PRESSURE, systolic, diastolic, diabetes_type="type1", urine_acr=acr)
        is expected
    )


def test_type_1_with_acr_70_from_the_results_gets_the_lower_target():
    born = date(1990, 1, 1)
    rows = [
        result(Measure.BLOOD_PRESSURE, date(2026, 11, 1), 132, 78),
        result(Measure.URINE_ACR, date(2026, 11, 1), 70),
    ]
    lines = lines_for_review(rows, diabetes_type="type1", treatment=None, born=born, on_day=TODAY)
    pressure = next(line for line in lines if line.measure == "blood_pressure")
    assert pressure.target == Target("below", 130, 80, basis="type1_albuminuria")
    assert pressure.verdict is Verdict.OFF_TARGET


@pytest.mark.parametrize(
    ("bmi", "expected"),
    [
        (18.4, Verdict.OFF_TARGET),
        (18.5, Verdict.ON_TARGET),
        (22.9, Verdict.ON_TARGET),
        # 23 to 24.9 is overweight for some family backgrounds, which diabridge does not know.
        (23, Verdict.ASK),
        (24.9, Verdict.ASK),
        (25, Verdict.OFF_TARGET),
    ],
)
def test_bmi_boundaries(bmi, expected):
    assert verdict(Measure.BMI, bmi) is expected


@pytest.mark.parametrize(
    ("measure", "value", "expected"),
    [
        (Measure.EGFR, 60, Verdict.ON_TARGET),
        (Measure.EGFR, 59.9, Verdict.OFF_TARGET),
        (Measure.URINE_ACR, 2.9, Verdict.ON_TARGET),
        (Measure.URINE_ACR, 3, Verdict.OFF_TARGET),
        (Measure.CHOLESTEROL, 5.0, Verdict.ON_TARGET),
        (Measure.CHOLESTEROL, 5.1, Verdict.OFF_TARGET),
        (Measure.CREATININE, 90, Verdict.NO_TARGET),
    ],
)
def test_kidney_and_cholesterol_boundaries(measure, value, expected):
    assert verdict(measure, value) is expected


@pytest.mark.parametrize(
    ("measure", "outcome", "expected"),
    [
        (Measure.FOOT_CHECK, "low", Verdict.ON_TARGET),
        (Measure.FOOT_CHECK, "moderate", Verdict.OFF_TARGET),
        (Measure.SMOKING, "ex", Verdict.ON_TARGET),
        (Measure.SMOKING, "current", Verdict.OFF_TARGET),
        (Measure.EYE_SCREENING, "no_retinopathy", Verdict.ON_TARGET),
        (Measure.EYE_SCREENING, "background", Verdict.ASK),
        (Measure.EYE_SCREENING, "referred", Verdict.OFF_TARGET),
    ],
)
def test_checks_without_a_number_are_judged_by_their_outcome(measure, outcome, expected):
    assert verdict(measure, outcome=outcome) is expected


def test_a_personal_target_wins_over_nice():
    personal = {"hba1c": 58.0, "blood_pressure": [150.0, 85.0]}
    assert verdict(Measure.HBA1C, 58, personal=personal) is Verdict.ON_TARGET
    assert verdict(Measure.HBA1C, 58.1, personal=personal) is Verdict.OFF_TARGET
    # Type 1 and a sulfonylurea do not change a personal target.
    assert verdict(Measure.HBA1C, 55, diabetes_type="type1", personal=personal) is Verdict.ON_TARGET
    assert verdict(Measure.BLOOD_PRESSURE, 145, 84, personal=personal) is Verdict.ON_TARGET
    assert verdict(Measure.BLOOD_PRESSURE, 145, 85, personal=personal) is Verdict.OFF_TARGET
    target = target_for(
        Measure.HBA1C, diabetes_type="type2", treatment=None, age=60, personal=personal
    )
    assert target == Target("at_most", 58.0, personal=True, basis="personal")
    # Only the measures given are personal: cholesterol keeps NICE's 5.
    assert verdict(Measure.CHOLESTEROL, 5.0, personal=personal) is Verdict.ON_TARGET


# A year before ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 11, 23), 15, date(2025, 8, 23)),
        (date(2026, 3, 31), 1, date(2026, 2, 28)),
        (date(2024, 3, 31), 1, date(2024, 2, 29)),  # a leap year
        (date(2026, 5, 31), 6, date(2025, 11, 30)),
        (date(2026, 1, 15), 12, date(2025, 1, 15)),
        (date(2026, 1, 15), 1, date(2025, 12, 15)),  # into the year before
        (date(2026, 8, 31), 6, date(2026, 2, 28)),
        (date(2026, 8, 29), 0, date(2026, 8, 29)),
    ],
)
def test_months_before_keeps_the_day_or_takes_the_last_of_a_shorter_month(day, months, expected):
    assert months_before(day, months) == expected


def result(
    measure: Measure,
    taken_on: date,
    value: float | None = None,
    value2: float | None = None,
    outcome: str | None = None,
) -> CareResult:
    return CareResult(
        person_id=1,
        measure=measure.value,
        taken_on=taken_on,
        value=value,
        value2=value2,
        outcome=outcome,
    )


def test_the_change_is_since_a_result_at_least_6_months_older():
    rows = [
        result(Measure.HBA1C, date(2026, 10, 2), 58),
        result(Measure.HBA1C, date(2026, 7, 1), 60),  # 3 months before: not last year's
        result(Measure.HBA1C, date(2026, 4, 2), 64),  # exactly 6 months before
        result(Measure.HBA1C, date(2025, 10, 1), 70),
    ]
    (line,) = lines_for_review(
        rows, diabetes_type="type2", treatment="hypo_risk", born=None, on_day=TODAY
    )
    assert line.latest.value == 58 and line.previous is not None
    assert (line.previous.taken_on, line.change) == (date(2026, 4, 2), -6.0)
    # Through an outbox row's params and back, it reads the same.
    assert line_from_dict(line.as_dict()) == line
    assert line.as_dict()["latest"]["taken_on"] == "2026-10-02"


def test_lines_follow_the_care_processes_and_egfr_stands_for_kidney_function():
    rows = [
        result(Measure.SMOKING, date(2026, 10, 2), outcome="never"),
        result(Measure.CREATININE, date(2026, 10, 2), 80),
        result(Measure.EGFR, date(2026, 10, 2), 75),
        result(Measure.HBA1C, date(2026, 10, 2), 50),
        # After the review day: not shown yet.
        result(Measure.BMI, date(2026, 11, 24), 27),
    ]
    lines = lines_for_review(rows, diabetes_type="type2", treatment=None, born=None, on_day=TODAY)
    assert [line.measure for line in lines] == ["hba1c", "egfr", "smoking"]
    only_creatinine = lines_for_review(
        rows[1:2], diabetes_type="type2", treatment=None, born=None, on_day=TODAY
    )
    assert [(line.measure, line.verdict) for line in only_creatinine] == [
        ("creatinine", Verdict.NO_TARGET)
    ]


def test_processes_missing_in_15_months_are_named():
    since = months_before(TODAY, 15)
    rows = [
        result(Measure.HBA1C, since, 50),  # on the first day of the window: counts
        result(Measure.FOOT_CHECK, since - timedelta(days=1), outcome="low"),  # the day before
        result(Measure.CREATININE, date(2026, 1, 1), 80),
    ]
    missing = care_results.missing_processes(rows, since=since)
    assert CareProcess.HBA1C not in missing and CareProcess.KIDNEY_FUNCTION not in missing
    assert CareProcess.FOOT_CHECK in missing
    assert len(missing) == 7


# Saving ----------------------------------------------------------------------------------------


async def _patient(db: Database) -> Person:
    async with db.session() as session:
        person = Person(
            role=Role.PATIENT,
            display_name="Irfan Ahmed",
            nhs_number="9434765919",
            date_of_birth=date(1984, 3, 2),
            status=PersonStatus.ACTIVE,
            diabetes_type="type2",
        )
        session.add(person)
        await session.flush()
        return person


async def test_results_are_saved_once_per_measure_and_day_and_audited_without_values(
    db: Database,
):
    person = await _patient(db)
    first = [
        checked("hba1c", "7.0", "%"),
        checked("blood_pressure", "138/84", "mmHg"),
        checked("foot_check", outcome="low"),
    ]
    async with db.session() as session:
        saved = await care_results.record(
            session, person, first, source="csv:a.csv", actor="cli:nurse", now=NOW
        )
    assert (saved.added, saved.updated, saved.unchanged) == (3, 0, 0)
    async with db.session() as session:
        again = await care_results.record(
            session,
            person,
            first,
            source="csv:a.csv",
            actor="cli:nurse",
            now=NOW,
        )
        corrected = await care_results.record(
            session,
            person,
            [checked("hba1c", "52", "mmol/mol"), checked("bmi", "27", "kg/m2")],
            source="api:emis",
            actor="api:emis",
            now=NOW,
            treatment="hypo_risk",
        )
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert (corrected.added, corrected.updated, corrected.unchanged) == (1, 1, 0)
    async with db.session() as session:
        kept = await care_results.results_of(session, person.id or 0)
        stored = await session.get(Person, person.id)
        audits = (
            await session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.action) == "results.record")
                .order_by(col(AuditEvent.id))
            )
        ).all()
    assert [(r.measure, r.value, r.value2, r.outcome, r.source) for r in kept] == [
        ("blood_pressure", 138, 84, None, "csv:a.csv"),
        ("bmi", 27, None, None, "api:emis"),
        ("foot_check", None, None, "low", "csv:a.csv"),
        ("hba1c", 52, None, None, "api:emis"),
    ]
    assert stored is not None and stored.treatment == "hypo_risk"
    # Once per call that changed something; the unchanged call left no trace.
    assert [(a.actor, a.detail) for a in audits] == [
        ("cli:nurse", "added 3, updated 0: blood_pressure, foot_check, hba1c"),
        ("api:emis", "added 1, updated 1: bmi, hba1c; treatment changed"),
    ]
    for audit in audits:
        assert "52" not in audit.detail and "9434765919" not in audit.detail


async def test_a_new_treatment_alone_is_audited(db: Database):
    person = await _patient(db)
    async with db.session() as session:
        await care_results.record(
            session, person, [], source="api:x", actor="api:x", now=NOW, treatment="lifestyle"
        )
    async with db.session() as session:
        (audit,) = (
            await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "results.record"))
        ).all()
    assert audit.detail == "added 0, updated 0; treatment changed"


@pytest.mark.parametrize(
    ("data", "number"),
    [
        ("12", 12),
        ("²", None),
        ("١٢", None),
        ("", None),
        ("2147483647", 2147483647),
        ("2147483648", None),
        ("-1", None),
        ("1e3", None),
    ],
)
def test_button_numbers_are_plain_ascii_ids_a_database_accepts(data, number):
    from bot import hypo_messages, pre_review_messages
    from bot.render import button_number

    assert button_number(data) == number
    parsed = pre_review_messages.parse(f"prep:go:{data}")
    assert (parsed.pre_review_id if parsed else None) == number
    drive = hypo_messages.parse_drive(f"drive:{data}:yes")
    assert (drive[0] if drive else None) == number
