"""Enrolled patients for the benchmarks, as rows for one bulk insert."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.models import PersonStatus


def enrolled_patient_rows(
    count: int, first_user_id: int, languages: tuple[str, ...] = ("en",)
) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "role": "patient",
            "display_name": f"Patient {n}",
            "language": languages[n % len(languages)],
            "timezone": "Europe/London",
            "telegram_user_id": first_user_id + n,
            "telegram_chat_id": first_user_id + n,
            "status": PersonStatus.ACTIVE,
            "registered_by": "bench",
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
