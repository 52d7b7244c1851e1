"""The words of care planning after the results: the clinician's one-screen summary before the
review, /careplan (the form, its problems by line, the preview), /myplan for the person and
their carers, "your care plan is ready", and the goal check-ins with their answers.

The summary is for a clinician who has a minute before the person comes in: flags first, one
line per result, then what the person said, in their order and their own words. The person's
side is in plain words; goals and actions are shown exactly as the clinician wrote them (a
clinician writes them in the person's words and language).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import N_, Markup, Translator, escape, ltr
from bot.messages import Recipient, local_when
from bot.models import STAFF_ROLES, CareGoal, CarePlan, CareProcess, Measure, Person, Role
from bot.plans import GoalCheckInPlan
from bot.render import Button, Reply
from bot.services.care_plans import (
    ACTION_LIMIT,
    DIASTOLIC_TARGET,
    GOAL_LIMIT,
    MAX_ACTIONS,
    MAX_GOALS,
    NEW_GOAL_LIMIT,
    PERSONAL_TARGET_RANGES,
    SYSTOLIC_TARGET,
    CheckInAnswer,
    Responsible,
)
from bot.services.care_targets import ResultLine, Target, Verdict, age_on, line_from_dict

CB_PLAN = "plan:"
# plan:c:<goal id>:<round>:<answer>   a goal check-in answered
# plan:save:<person id> / plan:cancel  the /careplan preview
# plan:my                             "see my plan" under "your care plan is ready"
CHECK_IN = "c"
SAVE = "save"
CANCEL = "cancel"
SHOW = "my"


def _ltr(t: Translator, text: str) -> Markup:
    """A number with its unit ("62 mmol/mol", "140/90") as one left-to-right island in Urdu."""
    safe = escape(text)
    return Markup(ltr(safe) if t.rtl else safe)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _quote(text: str) -> Markup:
    return Markup(f"“{escape(text)}”")


# The clinician's summary ----------------------------------------------------------------------

MEASURE_SHORT: dict[str, str] = {
    Measure.HBA1C: N_("HbA1c"),
    Measure.BLOOD_PRESSURE: N_("BP"),
    Measure.CHOLESTEROL: N_("Cholesterol"),
    Measure.EGFR: N_("eGFR"),
    Measure.CREATININE: N_("Creatinine"),
    Measure.URINE_ACR: N_("Urine ACR"),
    Measure.FOOT_CHECK: N_("Feet"),
    Measure.BMI: N_("BMI"),
    Measure.SMOKING: N_("Smoking"),
    Measure.EYE_SCREENING: N_("Eyes"),
}
UNITS: dict[str, str] = {
    Measure.HBA1C: "mmol/mol",
    Measure.CHOLESTEROL: "mmol/L",
    Measure.EGFR: "mL/min/1.73m²",
    Measure.CREATININE: "µmol/L",
    Measure.URINE_ACR: "mg/mmol",
    Measure.BMI: "kg/m²",
}
OUTCOMES: dict[str, str] = {
    "low": N_("low risk"),
    "moderate": N_("moderate risk"),
    "high": N_("high risk"),
    "active": N_("active foot problem"),
    "never": N_("never smoked"),
    "ex": N_("ex-smoker"),
    "current": N_("smokes"),
    "no_retinopathy": N_("no retinopathy"),
    "background": N_("background retinopathy"),
    "referred": N_("referred to the eye clinic"),
}
PROCESS_NAMES: dict[str, str] = {
    CareProcess.HBA1C: N_("HbA1c"),
    CareProcess.BLOOD_PRESSURE: N_("blood pressure"),
    CareProcess.CHOLESTEROL: N_("cholesterol"),
    CareProcess.KIDNEY_FUNCTION: N_("kidney function"),
    CareProcess.URINE_ACR: N_("urine ACR"),
    CareProcess.FOOT_CHECK: N_("foot check"),
    CareProcess.BMI: N_("BMI"),
    CareProcess.SMOKING: N_("smoking status"),
    CareProcess.EYE_SCREENING: N_("eye screening"),
}
TOPICS: dict[str, str] = {
    "sugar": N_("sugar levels"),
    "medicines": N_("medicines"),
    "weight": N_("weight"),
    "food": N_("food"),
    "activity": N_("activity"),
    "feet": N_("feet"),
    "eyes": N_("eyes"),
    "mood": N_("mood"),
    "hypos": N_("hypos"),
    "driving": N_("driving"),
    "work_family": N_("work or family"),
    "other": N_("something else"),
}
HYPO_ANSWERS: dict[str, str] = {
    "none": N_("none"),
    "self_treated": N_("treated themselves"),
    "needed_help": N_("one needed someone's help"),
}
CHECK_IN_RESULTS: dict[str, str] = {
    CheckInAnswer.ON_TRACK: N_("on track"),
    CheckInAnswer.PARTLY: N_("partly"),
    CheckInAnswer.NOT_YET: N_("not yet"),
    CheckInAnswer.CHANGE: N_("wants to change it"),
}
VERDICT_MARKS = {
    Verdict.ON_TARGET: "✅",
    Verdict.OFF_TARGET: "⚠️",
    Verdict.ASK: "💬",
    Verdict.NO_TARGET: "",
}


def _label(t: Translator, names: dict[str, str], key: str) -> str:
    return t._(names[key]) if key in names else key


def _reading_text(t: Translator, line: ResultLine, previous: bool = False) -> str:
    reading = line.previous if previous else line.latest
    assert reading is not None
    if reading.outcome is not None:
        return _label(t, OUTCOMES, reading.outcome)
    if line.measure == Measure.BLOOD_PRESSURE:
        return _ltr(t, f"{_number(reading.value)}/{_number(reading.value2)}")
    unit = UNITS.get(line.measure, "")
    return _ltr(t, f"{_number(reading.value)} {unit}".strip())


def _target_text(t: Translator, target: Target) -> str:
    if target.rule == "outcome":
        return ""
    low, high = _number(target.value), _number(target.value2)
    if target.basis == "treatment_unknown":
        shown = t._(
            "≤%(low)s (≤%(high)s if on a sulfonylurea or insulin)",
            low=_ltr(t, low),
            high=_ltr(t, high),
        )
    elif target.rule == "below":
        shown = _ltr(t, f"<{low}/{high}" if target.value2 is not None else f"<{low}")
    elif target.rule == "at_least":
        shown = _ltr(t, f"≥{low}")
    elif target.rule == "between":
        shown = _ltr(t, f"{low}–{high}")
    else:
        shown = _ltr(t, f"≤{low}")
    if target.personal:
        return t._("target %(target)s (personal)", target=Markup(shown))
    return t._("target %(target)s", target=Markup(shown))


def _change_text(t: Translator, line: ResultLine) -> str:
    if line.previous is None:
        return ""
    when = t.date(line.previous.taken_on, "MMM y")
    change = line.change
    single = line.latest.value2 is None and line.latest.outcome is None
    if single and change is not None:
        signed = f"+{_number(change)}" if change > 0 else _number(change)
        return t._("%(change)s since %(when)s", change=_ltr(t, signed), when=when)
    was = Markup(_reading_text(t, line, previous=True))
    return t._("was %(value)s in %(when)s", value=was, when=when)


def result_line(t: Translator, line: ResultLine) -> str:
    """One result on one line: name, value, date, target and mark, change since last year."""
    name = escape(_label(t, MEASURE_SHORT, line.measure))
    parts = [f"<b>{name}</b> {_reading_text(t, line)}", t.date(line.latest.taken_on, "medium")]
    if line.target is not None and line.target.rule != "outcome":
        parts.append(_target_text(t, line.target))
    mark = VERDICT_MARKS[line.verdict]
    change = _change_text(t, line)
    return " · ".join(parts) + (f" {mark}" if mark else "") + (f" · {change}" if change else "")


def _flags(t: Translator, params: dict[str, Any]) -> list[str]:
    flags = []
    if "severe_hypo" in params.get("flags", []):
        flags.append(t._("🚩 <b>Severe hypo in the last 3 months</b>"))
    if "low_mood" in params.get("flags", []):
        score = _ltr(t, f"{params.get('mood_score')}/6")
        flags.append(t._("🚩 <b>Low mood: PHQ-2 score %(score)s</b>", score=score))
    return flags


def _who_line(t: Translator, params: dict[str, Any], who: Recipient) -> str:
    parts = []
    review_at = datetime.fromisoformat(params["review_at"])
    born = params.get("date_of_birth")
    if born:
        born_on = date.fromisoformat(born)
        age = age_on(born_on, review_at.astimezone(who.zone).date())
        parts.append(t._("born %(date)s (%(age)s)", date=t.date(born_on, "medium"), age=age))
    # The NHS number goes to staff only: the summary is about their practice's own patient.
    staff = who.role is None or Role(who.role) in STAFF_ROLES
    if staff and params.get("nhs_number"):
        number = str(params["nhs_number"])
        spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
        parts.append(t._("NHS %(number)s", number=_ltr(t, spaced)))
    return " · ".join(parts)


def _review_line(t: Translator, params: dict[str, Any], who: Recipient) -> str:
    when = local_when(t, datetime.fromisoformat(params["review_at"]), who.zone)
    if params.get("clinician"):
        return t._("Review: %(when)s with %(clinician)s", when=when, clinician=params["clinician"])
    return t._("Review: %(when)s", when=when)


def _results(t: Translator, params: dict[str, Any]) -> list[str]:
    heading = t._("<b>Results</b>")
    lines = [result_line(t, line_from_dict(raw)) for raw in params.get("lines", [])]
    if not lines:
        lines = [t._("No results held.")]
    missing = [_label(t, PROCESS_NAMES, key) for key in params.get("missing", [])]
    if missing:
        lines.append(t._("<b>Not done in 15 months:</b> %(checks)s", checks=", ".join(missing)))
    return [heading, *lines]


def _agenda(t: Translator, params: dict[str, Any]) -> list[str]:
    lines = []
    topics = [_label(t, TOPICS, key) for key in params.get("topics", [])]
    if topics:
        numbered = " · ".join(f"{n}. {name}" for n, name in enumerate(topics, start=1))
        lines.append(t._("<b>Their topics:</b> %(topics)s", topics=numbered))
    if params.get("own_words"):
        lines.append(t._("<b>In their words:</b> %(words)s", words=_quote(params["own_words"])))
    if params.get("confidence") is not None:
        lines.append(t._("<b>Confidence:</b> %(score)s out of 10", score=int(params["confidence"])))
    hypos = params.get("hypos")
    if hypos:
        answer = _label(t, HYPO_ANSWERS, hypos)
        if params.get("drives") is True:
            lines.append(t._("<b>Hypos in 3 months:</b> %(answer)s · drives", answer=answer))
        elif params.get("drives") is False:
            lines.append(
                t._("<b>Hypos in 3 months:</b> %(answer)s · does not drive", answer=answer)
            )
        else:
            lines.append(t._("<b>Hypos in 3 months:</b> %(answer)s", answer=answer))
    interest, down = params.get("mood_interest"), params.get("mood_down")
    if interest is not None or down is not None:
        lines.append(
            t._(
                "<b>Mood (PHQ-2):</b> little interest %(interest)s · feeling down %(down)s",
                interest=_ltr(t, f"{interest if interest is not None else '–'}/3"),
                down=_ltr(t, f"{down if down is not None else '–'}/3"),
            )
        )
    return lines


def _goals(t: Translator, params: dict[str, Any]) -> list[str]:
    goals = params.get("goals") or []
    if not goals:
        return []
    lines = [t._("<b>Goal check-ins since the last plan</b>")]
    for goal in goals:
        lines.append(f"🎯 {_quote(goal['goal'])}")
        answers = []
        for answer in goal.get("answers", []):
            on = t.date(date.fromisoformat(answer["answered_on"]), "d MMM")
            answers.append(f"{on} {_label(t, CHECK_IN_RESULTS, answer['answer'])}")
        if answers:
            lines.append("   " + " · ".join(answers))
        else:
            lines.append("   " + t._("no answers yet"))
        for answer in goal.get("answers", []):
            if answer.get("new_goal"):
                new_goal = t._("new goal in their words: %(goal)s", goal=_quote(answer["new_goal"]))
                lines.append("   ✏️ " + new_goal)
    return lines


def _agenda_state(t: Translator, params: dict[str, Any]) -> list[str]:
    if params.get("agenda_finished"):
        return []
    answered = params.get("topics") or any(
        params.get(key) is not None
        for key in ("own_words", "confidence", "hypos", "mood_interest", "mood_down")
    )
    if answered:
        return [t._("⏳ Agenda not finished: the answers so far are above.")]
    return [t._("⏳ The agenda questions were not answered.")]


def _pre_review_summary(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    """Two days before the review, to the clinician: one screen, flags first."""
    title = t._("📋 <b>Before the review: %(name)s</b>", name=params["person_name"])
    header = [title, *_flags(t, params)]
    details = [line for line in (_who_line(t, params, who), _review_line(t, params, who)) if line]
    agenda = _agenda(t, params) + _agenda_state(t, params)
    blocks = [header, details, _results(t, params), agenda, _goals(t, params)]
    return Reply("\n\n".join("\n".join(block) for block in blocks if block))


# /careplan: the form, its problems, the preview -------------------------------------------


def not_for_you(t: Translator) -> Reply:
    return Reply(
        t._(
            "/careplan is for GPs, practice nurses and the diabetes team, to record a care plan "
            "after a review. To see your care plan, send /myplan."
        )
    )


def form_example(t: Translator, next_review: date) -> str:
    walk = t._("Walk for 30 minutes five days a week")
    group = t._("Join the Tuesday walking group")
    feet = t._("Check feet every evening")
    nurse = t._("Practice nurse")
    return "\n".join(
        [
            "/careplan 943 476 5919",
            f"Goal: {walk}",
            f"Action: {group} | person",
            f"Action: {feet} | carer",
            "Target HbA1c: 58",
            "Target BP: 140/90",
            f"Next review: {next_review:%d/%m/%Y}",
            f"Contact: {nurse} | 0121 496 0000",
        ]
    )


def form(t: Translator, *, own_practice_only: bool, next_review: date) -> Reply:
    """/careplan alone: the form to copy, and how to fill it in."""
    intro = t._(
        "📝 <b>Record a care plan</b>\n"
        "Copy the form, fill it in and send it back as one message. You will see a preview "
        "before anything is saved."
    )
    notes = [
        t._(
            "• One <b>Goal:</b> line for each goal (up to %(goals)s), in the person's own words "
            "and language, each followed by its <b>Action:</b> lines (up to %(actions)s).",
            goals=MAX_GOALS,
            actions=MAX_ACTIONS,
        ),
        t._(
            "• After the | write who does it: person (or you), carer, GP, practice nurse, "
            "diabetes team, pharmacist or dietitian."
        ),
        t._(
            "• Personal targets are optional (HbA1c in mmol/mol, BP, cholesterol, BMI): leave "
            "a line out to keep the NICE target."
        ),
        t._(
            "• Dates as dd/mm/yyyy. The person is asked how each goal is going every few weeks "
            "until the next review."
        ),
    ]
    if own_practice_only:
        notes.append(t._("• For patients of your practice."))
    example = f"<pre>{escape(form_example(t, next_review))}</pre>"
    return Reply("\n\n".join([intro, example, "\n".join(notes)]))


def _who_words_list(t: Translator) -> str:
    return t._("person, carer, GP, practice nurse, diabetes team, pharmacist or dietitian")


PERSONAL_TARGET_KEYS = frozenset(measure.value for measure in PERSONAL_TARGET_RANGES)


def problem_text(t: Translator, problem: str, value: str, *, context: dict[str, Any]) -> str:
    """One problem in words. `problem` is a FormProblem, a handler's own code, or a
    check_plan location ("goals.1.goal"); `context` carries what decides between wordings."""
    kind = problem.split(".")
    match kind:
        case ["nhs_missing"]:
            return t._("put the patient's NHS number after /careplan, like /careplan 943 476 5919")
        case ["nhs_digits"]:
            return t._("an NHS number has 10 digits, like 943 476 5919")
        case ["nhs_check_digit"]:
            return t._("the NHS number's check digit does not match: please copy it again")
        case ["patient_unknown"]:
            if context.get("own_practice_only"):
                return t._("no patient of your practice has this NHS number in diabridge")
            return t._("no patient with this NHS number is registered in diabridge")
        case ["unknown_line"]:
            return t._(
                "not understood: start the line with Goal:, Action:, Target HbA1c:, Target BP:, "
                "Target cholesterol:, Target BMI:, Next review: or Contact:"
            )
        case ["action_before_goal"]:
            return t._("an Action: line belongs under a Goal: line")
        case ["action_no_who"]:
            return t._("say who does it after a |, like: Action: Check feet every evening | carer")
        case ["unknown_who"] | ["goals", _, "actions", _, "who"]:
            people = _who_words_list(t)
            if not value:
                return t._("say who does it after the |: %(people)s", people=people)
            return t._("“%(who)s” is not one of: %(people)s", who=value, people=people)
        case ["bad_date"]:
            return t._("write the date as dd/mm/yyyy, like 12/11/2027")
        case ["twice"]:
            return t._("“%(what)s” is given twice: keep one", what=value)
        case ["unknown_target"]:
            return t._(
                "no personal target for “%(name)s”: use HbA1c, BP, cholesterol or BMI", name=value
            )
        case ["contact_no_phone"]:
            return t._("write a contact like this: Contact: Practice nurse | 0121 496 0000")
        case ["goals"]:
            if context.get("goals", 0) == 0:
                return t._("a care plan needs at least one Goal: line")
            return t._("at most %(max)s goals: agree the ones that matter most", max=MAX_GOALS)
        case ["goals", _, "goal"]:
            if not value:
                return t._("write the goal after Goal:, in the person's own words")
            return t._("a goal can be at most %(max)s characters", max=GOAL_LIMIT)
        case ["goals", _, "actions", _, "action"]:
            if not value:
                return t._("say what will be done, before the |")
            return t._("an action can be at most %(max)s characters", max=ACTION_LIMIT)
        case ["goals", _, "actions"]:
            return t._("at most %(max)s actions for one goal", max=MAX_ACTIONS)
        case ["next_review_on"]:
            if context.get("review_past"):
                return t._("the next review date must be in the future")
            return t._("the next review date is more than 2 years away")
        case ["contacts", _, "name"]:
            return t._("write a name of 1 to 100 characters before the |")
        case ["contacts", _, "phone"]:
            return t._("“%(phone)s” is not a phone number", phone=value)
        case ["targets", "blood_pressure"]:
            return t._(
                "BP target “%(value)s”: write it like 140/90 (systolic %(s_low)s to %(s_high)s, "
                "diastolic %(d_low)s to %(d_high)s)",
                value=value,
                s_low=SYSTOLIC_TARGET[0],
                s_high=SYSTOLIC_TARGET[1],
                d_low=DIASTOLIC_TARGET[0],
                d_high=DIASTOLIC_TARGET[1],
            )
        case ["targets", key] if key in PERSONAL_TARGET_KEYS:
            low, high, unit = PERSONAL_TARGET_RANGES[Measure(key)]
            return t._(
                "%(target)s target “%(value)s”: use a number from %(low)s to %(high)s %(unit)s",
                target=_label(t, MEASURE_SHORT, key),
                value=value,
                low=_number(low),
                high=_number(high),
                unit=unit,
            )
    return problem


def problems(t: Translator, found: list[tuple[int, str, str]]) -> Reply:
    """Every problem at once, by line: (line number, the line's start, the problem)."""
    heading = t._("⚠️ <b>Not saved.</b> Please correct these lines and send the form again:")
    lines = []
    for number, text, what in found:
        shown = text if len(text) <= 40 else text[:39] + "…"
        if number == 0:
            lines.append(t._("• <b>The form:</b> %(problem)s", problem=Markup(what)))
        else:
            lines.append(
                t._(
                    "• <b>Line %(number)s</b> (<i>%(text)s</i>): %(problem)s",
                    number=number,
                    text=shown,
                    problem=Markup(what),
                )
            )
    return Reply("\n".join([heading, *lines]))


def every_text(t: Translator, every: GoalCheckInPlan) -> str:
    # "Every week", not "every 1 week": in Hindi and Urdu too the one is its own phrase.
    if every.unit == "weeks":
        if every.every == 1:
            return t._("every week")
        return t.ngettext("every %(num)s week", "every %(num)s weeks", every.every)
    if every.every == 1:
        return t._("every day")
    return t.ngettext("every %(num)s day", "every %(num)s days", every.every)


def preview(
    t: Translator,
    patient: Person,
    written: str,
    *,
    every: GoalCheckInPlan,
    carers: int,
) -> Reply:
    """The plan as it will be saved, written back as the form (it is read again on Save)."""
    assert patient.id is not None
    title = t._("👀 <b>Preview: care plan for %(name)s</b>", name=patient.display_name)
    facts = []
    if patient.date_of_birth is not None:
        facts.append(t._("born %(date)s", date=t.date(patient.date_of_birth, "medium")))
    if patient.practice_ods:
        facts.append(t._("practice %(code)s", code=patient.practice_ods))
    how_often = every_text(t, every)
    after = [
        t._(
            "Each goal gets a check-in %(every)s until the next review; the answers are in the "
            "summary before it.",
            every=how_often,
        )
    ]
    if carers:
        after.append(
            t.ngettext(
                "%(name)s and %(num)s carer are told the plan is ready.",
                "%(name)s and %(num)s carers are told the plan is ready.",
                carers,
                name=patient.display_name,
            )
        )
    else:
        after.append(t._("%(name)s is told the plan is ready.", name=patient.display_name))
    after.append(t._("Nothing is saved until you press Save."))
    text = "\n\n".join(
        [
            "\n".join([title, " · ".join(facts)]) if facts else title,
            f"<pre>{escape(written)}</pre>",
            "\n".join(after),
        ]
    )
    buttons = [
        [
            Button(t._("💾 Save"), data=f"{CB_PLAN}{SAVE}:{patient.id}"),
            Button(t._("✖ Cancel"), data=f"{CB_PLAN}{CANCEL}"),
        ]
    ]
    return Reply(text, buttons)


def too_long_to_preview(t: Translator) -> Reply:
    return Reply(t._("⚠️ This plan is too long to show in one message. Please shorten it."))


def saved(t: Translator, patient: Person, check_ins: int, every: GoalCheckInPlan) -> Reply:
    title = t._("✅ <b>Care plan saved for %(name)s.</b>", name=patient.display_name)
    how_often = every_text(t, every)
    planned = t.ngettext(
        "%(num)s goal check-in is planned (%(every)s on each goal).",
        "%(num)s goal check-ins are planned (%(every)s on each goal).",
        check_ins,
        every=how_often,
    )
    told = t._("They are told their plan is ready and can see it with /myplan.")
    return Reply("\n".join([title, planned, told]))


def already_saved(t: Translator, patient: Person) -> Reply:
    return Reply(t._("✅ This care plan for %(name)s is already saved.", name=patient.display_name))


def cancelled(t: Translator) -> Reply:
    return Reply(t._("✖ Not saved. Nothing was recorded."))


def unreadable_preview(t: Translator) -> Reply:
    return Reply(t._("⚠️ This preview can no longer be read. Please send the form again."))


# /myplan ----------------------------------------------------------------------------------

OWN_WHO: dict[str, str] = {
    Responsible.PERSON: N_("you"),
    Responsible.CARER: N_("your carer"),
    Responsible.GP: N_("your GP"),
    Responsible.PRACTICE_NURSE: N_("your practice nurse"),
    Responsible.DIABETES_TEAM: N_("your diabetes team"),
    Responsible.PHARMACIST: N_("your pharmacist"),
    Responsible.DIETITIAN: N_("your dietitian"),
}
# A carer reading someone else's plan: the person by name, the carer as "you".
CARER_WHO: dict[str, str] = {
    Responsible.CARER: N_("you, their carer"),
    Responsible.GP: N_("their GP"),
    Responsible.PRACTICE_NURSE: N_("their practice nurse"),
    Responsible.DIABETES_TEAM: N_("their diabetes team"),
    Responsible.PHARMACIST: N_("their pharmacist"),
    Responsible.DIETITIAN: N_("their dietitian"),
}


def who_words(t: Translator, who: str, *, own: bool, name: str) -> str:
    if not own and who == Responsible.PERSON:
        return escape(name)
    return escape(_label(t, OWN_WHO if own else CARER_WHO, who))


def _targets_in_words(t: Translator, targets: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in targets.items():
        if key == Measure.HBA1C:
            shown = _ltr(t, f"{_number(value)} mmol/mol")
            lines.append(
                t._("• HbA1c (average sugar over 2 to 3 months): %(value)s or lower", value=shown)
            )
        elif key == Measure.BLOOD_PRESSURE:
            shown = _ltr(t, "/".join(_number(v) for v in value))
            lines.append(t._("• Blood pressure: below %(value)s", value=shown))
        elif key == Measure.CHOLESTEROL:
            shown = _ltr(t, f"{_number(value)} mmol/L")
            lines.append(t._("• Cholesterol: %(value)s or lower", value=shown))
        elif key == Measure.BMI:
            shown = _ltr(t, _number(value))
            lines.append(t._("• BMI (weight for height): %(value)s or lower", value=shown))
    return lines


def plan_view(
    t: Translator,
    owner: Person,
    plan: CarePlan,
    goals: list[CareGoal],
    *,
    own: bool,
    zone: ZoneInfo,
) -> Reply:
    """One care plan: goals with their actions and who does each, targets, the next review
    and who to contact. Goals and actions are shown as the clinician wrote them."""
    name = owner.display_name
    if own:
        title = t._("📋 <b>Your care plan</b>")
    else:
        title = t._("📋 <b>%(name)s's care plan</b>", name=name)
    agreed = t._(
        "Agreed at the review on %(date)s.",
        date=t.date(plan.recorded_at.astimezone(zone).date(), "long"),
    )
    blocks = ["\n".join([title, agreed])]
    for number, goal in enumerate(goals, start=1):
        lines = [t._("🎯 <b>Goal %(number)s:</b> %(goal)s", number=number, goal=goal.goal)]
        for action in goal.actions:
            who = Markup(who_words(t, action.get("who", ""), own=own, name=name))
            lines.append(
                t._("   • %(action)s — <i>%(who)s</i>", action=action.get("action", ""), who=who)
            )
        blocks.append("\n".join(lines))
    targets = _targets_in_words(t, plan.targets or {})
    if targets:
        heading = t._("<b>Your personal targets</b>") if own else t._("<b>Personal targets</b>")
        blocks.append("\n".join([heading, *targets]))
    if plan.next_review_on is not None:
        blocks.append(
            t._("📅 <b>Next review:</b> %(date)s", date=t.date(plan.next_review_on, "long"))
        )
    if plan.contacts:
        contacts = [
            t._("• %(name)s: %(phone)s", name=c.get("name", ""), phone=_ltr(t, c.get("phone", "")))
            for c in plan.contacts
        ]
        blocks.append("\n".join([t._("📞 <b>Who to contact</b>"), *contacts]))
    if own:
        blocks.append(
            t._(
                "Every few weeks you will be asked how each goal is going. Your answers go to "
                "your nurse or doctor before your next review."
            )
        )
    return Reply("\n\n".join(blocks))


def no_plan(t: Translator, role: str) -> Reply:
    role_enum = Role(role)
    if role_enum in STAFF_ROLES:
        return Reply(
            t._(
                "/myplan is for patients and their carers. To record a patient's care plan, "
                "send /careplan."
            )
        )
    if role_enum is Role.CARER:
        return Reply(
            "\n\n".join(
                [
                    t._("📋 No care plan has been shared with you yet."),
                    t._(
                        "A care plan appears here once the nurse or doctor records it after the "
                        "review of the person you look after, if they have added you as their "
                        "carer with /carer."
                    ),
                ]
            )
        )
    if role_enum is Role.AT_RISK:
        return Reply(
            t._(
                "📋 /myplan shows the care plan that people with diabetes agree at their yearly "
                "review. There is none for you here."
            )
        )
    return Reply(
        "\n\n".join(
            [
                t._("📋 You do not have a care plan here yet."),
                t._(
                    "At your yearly diabetes review, ask your nurse or doctor to agree a care "
                    "plan with you: what matters to you, your goals, who will do what, and your "
                    "targets. Once they record it, you will see it here with /myplan."
                ),
            ]
        )
    )


def _show_button(t: Translator) -> list[list[Button]]:
    return [[Button(t._("📋 See the care plan"), data=f"{CB_PLAN}{SHOW}")]]


def _care_plan_ready(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    for_name = params.get("for_name")
    if for_name:
        text = "\n\n".join(
            [
                t._("📋 <b>%(name)s's care plan from their review is ready.</b>", name=for_name),
                t._("See their goals, who will do what and who to contact: /myplan"),
            ]
        )
    else:
        text = "\n\n".join(
            [
                t._("📋 <b>Your care plan from your review is ready.</b>"),
                t._("See your goals, who will do what, your targets and who to contact: /myplan"),
            ]
        )
    return Reply(text, _show_button(t))


# Goal check-ins -------------------------------------------------------------------------------

ANSWER_LABELS: dict[str, str] = {
    CheckInAnswer.ON_TRACK: N_("✅ On track"),
    CheckInAnswer.PARTLY: N_("🙂 Partly"),
    CheckInAnswer.NOT_YET: N_("⏳ Not yet"),
    CheckInAnswer.CHANGE: N_("✏️ Change my goal"),
}


def check_in_buttons(
    t: Translator, goal_id: int, round_: int, chosen: str | None = None
) -> list[list[Button]]:
    def button(answer: CheckInAnswer) -> Button:
        label = t._(ANSWER_LABELS[answer])
        shown = f"✓ {label}" if answer == chosen else label
        return Button(shown, data=f"{CB_PLAN}{CHECK_IN}:{goal_id}:{round_}:{answer.value}")

    return [
        [button(CheckInAnswer.ON_TRACK), button(CheckInAnswer.PARTLY)],
        [button(CheckInAnswer.NOT_YET), button(CheckInAnswer.CHANGE)],
    ]


def check_in_question(t: Translator, goal: str) -> str:
    return "\n\n".join(
        [
            t._("🎯 <b>How is your goal going?</b>"),
            _quote(goal),
        ]
    )


def _goal_check_in(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    text = "\n\n".join(
        [
            check_in_question(t, params["goal"]),
            t._("Choose an answer. It is kept for your next review."),
        ]
    )
    return Reply(text, check_in_buttons(t, int(params["goal_id"]), int(params["round"])))


def check_in_answered(
    t: Translator,
    goal: str,
    goal_id: int,
    round_: int,
    answer: CheckInAnswer,
    contacts: list[dict[str, str]],
) -> Reply:
    """The check-in again, the answer ticked (another press changes it), and a kind word."""
    match answer:
        case CheckInAnswer.ON_TRACK:
            words = [
                t._("🎉 That is great to hear. Keep going! Your answer is kept for your review.")
            ]
        case CheckInAnswer.PARTLY:
            words = [
                t._(
                    "👍 Thank you. Part of the way is still progress. If something is getting in "
                    "the way, it is worth talking about at your next review."
                )
            ]
        case CheckInAnswer.NOT_YET:
            words = [
                t._(
                    "🤝 Thank you for telling us honestly. Goals can take time, and that is all "
                    "right. Could you try one small step towards it this week?"
                ),
                t._("If you would like some help with this goal, talk to your practice nurse."),
            ]
            phones = [
                t._(
                    "📞 %(name)s: %(phone)s",
                    name=c.get("name", ""),
                    phone=_ltr(t, c.get("phone", "")),
                )
                for c in contacts
            ]
            if phones:
                words.append("\n".join(phones))
        case CheckInAnswer.CHANGE:
            words = [ask_new_goal_text(t)]
    text = "\n\n".join([check_in_question(t, goal), *words])
    return Reply(text, check_in_buttons(t, goal_id, round_, chosen=answer.value))


def ask_new_goal_text(t: Translator) -> str:
    return t._(
        "✏️ What would you like your goal to be? Please write it in your own words, in one "
        "message (up to %(limit)s characters).",
        limit=NEW_GOAL_LIMIT,
    )


def new_goal_saved(t: Translator, text: str) -> Reply:
    return Reply(
        "\n\n".join(
            [
                t._("✅ Thank you. Your new goal is saved: %(goal)s", goal=_quote(text)),
                t._(
                    "Your nurse or doctor will see it before your next review and talk it "
                    "through with you."
                ),
            ]
        )
    )


def new_goal_problem(t: Translator, reason: str) -> Reply:
    if reason == "too_long":
        first = t._(
            "That is longer than %(limit)s characters. Please write your new goal more briefly.",
            limit=NEW_GOAL_LIMIT,
        )
    else:
        first = t._("Please write your new goal in words, in one message.")
    return Reply(first)


def stale_check_in(t: Translator) -> Reply:
    return Reply(
        t._(
            "This check-in belongs to an earlier care plan, so nothing was saved. Send /myplan "
            "to see your plan now."
        )
    )


OUTBOX_TEMPLATES = {
    "pre_review_summary": _pre_review_summary,
    "care_plan_ready": _care_plan_ready,
    "goal_check_in": _goal_check_in,
}
