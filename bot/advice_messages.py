"""The words of the advice line: the GP's steps, the team's cards, the thread between them.

Staff read these in their own language like everyone else; the team's group gets English.
Clinical text (the question, answers) is escaped and shown only in private chats, except the
question on the team's card, which the issue puts there so the team can choose what to claim.
"""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from typing import Any

from bot.i18n import N_, Markup, Translator, escape
from bot.messages import Recipient, local_when, role_name
from bot.models import (
    AdviceArea,
    AdviceAttachment,
    AdviceKind,
    AdviceMessage,
    AdviceMessageKind,
    AdviceRequest,
    AdviceStatus,
    AdviceUrgency,
)
from bot.render import Button, Reply
from bot.services.advice_line import (
    ADVICE_OUTCOMES,
    HYPO_OUTCOMES,
    MAX_ATTACHMENTS,
    TEXT_LIMIT,
    Helped,
    Outcome,
    Problem,
    QueueEntry,
    Sex,
    Step,
    Targets,
)
from bot.services.hypo_hotline import HypoAction

CB_ADVICE = "adv:"

AREA_NAMES: dict[str, str] = {
    AdviceArea.INPATIENT: N_("Inpatient"),
    AdviceArea.ANTENATAL: N_("Antenatal"),
    AdviceArea.FOOT: N_("Foot"),
    AdviceArea.KIDNEY: N_("Kidney"),
    AdviceArea.INSULIN_PUMP: N_("Insulin pump"),
    AdviceArea.TYPE1: N_("Type 1"),
    AdviceArea.TYPE2_MEDICINES: N_("Type 2 medicines"),
    AdviceArea.OTHER: N_("Other"),
}
URGENCY_NAMES: dict[str, str] = {
    AdviceUrgency.ROUTINE: N_("Routine"),
    AdviceUrgency.URGENT: N_("Urgent"),
}
SEX_NAMES: dict[str, str] = {
    Sex.FEMALE: N_("Female"),
    Sex.MALE: N_("Male"),
    Sex.OTHER: N_("Other or not stated"),
}
OUTCOME_NAMES: dict[str, str] = {
    Outcome.ADVICE_GIVEN: N_("Advice given"),
    Outcome.REFERRAL_ADVISED: N_("Referral advised"),
    Outcome.VIRTUAL_CLINIC: N_("Seen in a virtual clinic"),
    Outcome.REDIRECTED: N_("Redirected"),
    Outcome.FOLLOWED_UP: N_("Followed up"),
    Outcome.COULD_NOT_REACH: N_("Could not reach the person"),
}
HYPO_ACTION_NAMES: dict[str, str] = {
    HypoAction.PHONED: N_("📞 Phoned"),
    HypoAction.CARE_PLAN_CHANGED: N_("📝 Care plan changed"),
    HypoAction.REFERRED_TO_EDUCATION: N_("🎓 Referred to education"),
    HypoAction.COULD_NOT_REACH: N_("📵 Could not reach"),
}
HELPED_NAMES: dict[str, str] = {
    Helped.YES: N_("👍 Yes"),
    Helped.PARTLY: N_("Partly"),
    Helped.NO: N_("👎 No"),
}
STATUS_NAMES: dict[str, str] = {
    AdviceStatus.OPEN: N_("waiting to be claimed"),
    AdviceStatus.CLAIMED: N_("with the team"),
    AdviceStatus.WAITING_GP: N_("waiting for the GP"),
    AdviceStatus.ANSWERED: N_("answered"),
    AdviceStatus.CLOSED: N_("closed"),
}
STEP_LABELS: dict[Step, str] = {
    Step.AREA: N_("Area"),
    Step.URGENCY: N_("Urgency"),
    Step.NHS_NUMBER: N_("NHS number"),
    Step.AGE: N_("Age"),
    Step.SEX: N_("Sex"),
    Step.QUESTION: N_("Question"),
    Step.ATTACHMENTS: N_("Photos and documents"),
}
# What the writer is asked to type next, one whole sentence per kind (it translates better).
WRITING_PROMPTS: dict[str, str] = {
    AdviceMessageKind.REPLY: N_(
        "Type your answer for <b>%(reference)s</b> as your next message here."
    ),
    AdviceMessageKind.ASK_MORE: N_(
        "Type what you need to know from the GP about <b>%(reference)s</b> as your next "
        "message here."
    ),
    AdviceMessageKind.REFERRAL: N_(
        "Type the referral you suggest for <b>%(reference)s</b>, and why, as your next message "
        "here."
    ),
    AdviceMessageKind.VIRTUAL_CLINIC: N_(
        "Type why <b>%(reference)s</b> should be discussed at a virtual clinic, as your next "
        "message here."
    ),
    AdviceMessageKind.GP_REPLY: N_(
        "Type your reply to the specialist about <b>%(reference)s</b> as your next message here."
    ),
}


def _name(t: Translator, names: dict[str, str], key: str | None) -> str:
    return t._(names[key]) if key in names else escape(key or "")


def _iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# The GP's steps ---------------------------------------------------------------------------


def _draft_data(draft: AdviceRequest, action: str, value: str = "") -> str:
    return f"{CB_ADVICE}d:{draft.id}:{action}:{value}"


def not_an_asker(t: Translator) -> Reply:
    return Reply(
        t._(
            "The advice line is for GPs and practice nurses to ask the specialist diabetes "
            "team. Specialists see the requests with /queue."
        )
    )


def continuing(t: Translator) -> str:
    return t._("You have a request you have not sent yet. Here is where you were.")


def _days(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _answered_within(t: Translator, targets: Targets) -> str:
    """The configured targets (DIABRIDGE_ADVICE_*_DAYS), so the promise is the one we keep."""
    urgent, routine = _days(targets.urgent_days), _days(targets.routine_days)
    # Its own statement: Babel does not extract a message written inside another's arguments.
    routine_text = t.ngettext(
        "%(count)s working day", "%(count)s working days", math.ceil(routine), count=routine
    )
    return t.ngettext(
        "Urgent requests are answered within %(count)s working day, routine ones within "
        "%(routine)s.",
        "Urgent requests are answered within %(count)s working days, routine ones within "
        "%(routine)s.",
        math.ceil(urgent),
        count=urgent,
        routine=Markup(routine_text),
    )


def ask_step(
    t: Translator,
    draft: AdviceRequest,
    attachments: int,
    max_mb: float,
    targets: Targets,
) -> Reply:
    step = Step(draft.step or Step.AREA)
    cancel = [Button(t._("✖️ Cancel request"), data=_draft_data(draft, "cancel"))]
    if step is Step.AREA:
        buttons = [
            Button(t._(label), data=_draft_data(draft, "area", key))
            for key, label in AREA_NAMES.items()
        ]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        return Reply(
            t._("<b>Ask the specialist diabetes team</b>")
            + "\n\n"
            + t._("Which area is your question about?"),
            [*rows, cancel],
        )
    if step is Step.URGENCY:
        return Reply(
            "\n\n".join(
                [
                    t._("How urgent is it?"),
                    t._(
                        "<b>Urgent</b> means the answer will change the patient's care within "
                        "the next working day."
                    ),
                    _answered_within(t, targets),
                    t._(
                        "For an emergency, do not wait for the advice line: call the on-call "
                        "diabetes team through the hospital switchboard, or 999."
                    ),
                ]
            ),
            [
                [
                    Button(t._(label), data=_draft_data(draft, "urgency", key))
                    for key, label in URGENCY_NAMES.items()
                ],
                cancel,
            ],
        )
    if step is Step.NHS_NUMBER:
        return Reply(t._("Type the patient's NHS number (10 digits)."), [cancel])
    if step is Step.AGE:
        return Reply(t._("How old is the patient? Type their age in years."), [cancel])
    if step is Step.SEX:
        return Reply(
            t._("The patient's sex:"),
            [
                [
                    Button(t._(label), data=_draft_data(draft, "sex", key))
                    for key, label in SEX_NAMES.items()
                ],
                cancel,
            ],
        )
    if step is Step.QUESTION:
        return Reply(
            t._(
                "Type your question: the clinical picture and what you would like to know "
                "(at most %(limit)s characters).",
                limit=TEXT_LIMIT,
            ),
            [cancel],
        )
    if step is Step.ATTACHMENTS:
        lines = [
            t._(
                "Send any photos or documents that help (a foot photo, a clinic letter), up to "
                "%(count)s, each at most %(size)s MB.",
                count=MAX_ATTACHMENTS,
                size=max_mb,
            )
        ]
        if attachments:
            lines.append(
                t.ngettext(
                    "%(count)s file added.",
                    "%(count)s files added.",
                    attachments,
                    count=attachments,
                )
            )
        label = t._("✅ Done") if attachments else t._("No photos or documents")
        return Reply(
            "\n\n".join(lines),
            [[Button(label, data=_draft_data(draft, "files_done"))], cancel],
        )
    raise ValueError(step)


def problem(t: Translator, what: Problem, max_mb: float) -> str:
    texts = {
        Problem.AREA: t._("Please choose the area with the buttons."),
        Problem.URGENCY: t._("Please choose routine or urgent with the buttons."),
        Problem.NHS_DIGITS: t._(
            "An NHS number has 10 digits, like 943 476 5919. Please type it again."
        ),
        Problem.NHS_CHECK_DIGIT: t._(
            "That is not a valid NHS number: its last digit does not match. Please check it "
            "against the record and type it again."
        ),
        Problem.AGE: t._("Please type the age as a number of years, from 0 to 120."),
        Problem.SEX: t._("Please choose with the buttons."),
        Problem.QUESTION_SHORT: t._(
            "Please write at least a sentence, so the specialist can answer without calling "
            "you back."
        ),
        Problem.TEXT_LONG: t._(
            "That is longer than %(limit)s characters. Please shorten it, or send the details "
            "as a document.",
            limit=TEXT_LIMIT,
        ),
        Problem.TEXT_EMPTY: t._("There was nothing to send. Please type your message."),
        Problem.FILE_TOO_LARGE: t._(
            "That file is larger than %(size)s MB, so it was not added. Please send a smaller "
            "photo, or a scan of fewer pages.",
            size=max_mb,
        ),
        Problem.TOO_MANY_FILES: t._(
            "You have added %(count)s files, the most one request can take. Press Done.",
            count=MAX_ATTACHMENTS,
        ),
        Problem.NOT_A_STEP: t._("That button belongs to an earlier step. Here is where you are."),
    }
    return texts[what]


def summary(
    t: Translator, draft: AdviceRequest, attachments: list[AdviceAttachment], practice: str
) -> Reply:
    files = ", ".join(escape(a.file_name or a.kind) for a in attachments) or t._("none")
    lines = [
        t._("<b>Check your request before it goes to the specialist team</b>"),
        "",
        t._("Area: %(area)s", area=Markup(_name(t, AREA_NAMES, draft.area))),
        t._("Urgency: %(urgency)s", urgency=Markup(_name(t, URGENCY_NAMES, draft.urgency))),
        t._("NHS number: %(number)s", number=_spaced(draft.nhs_number)),
        t._(
            "Patient: %(age)s years, %(sex)s",
            age=draft.patient_age or 0,
            sex=Markup(_name(t, SEX_NAMES, draft.patient_sex)),
        ),
        t._("Practice: %(practice)s", practice=practice),
        t._("Photos and documents: %(files)s", files=Markup(files)),
        "",
        t._("<b>Question</b>"),
        escape(draft.question or ""),
    ]
    return Reply(
        "\n".join(lines),
        [
            [Button(t._("📨 Send"), data=_draft_data(draft, "send"))],
            [
                Button(t._("✏️ Edit"), data=_draft_data(draft, "edit")),
                Button(t._("✖️ Cancel"), data=_draft_data(draft, "cancel")),
            ],
        ],
    )


def _spaced(number: str | None) -> str:
    digits = number or ""
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}".strip()


def choose_edit(t: Translator, draft: AdviceRequest) -> Reply:
    buttons = [
        Button(t._(label), data=_draft_data(draft, "edit_step", step.value))
        for step, label in STEP_LABELS.items()
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return Reply(
        t._("What would you like to change?"),
        [*rows, [Button(t._("◀ Back to the summary"), data=_draft_data(draft, "summary"))]],
    )


def sent(t: Translator, request: AdviceRequest, zone: tzinfo) -> Reply:
    assert request.due_at is not None
    return Reply(
        "\n\n".join(
            [
                t._("✅ Sent to the specialist diabetes team."),
                t._("Your reference is <b>%(reference)s</b>.", reference=request.reference),
                t._(
                    "An answer is due by <b>%(due)s</b> (working days are Monday to Friday, "
                    "09:00 to 17:00, without bank holidays).",
                    due=local_when(t, request.due_at, zone),
                ),
                t._("You will get the answer here. See all your requests with /myrequests."),
            ]
        )
    )


def draft_cancelled(t: Translator) -> Reply:
    return Reply(t._("Cancelled. Nothing was sent, and the draft was deleted."))


def no_files_here(t: Translator) -> Reply:
    return Reply(
        t._(
            "I can only take photos and documents at the step for them, after the question. "
            "Please answer the step above first."
        )
    )


# The team's card ----------------------------------------------------------------------------


def _card_heading(t: Translator, params: dict[str, Any]) -> str:
    if params.get("kind") == AdviceKind.HYPO:
        return t._("🚑 <b>Severe hypo follow-up %(reference)s</b>", reference=params["reference"])
    urgent = params.get("urgency") == AdviceUrgency.URGENT
    return (
        t._("🔴 <b>Urgent advice request %(reference)s</b>", reference=params["reference"])
        if urgent
        else t._("🩺 <b>Advice request %(reference)s</b>", reference=params["reference"])
    )


def _hypo_lines(t: Translator, params: dict[str, Any], zone: tzinfo) -> list[str]:
    lines = []
    occurred = _iso(params.get("occurred_at"))
    if occurred is not None:
        lines.append(t._("Hypo on %(when)s", when=local_when(t, occurred, zone)))
    reporter = params.get("reported_by")
    if reporter == "patient:help":
        lines.append(t._("Told us themselves: someone else had to help them."))
    elif reporter == "patient:ambulance":
        lines.append(t._("Told us themselves: an ambulance came or they went to hospital."))
    else:
        lines.append(t._("Reported by the ambulance service."))
        if params.get("taken_to_hospital") is True:
            lines.append(t._("Taken to hospital."))
        elif params.get("taken_to_hospital") is False:
            lines.append(t._("Not taken to hospital."))
    # Their answer to "Do you drive?": DVLA rules apply after a severe hypo.
    if params.get("drives") is True:
        lines.append(t._("🚗 Drives: yes."))
    elif params.get("drives") is False:
        lines.append(t._("Drives: no."))
    if not params.get("patient_enrolled", True):
        lines.append(t._("The person does not use diabridge: contact them by phone."))
    return lines


def card_text(t: Translator, params: dict[str, Any], zone: tzinfo) -> str:
    lines = [_card_heading(t, params)]
    if params.get("kind") == AdviceKind.HYPO:
        lines += _hypo_lines(t, params, zone)
    else:
        lines.append(
            t._(
                "%(area)s · %(urgency)s",
                area=Markup(_name(t, AREA_NAMES, params.get("area"))),
                urgency=Markup(_name(t, URGENCY_NAMES, params.get("urgency"))),
            )
        )
    if params.get("practice"):
        lines.append(t._("Practice: %(practice)s", practice=params["practice"]))
    if params.get("age") is not None:
        lines.append(
            t._(
                "Patient: %(age)s years, %(sex)s",
                age=params["age"],
                sex=Markup(_name(t, SEX_NAMES, params.get("sex"))),
            )
        )
    due = _iso(params.get("due_at"))
    if due is not None:
        lines.append(t._("Due by %(due)s", due=local_when(t, due, zone)))
    if params.get("question"):
        lines += ["", escape(params["question"])]
    files = params.get("attachments") or []
    if files:
        lines += [
            "",
            t.ngettext(
                "📎 %(count)s attachment: %(names)s",
                "📎 %(count)s attachments: %(names)s",
                len(files),
                count=len(files),
                names=", ".join(files),
            ),
        ]
    lines.append("")
    lines.append(_state_line(t, params))
    return "\n".join(lines)


def _state_line(t: Translator, params: dict[str, Any]) -> str:
    status = params.get("status")
    if status == AdviceStatus.CLOSED:
        return t._(
            "✅ Closed: %(outcome)s", outcome=Markup(_name(t, OUTCOME_NAMES, params.get("outcome")))
        )
    if params.get("holder"):
        return t._(
            "🔒 Held by %(name)s (%(status)s)",
            name=params["holder"],
            status=Markup(_name(t, STATUS_NAMES, status)),
        )
    line = t._("Nobody holds it yet.")
    if params.get("breached"):
        line = t._("⛔ Past its due time.") + " " + line
    return line


def claim_button(t: Translator, request_id: int) -> list[Button]:
    return [Button(t._("🙋 Claim"), data=f"{CB_ADVICE}claim:{request_id}")]


def action_buttons(t: Translator, request_id: int, kind: str) -> list[list[Button]]:
    """What the specialist who holds a request can do."""
    base = f"{CB_ADVICE}"
    if kind == AdviceKind.HYPO:
        actions = [
            Button(t._(label), data=f"{base}h:{request_id}:{key}")
            for key, label in HYPO_ACTION_NAMES.items()
        ]
        rows = [actions[i : i + 2] for i in range(0, len(actions), 2)]
    else:
        rows = [
            [
                Button(t._("✍️ Reply"), data=f"{base}w:{request_id}:{AdviceMessageKind.REPLY}"),
                Button(
                    t._("❓ Ask the GP for more"),
                    data=f"{base}w:{request_id}:{AdviceMessageKind.ASK_MORE}",
                ),
            ],
            [
                Button(
                    t._("↗️ Suggest a referral"),
                    data=f"{base}w:{request_id}:{AdviceMessageKind.REFERRAL}",
                ),
                Button(
                    t._("🖥 Suggest a virtual clinic"),
                    data=f"{base}w:{request_id}:{AdviceMessageKind.VIRTUAL_CLINIC}",
                ),
            ],
        ]
    rows.append(
        [
            Button(t._("↩️ Release"), data=f"{base}release:{request_id}"),
            Button(t._("✅ Close"), data=f"{base}close:{request_id}"),
        ]
    )
    return rows


def card(t: Translator, params: dict[str, Any], zone: tzinfo) -> Reply:
    """The card in the team's group. Once claimed, the holder acts from it or from their
    private chat; anyone else who presses is told who holds it."""
    request_id = int(params["request_id"])
    status = params.get("status")
    rows: list[list[Button]] = []
    if status == AdviceStatus.CLOSED:
        pass
    elif params.get("holder"):
        rows = action_buttons(t, request_id, str(params.get("kind")))
    else:
        rows = [claim_button(t, request_id)]
    if params.get("attachments") and status != AdviceStatus.CLOSED:
        rows.append([Button(t._("📎 See attachments"), data=f"{CB_ADVICE}files:{request_id}")])
    return Reply(card_text(t, params, zone), rows)


def _card_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    return card(t, params, who.zone)


def _raised_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    due = _iso(params.get("due_at"))
    return Reply(
        "\n".join(
            [
                t._(
                    "⏰ <b>%(reference)s is still waiting for someone to claim it</b>: half its "
                    "time has gone.",
                    reference=params["reference"],
                ),
                t._("Due by %(due)s", due=local_when(t, due, who.zone)) if due else "",
            ]
        ).strip(),
        [claim_button(t, int(params["request_id"]))],
    )


def _breached_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    due = _iso(params.get("due_at"))
    holder = params.get("holder")
    return Reply(
        "\n".join(
            [
                t._(
                    "⛔ <b>%(reference)s is past its due time without an answer.</b>",
                    reference=params["reference"],
                ),
                t._("It was due by %(due)s.", due=local_when(t, due, who.zone)) if due else "",
                t._("Held by %(name)s.", name=holder) if holder else t._("Nobody holds it."),
                t._("See the queue with /queue."),
            ]
        )
    )


def _gp_added_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    return Reply(
        t._(
            "✉️ The GP added to <b>%(reference)s</b>. Nobody holds it: claim it to read and answer.",
            reference=params["reference"],
        ),
        [claim_button(t, int(params["request_id"]))],
    )


# The thread -----------------------------------------------------------------------------------


def author_of(t: Translator, params: dict[str, Any]) -> str:
    """ "Sam Jones, Consultant diabetologist", or "Sam Jones (diabetes specialist)"."""
    title, role = params.get("author_title"), params.get("author_role")
    if title:
        return f"{params['author']}, {title}"
    if role:
        return t._("%(name)s (%(role)s)", name=params["author"], role=Markup(role_name(t, role)))
    return str(params["author"])


def _turn_heading(t: Translator, kind: str, author: str, reference: str) -> str:
    headings = {
        AdviceMessageKind.REPLY: N_("💬 <b>%(author)s</b> answered %(reference)s:"),
        AdviceMessageKind.ASK_MORE: N_(
            "❓ <b>%(author)s</b> needs more information for %(reference)s:"
        ),
        AdviceMessageKind.REFERRAL: N_(
            "↗️ <b>%(author)s</b> suggests a referral for %(reference)s:"
        ),
        AdviceMessageKind.VIRTUAL_CLINIC: N_(
            "🖥 <b>%(author)s</b> suggests discussing %(reference)s at a virtual clinic:"
        ),
        AdviceMessageKind.GP_REPLY: N_("✉️ <b>%(author)s</b> replied on %(reference)s:"),
    }
    return t._(headings[kind], author=author, reference=reference)


def _to_gp_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    request_id = int(params["request_id"])
    lines = [
        _turn_heading(t, params["kind"], author_of(t, params), params["reference"]),
        "",
        escape(params["text"]),
        "",
        t._("Reply here with the button; the conversation stays in one thread."),
    ]
    return Reply(
        "\n".join(lines),
        [
            [
                Button(
                    t._("↩️ Reply"), data=f"{CB_ADVICE}w:{request_id}:{AdviceMessageKind.GP_REPLY}"
                ),
                Button(t._("📄 Whole request"), data=f"{CB_ADVICE}open:{request_id}"),
            ]
        ],
    )


def _to_specialist_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    request_id = int(params["request_id"])
    return Reply(
        "\n".join(
            [
                _turn_heading(t, params["kind"], author_of(t, params), params["reference"]),
                "",
                escape(params["text"]),
            ]
        ),
        action_buttons(t, request_id, AdviceKind.ADVICE),
    )


def _closed_template(t: Translator, params: dict[str, Any], who: Recipient) -> Reply:
    request_id = int(params["request_id"])
    return Reply(
        "\n\n".join(
            [
                t._(
                    "✅ <b>%(reference)s is closed</b> by %(author)s: %(outcome)s.",
                    reference=params["reference"],
                    author=author_of(t, params),
                    outcome=Markup(_name(t, OUTCOME_NAMES, params.get("outcome"))),
                ),
                t._("Did the advice help?"),
            ]
        ),
        [
            [
                Button(t._(label), data=f"{CB_ADVICE}rate:{request_id}:{key}")
                for key, label in HELPED_NAMES.items()
            ]
        ],
    )


def thanks_for_rating(t: Translator) -> Reply:
    return Reply(t._("Thank you. The team reads every answer to improve the service."))


def write_prompt(t: Translator, request: AdviceRequest, kind: str) -> Reply:
    to_gp = kind != AdviceMessageKind.GP_REPLY
    lines = [
        t._(WRITING_PROMPTS[kind], reference=request.reference),
        t._("It goes to the GP with your name and title.")
        if to_gp
        else t._("It goes to the specialist who holds your request."),
    ]
    return Reply(
        "\n".join(lines), [[Button(t._("✖️ Do not send"), data=f"{CB_ADVICE}stop_writing")]]
    )


def writing_in_private(t: Translator) -> str:
    return t._("I have written to you privately: type your answer there.")


def posted(t: Translator, request: AdviceRequest, kind: str) -> Reply:
    if kind == AdviceMessageKind.GP_REPLY:
        return Reply(
            t._("✅ Sent to the specialist team (%(reference)s).", reference=request.reference)
        )
    assert request.id is not None
    return Reply(
        t._("✅ Sent to the GP (%(reference)s). What next?", reference=request.reference),
        action_buttons(t, request.id, request.kind),
    )


def stopped_writing(t: Translator) -> Reply:
    return Reply(t._("Nothing was sent."))


def choose_outcome(t: Translator, request: AdviceRequest) -> Reply:
    outcomes = HYPO_OUTCOMES if request.kind == AdviceKind.HYPO else ADVICE_OUTCOMES
    return Reply(
        t._("How did %(reference)s end?", reference=request.reference),
        [
            [Button(t._(OUTCOME_NAMES[o]), data=f"{CB_ADVICE}outcome:{request.id}:{o.value}")]
            for o in outcomes
        ],
    )


def closed(t: Translator, request: AdviceRequest) -> Reply:
    return Reply(
        t._(
            "✅ %(reference)s is closed: %(outcome)s.",
            reference=request.reference,
            outcome=Markup(_name(t, OUTCOME_NAMES, request.outcome)),
        )
    )


def released(t: Translator, request: AdviceRequest) -> Reply:
    return Reply(t._("%(reference)s is back in the team's queue.", reference=request.reference))


def hypo_action_recorded(t: Translator, request: AdviceRequest, action: str) -> Reply:
    assert request.id is not None
    return Reply(
        t._(
            "Recorded for %(reference)s: %(action)s. Close it when the follow-up is finished.",
            reference=request.reference,
            action=Markup(_name(t, HYPO_ACTION_NAMES, action)),
        ),
        action_buttons(t, request.id, request.kind),
    )


# Refusals (shown as a pop-up under the pressed button, or as a reply) -------------------------


def only_specialists(t: Translator) -> str:
    return t._("Only the diabetes specialist team can do that.")


def held_by_other(t: Translator, name: str) -> str:
    return (
        t._("%(name)s holds this request.", name=name)
        if name
        else t._("Nobody holds this request yet: claim it first.")
    )


def already_closed(t: Translator) -> str:
    return t._("This request is already closed.")


def not_found(t: Translator) -> str:
    return t._("There is no such request.")


def not_yours(t: Translator) -> str:
    return t._("Only the specialist team and the GP who asked can see this request.")


# Whole requests, the queue and a GP's list ----------------------------------------------------


def request_view(
    t: Translator,
    request: AdviceRequest,
    params: dict[str, Any],
    turns: list[AdviceMessage],
    zone: tzinfo,
    *,
    buttons: list[list[Button]],
) -> Reply:
    """The whole request with its thread, in a private chat."""
    lines = [card_text(t, params, zone)]
    if request.nhs_number:
        lines.append(t._("NHS number: %(number)s", number=_spaced(request.nhs_number)))
    if request.submitted_at:
        lines.append(t._("Sent %(when)s", when=local_when(t, request.submitted_at, zone)))
    for turn in turns:
        lines.append("")
        if turn.kind == AdviceMessageKind.HYPO_ACTION:
            lines.append(
                t._(
                    "%(when)s · %(author)s: %(action)s",
                    when=local_when(t, turn.at, zone),
                    author=turn.author_name,
                    action=Markup(_name(t, HYPO_ACTION_NAMES, turn.text)),
                )
            )
            continue
        lines.append(
            f"<i>{local_when(t, turn.at, zone)}</i> · "
            + _turn_heading(t, turn.kind, turn.author_name, request.reference)
        )
        lines.append(escape(turn.text))
    return Reply("\n".join(lines), buttons)


def open_button(t: Translator, request: AdviceRequest) -> Button:
    return Button(
        t._("Open %(reference)s", reference=request.reference),
        data=f"{CB_ADVICE}open:{request.id}",
    )


def queue_view(t: Translator, entries: list[QueueEntry], total: int, zone: tzinfo) -> Reply:
    if not entries:
        return Reply(t._("The queue is empty: no open requests."))
    lines = [
        t.ngettext(
            "<b>%(count)s open request</b>", "<b>%(count)s open requests</b>", total, count=total
        )
    ]
    rows: list[list[Button]] = []
    for entry in entries:
        request = entry.request
        due = request.due_at
        late = request.breached_at is not None
        kind = (
            t._("Hypo follow-up")
            if request.kind == AdviceKind.HYPO
            else _name(t, AREA_NAMES, request.area)
        )
        holder = t._("held by %(name)s", name=entry.holder) if entry.holder else t._("not claimed")
        lines.append(
            t._(
                "%(mark)s <b>%(reference)s</b> · %(kind)s · due %(due)s · %(holder)s · %(status)s",
                mark="⛔" if late else ("🔴" if request.urgency == AdviceUrgency.URGENT else "•"),
                reference=request.reference,
                kind=Markup(kind),
                due=Markup(local_when(t, due, zone)) if due else "",
                holder=Markup(holder),
                status=Markup(_name(t, STATUS_NAMES, request.status)),
            )
        )
        rows.append(
            [
                Button(
                    t._("Open %(reference)s", reference=request.reference),
                    data=f"{CB_ADVICE}open:{request.id}",
                )
            ]
        )
    if total > len(entries):
        lines.append(t._("…and %(count)s more.", count=total - len(entries)))
    return Reply("\n".join(lines), rows)


def my_requests(t: Translator, requests: list[AdviceRequest], zone: tzinfo) -> Reply:
    if not requests:
        return Reply(t._("You have not sent any requests yet. Ask the team with /advice."))
    lines = [t._("<b>Your requests</b>")]
    rows: list[list[Button]] = []
    for request in requests:
        lines.append(
            t._(
                "<b>%(reference)s</b> · %(area)s · sent %(sent)s · %(status)s",
                reference=request.reference,
                area=Markup(_name(t, AREA_NAMES, request.area)),
                sent=t.date(request.submitted_at.astimezone(zone).date(), "medium")
                if request.submitted_at
                else "",
                status=Markup(_name(t, STATUS_NAMES, request.status)),
            )
        )
        rows.append(
            [
                Button(
                    t._("Open %(reference)s", reference=request.reference),
                    data=f"{CB_ADVICE}open:{request.id}",
                )
            ]
        )
    return Reply("\n".join(lines), rows)


# The team's group -----------------------------------------------------------------------------


def team_code(t: Translator, code: str, expires: datetime, zone: tzinfo) -> Reply:
    return Reply(
        "\n\n".join(
            [
                t._(
                    "Your code to register the specialist team's group: <b>%(code)s</b>", code=code
                ),
                t._(
                    "Add this bot to the team's Telegram group, then send there: "
                    "<code>/register_team %(code)s</code>",
                    code=code,
                ),
                t._(
                    "It works once, until %(when)s. The group then gets every new advice "
                    "request and hypo follow-up.",
                    when=local_when(t, expires, zone),
                ),
            ]
        )
    )


def team_registered(t: Translator, title: str) -> Reply:
    return Reply(
        "\n\n".join(
            [
                t._(
                    "✅ <b>%(title)s</b> is now the specialist team's group.",
                    title=title or t._("This group"),
                ),
                t._(
                    "New advice requests and hypo follow-ups appear here as cards. Only enrolled "
                    "specialists can claim them; answers are written in a private chat with the "
                    "bot, so clinical text stays out of the group."
                ),
                t._("/queue lists open requests; /stats shows this month's figures."),
            ]
        )
    )


def team_code_refused(t: Translator) -> Reply:
    return Reply(
        t._(
            "That code is wrong, already used or out of date. Ask your admin for a new one "
            "(/team_code in a private chat with the bot)."
        )
    )


def team_only_staff(t: Translator) -> Reply:
    return Reply(
        t._(
            "Only the team's admin or a diabetes specialist enrolled in diabridge can register "
            "the team's group."
        )
    )


def register_usage(t: Translator) -> Reply:
    return Reply(t._("Send the code with the command, like this: /register_team ABCDE-23456"))


def only_admins(t: Translator) -> Reply:
    return Reply(t._("Only an admin can make a code for the team's group."))


def queue_here_only(t: Translator) -> Reply:
    return Reply(
        t._("The queue is for the specialist team: use /queue in the team's group or here.")
    )


OUTBOX_TEMPLATES = {
    "advice_card": _card_template,
    "advice_raised": _raised_template,
    "advice_breached": _breached_template,
    "advice_gp_added": _gp_added_template,
    "advice_to_gp": _to_gp_template,
    "advice_to_specialist": _to_specialist_template,
    "advice_closed": _closed_template,
}
