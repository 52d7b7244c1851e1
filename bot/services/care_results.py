"""Results of the nine care processes: checked, converted to the unit we keep, and saved once.

A result that cannot be right is refused with the reason, in words the person sending it can act
on ("HbA1c 5 mmol/mol is below 20, the lowest a laboratory reports"). The ranges are wide on
purpose: they catch a typo or a wrong unit, never a real but unusual value.

HbA1c in % (DCCT) is converted with the IFCC master equation: mmol/mol = 10.929 x (% - 2.15).
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import PROCESS_OF, CareProcess, CareResult, Measure, Person, Treatment
from bot.services import audit

# Results older than this are not history we were asked to keep for a review.
OLDEST = timedelta(days=10 * 366)


class FootRisk(StrEnum):
    """NICE NG19 risk of a foot problem."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    ACTIVE = "active"  # an active foot problem: seen by the foot service within 1 working day


class Smoking(StrEnum):
    NEVER = "never"
    EX = "ex"
    CURRENT = "current"


class EyeScreening(StrEnum):
    """The NHS Diabetic Eye Screening Programme's outcomes, in the words a letter uses."""

    NO_RETINOPATHY = "no_retinopathy"
    BACKGROUND = "background"  # small changes; screening goes on as before
    REFERRED = "referred"  # changes that need the eye clinic


OUTCOMES: dict[Measure, type[StrEnum]] = {
    Measure.FOOT_CHECK: FootRisk,
    Measure.SMOKING: Smoking,
    Measure.EYE_SCREENING: EyeScreening,
}


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    unit: str
    what: str  # how a person sending results names the lowest and highest plausible value


# Plausible values in the unit kept. A value outside is a typo or the wrong unit.
RANGES: dict[Measure, Range] = {
    Measure.HBA1C: Range(20, 200, "mmol/mol", "HbA1c"),
    Measure.CHOLESTEROL: Range(1.0, 20.0, "mmol/L", "total cholesterol"),
    Measure.EGFR: Range(1, 200, "mL/min/1.73m2", "eGFR"),
    Measure.CREATININE: Range(20, 2000, "umol/L", "serum creatinine"),
    Measure.URINE_ACR: Range(0, 1000, "mg/mmol", "urine ACR"),
    Measure.BMI: Range(10, 80, "kg/m2", "BMI"),
}
SYSTOLIC = Range(60, 260, "mmHg", "systolic blood pressure")
DIASTOLIC = Range(30, 150, "mmHg", "diastolic blood pressure")

# Other ways a unit is written, to the one we keep (lower case, spaces removed).
UNIT_SPELLINGS: dict[Measure, dict[str, str]] = {
    Measure.HBA1C: {"mmol/mol": "mmol/mol", "%": "%", "percent": "%", "dcct%": "%"},
    Measure.BLOOD_PRESSURE: {"mmhg": "mmHg"},
    Measure.CHOLESTEROL: {"mmol/l": "mmol/L", "mg/dl": "mg/dL"},
    Measure.EGFR: {
        "ml/min/1.73m2": "mL/min/1.73m2",
        "ml/min/1.73m²": "mL/min/1.73m2",
        "ml/min": "mL/min/1.73m2",
    },
    Measure.CREATININE: {
        "umol/l": "umol/L",
        "µmol/l": "umol/L",
        "μmol/l": "umol/L",
        "micromol/l": "umol/L",
    },
    Measure.URINE_ACR: {"mg/mmol": "mg/mmol"},
    Measure.BMI: {"kg/m2": "kg/m2", "kg/m²": "kg/m2"},
}
# Total cholesterol: 1 mmol/L is 38.67 mg/dL.
CHOLESTEROL_MG_PER_MMOL = 38.67


class InvalidResult(ValueError):
    """A result refused, with a reason a person can act on, and the field it is about
    (measure, value, unit, outcome or taken_on: the API's fields and the CSV's columns)."""

    def __init__(self, message: str, field: str = "value") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ResultValue:
    measure: Measure
    taken_on: date
    value: float | None = None
    value2: float | None = None
    outcome: str | None = None


def whole(value: float | Decimal) -> float:
    """Halves rounded up, as laboratories report HbA1c in mmol/mol (never banker's rounding)."""
    return float(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def ifcc_from_percent(percent: float) -> float:
    """HbA1c % (DCCT) to mmol/mol (IFCC), in whole numbers as laboratories report it: 6.5% is
    48 and 7.5% is 58, as in NICE's and Diabetes UK's tables."""
    return whole(Decimal("10.929") * (Decimal(str(percent)) - Decimal("2.15")))


def _number(text: str, what: str) -> float:
    # Laboratories write a value at the edge of what they measure as "<0.3" or ">90".
    cleaned = text.strip().lstrip("<>").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise InvalidResult(f"{what} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidResult(f"{what} {text!r} is not a number")
    return value


def _in_range(value: float, plausible: Range) -> float:
    shown = f"{value:g}"
    if value < plausible.low:
        raise InvalidResult(
            f"{plausible.what} {shown} {plausible.unit} is below {plausible.low:g}, "
            "the lowest that can be right: check the value and the unit"
        )
    if value > plausible.high:
        raise InvalidResult(
            f"{plausible.what} {shown} {plausible.unit} is above {plausible.high:g}, "
            "the highest that can be right: check the value and the unit"
        )
    return value


def _unit(measure: Measure, unit: str | None) -> str:
    spellings = UNIT_SPELLINGS[measure]
    if not unit:
        # A value with no unit is read in the unit we keep, except where two are common.
        if measure in (Measure.HBA1C, Measure.CHOLESTEROL):
            raise InvalidResult(
                f"{measure.value} needs a unit: " + " or ".join(sorted(set(spellings.values()))),
                "unit",
            )
        return next(iter(spellings.values()))
    key = re.sub(r"\s+", "", unit).lower()
    if key not in spellings:
        known = " or ".join(sorted(set(spellings.values())))
        raise InvalidResult(f"{measure.value} cannot be in {unit!r}: send it in {known}", "unit")
    return spellings[key]


def check_date(taken_on: date, *, today: date, born: date | None) -> date:
    if taken_on > today:
        raise InvalidResult(f"the date {taken_on.isoformat()} is in the future", "taken_on")
    if taken_on < today - OLDEST:
        raise InvalidResult(
            f"the date {taken_on.isoformat()} is more than 10 years ago", "taken_on"
        )
    if born is not None and taken_on < born:
        raise InvalidResult(
            f"the date {taken_on.isoformat()} is before the person was born", "taken_on"
        )
    return taken_on


def parse_blood_pressure(text: str) -> tuple[float, float]:
    match = re.fullmatch(r"\s*(\d{2,3}(?:\.\d+)?)\s*/\s*(\d{2,3}(?:\.\d+)?)\s*", text)
    if not match:
        raise InvalidResult(
            f"blood pressure {text!r} is not written as systolic/diastolic, like 138/84"
        )
    return float(match[1]), float(match[2])


def check_result(
    measure_text: str,
    *,
    value: str | float | None,
    unit: str | None,
    outcome: str | None,
    taken_on: date,
    today: date,
    born: date | None = None,
) -> ResultValue:
    """One result as sent; raises InvalidResult with the reason when it cannot be right."""
    try:
        measure = Measure(measure_text.strip().lower())
    except ValueError:
        known = ", ".join(m.value for m in Measure)
        raise InvalidResult(
            f"unknown measure {measure_text!r}; use one of {known}", "measure"
        ) from None
    check_date(taken_on, today=today, born=born)
    if measure in OUTCOMES:
        kinds = OUTCOMES[measure]
        if not outcome:
            known = ", ".join(o.value for o in kinds)
            raise InvalidResult(f"{measure.value} needs an outcome: one of {known}", "outcome")
        try:
            return ResultValue(measure, taken_on, outcome=kinds(outcome.strip().lower()).value)
        except ValueError:
            known = ", ".join(o.value for o in kinds)
            raise InvalidResult(
                f"{measure.value} outcome {outcome!r} is not one of {known}", "outcome"
            ) from None
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidResult(f"{measure.value} needs a value")
    text = value if isinstance(value, str) else f"{value:g}"
    if measure is Measure.BLOOD_PRESSURE:
        _unit(measure, unit)
        systolic, diastolic = parse_blood_pressure(text)
        _in_range(systolic, SYSTOLIC)
        _in_range(diastolic, DIASTOLIC)
        if diastolic >= systolic:
            raise InvalidResult(
                f"blood pressure {text}: the first number (systolic) must be the higher one"
            )
        return ResultValue(measure, taken_on, value=systolic, value2=diastolic)
    kept_unit = _unit(measure, unit)
    number = _number(text, measure.value)
    if measure is Measure.HBA1C and kept_unit == "%":
        if not 4.0 <= number <= 20.0:
            raise InvalidResult(
                f"HbA1c {number:g}% is outside 4% to 20%, the range that can be right: "
                "check the value and the unit"
            )
        number = ifcc_from_percent(number)
    elif measure is Measure.CHOLESTEROL and kept_unit == "mg/dL":
        number = round(number / CHOLESTEROL_MG_PER_MMOL, 1)
    number = _in_range(number, RANGES[measure])
    if measure is Measure.HBA1C:
        # Kept as shown and judged: a 48.4 sent by a laboratory system is the 48 a letter says,
        # and is on a target of 48.
        number = whole(number)
    return ResultValue(measure, taken_on, value=number)


def check_treatment(text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    try:
        return Treatment(text.strip().lower()).value
    except ValueError:
        known = ", ".join(t.value for t in Treatment)
        raise InvalidResult(f"treatment {text!r} is not one of {known}", "treatment") from None


@dataclass
class Saved:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


async def record(
    session: AsyncSession,
    person: Person,
    results: list[ResultValue],
    *,
    source: str,
    actor: str,
    now: datetime,
    treatment: str | None = None,
) -> Saved:
    """Saves checked results: one per measure and day, a changed value replacing the old one.
    Audited once, with counts and measures only, never a value."""
    assert person.id is not None
    saved = Saved()
    existing = {
        (row.measure, row.taken_on): row
        for row in (
            await session.exec(
                select(CareResult).where(
                    col(CareResult.person_id) == person.id,
                    col(CareResult.measure).in_({r.measure.value for r in results}),
                    col(CareResult.taken_on).in_({r.taken_on for r in results}),
                )
            )
        ).all()
    }
    for result in results:
        row = existing.get((result.measure.value, result.taken_on))
        if row is None:
            row = CareResult(
                person_id=person.id,
                measure=result.measure.value,
                taken_on=result.taken_on,
                value=result.value,
                value2=result.value2,
                outcome=result.outcome,
                source=source,
                recorded_at=now,
                updated_at=now,
            )
            session.add(row)
            existing[(result.measure.value, result.taken_on)] = row
            saved.added += 1
        elif (row.value, row.value2, row.outcome) == (result.value, result.value2, result.outcome):
            saved.unchanged += 1
        else:
            row.value, row.value2, row.outcome = result.value, result.value2, result.outcome
            row.source, row.updated_at = source, now
            session.add(row)
            saved.updated += 1
    treatment_changed = treatment is not None and person.treatment != treatment
    if treatment_changed:
        person.treatment = treatment
        person.updated_at = now
        session.add(person)
    # A new treatment changes the HbA1c target: it is a change to the record like a result.
    if saved.added or saved.updated or treatment_changed:
        measures = Counter(r.measure.value for r in results)
        detail = f"added {saved.added}, updated {saved.updated}"
        if measures:
            detail += ": " + ", ".join(sorted(measures))
        await audit.record(
            session,
            actor=actor,
            action="results.record",
            person_id=person.id,
            detail=detail + ("; treatment changed" if treatment_changed else ""),
            at=now,
        )
    await session.flush()
    return saved


async def results_of(session: AsyncSession, person_id: int) -> list[CareResult]:
    """Every result of a person, newest first within each measure."""
    return list(
        (
            await session.exec(
                select(CareResult)
                .where(col(CareResult.person_id) == person_id)
                .order_by(col(CareResult.measure), col(CareResult.taken_on).desc())
            )
        ).all()
    )


def missing_processes(results: list[CareResult], *, since: date) -> list[CareProcess]:
    """The care processes with no result on or after `since` (the audit looks back 15 months)."""
    done = {PROCESS_OF[Measure(r.measure)] for r in results if r.taken_on >= since}
    return [process for process in CareProcess if process not in done]


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier; the 31st of a shorter month becomes its last day."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))
