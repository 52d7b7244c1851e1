"""Settings from the environment and `.env` (the names are part of the outside contract)."""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent

_QUIET_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _env(name: str) -> AliasChoices:
    # Settings are read by their exact contract name only, so a typo never silently binds.
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    telegram_bot_token: str | None = Field(None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_api_url: str = Field(
        "https://api.telegram.org", validation_alias=_env("TELEGRAM_API_URL")
    )
    bot_username: str | None = Field(None, validation_alias=_env("TELEGRAM_BOT_USERNAME"))
    database_url: str = Field(
        "sqlite+aiosqlite:///./diabridge.db", validation_alias=_env("DATABASE_URL")
    )
    http_host: str = Field("127.0.0.1", validation_alias=_env("HTTP_HOST"))
    http_port: int = Field(8080, validation_alias=_env("HTTP_PORT"))
    webhook_url: str | None = Field(None, validation_alias=_env("WEBHOOK_URL"))
    webhook_secret: str | None = Field(None, validation_alias=_env("WEBHOOK_SECRET"))
    timezone: str = Field("Europe/London", validation_alias=_env("DIABRIDGE_TIMEZONE"))
    quiet_hours: str = Field("21:00-08:00", validation_alias=_env("DIABRIDGE_QUIET_HOURS"))
    enrolment_code_days: int = Field(14, validation_alias=_env("DIABRIDGE_ENROLMENT_CODE_DAYS"))
    locales_dir: Path = Field(REPO_ROOT / "locales", validation_alias=_env("DIABRIDGE_LOCALES_DIR"))
    health_check_invites_per_day: int = Field(
        200, validation_alias=_env("DIABRIDGE_HEALTH_CHECK_INVITES_PER_DAY"), ge=1
    )
    content_dir: Path = Field(REPO_ROOT / "content", validation_alias=_env("DIABRIDGE_CONTENT_DIR"))
    plans_file: Path = Field(
        REPO_ROOT / "content" / "plans.yaml", validation_alias=_env("DIABRIDGE_PLANS_FILE")
    )

    # The advice line: answer targets in working days (09:00-17:00, Monday to Friday, without
    # bank holidays), and the largest photo or document a GP may attach (Telegram lets a bot
    # fetch files up to 20 MB).
    advice_routine_working_days: float = Field(
        2, validation_alias=_env("DIABRIDGE_ADVICE_ROUTINE_DAYS"), gt=0
    )
    advice_urgent_working_days: float = Field(
        1, validation_alias=_env("DIABRIDGE_ADVICE_URGENT_DAYS"), gt=0
    )
    hypo_follow_up_working_days: float = Field(
        1, validation_alias=_env("DIABRIDGE_HYPO_FOLLOW_UP_DAYS"), gt=0
    )
    advice_attachment_max_mb: float = Field(
        20, validation_alias=_env("DIABRIDGE_ADVICE_ATTACHMENT_MAX_MB"), gt=0
    )

    # Outbox dispatch. Telegram's published limits are the defaults.
    rate_overall_per_second: float = Field(30, validation_alias=_env("DIABRIDGE_RATE_PER_SECOND"))
    rate_group_per_minute: float = Field(
        20, validation_alias=_env("DIABRIDGE_GROUP_RATE_PER_MINUTE")
    )
    private_chat_interval_seconds: float = Field(
        1.0, validation_alias=_env("DIABRIDGE_PRIVATE_CHAT_INTERVAL")
    )
    dispatch_interval_seconds: float = Field(
        1.0, validation_alias=_env("DIABRIDGE_DISPATCH_INTERVAL")
    )
    dispatch_batch_size: int = Field(200, validation_alias=_env("DIABRIDGE_DISPATCH_BATCH"))
    dispatch_concurrency: int = Field(16, validation_alias=_env("DIABRIDGE_DISPATCH_CONCURRENCY"))
    lease_seconds: int = Field(60, validation_alias=_env("DIABRIDGE_LEASE_SECONDS"))
    max_send_attempts: int = Field(5, validation_alias=_env("DIABRIDGE_MAX_SEND_ATTEMPTS"))
    retry_base_seconds: float = Field(30, validation_alias=_env("DIABRIDGE_RETRY_BASE_SECONDS"))

    @field_validator("quiet_hours")
    @classmethod
    def _check_quiet_hours(cls, value: str) -> str:
        if value.strip() and not _QUIET_HOURS.match(value):
            raise ValueError("DIABRIDGE_QUIET_HOURS must look like 21:00-08:00, or be empty")
        return value

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def quiet_period(self) -> tuple[time, time] | None:
        match = _QUIET_HOURS.match(self.quiet_hours)
        if not match:
            return None
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        return time(h1, m1), time(h2, m2)

    @property
    def api_root(self) -> str:
        return self.telegram_api_url.rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
