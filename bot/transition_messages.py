"""The words of the transition programme: the readiness checklist, the monthly check-in, and
what the named worker hears. Written for 13 to 25 year olds: short, direct, friendly."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.i18n import N_, Translator
from bot.messages import Recipient, emergency_line
from bot.render import Button, Reply
from bot.services.transition import CHECKLIST, Area, AreaProgress, CheckIn, Readiness

CB_TRANSITION = "tr:"

AREA_NAMES: dict[str, str] = {
    Area.KNOWING: N_("🧠 Knowing my diabetes"),
    Area.MANAGING: N_("💪 Managing it day to day"),
    Area.ADULT_SERVICES: N_("🏥 Finding my way in adult services"),
}

STATEMENTS: dict[str, str] = {
    "my_type": N_("I can explain what type of diabetes I have and how it affects my body."),
    "hba1c": N_("I know what HbA1c means and what my last result was."),
    "hypos": N_("I can spot a hypo early and I know how to treat it."),
    "sick_days": N_("I know what to do about my diabetes when I'm ill (sick day rules)."),
    "own_treatment": N_("I look after my insulin or tablets myself, without reminders from home."),
    "prescriptions": N_("I order my own prescriptions and supplies before they run out."),
    "alcohol_exercise_driving": N_(
        "I know how alcohol, exercise and driving affect my sugar levels."
    ),
    "own_appointments": N_("I can book, change and get to my appointments on my own."),
    "speak_alone": N_("I can talk to my diabetes team on my own, without a parent in the room."),
    "who_to_call": N_("I know who to call when I need help, including out of hours."),
}

READINESS_LABELS: dict[str, str] = {
    Readiness.YES: N_("✅ Yes"),
    Readiness.GETTING_THERE: N_("🔄 Getting there"),
    Readiness.NOT_YET: N_("⏳ Not yet"),
}


def not_in_programme(t: Translator) -> Reply:
    return Reply(
        t._(
            "The readiness checklist is for young people moving to the adult diabetes service. "
            "Ask your diabetes team about the transition programme."
        )
    )


def statement(t: Translator, key: str, worker: str, first: bool) -> Reply:
    number = [k for _, k in CHECKLIST].index(key) + 1
    area = next(a for a, k in CHECKLIST if k == key)
    lines = []
    if first:
        lines += [
            t._("📝 <b>Ready for adult care?</b>"),
            t._(
                "10 quick statements in 3 parts. Tap how true each one is for you: there are "
                "no wrong answers. %(worker)s sees your progress, so you can work on the rest "
                "together.",
                worker=worker,
            ),
            "",
        ]
    lines += [
        t._(
            "%(area)s (%(number)s of %(total)s)",
            area=t._(AREA_NAMES[area]),
            number=number,
            total=len(CHECKLIST),
        ),
        f"<b>{t._(STATEMENTS[key])}</b>",
    ]
    buttons = [
        [Button(t._(label), data=f"{CB_TRANSITION}s:{key}:{value}")]
        for value, label in READINESS_LABELS.items()
    ]
    return Reply("\n".join(lines), buttons)


def progress_lines(t: Translator, progress: list[AreaProgress]) -> list[str]:
    return [
        t._(
            "%(area)s: %(ready)s of %(total)s ✅, %(getting_there)s 🔄",
            area=t._(AREA_NAMES[p.area]),
            ready=p.ready,
            total=p.total,
            getting_there=p.getting_there,
        )
        for p in progress
    ]


def progress_view(t: Translator, progress: list[AreaProgress], worker: str) -> Reply:
    ready = sum(p.ready for p in progress)
    total = sum(p.total for p in progress)
    lines = [
        t._("📝 <b>Your progress</b>"),
        *progress_lines(t, progress),
        "",
        t._("Nice work 🙌 You're ready on %(ready)s of %(total)s.", ready=ready, total=total)
        if ready
        else t._("Everyone starts somewhere. %(worker)s can help you with these.", worker=worker),
        t._("%(worker)s can see this too. Send /ready any time to answer again.", worker=worker),
    ]
    return Reply("\n".join(lines), [[Button(t._("🔁 Answer again"), data=f"{CB_TRANSITION}again")]])


# The monthly check-in (an outbox template) and its answers -------------------------------


def check_in(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    first_name = (who.name.split() or [""])[0]
    month, worker = params["month"], params["worker"]
    return Reply(
        t._(
            "👋 Hi %(name)s, it's your monthly check-in. How are things with your diabetes at "
            "the moment?",
            name=first_name,
        ),
        [
            [Button(t._("👍 All good"), data=f"{CB_TRANSITION}c:{month}:{CheckIn.GOOD}")],
            [
                Button(
                    t._("😕 Could be better"),
                    data=f"{CB_TRANSITION}c:{month}:{CheckIn.COULD_BE_BETTER}",
                )
            ],
            [
                Button(
                    t._("💬 I'd like to talk to %(worker)s", worker=worker),
                    data=f"{CB_TRANSITION}c:{month}:{CheckIn.TALK}",
                )
            ],
        ],
    )


def check_in_answered(t: Translator, answer: CheckIn, worker: str, month: str) -> Reply:
    if answer is CheckIn.GOOD:
        return Reply(t._("Nice one 👍 Keep it up. /ready shows your checklist."))
    if answer is CheckIn.COULD_BE_BETTER:
        return Reply(
            t._(
                "Thanks for being honest. Small steps help, and you don't have to sort it out "
                "alone. Want %(worker)s to get in touch?",
                worker=worker,
            ),
            [
                [
                    Button(
                        t._("💬 Yes, please"),
                        data=f"{CB_TRANSITION}c:{month}:{CheckIn.TALK}",
                    )
                ]
            ],
        )
    return Reply(
        "\n".join(
            [
                t._(
                    "Done: %(worker)s will get in touch, usually within one working day.",
                    worker=worker,
                ),
                emergency_line(t),
            ]
        )
    )


def welcome(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    first_name = (who.name.split() or [""])[0]
    return Reply(
        "\n".join(
            [
                t._(
                    "👋 Hi %(name)s! You're now in the transition programme, moving from the "
                    "children's to the adult diabetes service. %(worker)s is your named worker: "
                    "the person to go to with any question.",
                    name=first_name,
                    worker=params["worker"],
                ),
                t._(
                    "Send /ready for a quick checklist of what you already know and what to "
                    "work on. Once a month I'll ask how things are going."
                ),
            ]
        )
    )


# For the named worker ---------------------------------------------------------------------


def worker_missed_clinic(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    starts_at = datetime.fromisoformat(params["starts_at"])
    return Reply(
        t._(
            "⚠️ %(patient)s missed their transition clinic on %(date)s. Please get in touch "
            "today so they are not lost between services.",
            patient=params["patient_name"],
            date=t.date(starts_at.astimezone(who.zone).date(), "long"),
        )
    )


def worker_talk_request(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    return Reply(
        t._(
            "💬 %(patient)s asked to talk to you at their monthly check-in. Please get in touch.",
            patient=params["patient_name"],
        )
    )


def worker_readiness(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    progress = [
        AreaProgress(Area(area), ready, getting_there, total)
        for area, ready, getting_there, total in params["progress"]
    ]
    return Reply(
        "\n".join(
            [
                t._(
                    "📝 %(patient)s finished the transition readiness checklist:",
                    patient=params["patient_name"],
                ),
                *progress_lines(t, progress),
            ]
        )
    )


OUTBOX_TEMPLATES = {
    "transition_welcome": welcome,
    "transition_check_in": check_in,
    "worker_missed_clinic": worker_missed_clinic,
    "worker_talk_request": worker_talk_request,
    "worker_readiness": worker_readiness,
}
