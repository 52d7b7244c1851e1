"""Prometheus metrics served at GET /metrics."""

from prometheus_client import Counter, Histogram

OUTBOX_OUTCOMES = Counter(
    "diabridge_outbox_outcomes_total",
    "Outbox rows handled by the dispatcher, by outcome",
    ["outcome"],
)
UPDATES = Counter("diabridge_updates_total", "Telegram updates received", ["source"])
UPDATE_SECONDS = Histogram("diabridge_update_seconds", "Time to handle one Telegram update")
RED_FLAGS = Counter("diabridge_red_flags_total", "Red-flag replies sent, by action", ["action"])
