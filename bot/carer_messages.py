"""The words of /carer: inviting a carer, accepting, and ending the link."""

from __future__ import annotations

from typing import Any

from bot.i18n import Translator
from bot.messages import Recipient
from bot.render import Button, Reply
from bot.services.carers import INVITE_VALID_DAYS, MAX_CARERS, CarerView

CB_CARER = "carer:"


def carers_screen(t: Translator, carers: list[CarerView]) -> Reply:
    lines = [
        t._("👥 <b>Carers</b>"),
        t._(
            "A carer gets your appointment reminders too, each marked with your name. They do "
            "not see your results or anything else."
        ),
        "",
    ]
    if carers:
        lines.append(t._("Your carers:"))
        for carer in carers:
            lines.append(
                t._("• %(name)s", name=carer.carer_name)
                if carer.accepted
                else t._("• an invitation not yet accepted")
            )
    else:
        lines.append(t._("You have not invited anyone yet."))
    buttons = [[Button(t._("➕ Invite a carer"), data=f"{CB_CARER}invite")]]
    for carer in carers:
        label = (
            t._("✖ Remove %(name)s", name=carer.carer_name)
            if carer.accepted
            else t._("✖ Withdraw the invitation")
        )
        buttons.append([Button(label, data=f"{CB_CARER}remove:{carer.link_id}")])
    return Reply("\n".join(lines), buttons)


def cared_for_screen(t: Translator, patients: list[tuple[int, str]]) -> Reply:
    """/carer for a carer: whose reminders they receive, and a way to stop each."""
    if not patients:
        return Reply(
            t._(
                "You do not receive anyone's reminders yet. The person you help can invite you: "
                "they send /carer to this bot and share the link with you."
            )
        )
    lines = [t._("👥 You receive the appointment reminders of:")]
    lines += [t._("• %(name)s", name=name) for _, name in patients]
    buttons = [
        [
            Button(
                t._("✖ Stop receiving %(name)s's reminders", name=name),
                data=f"{CB_CARER}remove:{link_id}",
            )
        ]
        for link_id, name in patients
    ]
    return Reply("\n".join(lines), buttons)


def invitation(t: Translator, link: str) -> Reply:
    return Reply(
        "\n\n".join(
            [
                t.ngettext(
                    "Send this link to the person who helps you, for example by WhatsApp or "
                    "text message. It works once, for %(count)s day:",
                    "Send this link to the person who helps you, for example by WhatsApp or "
                    "text message. It works once, for %(count)s days:",
                    INVITE_VALID_DAYS,
                    count=INVITE_VALID_DAYS,
                ),
                link,
                t._(
                    "When they accept, they will get your appointment reminders, marked with "
                    "your name. You can remove them here at any time."
                ),
            ]
        )
    )


def refused(t: Translator, reason: str) -> Reply:
    if reason == "not_a_patient":
        return Reply(t._("Only patients can invite a carer, for their own appointment reminders."))
    if reason == "too_many":
        return Reply(
            t._(
                "You already have %(count)s carers, the most we allow. Remove one first.",
                count=MAX_CARERS,
            )
        )
    if reason == "used":
        return Reply(
            t._(
                "This carer link has already been used or withdrawn. Ask the person who sent it "
                "for a new one."
            )
        )
    if reason == "expired":
        return Reply(t._("This carer link has expired. Ask the person who sent it for a new one."))
    if reason == "own_link":
        return Reply(t._("This is your own carer link: send it to the person who helps you."))
    if reason == "staff":
        return Reply(
            t._("A staff account cannot be a carer. Please use your personal Telegram account.")
        )
    return Reply(t._("This carer link has already ended."))


def now_receiving(t: Translator, patient_names: list[str]) -> Reply:
    return Reply(
        "\n".join(
            t._(
                "✅ You will now receive %(name)s's appointment reminders, each marked with "
                "their name. To stop, send /carer.",
                name=name,
            )
            for name in patient_names
        )
    )


def removed(t: Translator, *, by_patient: bool, patient_name: str, carer_name: str) -> Reply:
    if by_patient:
        return Reply(
            t._("Done: %(name)s no longer receives your reminders.", name=carer_name or "—")
        )
    return Reply(t._("Done: you no longer receive %(name)s's reminders.", name=patient_name))


# Outbox templates -----------------------------------------------------------------------


def carer_joined(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    return Reply(
        t._(
            "👥 %(name)s now receives your appointment reminders. You can remove them at any "
            "time with /carer.",
            name=params["carer_name"],
        )
    )


def carer_removed(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    if params.get("to") == "carer":
        return Reply(
            t._(
                "👥 You no longer receive %(name)s's appointment reminders.",
                name=params["patient_name"],
            )
        )
    return Reply(
        t._(
            "👥 %(name)s no longer receives your appointment reminders.",
            name=params["carer_name"],
        )
    )


OUTBOX_TEMPLATES = {"carer_joined": carer_joined, "carer_removed": carer_removed}
