"""What handlers and jobs share in one process, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Database
from bot.settings import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
