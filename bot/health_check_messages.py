"""The words of the NHS Health Check questions, the invitation and its reminders.

What the check is and who it is for follows the NHS Health Check pages on nhs.uk and the
OHID programme guidance; the risk tool named for younger people is Diabetes UK's Know Your
Risk.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from bot.i18n import Markup, Translator
from bot.messages import Recipient
from bot.render import Button, Reply
from bot.services.health_checks import Answer, LastCheck, Reason, Step, YesNo

CB_HEALTH_CHECK = "hc:"


def _question(step: Step, value: str) -> str:
    return f"{CB_HEALTH_CHECK}q:{step.value}:{value}"


def intro(t: Translator) -> Reply:
    text = "\n\n".join(
        [
            t._("🩺 <b>NHS Health Check</b>"),
            t._(
                "A free check for adults aged 40 to 74 in England, usually every 5 years. It "
                "takes about 20 to 30 minutes: your blood pressure, cholesterol and weight are "
                "checked, and you learn your risk of heart disease, stroke, kidney disease, type "
                "2 diabetes and dementia, and how to lower it."
            ),
            t._(
                "I can work out whether and when you can have one. I will ask your date of "
                "birth, when you last had a check, and two questions about your health. I keep "
                "your answers only to remind you when it is due; /forget erases them."
            ),
        ]
    )
    return Reply(
        text,
        [
            [
                Button(t._("▶️ Start"), data=_question(Step.INTRO, "start")),
                Button(t._("Not now"), data=f"{CB_HEALTH_CHECK}later"),
            ]
        ],
    )


def ask(t: Translator, step: Step) -> Reply:
    if step is Step.BIRTH_DATE:
        return Reply(t._("What is your date of birth? Type it like 25/03/1970 (day/month/year)."))
    if step is Step.LAST_CHECK:
        return Reply(
            t._("When did you last have an NHS Health Check?"),
            [
                [Button(t._("Never, or I don't know"), data=_question(step, LastCheck.NEVER))],
                [Button(t._("Less than 5 years ago"), data=_question(step, LastCheck.RECENT))],
                [Button(t._("5 years ago or more"), data=_question(step, LastCheck.LONG_AGO))],
            ],
        )
    if step is Step.LAST_CHECK_DATE:
        return Reply(t._("Roughly when was it? Type the month and year, like 06/2023."))
    if step is Step.CONDITIONS:
        text = "\n".join(
            [
                t._("Has a doctor or nurse ever told you that you have any of these?"),
                t._("• diabetes"),
                t._(
                    "• heart disease, heart failure or an irregular heartbeat (atrial fibrillation)"
                ),
                t._("• a stroke or a mini-stroke (TIA)"),
                t._("• kidney disease"),
                t._("• high blood pressure"),
                t._("• poor circulation in the legs (peripheral arterial disease)"),
                t._(
                    "• very high cholesterol that runs in the family "
                    "(familial hypercholesterolaemia)"
                ),
            ]
        )
        return Reply(
            text, _yes_no(t, step, yes=t._("Yes, one or more"), no=t._("No, none of these"))
        )
    return Reply(
        t._(
            "Do you take a statin? (A medicine that lowers cholesterol, such as atorvastatin or "
            "simvastatin.)"
        ),
        _yes_no(t, step, yes=t._("Yes"), no=t._("No")),
    )


def _yes_no(t: Translator, step: Step, *, yes: str, no: str) -> list[list[Button]]:
    return [
        [Button(yes, data=_question(step, YesNo.YES))],
        [Button(no, data=_question(step, YesNo.NO))],
        [Button(t._("Not sure"), data=_question(step, YesNo.UNSURE))],
    ]


def cannot_read(t: Translator, problem: str) -> Reply:
    """A typed answer that could not be used: what was wrong and how to write it."""
    if problem == "birth_date_future":
        text = t._("That date is in the future. Please type your date of birth like 25/03/1970.")
    elif problem == "month_year_format":
        text = t._("I could not read that. Please type the month and year, like 06/2023.")
    elif problem == "month_year_future":
        text = t._(
            "That month has not come yet. Please type the month and year of your last check, "
            "like 06/2023."
        )
    else:
        text = t._(
            "I could not read that date. Please type your date of birth like 25/03/1970 "
            "(day/month/year)."
        )
    return Reply(text)


def outcome(t: Translator, reason: Reason, due_on: date | None) -> Reply:
    due = t.date(due_on, "long") if due_on else ""
    if reason is Reason.TOO_YOUNG:
        text = t._(
            "The NHS Health Check is for people aged 40 to 74, so you can have one from "
            "%(date)s. I will remind you then. Until then, you can check your risk of type 2 "
            "diabetes in a few minutes with Diabetes UK's Know Your Risk tool: "
            "riskscore.diabetes.org.uk",
            date=due,
        )
    elif reason is Reason.RECENT:
        text = t._(
            "You had a check less than 5 years ago, so your next one is due from %(date)s. I "
            "will remind you then.",
            date=due,
        )
    elif reason is Reason.TOO_OLD:
        text = t._(
            "The NHS Health Check is for people aged 40 to 74. Your GP practice can still check "
            "your blood pressure, cholesterol and more: ask them for a health review."
        )
    elif reason is Reason.CONDITION:
        text = t._(
            "You do not need an NHS Health Check: with one of these conditions, your GP "
            "practice should check your heart health, blood pressure and kidneys as part of "
            "your regular care. If you have not had a review in the last year, ask them for one."
        )
    elif reason is Reason.STATIN:
        text = t._(
            "You do not need an NHS Health Check: because you take a statin, your GP practice "
            "should review your heart health as part of your regular care. If you have not had "
            "a review in the last year, ask them for one."
        )
    else:
        text = t._(
            "Your GP practice can tell you whether you can have one: ask them about an NHS "
            "Health Check. You can send /healthcheck again at any time."
        )
    return Reply(text)


def not_for_you(t: Translator) -> Reply:
    return Reply(
        t._(
            "The NHS Health Check is for people who do not have diabetes. Your yearly diabetes "
            "review covers these checks and more."
        )
    )


def _how_to_book(t: Translator, params: dict[str, Any]) -> list[str]:
    lines = [t._("<b>How to book:</b>")]
    if params.get("phone"):
        lines.append(t._("📞 Call your GP practice on %(phone)s.", phone=params["phone"]))
    if params.get("booking_url"):
        lines.append(t._("🌐 Or book online: %(url)s", url=params["booking_url"]))
    if not (params.get("phone") or params.get("booking_url")):
        lines.append(
            t._(
                "Ask your GP practice for an NHS Health Check. In some areas a pharmacy or a "
                "community clinic offers it too."
            )
        )
    return lines


def _answer_buttons(t: Translator) -> list[list[Button]]:
    return [
        [Button(t._("📅 I've booked it"), data=f"{CB_HEALTH_CHECK}a:{Answer.BOOKED.value}")],
        [Button(t._("✅ I've had it"), data=f"{CB_HEALTH_CHECK}a:{Answer.DONE.value}")],
        [Button(t._("🚫 Not interested"), data=f"{CB_HEALTH_CHECK}a:{Answer.DECLINED.value}")],
    ]


def invitation(t: Translator, params: dict[str, Any], who: Recipient | None = None) -> Reply:
    lines = [
        t._("🩺 <b>You can have your free NHS Health Check</b>"),
        t._(
            "It takes about 20 to 30 minutes. Your blood pressure, cholesterol and weight are "
            "checked, and you get advice on lowering your risk of heart disease, stroke, type 2 "
            "diabetes, kidney disease and dementia."
        ),
        "",
        *_how_to_book(t, params),
        "",
        t._("Please tell me when you have booked:"),
    ]
    return Reply("\n".join(lines), _answer_buttons(t))


def reminder(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    lines = [
        t._("🩺 A reminder: you can still have your free NHS Health Check."),
        "",
        *_how_to_book(t, params),
    ]
    return Reply("\n".join(lines), _answer_buttons(t))


def answered(t: Translator, given: Answer, next_due: date | None) -> Reply:
    if given is Answer.BOOKED:
        return Reply(
            t._(
                "Thank you. I will not remind you about booking again. Take a list of any "
                "medicines you take to the check."
            )
        )
    if given is Answer.DONE:
        return Reply(
            t._(
                "Thank you. Your next check is due from %(date)s; I will remind you then.",
                date=Markup(t.date(next_due, "long")) if next_due else "",
            )
        )
    return Reply(t._("That is fine. If you change your mind, send /healthcheck at any time."))


OUTBOX_TEMPLATES = {"health_check_invitation": invitation, "health_check_reminder": reminder}
