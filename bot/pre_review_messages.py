"""The person's side of getting ready for the annual review (Year of Care): their results
explained before the review, the agenda questions one at a time, the one nudge, and /review.

The bot explains; it never diagnoses. Each result says what it measures in one plain sentence,
the target in words, whether it is on target, and the change since about a year before; the
person's clinician explains the rest at the review.

Sources for the wording (../shared/CLINICAL_FACTS.md, bot/services/care_targets.py):
- NHS, "HbA1c": "your average blood sugar level over the past 2 to 3 months"; NICE NG28 / NG17
  targets 48 or 53 mmol/mol; NICE NG136 / NG17 blood pressure targets; NICE NG203 (kidneys).
- NHS, "BMI": 18.5 to 24.9 healthy; lower thresholds (overweight from 23) for people of South
  Asian, Chinese, Black African or African-Caribbean family background (NICE).
- NHS Diabetic Eye Screening Programme: every 2 years after two clear screens in a row.
- NICE NG19: moderate or high foot risk is seen by a foot protection service; an active foot
  problem needs the foot service within 1 working day.
- PHQ-2 (Kroenke 2003, the two questions NICE CG91 names), each item 0 to 3.
- Low mood signposts: NHS Talking Therapies (self-referral), NHS 111 option 2 for urgent mental
  health help, Samaritans 116 123 (day or night), 999 in danger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from babel.numbers import format_decimal

from bot.i18n import N_, Markup, Translator, ltr
from bot.messages import Recipient, emergency_line, local_when
from bot.models import AdviceRequest, CareProcess, Measure, PreReview
from bot.render import Button, Reply, button_number
from bot.services.care_results import EyeScreening, FootRisk, Smoking
from bot.services.care_targets import AUDIT_MONTHS, ResultLine, Verdict, line_from_dict
from bot.services.pre_review import (
    OWN_WORDS_LIMIT,
    AgendaStep,
    AgendaTopic,
    HypoAnswer,
    low_mood,
)

CB_PREP = "prep:"
# Callback data (64 bytes at most): prep:<action>:<pre_review id>[:<value>...]
GO = "go"  # start or continue the agenda (the results message, the nudge)
PAGE = "p"  # prep:p:<topic>: a library page as a new message, so the results stay readable
TOPIC = "t"  # prep:t:<id>:<AgendaTopic>
TOPICS_DONE = "td"
SKIP = "skip"  # skip "what matters most"
CONFIDENCE = "c"  # prep:c:<id>:<0..10>
HYPOS = "h"  # prep:h:<id>:<HypoAnswer>
DRIVES = "d"  # prep:d:<id>:yes|no
MOOD = "m"  # prep:m:<id>:<i|d>:<0..3>
YES, NO = "yes", "no"
MOOD_STEPS = {"i": AgendaStep.MOOD_INTEREST, "d": AgendaStep.MOOD_DOWN}

ANNUAL_CHECKS_TOPIC = "annual-checks"
DRIVING_TOPIC = "driving"
PAGES = frozenset({ANNUAL_CHECKS_TOPIC, DRIVING_TOPIC})

# The questions as the person counts them: the two mood questions are one.
QUESTIONS = 5
NUMBER_OF: dict[AgendaStep, int] = {
    AgendaStep.TOPICS: 1,
    AgendaStep.WORDS: 2,
    AgendaStep.CONFIDENCE: 3,
    AgendaStep.HYPOS: 4,
    AgendaStep.DRIVES: 4,
    AgendaStep.MOOD_INTEREST: 5,
    AgendaStep.MOOD_DOWN: 5,
}

TOPIC_NAMES: dict[AgendaTopic, str] = {
    AgendaTopic.SUGAR: N_("Sugar levels"),
    AgendaTopic.MEDICINES: N_("Medicines"),
    AgendaTopic.WEIGHT: N_("Weight"),
    AgendaTopic.FOOD: N_("Food"),
    AgendaTopic.ACTIVITY: N_("Activity"),
    AgendaTopic.FEET: N_("Feet"),
    AgendaTopic.EYES: N_("Eyes"),
    AgendaTopic.MOOD: N_("Mood"),
    AgendaTopic.HYPOS: N_("Hypos"),
    AgendaTopic.DRIVING: N_("Driving"),
    AgendaTopic.WORK_FAMILY: N_("Work or family"),
    AgendaTopic.OTHER: N_("Something else"),
}
HYPO_ANSWERS: dict[HypoAnswer, str] = {
    HypoAnswer.NONE: N_("No hypos"),
    HypoAnswer.SELF_TREATED: N_("Yes, ones I treated myself"),
    HypoAnswer.NEEDED_HELP: N_("Yes, one that needed someone else's help"),
}
# PHQ-2's answers, scored 0 to 3 in this order.
MOOD_ANSWERS: tuple[str, ...] = (
    N_("Not at all"),
    N_("Several days"),
    N_("More than half the days"),
    N_("Nearly every day"),
)


@dataclass(frozen=True)
class Press:
    """A button of the agenda, read from its callback data."""

    action: str
    pre_review_id: int | None = None
    value: str | None = None
    extra: str | None = None


def parse(data: str) -> Press | None:
    """The press, or None for data that is not one of ours in shape (stale or forged data that
    is well formed is checked against the database by the handler)."""
    parts = data.removeprefix(CB_PREP).split(":")
    action, rest = parts[0], parts[1:]
    if action == PAGE:
        return Press(PAGE, value=rest[0]) if len(rest) == 1 and rest[0] in PAGES else None
    pre_review_id = button_number(rest[0]) if rest else None
    if pre_review_id is None:
        return None
    values = rest[1:]
    shapes = {GO: 0, TOPICS_DONE: 0, SKIP: 0, TOPIC: 1, CONFIDENCE: 1, HYPOS: 1, DRIVES: 1, MOOD: 2}
    if action not in shapes or len(values) != shapes[action]:
        return None
    return Press(
        action,
        pre_review_id,
        values[0] if values else None,
        values[1] if len(values) > 1 else None,
    )


# Results ------------------------------------------------------------------------------------

UNITS: dict[Measure, str] = {
    Measure.HBA1C: "mmol/mol",
    Measure.BLOOD_PRESSURE: "mmHg",
    Measure.CHOLESTEROL: "mmol/L",
    Measure.CREATININE: "µmol/L",
    Measure.URINE_ACR: "mg/mmol",
    # eGFR and BMI are shown as bare numbers, as NHS pages for patients write them.
}
# Closer than this to last year's value is "about the same": within the day-to-day and
# laboratory variation of the test, so "up 1" would read as a change that is not one.
ABOUT_THE_SAME: dict[Measure, float] = {
    Measure.HBA1C: 2,
    Measure.CHOLESTEROL: 0.2,
    Measure.EGFR: 3,
    Measure.CREATININE: 5,
    Measure.URINE_ACR: 0.5,
    Measure.BMI: 0.3,
}
# BMI's "between" target is 18.5 up to (not including) 25: shown as people know it.
BMI_TOP_SHOWN = 24.9
# NICE: overweight from 23 for people of South Asian, Chinese, Black African or
# African-Caribbean family background.
BMI_LOWER_THRESHOLD = 23


def _number(t: Translator, value: float) -> str:
    # HbA1c arrives in whole mmol/mol (care_results), so "down 6 from 64" adds up as shown.
    return format_decimal(value, locale=t.locale)


def _ltr(t: Translator, text: str) -> Markup:
    # A number with its Latin unit reads left to right inside an Urdu line.
    return Markup(ltr(text) if t.rtl else text)


def _pair(t: Translator, first: float | None, second: float | None) -> str:
    return f"{_number(t, first or 0)}/{_number(t, second or 0)}"


def _bare(t: Translator, measure: Measure, value: float | None, value2: float | None) -> str:
    if measure is Measure.BLOOD_PRESSURE:
        return _pair(t, value, value2)
    return _number(t, value or 0)


def _value(t: Translator, measure: Measure, value: float | None, value2: float | None) -> Markup:
    text = _bare(t, measure, value, value2)
    unit = UNITS.get(measure)
    return _ltr(t, f"{text} {unit}" if unit else text)


def measure_name(t: Translator, measure: Measure) -> str:
    names = {
        Measure.HBA1C: t._("HbA1c"),
        Measure.BLOOD_PRESSURE: t._("Blood pressure"),
        Measure.CHOLESTEROL: t._("Cholesterol"),
        Measure.EGFR: t._("Kidney blood test (eGFR)"),
        Measure.CREATININE: t._("Kidney blood test (creatinine)"),
        Measure.URINE_ACR: t._("Kidney urine test (ACR)"),
        Measure.FOOT_CHECK: t._("Foot check"),
        Measure.BMI: t._("BMI (weight for height)"),
        Measure.SMOKING: t._("Smoking"),
        Measure.EYE_SCREENING: t._("Eye screening"),
    }
    return names[measure]


def _meaning(t: Translator, measure: Measure) -> str:
    """What the test measures, in one plain sentence (NHS wording)."""
    meanings = {
        Measure.HBA1C: t._("Your average blood sugar over the last 2 to 3 months."),
        Measure.BLOOD_PRESSURE: t._(
            "The pressure of blood in your blood vessels. High blood pressure strains the "
            "heart, kidneys and eyes."
        ),
        Measure.CHOLESTEROL: t._(
            "A fatty substance in your blood. Too much can block blood vessels and lead to a "
            "heart attack or stroke."
        ),
        Measure.EGFR: t._("How well your kidneys filter your blood."),
        Measure.CREATININE: t._(
            "A waste product your kidneys clear from the blood: it shows how well they work."
        ),
        Measure.URINE_ACR: t._(
            "Looks for protein leaking into your urine, an early sign of kidney damage."
        ),
        Measure.FOOT_CHECK: t._(
            "The feeling, blood flow and skin of your feet, and your risk of foot problems."
        ),
        Measure.BMI: t._("Your weight compared with your height."),
        Measure.SMOKING: t._("Whether you smoke."),
        Measure.EYE_SCREENING: t._(
            "Photos of the back of your eyes, to find changes from diabetes early."
        ),
    }
    return meanings[measure]


def _target(t: Translator, measure: Measure, line: ResultLine) -> str | None:
    target = line.target
    if target is None or target.rule == "outcome" or target.value is None:
        return None
    value = _ltr(t, _bare(t, measure, target.value, target.value2))
    if target.personal:
        if target.rule == "below":
            return t._("Your own target, set by your clinician: below %(value)s.", value=value)
        return t._("Your own target, set by your clinician: %(value)s or lower.", value=value)
    if target.basis == "treatment_unknown" and target.value2 is not None:
        return t._(
            "Target: %(value)s or lower, or %(higher)s if you take a medicine that can cause "
            "hypos.",
            value=_ltr(t, _number(t, target.value)),
            higher=_ltr(t, _number(t, target.value2)),
        )
    match target.rule:
        case "below":
            return t._("Target: below %(value)s.", value=value)
        case "at_least":
            return t._("Target: %(value)s or more.", value=value)
        case "between":
            return t._(
                "Target: %(low)s to %(high)s (below %(lower)s for people of South Asian, "
                "Chinese, Black African or African-Caribbean family background).",
                low=_ltr(t, _number(t, target.value)),
                high=_ltr(t, _number(t, BMI_TOP_SHOWN)),
                lower=_ltr(t, _number(t, BMI_LOWER_THRESHOLD)),
            )
        case _:
            return t._("Target: %(value)s or lower.", value=value)


def _verdict(t: Translator, measure: Measure, line: ResultLine) -> str:
    target = line.target
    match line.verdict:
        case Verdict.ON_TARGET:
            return t._("✅ On target.")
        case Verdict.OFF_TARGET:
            if target is not None and target.rule == "at_least":
                return t._("⚠️ Below your target: worth talking about at your review.")
            if target is not None and target.rule == "between" and target.value is not None:
                if (line.latest.value or 0) < target.value:
                    return t._("⚠️ Below the healthy range: worth talking about at your review.")
                return t._("⚠️ Above the healthy range: worth talking about at your review.")
            return t._("⚠️ Above your target: worth talking about at your review.")
        case Verdict.ASK:
            if target is not None and target.basis == "treatment_unknown":
                return t._(
                    "💬 On target with some medicines, not with others: talk about it at your "
                    "review."
                )
            if measure is Measure.BMI:
                return t._(
                    "💬 Healthy for some family backgrounds, not for others: talk about it at "
                    "your review."
                )
            return t._("💬 Talk about it at your review.")
        case _:
            return t._("💬 Your clinician reads this with your other results: ask at your review.")


def _change(t: Translator, measure: Measure, line: ResultLine) -> str | None:
    previous = line.previous
    if previous is None or previous.value is None or line.latest.value is None:
        return None
    month = t.date(previous.taken_on, "MMMM y")
    before = _ltr(t, _bare(t, measure, previous.value, previous.value2))
    if measure is Measure.BLOOD_PRESSURE:
        # Two numbers can move apart: both are shown, not one "change".
        return t._("In %(month)s it was %(before)s.", month=month, before=before)
    change = line.change
    assert change is not None
    if abs(change) < ABOUT_THE_SAME.get(measure, 0):
        return t._("About the same as %(before)s in %(month)s.", before=before, month=month)
    amount = _ltr(t, _number(t, round(abs(change), 1)))
    if change < 0:
        return t._(
            "Down %(change)s from %(before)s in %(month)s.",
            change=amount,
            before=before,
            month=month,
        )
    return t._(
        "Up %(change)s from %(before)s in %(month)s.", change=amount, before=before, month=month
    )


def _outcome(t: Translator, measure: Measure, outcome: str | None) -> str:
    """A check without a number (feet, smoking, eyes), in plain words."""
    sentences = {
        (Measure.FOOT_CHECK, FootRisk.LOW): t._("✅ Low risk of foot problems."),
        (Measure.FOOT_CHECK, FootRisk.MODERATE): t._(
            "💬 Moderate risk of foot problems. People at this risk are usually seen by a foot "
            "protection service: ask at your review."
        ),
        (Measure.FOOT_CHECK, FootRisk.HIGH): t._(
            "💬 High risk of foot problems. People at this risk are usually seen by a foot "
            "protection service: ask at your review."
        ),
        (Measure.FOOT_CHECK, FootRisk.ACTIVE): t._(
            "💬 A foot problem that needs care from the foot service. A new wound, swelling, "
            "redness or change of colour must be seen the same day."
        ),
        (Measure.SMOKING, Smoking.NEVER): t._("✅ You do not smoke."),
        (Measure.SMOKING, Smoking.EX): t._("✅ You have stopped smoking."),
        (Measure.SMOKING, Smoking.CURRENT): t._(
            "💬 You smoke. Stopping is one of the best things you can do for your heart, feet "
            "and eyes: ask about free NHS help to stop."
        ),
        (Measure.EYE_SCREENING, EyeScreening.NO_RETINOPATHY): t._(
            "✅ No changes from diabetes were seen."
        ),
        (Measure.EYE_SCREENING, EyeScreening.BACKGROUND): t._(
            "💬 Small changes were seen (background retinopathy). They do not usually affect "
            "your sight, and screening goes on as before."
        ),
        (Measure.EYE_SCREENING, EyeScreening.REFERRED): t._(
            "💬 Changes were seen that need a closer look at the eye clinic: you should have "
            "a letter about it."
        ),
    }
    for (kind, value), sentence in sentences.items():
        if kind is measure and value == outcome:
            return sentence
    return t._("💬 Talk about it at your review.")


def result_block(t: Translator, line: ResultLine) -> str:
    """One result as a short paragraph: name, value and date, meaning, target, verdict, change."""
    measure = Measure(line.measure)
    when = t.date(line.latest.taken_on)
    if line.latest.outcome is not None:
        heading = t._("<b>%(name)s</b> (%(date)s)", name=measure_name(t, measure), date=when)
        lines = [heading, _meaning(t, measure), _outcome(t, measure, line.latest.outcome)]
        return "\n".join(lines)
    heading = t._(
        "<b>%(name)s</b>: %(value)s (%(date)s)",
        name=measure_name(t, measure),
        value=_value(t, measure, line.latest.value, line.latest.value2),
        date=when,
    )
    lines = [heading, _meaning(t, measure)]
    target = _target(t, measure, line)
    if target:
        lines.append(target)
    lines.append(_verdict(t, measure, line))
    change = _change(t, measure, line)
    if change:
        lines.append(change)
    return "\n".join(lines)


def missing_line(t: Translator, process: CareProcess) -> str:
    months = AUDIT_MONTHS
    lines = {
        CareProcess.HBA1C: t._(
            "🩸 No HbA1c test in the last %(months)s months: ask at your review.", months=months
        ),
        CareProcess.BLOOD_PRESSURE: t._(
            "🩺 Your blood pressure was not checked in the last %(months)s months: ask at your "
            "review.",
            months=months,
        ),
        CareProcess.CHOLESTEROL: t._(
            "🩸 Your cholesterol was not checked in the last %(months)s months: ask at your "
            "review.",
            months=months,
        ),
        CareProcess.KIDNEY_FUNCTION: t._(
            "🩸 No kidney blood test in the last %(months)s months: ask at your review.",
            months=months,
        ),
        CareProcess.URINE_ACR: t._(
            "🧪 No kidney urine test in the last %(months)s months: ask at your review.",
            months=months,
        ),
        CareProcess.FOOT_CHECK: t._(
            "🦶 Your feet were not checked in the last %(months)s months: ask at your review.",
            months=months,
        ),
        CareProcess.BMI: t._(
            "⚖️ Your weight was not checked in the last %(months)s months: ask at your review.",
            months=months,
        ),
        CareProcess.SMOKING: t._(
            "🚭 Nobody asked you about smoking in the last %(months)s months: tell them at your "
            "review.",
            months=months,
        ),
        CareProcess.EYE_SCREENING: t._(
            "👁️ No eye screening in the last %(months)s months: ask at your review (every 2 "
            "years is normal after two clear screens in a row).",
            months=months,
        ),
    }
    return lines[process]


def explains_not_diagnoses(t: Translator) -> str:
    return t._(
        "ℹ️ This chat explains your results; it does not diagnose. Please bring your questions "
        "to your review."
    )


def review_line(t: Translator, review_at: datetime, clinician: str, zone: tzinfo) -> str:
    when = local_when(t, review_at, zone)
    if clinician.strip():
        return t._(
            "Your yearly diabetes review is on <b>%(when)s</b> with %(clinician)s.",
            when=when,
            clinician=clinician.strip(),
        )
    return t._("Your yearly diabetes review is on <b>%(when)s</b>.", when=when)


def start_buttons(t: Translator, pre_review_id: int) -> list[list[Button]]:
    return [
        [Button(t._("📝 Answer 5 short questions"), data=f"{CB_PREP}{GO}:{pre_review_id}")],
        [
            Button(
                t._("📖 What do these checks mean?"), data=f"{CB_PREP}{PAGE}:{ANNUAL_CHECKS_TOPIC}"
            )
        ],
    ]


def _results(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    lines = [line_from_dict(raw) for raw in params.get("lines") or []]
    review_at = datetime.fromisoformat(params["review_at"])
    parts = [
        t._("📋 <b>Your results, before your diabetes review</b>"),
        review_line(t, review_at, params.get("clinician") or "", who.zone),
    ]
    if lines:
        parts.append(
            t._("Here are your latest results, so you can think about them before you go.")
        )
        parts += [result_block(t, line) for line in lines]
        missing = [CareProcess(raw) for raw in params.get("missing") or []]
        if missing:
            parts.append("\n".join(missing_line(t, process) for process in missing))
    else:
        # No results reached us at all: that is about what was sent, not about the person's
        # care, so the nine checks are not listed as "not done".
        parts.append(
            t._(
                "We do not have any of your check results here yet. That is fine: your "
                "clinician will go through them with you at your review."
            )
        )
    parts += [
        t._(
            "To make the most of your time together, please answer 5 short questions about "
            "what matters to you. It takes about 2 minutes."
        ),
        explains_not_diagnoses(t),
        emergency_line(t),
    ]
    return Reply("\n\n".join(parts), start_buttons(t, int(params["pre_review_id"])))


def _nudge(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    review_at = datetime.fromisoformat(params["review_at"])
    text = "\n\n".join(
        [
            t._(
                "👋 Hello %(name)s. Your yearly diabetes review is on <b>%(when)s</b>.",
                name=who.name,
                when=local_when(t, review_at, who.zone),
            ),
            t._(
                "Have you got 2 minutes? A few short questions help you and your clinician make "
                "the most of it: what you want to talk about, and how things are going. Your "
                "answers go to your clinician before the review."
            ),
        ]
    )
    button = Button(t._("▶️ Continue"), data=f"{CB_PREP}{GO}:{int(params['pre_review_id'])}")
    return Reply(text, [[button]])


OUTBOX_TEMPLATES = {
    "pre_review_results": _results,
    "pre_review_agenda_nudge": _nudge,
}


# The agenda ---------------------------------------------------------------------------------


def _number_line(t: Translator, step: AgendaStep) -> str:
    return t._("📝 <b>Question %(num)s of %(total)s</b>", num=NUMBER_OF[step], total=QUESTIONS)


def _topic_list(t: Translator, topics: list[str]) -> Markup | None:
    """ "1. Feet, 2. Mood": the topics in the order the person chose them."""
    known = [AgendaTopic(topic) for topic in topics if topic in set(AgendaTopic)]
    if not known:
        return None
    named = []
    for index, topic in enumerate(known, start=1):
        name = t._(TOPIC_NAMES[topic])
        named.append(t._("%(num)s. %(topic)s", num=index, topic=name))
    return Markup(", ".join(named))


def _chosen(t: Translator, topics: list[str]) -> str:
    listed = _topic_list(t, topics)
    if listed is None:
        return t._("Nothing chosen yet.")
    return t._("Chosen, in your order: %(topics)s", topics=listed)


def topics_question(t: Translator, pre_review: PreReview) -> Reply:
    assert pre_review.id is not None
    text = "\n".join(
        [
            _number_line(t, AgendaStep.TOPICS),
            t._("What would you like to talk about at your review?"),
            "",
            t._(
                "Choose as many as you like, the most important first. Press one again to take "
                "it off. Then press Done."
            ),
            "",
            _chosen(t, pre_review.topics),
        ]
    )
    chosen = list(pre_review.topics)
    buttons = []
    for topic in AgendaTopic:
        name = t._(TOPIC_NAMES[topic])
        if topic.value in chosen:
            label = t._("✓ %(num)s. %(topic)s", num=chosen.index(topic.value) + 1, topic=name)
        else:
            label = name
        buttons.append(Button(label, data=f"{CB_PREP}{TOPIC}:{pre_review.id}:{topic.value}"))
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([Button(t._("✅ Done"), data=f"{CB_PREP}{TOPICS_DONE}:{pre_review.id}")])
    return Reply(text, rows)


def words_question(t: Translator, pre_review_id: int) -> Reply:
    text = "\n".join(
        [
            _number_line(t, AgendaStep.WORDS),
            t._("What matters most to you now?"),
            "",
            t._(
                "Write it in your own words, as much or as little as you like: for example, "
                "sleeping better, worries about your feet, or fitting exercise around work."
            ),
            t._("Type it below, or press Skip."),
        ]
    )
    return Reply(text, [[Button(t._("⏭ Skip"), data=f"{CB_PREP}{SKIP}:{pre_review_id}")]])


def confidence_question(t: Translator, pre_review_id: int) -> Reply:
    text = "\n".join(
        [
            _number_line(t, AgendaStep.CONFIDENCE),
            t._("How confident do you feel about managing your diabetes day to day?"),
            "",
            t._("0 means not confident at all; 10 means completely confident."),
        ]
    )
    data = f"{CB_PREP}{CONFIDENCE}:{pre_review_id}"
    scores = [Button(str(n), data=f"{data}:{n}") for n in range(11)]
    return Reply(text, [scores[:6], scores[6:]])


def hypos_question(t: Translator, pre_review_id: int) -> Reply:
    text = "\n".join(
        [
            _number_line(t, AgendaStep.HYPOS),
            t._("In the last 3 months, have you had a hypo (low blood sugar, below 4 mmol/L)?"),
        ]
    )
    rows = [
        [Button(t._(label), data=f"{CB_PREP}{HYPOS}:{pre_review_id}:{answer.value}")]
        for answer, label in HYPO_ANSWERS.items()
    ]
    return Reply(text, rows)


def _team_line(t: Translator, request: AdviceRequest | None, zone: tzinfo) -> str | None:
    if request is None:
        return None
    reference = Markup(ltr(request.reference) if t.rtl else request.reference)
    if request.due_at is None:
        return t._(
            "The diabetes team will contact you soon, in working hours (reference %(reference)s).",
            reference=reference,
        )
    return t._(
        "The diabetes team will contact you by <b>%(when)s</b>, in working hours (reference "
        "%(reference)s).",
        when=local_when(t, request.due_at, zone),
        reference=reference,
    )


def severe_hypo_told(t: Translator, request: AdviceRequest | None, zone: tzinfo) -> str:
    """After "one that needed someone else's help": the team has been asked to follow it up."""
    lines = [
        t._(
            "🤝 Thank you for telling us. A hypo that needed someone else's help is serious, so "
            "the diabetes team want to know about it."
        )
    ]
    team = _team_line(t, request, zone)
    if team:
        lines.append(team)
    return "\n".join(lines)


def drives_question(
    t: Translator, pre_review_id: int, request: AdviceRequest | None, zone: tzinfo
) -> Reply:
    lines = [
        _number_line(t, AgendaStep.DRIVES),
        severe_hypo_told(t, request, zone),
        "",
        t._(
            "🚗 <b>Do you drive?</b> After a hypo that needed someone else's help, there are "
            "rules about driving."
        ),
    ]
    data = f"{CB_PREP}{DRIVES}:{pre_review_id}"
    buttons = [
        Button(t._("🚗 Yes, I drive"), data=f"{data}:{YES}"),
        Button(t._("No"), data=f"{data}:{NO}"),
    ]
    return Reply("\n".join(lines), [buttons])


def drives_yes(t: Translator, request: AdviceRequest | None, zone: tzinfo) -> Reply:
    """Replaces the driving question; the library's driving page follows as a new message."""
    lines = [
        t._(
            "🚗 <b>Thank you.</b> Please read the page below before you drive again: when to "
            "check your sugar, what to do if a hypo starts while driving, and when you must "
            "tell the DVLA."
        )
    ]
    team = _team_line(t, request, zone)
    if team:
        lines.append(team)
    return Reply("\n".join(lines))


def mood_question(t: Translator, pre_review_id: int, step: AgendaStep) -> Reply:
    lines = [_number_line(t, step)]
    if step is AgendaStep.MOOD_INTEREST:
        lines += [
            t._(
                "Two questions about how you have been feeling. Many people with diabetes feel "
                "low at times, and your clinician can help."
            ),
            "",
            t._(
                "Over the last 2 weeks, how often have you been bothered by <b>having little "
                "interest or pleasure in doing things</b>?"
            ),
        ]
        key = "i"
    else:
        lines.append(
            t._(
                "Over the last 2 weeks, how often have you been bothered by <b>feeling down, "
                "depressed or hopeless</b>?"
            )
        )
        key = "d"
    rows = [
        [Button(t._(label), data=f"{CB_PREP}{MOOD}:{pre_review_id}:{key}:{score}")]
        for score, label in enumerate(MOOD_ANSWERS)
    ]
    return Reply("\n".join(lines), rows)


def low_mood_signpost(t: Translator) -> str:
    return "\n".join(
        [
            t._(
                "💙 You said you have been feeling low or not enjoying things. That is common "
                "with diabetes, and help works."
            ),
            t._(
                "• Talk to your GP. You can also refer yourself to NHS Talking Therapies, "
                "without seeing your GP."
            ),
            t._("• For urgent help with your mental health, call NHS 111 and choose option 2."),
            t._("• Samaritans listen any time, day or night: call 116 123 (free)."),
            t._("• If you or someone else is in danger, call 999."),
        ]
    )


def finished(
    t: Translator,
    pre_review: PreReview,
    *,
    review_at: datetime,
    clinician: str,
    zone: tzinfo,
) -> Reply:
    when = local_when(t, review_at, zone)
    lines = [t._("✅ <b>Thank you, that is everything.</b>")]
    if pre_review.summary_sent_at is not None:
        # The clinician's summary has gone: later answers do not reach them before the review.
        lines.append(
            t._(
                "Your clinician already has the summary for your review on %(when)s, so please "
                "mention these answers when you go.",
                when=when,
            )
        )
    elif clinician.strip():
        lines.append(
            t._(
                "Your answers go to %(clinician)s before your review on %(when)s, so you can "
                "talk about what matters to you.",
                clinician=clinician.strip(),
                when=when,
            )
        )
    else:
        lines.append(
            t._(
                "Your answers go to your clinician before your review on %(when)s, so you can "
                "talk about what matters to you.",
                when=when,
            )
        )
    lines.append(t._("Send /review to see your answers again."))
    parts = ["\n".join(lines)]
    if low_mood(pre_review):
        parts.append(low_mood_signpost(t))
    parts.append(emergency_line(t))
    return Reply("\n\n".join(parts))


def answers(t: Translator, pre_review: PreReview, *, review_at: datetime, zone: tzinfo) -> Reply:
    """/review once the agenda is finished: their answers, as the clinician will see them."""
    lines = [
        t._(
            "📝 <b>Your answers for your review on %(when)s</b>",
            when=local_when(t, review_at, zone),
        ),
        "",
    ]
    listed = _topic_list(t, pre_review.topics)
    if listed is None:
        lines.append(t._("Topics to talk about: none chosen."))
    else:
        lines.append(t._("Topics to talk about: %(topics)s", topics=listed))
    if pre_review.own_words:
        lines.append(t._("What matters most to you: “%(words)s”", words=pre_review.own_words))
    else:
        lines.append(t._("What matters most to you: skipped."))
    if pre_review.confidence is not None:
        lines.append(t._("Confidence: %(score)s out of 10.", score=pre_review.confidence))
    if pre_review.hypos in set(HypoAnswer):
        answer = t._(HYPO_ANSWERS[HypoAnswer(pre_review.hypos)])
        lines.append(t._("Hypos in the last 3 months: %(answer)s", answer=answer))
    if pre_review.drives is not None:
        lines.append(t._("You drive.") if pre_review.drives else t._("You do not drive."))
    if pre_review.mood_interest is not None:
        answer = t._(MOOD_ANSWERS[pre_review.mood_interest])
        lines.append(t._("Little interest or pleasure in doing things: %(answer)s", answer=answer))
    if pre_review.mood_down is not None:
        answer = t._(MOOD_ANSWERS[pre_review.mood_down])
        lines.append(t._("Feeling down, depressed or hopeless: %(answer)s", answer=answer))
    parts = ["\n".join(lines)]
    if pre_review.summary_sent_at is None:
        parts.append(t._("They go to your clinician before the review."))
    if low_mood(pre_review):
        parts.append(low_mood_signpost(t))
    return Reply("\n\n".join(parts))


# Answers to what cannot be done --------------------------------------------------------------


def saved_words(t: Translator) -> str:
    return t._("👍 Thank you, saved.")


def words_problem(t: Translator, reason: str) -> str:
    if reason == "too_long":
        return t._(
            "That is longer than %(limit)s characters. Please write it more briefly, or press "
            "Skip.",
            limit=OWN_WORDS_LIMIT,
        )
    return t._("I did not get any words. Please type what matters most to you, or press Skip.")


def other_question(t: Translator) -> str:
    return t._("That button belongs to another question. Here is where you are:")


def all_answered(t: Translator) -> Reply:
    return Reply(
        t._(
            "You have already answered all the questions: thank you. Send /review to see your "
            "answers."
        )
    )


def not_found(t: Translator) -> Reply:
    return Reply(
        t._(
            "I cannot find those questions: they may be from an old message. Send /review to "
            "see where you are."
        )
    )


def closed(t: Translator) -> Reply:
    return Reply(
        t._(
            "That review has passed or was cancelled, so its questions are closed. Send "
            "/review to see where you are."
        )
    )


def not_for_you(t: Translator) -> Reply:
    return Reply(
        t._(
            "/review is for people with diabetes, to get ready for their own yearly diabetes "
            "review."
        )
    )


def nothing_prepared(
    t: Translator, *, review_at: datetime | None, results_on: date | None, zone: tzinfo
) -> Reply:
    """/review before anything was sent: when the review is, and when the results come."""
    if review_at is None:
        return Reply(
            t._(
                "No yearly review is being prepared for you at the moment. When your practice "
                "books your yearly diabetes review, I will send your results and a few short "
                "questions here before it."
            )
        )
    lines = [
        t._(
            "Your yearly diabetes review is booked for <b>%(when)s</b>.",
            when=local_when(t, review_at, zone),
        )
    ]
    if results_on is not None:
        lines.append(
            t._(
                "On %(date)s I will send your latest results and a few short questions here, "
                "to help you get ready.",
                date=t.date(results_on, "full"),
            )
        )
    return Reply("\n\n".join(lines))
