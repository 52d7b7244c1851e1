"""Every outbox template by its key: what the dispatcher renders at send time."""

from __future__ import annotations

from bot import appointment_messages, carer_messages, messages
from bot.messages import OutboxTemplate

OUTBOX_TEMPLATES: dict[str, OutboxTemplate] = {
    **messages.OUTBOX_TEMPLATES,
    **appointment_messages.OUTBOX_TEMPLATES,
    **carer_messages.OUTBOX_TEMPLATES,
}
