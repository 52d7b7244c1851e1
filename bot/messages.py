"""The words of every message, built for one person's language.

Handlers render direct replies with these; the dispatcher renders outbox rows with
`OUTBOX_TEMPLATES` at send time. Every string is a gettext message (principle 5).

Emergency wording follows NHS guidance (999 for chest pain, someone who cannot be woken or is
fitting; NHS 111 for urgent advice), NICE NG19 for same-day foot care, and Diabetes UK on
diabetic ketoacidosis and severe hypoglycaemia.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    Markup,
    Translator,
    in_every_language,
    translator,
)
from bot.models import STAFF_ROLES, Role
from bot.render import Button, Reply
from bot.services.enrolment import CodeProblem, JoinPath
from bot.services.safety import RedFlagAction

# Callback data: short, stable prefixes that handlers route on.
CB_LANGUAGE = "lang:"
CB_PATH = "path:"
CB_CONSENT = "consent:"
CB_MENU = "menu:"
CB_FORGET = "forget:"


@dataclass(frozen=True)
class MenuEntry:
    key: str
    label: str
    staff_only: bool = False
    # A button that belongs to a feature's own flow carries that flow's callback data.
    data: str | None = None


# The main menu as data: later features add their rows here.
MAIN_MENU: tuple[MenuEntry, ...] = (
    MenuEntry("learn", N_("📚 Learn"), data="learn:m"),
    MenuEntry("help", N_("ℹ️ Help")),
    MenuEntry("language", N_("🌐 Language")),
    MenuEntry("privacy", N_("🔒 Privacy")),
    MenuEntry("mydata", N_("📄 My data")),
    MenuEntry("stop", N_("🔕 Pause messages")),
    MenuEntry("outbox", N_("📮 Message queue"), staff_only=True),
)

# Commands in the chat's command menu, set per language; staff ones only in staff chats.
PERSON_COMMANDS: tuple[tuple[str, str], ...] = (
    ("menu", N_("Main menu")),
    ("learn", N_("Learn about diabetes: pages and courses")),
    ("help", N_("How this works, and emergencies")),
    ("language", N_("Change language")),
    ("privacy", N_("What we keep and who sees it")),
    ("mydata", N_("A copy of your data")),
    ("carer", N_("Someone who helps you gets your reminders too")),
    ("healthcheck", N_("Can I have a free NHS Health Check?")),
    ("hypo", N_("Tell the diabetes team about a bad hypo")),
    ("myplan", N_("Your care plan from your review")),
    ("review", N_("Get ready for your yearly diabetes review")),
    ("stop", N_("Pause messages")),
    ("forget", N_("Erase your data")),
)
STAFF_COMMANDS: tuple[tuple[str, str], ...] = (
    ("advice", N_("Ask the specialist diabetes team (GPs and nurses)")),
    ("myrequests", N_("Your advice requests and their answers")),
    ("queue", N_("Open advice requests (specialist team)")),
    ("careplan", N_("Record a patient's care plan after their review")),
    ("outbox", N_("Message queue status")),
)


def commands_for(t: Translator, *, staff: bool) -> list[tuple[str, str]]:
    entries = PERSON_COMMANDS + (STAFF_COMMANDS if staff else ())
    return [(command, t._(description)) for command, description in entries]


def role_name(t: Translator, role: str) -> str:
    names = {
        Role.PATIENT: t._("patient"),
        Role.CARER: t._("carer"),
        Role.YOUNG_PERSON: t._("young person"),
        Role.AT_RISK: t._("member of the public"),
        Role.GP: t._("GP"),
        Role.NURSE: t._("practice nurse"),
        Role.SPECIALIST: t._("diabetes specialist"),
        Role.ADMIN: t._("administrator"),
    }
    return names[Role(role)]


def local_when(t: Translator, moment: datetime, zone: tzinfo) -> Markup:
    """ "Monday 30 November 2026 at 10:30", in the reader's language and local time."""
    local = moment.astimezone(zone)
    return Markup(
        t._("%(date)s at %(time)s", date=t.date(local.date(), "full"), time=t.time(moment, zone))
    )


def emergency_line(t: Translator) -> str:
    return t._(
        "In an emergency call <b>999</b>. For urgent advice call <b>NHS 111</b> or go to "
        "111.nhs.uk. This chat cannot send help."
    )


# Joining ----------------------------------------------------------------------------------


def choose_language(preselected: str | None) -> Reply:
    """Shown before we know the language, so the question is asked in all three."""
    text = in_every_language(lambda t: t._("Please choose your language:"), separator="\n")
    buttons = [
        [
            Button(
                ("✓ " if lang == preselected else "") + LANGUAGE_NAMES[lang],
                data=f"{CB_LANGUAGE}{lang}",
            )
        ]
        for lang in LANGUAGES
    ]
    return Reply(text, buttons)


def choose_path(t: Translator) -> Reply:
    return Reply(
        t._("How can diabridge help you?"),
        [
            [Button(t._("I have a code from my practice"), data=f"{CB_PATH}{JoinPath.CODE}")],
            [Button(t._("I look after someone with diabetes"), data=f"{CB_PATH}{JoinPath.CARER}")],
            [Button(t._("I want to learn and lower my risk"), data=f"{CB_PATH}{JoinPath.AT_RISK}")],
        ],
    )


def enter_code(t: Translator) -> Reply:
    return Reply(
        t._(
            "Please type the code from your practice's letter or text message. "
            "It looks like <b>ABCDE-23456</b>."
        )
    )


def consent(t: Translator, path: JoinPath, role: Role | None) -> Reply:
    lines = [t._("<b>Before we start</b>")]
    if path is JoinPath.CODE and role in STAFF_ROLES:
        lines += [
            t._("<b>What we keep:</b> your name, role, practice, language and Telegram account."),
            t._(
                "<b>Why:</b> so the care team can reach you, and so every action you take on a "
                "patient's record is recorded in the audit trail."
            ),
        ]
    elif path is JoinPath.CODE and role is Role.CARER:
        # Invited by the person they help (/carer).
        lines += [
            t._(
                "Someone you help has invited you to receive their appointment reminders, each "
                "marked with their name, and you can see the care plan agreed at their annual "
                "review (/myplan). You will not see their results or anything else."
            ),
            t._(
                "<b>What we keep:</b> your first name from Telegram, your language, your "
                "Telegram account, and whose reminders you receive."
            ),
            t._(
                "<b>Who sees it:</b> the person who invited you and their care team. Either of "
                "you can end it at any time with /carer."
            ),
        ]
    elif path is JoinPath.CODE and role is Role.AT_RISK:
        # Invited by a practice or council to an NHS Health Check.
        lines += [
            t._(
                "Your GP practice invited you to a free NHS Health Check. diabridge sends you the "
                "invitation, reminders and information, in your language."
            ),
            t._(
                "<b>What we keep:</b> the details your practice gave us (your name, date of birth "
                "and practice), your language, your Telegram account, and the messages we send "
                "you."
            ),
            t._("<b>Who sees it:</b> staff at your GP practice. Nobody else."),
        ]
    elif path is JoinPath.CODE:
        lines += [
            t._(
                "diabridge sends you reminders and information from your GP practice and the "
                "diabetes team, in your language."
            ),
            t._(
                "<b>What we keep:</b> the details your practice gave us (your name, date of "
                "birth, NHS number and practice), your language, your Telegram account, and the "
                "messages we send you."
            ),
            t._(
                "<b>Who sees it:</b> staff at your GP practice and the diabetes team who look "
                "after you. Nobody else."
            ),
        ]
    else:
        lines += [
            t._(
                "<b>What we keep:</b> your first name from Telegram, your language and your "
                "Telegram account. We do not ask for or keep any health information."
            ),
            t._("<b>Who sees it:</b> only the diabridge team who run the service."),
        ]
    lines += [
        t._(
            "<b>Your choice:</b> see your data with /mydata, pause messages with /stop, and "
            "erase everything with /forget, at any time."
        ),
        emergency_line(t),
        t._("Do you agree?"),
    ]
    return Reply(
        "\n\n".join(lines),
        [
            [
                Button(t._("✅ I agree"), data=f"{CB_CONSENT}yes"),
                Button(t._("Not now"), data=f"{CB_CONSENT}no"),
            ]
        ],
    )


def not_now(t: Translator) -> Reply:
    return Reply(
        t._(
            "That's fine. Nothing about you has been kept. When you are ready, open the link "
            "from your practice again, or send /start."
        )
    )


def code_refused(
    problem: CodeProblem,
    *,
    language: str | None,
    locked_until: datetime | None,
    zone: tzinfo,
    valid_days: int,
) -> Reply:
    def build(t: Translator) -> str:
        if problem is CodeProblem.LOCKED:
            assert locked_until is not None
            return t._(
                "Too many wrong codes. To keep accounts safe, code entry is paused until "
                "%(time)s. Then try again, or ask your GP practice for help.",
                time=t.time(locked_until, zone),
            )
        if problem is CodeProblem.USED:
            return t._(
                "This code has already been used. Each code works only once. If you did not "
                "use it, or need a new one, please contact your GP practice."
            )
        if problem is CodeProblem.EXPIRED:
            return t.ngettext(
                "This code has expired: codes work for %(num)d day. Please ask your GP "
                "practice for a new one.",
                "This code has expired: codes work for %(num)d days. Please ask your GP "
                "practice for a new one.",
                valid_days,
            )
        return t._(
            "This code was not recognised. Please check it and type it again, or ask your GP "
            "practice for a new code."
        )

    if language is None:
        return Reply(in_every_language(build))
    t = translator(language)
    return Reply(t.finish(build(t)))


def welcome(t: Translator, *, name: str, role: str, practice: str | None) -> Reply:
    role_enum = Role(role)
    if role_enum in STAFF_ROLES:
        text = t._(
            "Welcome, %(name)s. Your staff account is ready (%(role)s).",
            name=name,
            role=role_name(t, role),
        )
    elif role_enum is Role.CARER:
        text = t._(
            "Welcome. Thank you for looking after someone with diabetes. Here you can read "
            "about diabetes and caring. To get someone's appointment reminders too, the person "
            "you look after, or their practice, needs to invite you."
        )
    elif role_enum is Role.AT_RISK:
        text = t._(
            "Welcome. Type 2 diabetes can often be prevented or delayed. Here you will find "
            "information on lowering your risk, and on the free NHS Health Check for people "
            "aged 40 to 74."
        )
    else:
        text = t._(
            "Welcome, %(name)s. You are now connected to your practice (%(practice)s). "
            "Your reminders and information will come here, in your language.",
            name=name,
            practice=practice or "",
        )
    return main_menu(t, role, heading=text)


def welcome_back(t: Translator, role: str) -> Reply:
    return main_menu(t, role, heading=t._("Welcome back. Your messages are switched on."))


def main_menu(t: Translator, role: str, heading: str | None = None) -> Reply:
    staff = Role(role) in STAFF_ROLES
    entries = [e for e in MAIN_MENU if staff or not e.staff_only]
    rows: list[list[Button]] = []
    for index in range(0, len(entries), 2):
        rows.append(
            [
                Button(t._(e.label), data=e.data or f"{CB_MENU}{e.key}")
                for e in entries[index : index + 2]
            ]
        )
    text = heading + "\n\n" if heading else ""
    return Reply(text + t._("What would you like to do?"), rows)


def use_the_buttons(t: Translator) -> Reply:
    return Reply(t._("Please use the buttons above, or send /start to begin again."))


def not_joined() -> Reply:
    return Reply(
        in_every_language(lambda t: t._("You have not joined yet. Please send /start to begin."))
    )


# Account ------------------------------------------------------------------------------------


def help_text(t: Translator) -> Reply:
    return Reply(
        "\n".join(
            [
                t._("<b>How diabridge works</b>"),
                t._(
                    "I send you reminders and information from your diabetes care, in English, "
                    "Hindi or Urdu."
                ),
                "",
                t._("/menu – the main menu"),
                t._("/language – change language"),
                t._("/privacy – what we keep and who sees it"),
                t._("/mydata – a copy of everything we keep about you"),
                t._("/carer – someone who helps you gets your appointment reminders too"),
                t._("/healthcheck – whether and when you can have a free NHS Health Check"),
                t._("/review – your results and questions before your annual review"),
                t._("/myplan – the care plan agreed at your review"),
                t._("/hypo – tell the diabetes team about a bad hypo"),
                t._("/stop – pause messages (send /start to switch them on again)"),
                t._("/forget – erase your data"),
                "",
                t._(
                    "<b>I cannot help in an emergency.</b> Call 999 for chest pain, or if someone "
                    "cannot be woken or is fitting. For urgent advice call NHS 111 or go to "
                    "111.nhs.uk."
                ),
            ]
        )
    )


def privacy_text(t: Translator, role: str) -> Reply:
    lines = [t._("<b>Your privacy</b>")]
    if Role(role) in (Role.CARER, Role.AT_RISK):
        lines.append(
            t._(
                "We keep your first name from Telegram, your language, your Telegram account and "
                "the messages we send you. No health information."
            )
        )
    else:
        lines.append(
            t._(
                "We keep the details your practice gave us, your language, your Telegram "
                "account and the messages we send you. Staff at your GP practice and the "
                "diabetes team who look after you can see them; every time staff look at or "
                "change your record, it is recorded."
            )
        )
    if Role(role) in (Role.PATIENT, Role.YOUNG_PERSON):
        lines.append(
            t._(
                "For your annual review we also keep your test results, your answers before "
                "the review, your care plan and your answers to its check-ins. A carer you "
                "invited with /carer can see your care plan too."
            )
        )
    lines += [
        t._("/mydata sends you a copy of everything we keep."),
        t._("/stop pauses messages; /start switches them on again."),
        t._(
            "/forget erases your data from diabridge. Your GP practice's own records are not "
            "changed."
        ),
    ]
    # What the specialist team was told (an advice request, a severe hypo to follow up) is
    # part of the team's clinical record, which the NHS must keep: /forget unlinks it.
    if Role(role) in STAFF_ROLES:
        lines.append(
            t._(
                "Advice requests you sent, and answers you wrote, stay in the specialist team's "
                "clinical record after /forget, without a link to your account."
            )
        )
    elif Role(role) in (Role.PATIENT, Role.YOUNG_PERSON):
        lines.append(
            t._(
                "If you or the ambulance service tell the diabetes team about a severe hypo, "
                "the team's note of it stays in their clinical record after /forget."
            )
        )
    lines.append(emergency_line(t))
    return Reply("\n\n".join(lines))


def choose_new_language(t: Translator, current: str) -> Reply:
    return Reply(
        t._("Choose your language:"),
        [
            [
                Button(
                    ("✓ " if lang == current else "") + LANGUAGE_NAMES[lang],
                    data=f"{CB_LANGUAGE}{lang}",
                )
            ]
            for lang in LANGUAGES
        ],
    )


def language_changed(t: Translator, role: str) -> Reply:
    return main_menu(
        t,
        role,
        heading=t._(
            "Done: I will write to you in %(language)s.", language=LANGUAGE_NAMES[t.language]
        ),
    )


def mydata_caption(t: Translator) -> str:
    return t._(
        "Everything diabridge keeps about you, as a file. Keep it safe: it may contain your "
        "NHS number."
    )


def confirm_forget(t: Translator) -> Reply:
    return Reply(
        t._(
            "<b>Erase all your data?</b> This deletes your details and your messages from "
            "diabridge, and you will stop getting reminders here. Your GP practice's own records "
            "are not changed. You can be registered again later."
        ),
        [
            [
                Button(t._("Yes, erase my data"), data=f"{CB_FORGET}yes"),
                Button(t._("No, keep it"), data=f"{CB_FORGET}no"),
            ]
        ],
    )


def forgotten(t: Translator) -> Reply:
    return Reply(
        t._(
            "Your data has been erased. Goodbye. You can join again at any time with a new code "
            "from your practice, or by sending /start."
        )
    )


def forget_cancelled(t: Translator, role: str) -> Reply:
    return main_menu(t, role, heading=t._("Nothing was erased."))


def paused(t: Translator) -> Reply:
    return Reply(
        t._(
            "Messages are paused. You will not get reminders or other messages from diabridge "
            "until you send /start. Your practice may still contact you in other ways."
        )
    )


def staff_only(t: Translator) -> Reply:
    return Reply(t._("That is only for the care team."))


def outbox_status(t: Translator, counts: dict[str, int], oldest: str | None) -> Reply:
    lines = [
        t._("<b>Message queue</b>"),
        t._("Waiting: %(count)s", count=counts.get("pending", 0)),
        t._("Being sent: %(count)s", count=counts.get("sending", 0)),
        t._("Sent: %(count)s", count=counts.get("sent", 0)),
        t._("Failed: %(count)s", count=counts.get("failed", 0)),
        t._("Cancelled: %(count)s", count=counts.get("cancelled", 0)),
    ]
    if oldest:
        lines.append(t._("Oldest waiting message is due at %(time)s.", time=oldest))
    return Reply("\n".join(lines))


# Safety and things we do not understand ------------------------------------------------------


def red_flag(t: Translator, action: RedFlagAction) -> Reply:
    if action is RedFlagAction.CALL_999:
        text = "\n\n".join(
            [
                t._("🚨 <b>Call 999 now.</b>"),
                t._(
                    "Chest pain, or someone who cannot be woken, is unconscious or is fitting, "
                    "is a medical emergency."
                ),
                t._(
                    "If someone is unconscious: do not give them food or drink by mouth. Put "
                    "them on their side (the recovery position) and stay with them."
                ),
                t._("This chat cannot send help."),
            ]
        )
    elif action is RedFlagAction.URGENT_111:
        text = "\n\n".join(
            [
                t._(
                    "⚠️ <b>Being sick with high sugar or ketones can be dangerous</b> (it can be "
                    "diabetic ketoacidosis, DKA)."
                ),
                t._(
                    "<b>Get help now:</b> call NHS 111, or your diabetes team's urgent number. "
                    "Call 999 if the person is drowsy or confused, is breathing fast, or cannot "
                    "keep fluids down."
                ),
                t._("Do not stop taking insulin."),
            ]
        )
    elif action is RedFlagAction.SEVERE_HYPO:
        text = "\n\n".join(
            [
                t._("⚠️ <b>A hypo that needed someone else's help is serious.</b>"),
                t._(
                    "If the person is unconscious or fitting now, call 999. Do not give them "
                    "food or drink by mouth."
                ),
                t._(
                    "If they have recovered, tell your GP practice or diabetes team today. If "
                    "you cannot reach them, call NHS 111."
                ),
            ]
        )
    else:
        text = "\n\n".join(
            [
                t._(
                    "⚠️ <b>A new wound, ulcer, or a black or blue area on the foot needs to be "
                    "seen today.</b>"
                ),
                t._(
                    "Contact your GP practice or foot protection team today. If they are closed, "
                    "call NHS 111. Do not wait to see if it gets better."
                ),
            ]
        )
    return Reply(text)


def not_understood(t: Translator, role: str) -> Reply:
    return main_menu(
        t,
        role,
        heading=t._(
            "Sorry, I did not understand that. Please choose from the menu. If you feel unwell, "
            "call NHS 111; in an emergency call 999."
        ),
    )


def cannot_read_media(t: Translator, role: str | None) -> Reply:
    text = t._(
        "I can only read typed messages, not stickers, voice notes, photos or files. If you "
        "need help now, call 999 or NHS 111."
    )
    return main_menu(t, role, heading=text) if role else Reply(text)


def something_went_wrong(t: Translator) -> Reply:
    return Reply(
        t._(
            "Sorry, something went wrong on our side and nothing was changed. Please try again "
            "in a minute. In an emergency call 999."
        )
    )


# Outbox templates: rendered at send time, in the recipient's language at that moment. --------


@dataclass(frozen=True)
class Recipient:
    name: str
    role: str | None
    zone: tzinfo


OutboxTemplate = Callable[[Translator, dict[str, Any], Recipient], Reply]


def _welcome_followup(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    return Reply(
        "\n".join(
            [
                t._("Hello %(name)s 👋 A few things you can do here:", name=who.name),
                t._("• /language to change language"),
                t._("• /privacy to see what we keep"),
                t._("• /stop to pause messages"),
                "",
                emergency_line(t),
            ]
        )
    )


OUTBOX_TEMPLATES: dict[str, OutboxTemplate] = {
    "welcome_followup": _welcome_followup,
}
