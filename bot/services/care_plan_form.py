"""The /careplan fill-in form: read line by line into what `care_plans.check_plan` takes,
checked whole (the patient, then the plan), and written back in the same form for the preview.
No Telegram here.

    /careplan 943 476 5919
    Goal: Walk for 30 minutes five days a week
    Action: Join the Tuesday walking group | person
    Target HbA1c: 58
    Target BP: 140/90
    Next review: 12/11/2027
    Contact: Practice nurse | 0121 496 0000

The keywords are the form's fixed syntax (like a command's options), the same in every
language; what follows them (goals, actions, names) is kept exactly as the clinician wrote it.
Every problem names its line, so a clinician can fix the lines and send the form again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.models import Measure, Person, Role
from bot.services import care_plans
from bot.services.care_plans import InvalidPlan, PlanInput, Responsible
from bot.services.care_results import ifcc_from_percent
from bot.services.enrolment import InvalidField, check_nhs_number

COMMAND = "/careplan"
# Invisible marks a right-to-left chat adds to lines (bot.i18n); they are not part of the form.
_DIRECTION_MARKS = re.compile("[\u200e\u200f\u2066-\u2069]")

# Who does an action: the values care_plans.Responsible keeps, and the ways clinicians write
# them. "you" is the person the plan is for (the form is written to be read to them).
WHO_SPELLINGS: dict[str, Responsible] = {
    "person": Responsible.PERSON,
    "patient": Responsible.PERSON,
    "you": Responsible.PERSON,
    "self": Responsible.PERSON,
    "young person": Responsible.PERSON,
    "carer": Responsible.CARER,
    "carers": Responsible.CARER,
    "family": Responsible.CARER,
    "gp": Responsible.GP,
    "doctor": Responsible.GP,
    "practice nurse": Responsible.PRACTICE_NURSE,
    "nurse": Responsible.PRACTICE_NURSE,
    "pn": Responsible.PRACTICE_NURSE,
    "diabetes team": Responsible.DIABETES_TEAM,
    "team": Responsible.DIABETES_TEAM,
    "specialist": Responsible.DIABETES_TEAM,
    "specialist team": Responsible.DIABETES_TEAM,
    "diabetes specialist nurse": Responsible.DIABETES_TEAM,
    "dsn": Responsible.DIABETES_TEAM,
    "pharmacist": Responsible.PHARMACIST,
    "pharmacy": Responsible.PHARMACIST,
    "dietitian": Responsible.DIETITIAN,
    "dietician": Responsible.DIETITIAN,
}
# How the preview writes each back (the form reads naturally and parses again).
WHO_WRITTEN: dict[Responsible, str] = {
    Responsible.PERSON: "person",
    Responsible.CARER: "carer",
    Responsible.GP: "GP",
    Responsible.PRACTICE_NURSE: "practice nurse",
    Responsible.DIABETES_TEAM: "diabetes team",
    Responsible.PHARMACIST: "pharmacist",
    Responsible.DIETITIAN: "dietitian",
}

TARGET_NAMES: dict[str, Measure] = {
    "hba1c": Measure.HBA1C,
    "bp": Measure.BLOOD_PRESSURE,
    "blood pressure": Measure.BLOOD_PRESSURE,
    "cholesterol": Measure.CHOLESTEROL,
    "total cholesterol": Measure.CHOLESTEROL,
    "bmi": Measure.BMI,
}
TARGET_WRITTEN: dict[str, str] = {
    Measure.HBA1C.value: "HbA1c",
    Measure.BLOOD_PRESSURE.value: "BP",
    Measure.CHOLESTEROL.value: "cholesterol",
    Measure.BMI.value: "BMI",
}
_UNITS = re.compile(r"\s*(mmol/mol|mmol/l|mmhg|kg/m2|kg/m²)\s*$", re.IGNORECASE)
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z0-9 ]*?)\s*:\s*(?P<value>.*)$")


class FormProblem(StrEnum):
    NHS_MISSING = "nhs_missing"
    NHS_DIGITS = "nhs_digits"
    NHS_CHECK_DIGIT = "nhs_check_digit"
    UNKNOWN_LINE = "unknown_line"
    ACTION_BEFORE_GOAL = "action_before_goal"
    ACTION_NO_WHO = "action_no_who"
    UNKNOWN_WHO = "unknown_who"
    BAD_DATE = "bad_date"
    TWICE = "twice"
    UNKNOWN_TARGET = "unknown_target"
    CONTACT_NO_PHONE = "contact_no_phone"


@dataclass(frozen=True)
class LineProblem:
    """One problem, on one line of the form (0: the form as a whole)."""

    line: int
    problem: str  # a FormProblem, or a check_plan location ("goals.1.goal", ...)
    value: str = ""


@dataclass
class CarePlanForm:
    """The form as read: the arguments of `care_plans.check_plan`, and where each came from."""

    nhs_number: str | None = None
    goals: list[dict[str, Any]] = field(default_factory=list)
    targets: dict[str, Any] = field(default_factory=dict)
    next_review_on: date | None = None
    contacts: list[dict[str, str]] = field(default_factory=list)
    # check_plan's locations ("goals.1.actions.2", "targets.hba1c", ...) to form lines.
    lines: dict[str, int] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)  # each line as written
    problems: list[LineProblem] = field(default_factory=list)

    def line_of(self, where: str) -> int:
        """The line a check_plan problem belongs to: the most specific location known."""
        parts = where.split(".")
        while parts:
            key = ".".join(parts)
            if key in self.lines:
                return self.lines[key]
            parts.pop()
        return 0


def clean(text: str) -> str:
    return _DIRECTION_MARKS.sub("", text)


def _normal(words: str) -> str:
    return re.sub(r"[\s_\-]+", " ", words.strip().lower())


def who_of(text: str) -> Responsible | None:
    return WHO_SPELLINGS.get(_normal(text))


def parse_date(text: str) -> date | None:
    match = _DATE.match(text.strip())
    if not match:
        return None
    day, month, year = (int(part) for part in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _nhs_line(form: CarePlanForm, first: str) -> None:
    words = first.split(maxsplit=1)
    raw = words[1].strip() if len(words) > 1 else ""
    form.lines["nhs_number"] = 1
    if not raw:
        form.problems.append(LineProblem(1, FormProblem.NHS_MISSING))
        return
    try:
        form.nhs_number = check_nhs_number(raw)
    except InvalidField:
        digits = re.sub(r"[\s-]", "", raw)
        wrong_length = not digits.isdigit() or len(digits) != 10
        problem = FormProblem.NHS_DIGITS if wrong_length else FormProblem.NHS_CHECK_DIGIT
        form.problems.append(LineProblem(1, problem, raw))


def _target(form: CarePlanForm, number: int, name: str, value: str) -> None:
    measure = TARGET_NAMES.get(_normal(name))
    if measure is None:
        form.problems.append(LineProblem(number, FormProblem.UNKNOWN_TARGET, name.strip()))
        return
    where = f"targets.{measure.value}"
    if where in form.lines:
        form.problems.append(LineProblem(number, FormProblem.TWICE, f"Target {name.strip()}"))
        return
    form.lines[where] = number
    text = _UNITS.sub("", value.strip())
    if measure is Measure.HBA1C and text.endswith("%"):
        # A target written as a percentage (DCCT) is kept in mmol/mol, as results are.
        try:
            text = f"{round(ifcc_from_percent(float(text[:-1].strip()))):d}"
        except ValueError:
            pass  # check_plan names it: not a number
    form.targets[measure.value] = text


def parse(text: str) -> CarePlanForm:
    """Reads a filled-in form. Problems of its own syntax are kept in `problems`; whether the
    plan itself is sound (lengths, ranges, dates) is check_plan's to say."""
    form = CarePlanForm()
    lines = clean(text).strip().split("\n")
    form.texts[1] = lines[0].strip()
    _nhs_line(form, lines[0].strip())
    goal: dict[str, Any] | None = None
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line:
            continue
        form.texts[number] = line
        match = _LINE.match(line)
        key = _normal(match["key"]) if match else ""
        value = match["value"].strip() if match else ""
        if key == "goal":
            goal = {"goal": value, "actions": []}
            form.goals.append(goal)
            form.lines[f"goals.{len(form.goals)}"] = number
        elif key == "action":
            if goal is None:
                form.problems.append(LineProblem(number, FormProblem.ACTION_BEFORE_GOAL))
                continue
            what, bar, who_text = value.rpartition("|")
            if not bar:
                form.problems.append(LineProblem(number, FormProblem.ACTION_NO_WHO))
                what, who_text = value, ""
            who = who_of(who_text)
            if bar and who is None:
                form.problems.append(LineProblem(number, FormProblem.UNKNOWN_WHO, who_text.strip()))
            goal["actions"].append({"action": what.strip(), "who": who.value if who else ""})
            form.lines[f"goals.{len(form.goals)}.actions.{len(goal['actions'])}"] = number
        elif key.startswith("target ") and len(key) > len("target "):
            _target(form, number, key.removeprefix("target "), value)
        elif key in ("next review", "next review date", "review"):
            if "next_review_on" in form.lines:
                form.problems.append(LineProblem(number, FormProblem.TWICE, "Next review"))
                continue
            form.lines["next_review_on"] = number
            form.next_review_on = parse_date(value)
            if form.next_review_on is None:
                form.problems.append(LineProblem(number, FormProblem.BAD_DATE, value))
        elif key == "contact":
            name, bar, phone = value.rpartition("|")
            if not bar:
                form.problems.append(LineProblem(number, FormProblem.CONTACT_NO_PHONE))
                continue
            form.contacts.append({"name": name.strip(), "phone": phone.strip()})
            form.lines[f"contacts.{len(form.contacts)}"] = number
        else:
            form.problems.append(LineProblem(number, FormProblem.UNKNOWN_LINE))
    return form


def _number(value: float) -> str:
    return f"{value:g}"


def write(
    nhs_number: str,
    goals: list[tuple[str, list[tuple[str, str]]]],
    targets: dict[str, Any],
    next_review_on: date | None,
    contacts: list[dict[str, str]],
) -> str:
    """A checked plan as the form again: shown in the preview, read again on Save."""
    spaced = f"{nhs_number[:3]} {nhs_number[3:6]} {nhs_number[6:]}"
    lines = [f"{COMMAND} {spaced}"]
    for goal, actions in goals:
        lines.append(f"Goal: {goal}")
        lines.extend(f"Action: {what} | {WHO_WRITTEN[Responsible(who)]}" for what, who in actions)
    for key, value in targets.items():
        shown = "/".join(_number(v) for v in value) if isinstance(value, list) else _number(value)
        lines.append(f"Target {TARGET_WRITTEN[key]}: {shown}")
    if next_review_on is not None:
        lines.append(f"Next review: {next_review_on:%d/%m/%Y}")
    lines.extend(f"Contact: {c['name']} | {c['phone']}" for c in contacts)
    return "\n".join(lines)


# Checking a whole form ------------------------------------------------------------------------

# Whose plans can be recorded: people with diabetes (a carer's own record holds no plan).
PLANNED_FOR = frozenset({Role.PATIENT, Role.YOUNG_PERSON})
# A GP or practice nurse records plans for their own practice's patients; the specialist team
# (who run reviews for people from many practices) and admins for anyone registered.
OWN_PRACTICE_ONLY = frozenset({Role.GP, Role.NURSE})
PATIENT_UNKNOWN = "patient_unknown"
# A second press on Save within this time, for the same plan, saves nothing more.
SAVED_AGAIN_WITHIN = timedelta(minutes=30)


def own_practice_only(staff: Person) -> bool:
    return Role(staff.role) in OWN_PRACTICE_ONLY


async def patient_for(session: AsyncSession, staff: Person, nhs_number: str) -> Person | None:
    """The patient this staff member may record a plan for. A patient of another practice is
    answered exactly as an unknown number, so the form never tells a GP who is registered
    elsewhere."""
    patient = (
        await session.exec(
            select(Person).where(
                col(Person.nhs_number) == nhs_number,
                col(Person.role).in_([role.value for role in PLANNED_FOR]),
            )
        )
    ).first()
    if patient is None:
        return None
    if own_practice_only(staff) and (
        not staff.practice_ods or patient.practice_ods != staff.practice_ods
    ):
        return None
    return patient


@dataclass
class FormCheck:
    form: CarePlanForm
    patient: Person | None
    plan: PlanInput | None
    problems: list[LineProblem]
    review_past: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems and self.patient is not None and self.plan is not None

    def written(self) -> str:
        """The checked plan as the form (for the preview, and read again on Save)."""
        assert self.patient is not None and self.patient.nhs_number and self.plan is not None
        return write(
            self.patient.nhs_number,
            [(goal.goal, goal.actions) for goal in self.plan.goals],
            self.plan.targets,
            self.plan.next_review_on,
            self.plan.contacts,
        )


def _value_at(form: CarePlanForm, where: str) -> str:
    """What was written where check_plan found a problem, for naming it."""
    parts = where.split(".")
    try:
        match parts:
            case ["goals", index, "goal"]:
                return str(form.goals[int(index) - 1].get("goal") or "")
            case ["goals", index, "actions", number, "action"]:
                actions = form.goals[int(index) - 1]["actions"]
                return str(actions[int(number) - 1].get("action") or "")
            case ["contacts", index, field_name]:
                return form.contacts[int(index) - 1].get(field_name, "")
            case ["targets", key]:
                return str(form.targets.get(key, ""))
    except (IndexError, ValueError):
        pass
    return ""


async def check_form(session: AsyncSession, staff: Person, text: str, *, today: date) -> FormCheck:
    """The form read, the patient found, the plan checked: every problem at once, by line."""
    form = parse(text)
    found = list(form.problems)
    patient = None
    if form.nhs_number is not None:
        patient = await patient_for(session, staff, form.nhs_number)
        if patient is None:
            found.append(LineProblem(1, PATIENT_UNKNOWN))
    plan = None
    try:
        plan = care_plans.check_plan(
            goals=form.goals,
            targets=form.targets,
            next_review_on=form.next_review_on,
            contacts=form.contacts,
            today=today,
        )
    except InvalidPlan as invalid:
        for where, _reason in invalid.problems:
            # Who does an action is read here first: an unknown one is named already.
            if where.endswith(".who"):
                continue
            found.append(LineProblem(form.line_of(where), where, _value_at(form, where)))
    unique = sorted(set(found), key=lambda p: (p.line, found.index(p)))
    review_past = form.next_review_on is not None and form.next_review_on <= today
    return FormCheck(form, patient, plan, unique, review_past)


def _same_plan(plan_row: Any, goals: list[Any], plan: PlanInput) -> bool:
    return (
        plan_row.next_review_on == plan.next_review_on
        and dict(plan_row.targets) == plan.targets
        and list(plan_row.contacts) == plan.contacts
        and [(g.goal, [(a["action"], a["who"]) for a in g.actions]) for g in goals]
        == [(g.goal, list(g.actions)) for g in plan.goals]
    )


async def saved_already(
    session: AsyncSession, patient: Person, plan: PlanInput, *, actor: str, now: datetime
) -> bool:
    """The same plan, saved by the same clinician a moment ago: a second press on Save (or a
    press on an old preview) records nothing more and sends nothing twice."""
    assert patient.id is not None
    current = await care_plans.current_plan(session, patient.id)
    if current is None:
        return False
    plan_row, goals = current
    return (
        plan_row.recorded_by == actor
        and plan_row.recorded_at >= now - SAVED_AGAIN_WITHIN
        and _same_plan(plan_row, goals, plan)
    )
