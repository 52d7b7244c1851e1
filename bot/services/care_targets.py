"""Targets for each care process, and how a result sits against its target. Plain functions.

Sources (../shared/CLINICAL_FACTS.md):
- HbA1c: NICE NG28 (type 2): 48 mmol/mol on lifestyle or medicines that do not cause hypos,
  53 mmol/mol on a medicine that can (a sulfonylurea, insulin). NICE NG17 (type 1): 48 or lower.
- Blood pressure: NICE NG136 (type 2 and others): below 140/90 under 80, below 150/90 from 80.
  NICE NG17 (type 1): below 135/85, or below 130/80 with a urine ACR of 70 mg/mmol or more.
- Total cholesterol 5 mmol/L or less (the QOF figure practices use). Urine ACR below 3 mg/mmol
  and eGFR 60 or more (NICE NG203). BMI 18.5 to 24.9, and lower thresholds (overweight from 23)
  for people of South Asian, Chinese, Black African or African-Caribbean family background: as we
  do not know a person's background, 23 to 24.9 is "talk about it", never "on target".
- A clinician's personal target always wins (a care plan's `targets`).

The bot never judges a result as an illness: it says on target, not on target, or "talk about it
at your review", and the person's clinician explains.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from bot.models import PROCESS_OF, CareProcess, CareResult, DiabetesType, Measure, Treatment
from bot.services.care_results import EyeScreening, FootRisk, Smoking, months_before

# How far back "last year" looks: the newest earlier result at least this many months older.
LAST_YEAR_MONTHS = 6
# Care processes done within this many months count (the National Diabetes Audit's window).
AUDIT_MONTHS = 15

Rule = Literal["at_most", "below", "at_least", "between", "outcome"]


class Verdict(StrEnum):
    ON_TARGET = "on_target"
    OFF_TARGET = "off_target"
    # Depends on something we do not know (treatment, family background): ask at the review.
    ASK = "ask"
    NO_TARGET = "no_target"


@dataclass(frozen=True)
class Target:
    rule: Rule
    value: float | None = None
    value2: float | None = None  # diastolic, for blood pressure; the upper end of "between"
    personal: bool = False
    # Why this target: shown to the clinician, and chooses the words for the person.
    basis: str = ""


@dataclass(frozen=True)
class Reading:
    taken_on: date
    value: float | None = None
    value2: float | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class ResultLine:
    measure: str
    latest: Reading
    target: Target | None
    verdict: Verdict
    previous: Reading | None  # about a year earlier, for "the change since last year"

    @property
    def change(self) -> float | None:
        if self.previous is None or self.previous.value is None or self.latest.value is None:
            return None
        return round(self.latest.value - self.previous.value, 1)

    def as_dict(self) -> dict[str, Any]:
        """JSON for an outbox row's params and the API: dates as ISO text."""
        raw = asdict(self)
        raw["latest"]["taken_on"] = self.latest.taken_on.isoformat()
        if self.previous is not None:
            raw["previous"]["taken_on"] = self.previous.taken_on.isoformat()
        raw["verdict"] = self.verdict.value
        raw["change"] = self.change
        return raw


def age_on(born: date | None, day: date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def hba1c_target(diabetes_type: str | None, treatment: str | None) -> Target:
    if diabetes_type == DiabetesType.TYPE1:
        return Target("at_most", 48, basis="type1")
    if treatment == Treatment.HYPO_RISK:
        return Target("at_most", 53, basis="hypo_risk")
    if treatment in (Treatment.LIFESTYLE, Treatment.LOW_HYPO_RISK):
        return Target("at_most", 48, basis="no_hypo_risk")
    # Treatment unknown: 48, but 49 to 53 could be on target for someone on a sulfonylurea.
    return Target("at_most", 48, value2=53, basis="treatment_unknown")


def blood_pressure_target(
    diabetes_type: str | None, age: int | None, urine_acr: float | None
) -> Target:
    if diabetes_type == DiabetesType.TYPE1:
        if urine_acr is not None and urine_acr >= 70:
            return Target("below", 130, 80, basis="type1_albuminuria")
        return Target("below", 135, 85, basis="type1")
    if age is not None and age >= 80:
        return Target("below", 150, 90, basis="from_80")
    return Target("below", 140, 90, basis="under_80" if age is not None else "age_unknown")


def personal_target(measure: Measure, personal: dict[str, Any]) -> Target | None:
    raw = personal.get(measure.value)
    if raw is None:
        return None
    if measure is Measure.BLOOD_PRESSURE:
        systolic, diastolic = raw
        return Target("below", float(systolic), float(diastolic), personal=True, basis="personal")
    return Target("at_most", float(raw), personal=True, basis="personal")


def target_for(
    measure: Measure,
    *,
    diabetes_type: str | None,
    treatment: str | None,
    age: int | None,
    urine_acr: float | None = None,
    personal: dict[str, Any] | None = None,
) -> Target | None:
    own = personal_target(measure, personal or {})
    if own is not None:
        return own
    match measure:
        case Measure.HBA1C:
            return hba1c_target(diabetes_type, treatment)
        case Measure.BLOOD_PRESSURE:
            return blood_pressure_target(diabetes_type, age, urine_acr)
        case Measure.CHOLESTEROL:
            return Target("at_most", 5.0, basis="qof")
        case Measure.EGFR:
            return Target("at_least", 60, basis="ckd")
        case Measure.URINE_ACR:
            return Target("below", 3, basis="ckd")
        case Measure.BMI:
            return Target("between", 18.5, 25, basis="bmi")
        case Measure.FOOT_CHECK | Measure.SMOKING | Measure.EYE_SCREENING:
            return Target("outcome", basis=measure.value)
        case _:
            return None  # serum creatinine is read with eGFR, not against a target of its own


GOOD_OUTCOMES = {FootRisk.LOW.value, Smoking.NEVER.value, Smoking.EX.value}
TALK_OUTCOMES = {EyeScreening.BACKGROUND.value}
GOOD_EYES = {EyeScreening.NO_RETINOPATHY.value}


def assess(measure: Measure, reading: Reading, target: Target | None) -> Verdict:
    if target is None:
        return Verdict.NO_TARGET
    if target.rule == "outcome":
        if reading.outcome in GOOD_OUTCOMES or reading.outcome in GOOD_EYES:
            return Verdict.ON_TARGET
        return Verdict.ASK if reading.outcome in TALK_OUTCOMES else Verdict.OFF_TARGET
    value = reading.value
    assert value is not None and target.value is not None
    if target.rule == "below":
        if target.value2 is None:
            return Verdict.ON_TARGET if value < target.value else Verdict.OFF_TARGET
        diastolic = reading.value2 if reading.value2 is not None else 0
        below = value < target.value and diastolic < target.value2
        return Verdict.ON_TARGET if below else Verdict.OFF_TARGET
    if target.rule == "at_least":
        return Verdict.ON_TARGET if value >= target.value else Verdict.OFF_TARGET
    if target.rule == "between":
        assert target.value2 is not None
        if not target.value <= value < target.value2:
            return Verdict.OFF_TARGET
        # 23 to 24.9: overweight for some family backgrounds (NICE), so not judged here.
        return Verdict.ASK if measure is Measure.BMI and value >= 23 else Verdict.ON_TARGET
    # at_most; value2, when set, is a higher target that may apply (treatment unknown).
    if value <= target.value:
        return Verdict.ON_TARGET
    if target.value2 is not None and value <= target.value2:
        return Verdict.ASK
    return Verdict.OFF_TARGET


def _reading(row: CareResult) -> Reading:
    return Reading(row.taken_on, row.value, row.value2, row.outcome)


def lines_for_review(
    results: list[CareResult],
    *,
    diabetes_type: str | None,
    treatment: str | None,
    born: date | None,
    on_day: date,
    personal: dict[str, Any] | None = None,
) -> list[ResultLine]:
    """The newest result of each measure, in care-process order, against its target, with the
    one about a year before it. Kidney function shows eGFR, or creatinine when there is no eGFR."""
    by_measure: dict[Measure, list[CareResult]] = {}
    for row in sorted(results, key=lambda r: r.taken_on, reverse=True):
        if row.taken_on <= on_day:
            by_measure.setdefault(Measure(row.measure), []).append(row)
    if Measure.EGFR in by_measure:
        by_measure.pop(Measure.CREATININE, None)
    acr = by_measure.get(Measure.URINE_ACR)
    age = age_on(born, on_day)
    order = list(CareProcess)
    lines = []
    for measure in sorted(by_measure, key=lambda m: order.index(PROCESS_OF[m])):
        rows = by_measure[measure]
        latest = rows[0]
        year_before = months_before(latest.taken_on, LAST_YEAR_MONTHS)
        previous = next((r for r in rows[1:] if r.taken_on <= year_before), None)
        target = target_for(
            measure,
            diabetes_type=diabetes_type,
            treatment=treatment,
            age=age,
            urine_acr=acr[0].value if acr else None,
            personal=personal,
        )
        reading = _reading(latest)
        lines.append(
            ResultLine(
                measure=measure.value,
                latest=reading,
                target=target,
                verdict=assess(measure, reading, target),
                previous=_reading(previous) if previous else None,
            )
        )
    return lines


def line_from_dict(raw: dict[str, Any]) -> ResultLine:
    """A ResultLine back from `as_dict` (an outbox row's params)."""

    def reading(part: dict[str, Any] | None) -> Reading | None:
        if part is None:
            return None
        return Reading(
            date.fromisoformat(part["taken_on"]), part["value"], part["value2"], part["outcome"]
        )

    latest = reading(raw["latest"])
    assert latest is not None
    return ResultLine(
        measure=raw["measure"],
        latest=latest,
        target=Target(**raw["target"]) if raw.get("target") else None,
        verdict=Verdict(raw["verdict"]),
        previous=reading(raw.get("previous")),
    )
