"""Every outbox template by its key: what the dispatcher renders at send time."""

from __future__ import annotations

from bot import (
    advice_messages,
    appointment_messages,
    care_plan_messages,
    carer_messages,
    education_messages,
    health_check_messages,
    hypo_messages,
    messages,
    pre_review_messages,
    transition_messages,
)
from bot.messages import OutboxTemplate

OUTBOX_TEMPLATES: dict[str, OutboxTemplate] = {
    **messages.OUTBOX_TEMPLATES,
    **advice_messages.OUTBOX_TEMPLATES,
    **appointment_messages.OUTBOX_TEMPLATES,
    **care_plan_messages.OUTBOX_TEMPLATES,
    **carer_messages.OUTBOX_TEMPLATES,
    **education_messages.OUTBOX_TEMPLATES,
    **health_check_messages.OUTBOX_TEMPLATES,
    **hypo_messages.OUTBOX_TEMPLATES,
    **pre_review_messages.OUTBOX_TEMPLATES,
    **transition_messages.OUTBOX_TEMPLATES,
}
