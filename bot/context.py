"""What handlers and jobs share in one process, built by the composition root."""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import Database
from bot.plans import Plans, load_plans
from bot.services.advice_line import Targets
from bot.settings import Settings


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    # The reminder plans, read once at start so a broken plan file stops the start; None where
    # a context is built without them (the API then reads settings.plans_file itself).
    plans: Plans | None = None

    def reminder_plans(self) -> Plans:
        return self.plans or load_plans(self.settings.plans_file)

    def advice_targets(self) -> Targets:
        """The advice line's answer targets in working days, from the settings."""
        return Targets(
            routine_days=self.settings.advice_routine_working_days,
            urgent_days=self.settings.advice_urgent_working_days,
            hypo_days=self.settings.hypo_follow_up_working_days,
        )
