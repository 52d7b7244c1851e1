"""The words of the hypo hotline on the patient's side: /hypo ("how was your last hypo
treated?"), the reply once the diabetes team has been asked to follow up, the button under a
severe-hypo red flag, and the outbox message after an ambulance call-out.

Sources for the safety wording (CLINICAL_FACTS.md):
- NHS, "Low blood sugar (hypoglycaemia)",
  https://www.nhs.uk/conditions/low-blood-sugar-hypoglycaemia/ : below 4 mmol/L, 15 to 20 g of
  fast-acting carbohydrate (a small glass of non-diet sugary drink or fruit juice, or glucose
  tablets), check again after 10 to 15 minutes and repeat if still below 4, then a starchy
  snack or the next meal; someone unconscious gets no food or drink by mouth, is put in the
  recovery position, and 999 is called.
- Diabetes UK, "Hypos", https://www.diabetes.org.uk/about-diabetes/symptoms/hypos : a severe hypo
  is one that needs someone else's help to treat.
- The Portsmouth Hypoglycaemia Hotline: the specialist team follows up every severe hypo within
  one working day (DIABRIDGE_HYPO_FOLLOW_UP_DAYS).
The bot gives no dose beyond that standard rule: the page and the team do the rest.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from bot.i18n import Markup, Translator, ltr
from bot.messages import Recipient, emergency_line, local_when
from bot.models import STAFF_ROLES, AdviceRequest, Role
from bot.render import Button, Reply, button_number

CB_HYPO = "hypo:"
# The answers to "how was your last hypo treated?", and the other buttons of this flow.
SELF = "self"
HELP = "help"
AMBULANCE = "ambulance"
ASK = "ask"  # "ask the diabetes team to contact me", under a severe-hypo red flag
PAGE = "page"  # the education library's hypo page, sent as a new message
# "Do you drive?" after a severe hypo: hypo:drive:<follow-up id>:yes|no
DRIVE = "drive"
YES, NO = "yes", "no"

HYPOS_TOPIC = "hypos"
DRIVING_TOPIC = "driving"


def page_button(t: Translator) -> list[Button]:
    # "hypo:page" rather than "learn:t:hypos:0": the library edits the message whose button was
    # pressed, and this message (the team's due time, the reference) must stay readable.
    return [Button(t._("📖 Hypos: what to do"), data=f"{CB_HYPO}{PAGE}")]


def _reference(t: Translator, request: AdviceRequest) -> Markup:
    # "H-000003" reads left to right inside an Urdu line.
    return Markup(ltr(request.reference) if t.rtl else request.reference)


def happening_now(t: Translator) -> str:
    """Always first: /hypo is about a hypo that is over, never one going on now."""
    return t._(
        "🚨 <b>If a hypo is happening now</b> and the person cannot swallow, is unconscious or "
        "is fitting: <b>call 999</b>. Do not give them food or drink by mouth."
    )


def _treat_it(t: Translator) -> str:
    return t._(
        "<b>If it happens again:</b> if your sugar is below 4 mmol/L, have 15 to 20 g of "
        "fast-acting sugar straight away (a small glass of non-diet sugary drink or fruit juice, "
        "or glucose tablets). Check again after 10 to 15 minutes and repeat if it is still below "
        "4. Once it is above 4, have a starchy snack or your next meal. If it is still below 4 "
        "after 3 goes, get help."
    )


def _meanwhile(t: Translator) -> list[str]:
    return [
        t._(
            "Until then, check your sugar more often, and tell the people close to you what a "
            "hypo looks like and how to help."
        ),
        _treat_it(t),
        t._(
            "If you cannot swallow, are unconscious or are fitting, whoever is with you should "
            "call 999, and not give you food or drink by mouth."
        ),
        emergency_line(t),
    ]


# /hypo --------------------------------------------------------------------------------------


def question(t: Translator) -> Reply:
    text = "\n\n".join(
        [
            happening_now(t),
            t._("<b>Tell the diabetes team about a bad hypo</b>"),
            t._(
                "If a hypo needed someone else's help, or an ambulance, the diabetes team want "
                "to know, so they can contact you and help stop it happening again."
            ),
            t._("How was your last hypo treated?"),
        ]
    )
    return Reply(
        text,
        [
            [Button(t._("🍬 I treated it myself"), data=f"{CB_HYPO}{SELF}")],
            [Button(t._("🤝 Someone else had to help me"), data=f"{CB_HYPO}{HELP}")],
            [
                Button(
                    t._("🚑 I needed an ambulance or went to hospital"),
                    data=f"{CB_HYPO}{AMBULANCE}",
                )
            ],
        ],
    )


def treated_myself(t: Translator) -> Reply:
    text = "\n\n".join(
        [
            t._(
                "👍 Thank you for telling us. A hypo you treated yourself does not need a call "
                "from the diabetes team."
            ),
            t._(
                "Tell your GP practice or diabetes team if you have hypos often, at night, or "
                "without the usual warning signs."
            ),
            _treat_it(t),
            emergency_line(t),
        ]
    )
    return Reply(text, [page_button(t)])


def follow_up(t: Translator, request: AdviceRequest, *, is_new: bool, zone: tzinfo) -> Reply:
    """After "someone had to help me" or "I needed an ambulance": when the team will call."""
    reference = _reference(t, request)
    if request.due_at is None:
        when_line = t._("The diabetes team will contact you soon, in working hours.")
    else:
        when_line = t._(
            "The diabetes team will contact you by <b>%(when)s</b>, in working hours.",
            when=local_when(t, request.due_at, zone),
        )
    if is_new:
        heading = t._(
            "✅ <b>Thank you for telling us.</b> Your reference is %(reference)s.",
            reference=reference,
        )
    else:
        heading = t._(
            "✅ <b>The diabetes team already know about this hypo</b> (reference "
            "%(reference)s). You do not need to tell us again.",
            reference=reference,
        )
    return Reply("\n\n".join([heading, when_line, *_meanwhile(t)]), [page_button(t)])


# "Do you drive?" (DVLA, "Diabetes and driving": a severe hypo can mean telling the DVLA) ------


def drive_buttons(t: Translator, request_id: int) -> list[Button]:
    return [
        Button(t._("🚗 Yes, I drive"), data=f"{CB_HYPO}{DRIVE}:{request_id}:{YES}"),
        Button(t._("No"), data=f"{CB_HYPO}{DRIVE}:{request_id}:{NO}"),
    ]


def do_you_drive(t: Translator) -> str:
    return t._(
        "🚗 <b>Do you drive?</b> After a hypo that needed someone else's help, there are rules "
        "about driving."
    )


def with_drive_question(t: Translator, reply: Reply, request_id: int) -> Reply:
    """The follow-up reply (its reference and contact-by time kept), asking "Do you drive?"."""
    return Reply(
        f"{reply.text}\n\n{do_you_drive(t)}",
        [drive_buttons(t, request_id), *reply.buttons],
        reply.document,
    )


def parse_drive(answer: str) -> tuple[int, bool] | None:
    """ "drive:12:yes" (after the prefix) as (12, True); None for anything else."""
    parts = answer.split(":")
    if (
        len(parts) != 3
        or parts[0] != DRIVE
        or button_number(parts[1]) is None
        or parts[2] not in (YES, NO)
    ):
        return None
    return int(parts[1]), parts[2] == YES


def drives_heading(t: Translator, request: AdviceRequest, zone: tzinfo) -> str:
    """Above the library's driving page, for someone who drives."""
    lines = [
        t._(
            "🚗 <b>Thank you.</b> Please read this page before you drive again: when to check "
            "your sugar, what to do if a hypo starts while driving, and when you must tell the "
            "DVLA."
        )
    ]
    if request.due_at is not None:
        lines.append(
            t._(
                "The diabetes team will talk it through with you when they contact you by "
                "<b>%(when)s</b> (reference %(reference)s).",
                when=local_when(t, request.due_at, zone),
                reference=_reference(t, request),
            )
        )
    return "\n\n".join(lines)


def drives_no(t: Translator) -> Reply:
    return Reply(t._("👍 Thank you for telling us."))


def no_such_follow_up(t: Translator) -> Reply:
    return Reply(
        t._(
            "That question is not about one of your hypos, so nothing was changed. Send /hypo "
            "to tell the diabetes team about a hypo."
        )
    )


def not_for_you(t: Translator, role: str) -> Reply:
    """/hypo is for patients and young people; everyone else is told where to go instead."""
    role_enum = Role(role)
    if role_enum in STAFF_ROLES:
        return Reply(
            t._(
                "/hypo is for patients and young people to tell the diabetes team about their "
                "own severe hypos. Their follow-ups, and those from ambulance call-outs, arrive "
                "in the diabetes team's queue."
            )
        )
    if role_enum is Role.CARER:
        lines = [
            t._(
                "🤝 /hypo is for people with diabetes to tell their own diabetes team about a "
                "bad hypo."
            ),
            t._(
                "If the person you look after had a hypo that needed your help, or an ambulance, "
                "please tell their GP practice or diabetes team today. If you cannot reach them, "
                "call NHS 111."
            ),
        ]
        return Reply("\n\n".join([happening_now(t), *lines]), [page_button(t)])
    lines = [
        t._("/hypo is for people with diabetes who are looked after by a diabetes team."),
        t._(
            "If you, or someone you know, had a hypo that needed someone else's help, please "
            "tell the GP practice today. If you cannot reach them, call NHS 111."
        ),
    ]
    return Reply("\n\n".join([happening_now(t), *lines]))


# Under a severe-hypo red flag ----------------------------------------------------------------


def with_ask_team_button(t: Translator, reply: Reply) -> Reply:
    """The red-flag reply, with a button that asks the team to follow up: only a press does,
    so words like "my hypo last year needed help" never create a follow-up by themselves."""
    button = Button(t._("📞 Ask the diabetes team to contact me"), data=f"{CB_HYPO}{ASK}")
    return Reply(reply.text, [*reply.buttons, [button]], reply.document)


# The outbox: after an ambulance call-out ------------------------------------------------------


def _hypo_follow_up(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    occurred = datetime.fromisoformat(params["occurred_at"]).astimezone(who.zone)
    due = params.get("due_at")
    if due:
        when_line = t._(
            "Someone from the diabetes team will contact you by <b>%(when)s</b>, in working "
            "hours, to talk it through and help stop it happening again.",
            when=local_when(t, datetime.fromisoformat(due), who.zone),
        )
    else:
        when_line = t._(
            "Someone from the diabetes team will contact you soon, in working hours, to talk it "
            "through and help stop it happening again."
        )
    text = "\n\n".join(
        [
            t._("Hello %(name)s.", name=who.name),
            t._(
                "The ambulance service told your diabetes team that you had a severe hypo on "
                "%(date)s. We are sorry that happened, and we hope you are feeling better.",
                date=t.date(occurred.date(), "full"),
            ),
            when_line,
            *_meanwhile(t),
        ]
    )
    return Reply(text, [page_button(t)])


OUTBOX_TEMPLATES = {
    "hypo_follow_up": _hypo_follow_up,
}
