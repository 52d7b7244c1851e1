"""The words of appointment reminders and of what the clinic hears back.

Reminders are outbox templates, rendered at send time in the recipient's language and time
zone from the appointment as it was planned (a move re-plans them). Eye-screening advice
follows the NHS diabetic eye screening leaflet: the drops blur sight for 4 to 6 hours, so do
not drive afterwards.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar

from bot.i18n import N_, Markup, Translator
from bot.messages import Recipient, emergency_line, local_when
from bot.models import AppointmentAnswer
from bot.plans import AppointmentKind, ReminderButton
from bot.render import Button, Document, Reply

CB_APPOINTMENT = "appt:"

# What each kind is called in a reminder ("your ... is coming up").
KIND_NAMES: dict[str, str] = {
    AppointmentKind.ANNUAL_REVIEW: N_("annual diabetes review"),
    AppointmentKind.DIABETES_CLINIC: N_("diabetes clinic appointment"),
    AppointmentKind.TRANSITION_CLINIC: N_("transition clinic appointment"),
    AppointmentKind.FOOT_CLINIC: N_("foot clinic appointment"),
    AppointmentKind.EYE_SCREENING: N_("diabetic eye screening"),
    AppointmentKind.ANTENATAL: N_("antenatal diabetes appointment"),
    AppointmentKind.DIETITIAN: N_("dietitian appointment"),
    AppointmentKind.EDUCATION_SESSION: N_("diabetes education session"),
    AppointmentKind.HEALTH_CHECK: N_("NHS Health Check"),
}

BUTTON_LABELS: dict[str, str] = {
    ReminderButton.ATTEND: N_("✅ I'll be there"),
    ReminderButton.CHANGE: N_("🔁 I need to change it"),
    ReminderButton.CANT_COME: N_("❌ I can't come"),
}

YOUNG_BUTTON_LABELS: dict[str, str] = {
    ReminderButton.ATTEND: N_("👍 I'll be there"),
    ReminderButton.CHANGE: N_("🔁 Need a different time"),
    ReminderButton.CANT_COME: N_("🙅 Can't make it"),
}


# Pieces built from the catalog are already safe HTML: Markup stops a second escaping when
# they are substituted into a sentence.


# For a kind added to the plans before the code knows its name.
ANY_APPOINTMENT = N_("appointment")


def kind_name(t: Translator, kind: str) -> Markup:
    return Markup(t._(KIND_NAMES.get(kind, ANY_APPOINTMENT)))


def how_soon(t: Translator, starts_at: datetime, who: Recipient, now: datetime) -> Markup:
    days = (starts_at.astimezone(who.zone).date() - now.astimezone(who.zone).date()).days
    if days <= 0:
        return Markup(t._("today"))
    if days == 1:
        return Markup(t._("tomorrow"))
    return Markup(t.ngettext("in %(count)s day", "in %(count)s days", days, count=days))


def _buttons(t: Translator, params: dict[str, Any], labels: dict[str, str]) -> list[list[Button]]:
    appointment_id = params["appointment_id"]
    return [
        [Button(t._(labels[key]), data=f"{CB_APPOINTMENT}{appointment_id}:{key}")]
        for key in params.get("buttons", [])
        if key in labels
    ]


def calendar_file(t: Translator, params: dict[str, Any]) -> Document:
    """An .ics file the phone adds to its calendar; times in UTC, so every calendar agrees."""
    starts_at = datetime.fromisoformat(params["starts_at"])
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//diabridge//appointment//EN")
    calendar.add("version", "2.0")
    event = icalendar.Event()
    event.add("uid", f"appointment-{params['appointment_id']}@diabridge")
    event.add("sequence", int(params.get("revision", 0)))
    event.add("dtstamp", datetime.now(UTC))
    event.add("dtstart", starts_at.astimezone(UTC))
    event.add("duration", _duration(params))
    event.add("summary", kind_name(t, params["kind"]))
    place = ", ".join(part for part in (params.get("location"), params.get("address")) if part)
    if place:
        event.add("location", place)
    details = [
        t._("With: %(clinician)s", clinician=params["clinician"])
        if params.get("clinician")
        else "",
        t._("Phone: %(phone)s", phone=params["phone"]) if params.get("phone") else "",
    ]
    # The calendar is plain text, not HTML.
    description = html.unescape("\n".join(line for line in details if line))
    if description:
        event.add("description", description)
    calendar.add_component(event)
    return Document(
        filename="appointment.ics",
        content=calendar.to_ical(),
        caption=t._("📎 Add it to your calendar"),
    )


def _duration(params: dict[str, Any]) -> timedelta:
    return timedelta(minutes=int(params.get("duration_minutes") or 30))


def _details(t: Translator, params: dict[str, Any], who: Recipient, *, young: bool) -> list[str]:
    starts_at = datetime.fromisoformat(params["starts_at"])
    now = datetime.now(UTC)
    lines = [
        t._(
            "🗓 <b>%(when)s</b> (%(soon)s)",
            when=local_when(t, starts_at, who.zone),
            soon=how_soon(t, starts_at, who, now),
        )
    ]
    place = ", ".join(part for part in (params.get("location"), params.get("address")) if part)
    if place:
        lines.append(t._("📍 %(place)s", place=place))
    if params.get("clinician"):
        lines.append(
            t._("👤 You'll see %(clinician)s", clinician=params["clinician"])
            if young
            else t._("👩‍⚕️ With %(clinician)s", clinician=params["clinician"])
        )
    if params.get("directions"):
        lines.append(t._("🚌 Getting there: %(directions)s", directions=params["directions"]))
    if params.get("phone"):
        lines.append(t._("📞 To change it, call %(phone)s", phone=params["phone"]))
    return lines


def appointment_reminder(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    kind = params["kind"]
    lines: list[str] = []
    if params.get("for_name"):
        lines.append(t._("👥 For <b>%(name)s</b>", name=params["for_name"]))
    lines.append(t._("📅 <b>Reminder: your %(what)s</b>", what=kind_name(t, kind)))
    lines.extend(_details(t, params, who, young=False))
    if kind == AppointmentKind.EYE_SCREENING:
        lines.append("")
        lines.append(
            t._(
                "The eye drops blur your sight for 4 to 6 hours: do not drive there and back. "
                "Bring sunglasses, and your glasses if you wear them."
            )
        )
    if params.get("buttons"):
        lines.append("")
        lines.append(t._("Please let us know if you can come:"))
    reply = Reply("\n".join(lines), _buttons(t, params, BUTTON_LABELS))
    if params.get("calendar"):
        return Reply(reply.text, reply.buttons, calendar_file(t, params))
    return reply


def young_appointment_reminder(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    lines: list[str] = []
    if params.get("for_name"):
        lines.append(t._("👥 For <b>%(name)s</b>", name=params["for_name"]))
    first_name = (who.name.split() or [""])[0]
    lines.append(
        t._(
            "👋 Hi %(name)s! Your %(what)s is coming up.",
            name=first_name,
            what=kind_name(t, params["kind"]),
        )
    )
    lines.extend(_details(t, params, who, young=True))
    lines.append("")
    lines.append(
        t._(
            "It's your time: ask anything about moving to adult care. Bring your meter or app so "
            "you can look at your readings together."
        )
    )
    if params.get("buttons"):
        lines.append(t._("Can you make it? Tap below 👇"))
    reply = Reply("\n".join(lines), _buttons(t, params, YOUNG_BUTTON_LABELS))
    if params.get("calendar"):
        return Reply(reply.text, reply.buttons, calendar_file(t, params))
    return reply


def appointment_missed(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    starts_at = datetime.fromisoformat(params["starts_at"])
    date_text = t.date(starts_at.astimezone(who.zone).date(), "long")
    if params["kind"] == AppointmentKind.TRANSITION_CLINIC:
        text = t._(
            "Hi %(name)s, we missed you at clinic on %(date)s. No worries, it happens. "
            "Tap below and we'll find you a new time.",
            name=(who.name.split() or [""])[0],
            date=date_text,
        )
    else:
        text = t._(
            "We missed you at your %(what)s on %(date)s. We know things come up. These checks "
            "matter for your health, so please book a new appointment.",
            what=kind_name(t, params["kind"]),
            date=date_text,
        )
    lines = [text]
    if params.get("phone"):
        lines.append(t._("📞 You can call %(phone)s, or tap below.", phone=params["phone"]))
    button = Button(
        t._("📅 Please help me rebook"),
        data=f"{CB_APPOINTMENT}{params['appointment_id']}:{AppointmentAnswer.REBOOK.value}",
    )
    return Reply("\n".join(lines), [[button]])


# What the person is told after pressing a button ------------------------------------------

ANSWER_REPLIES: dict[str, str] = {
    AppointmentAnswer.ATTEND: N_("Thank you. We have noted that you will be there ✅"),
    AppointmentAnswer.CHANGE: N_(
        "Thank you. We have told the clinic that you need a different time; they will contact "
        "you to arrange one. Until then your appointment stays as it is."
    ),
    AppointmentAnswer.CANT_COME: N_(
        "Thank you for letting us know. We have told the clinic, and you will get no more "
        "reminders for this appointment. The clinic will contact you about a new one."
    ),
    AppointmentAnswer.REBOOK: N_(
        "Thank you. We have asked the clinic to contact you to book a new appointment."
    ),
}


def answer_recorded(
    t: Translator, answer: str, *, clinic_told: bool, phone: str, already: bool
) -> Reply:
    if already:
        return Reply(t._("You have already told us this. Thank you ✅"))
    if answer != AppointmentAnswer.ATTEND and not clinic_told:
        # Nobody at the clinic reads this chat yet: be honest and give the number.
        text = (
            t._(
                "We have noted your answer. Please call the clinic on %(phone)s to arrange it.",
                phone=phone,
            )
            if phone
            else t._("We have noted your answer. Please call your GP practice to arrange it.")
        )
        return Reply(text)
    text = t._(ANSWER_REPLIES[answer])
    if phone and answer != AppointmentAnswer.ATTEND:
        text += "\n" + t._("You can also call %(phone)s.", phone=phone)
    return Reply(text)


def answer_too_late(t: Translator) -> Reply:
    return Reply(
        "\n".join(
            [
                t._(
                    "This appointment has been cancelled or has already taken place, so these "
                    "buttons no longer work. Please call your GP practice if you have a question."
                ),
                emergency_line(t),
            ]
        )
    )


# For the clinic (its staff chat, or its staff directly) -------------------------------------

CLINIC_ANSWER_LINES: dict[str, str] = {
    AppointmentAnswer.ATTEND: N_("now says they <b>will be there</b>"),
    AppointmentAnswer.CHANGE: N_("<b>needs to change</b> the appointment: please contact them"),
    AppointmentAnswer.CANT_COME: N_(
        "<b>cannot come</b>: their reminders are stopped; please contact them"
    ),
    AppointmentAnswer.REBOOK: N_("missed the appointment and <b>asks to rebook</b>"),
}


def clinic_appointment_answer(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    starts_at = datetime.fromisoformat(params["starts_at"])
    return Reply(
        t._(
            "📋 %(patient)s, %(what)s on %(when)s (ref. %(ref)s): %(answer)s.",
            patient=params["patient_name"],
            what=kind_name(t, params["kind"]),
            when=local_when(t, starts_at, who.zone),
            ref=params["external_id"],
            answer=Markup(t._(CLINIC_ANSWER_LINES[params["answer"]])),
        )
    )


def clinic_missed_flag(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    missed = int(params["missed"])
    return Reply(
        t.ngettext(
            "⚠️ Care team flag: %(patient)s has missed %(count)s appointment in the last 12 "
            "months. Please contact them so they are not lost to follow-up.",
            "⚠️ Care team flag: %(patient)s has missed %(count)s appointments in the last 12 "
            "months. Please contact them so they are not lost to follow-up.",
            missed,
            patient=params["patient_name"],
            count=missed,
        )
    )


OUTBOX_TEMPLATES = {
    "appointment_reminder": appointment_reminder,
    "young_appointment_reminder": young_appointment_reminder,
    "appointment_missed": appointment_missed,
    "clinic_appointment_answer": clinic_appointment_answer,
    "clinic_missed_flag": clinic_missed_flag,
}


def staff_chat_linked(t: Translator, practice_name: str, ods_code: str) -> Reply:
    return Reply(
        t._(
            "✅ This group is now the staff chat of %(practice)s (%(ods)s). Patients' answers to "
            "appointment reminders and care-team flags will arrive here.",
            practice=practice_name,
            ods=ods_code,
        )
    )


def staff_chat_refused(t: Translator) -> Reply:
    return Reply(
        t._(
            "Only a GP, practice nurse or admin of a practice, enrolled with a staff code, can "
            "make this group the practice's staff chat."
        )
    )
