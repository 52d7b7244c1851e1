"""The whole bot (the real PTB Application from the composition root) against the fake Bot API.

A test plays users with `UserSim`, feeds their updates through `BotUnderTest.send`, and reads
what the bot said from the fake server.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from telegram import Update
from telegram.ext import Application

from bot.app import build_application
from bot.context import AppContext
from bot.db import Database
from bot.i18n import translator
from bot.services import enrolment
from bot.settings import Settings
from scheduler.dispatcher import DispatchReport, OutboxDispatcher
from tests.conftest import make_settings
from tests.fake_bot_api import FakeBotAPI, SentMessage

# Words that may stay in Latin letters in a Hindi or Urdu message.
LATIN_ALLOWED = {
    "nhs",
    "diabridge",
    "gp",
    "dka",
    "hba1c",
    "abcde",
    "telegram",
    "json",
    "ods",
    "id",
    # What meters, results letters and services show, kept as the library's readers see them
    # (content/README.md): units, and the names of bodies and courses.
    "mmol",
    "mol",
    "mmhg",
    "nice",
    "dvla",
    "desmond",
    "pert",
    "dafne",
}
# People's names as the tests register them: a name is written as the person writes it.
TEST_NAMES = {
    "irfan",
    "ahmed",
    "khadija",
    "elsie",
    "brian",
    "shah",
    "test",
    "amy",
    "nurse",
    "patel",
    "riverside",
    "surgery",
    "high",
    "street",
    "sam",
    "transition",
    "worker",
    "jones",
}


def assert_no_english(text: str) -> None:
    """A Hindi or Urdu message must not fall back to English words."""
    visible = re.sub(r"<[^>]+>", " ", text)
    visible = re.sub(r"/[a-z_]+", " ", visible)  # commands stay as they are
    visible = re.sub(r"\b[\w.-]+\.(uk|com|org)\b", " ", visible, flags=re.I)  # web addresses
    words = [
        w
        # "HbA1c" is one word, letters and digits together; a code like "Y01234" is not a word.
        for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", visible)
        if len(re.sub(r"\d.*", "", w)) >= 3 and w.lower() not in LATIN_ALLOWED | TEST_NAMES
    ]
    assert not words, f"English left in the message: {words}\n{text}"


def said(language: str, message: str, **params: object) -> str:
    """A message exactly as the bot sends it in that language (Urdu marks included)."""
    t = translator(language)
    return t.finish(t._(message, **params))


def plain(text: str) -> str:
    """Text without the invisible direction marks, for looking for numbers and words."""
    return re.sub("[\u200e\u200f\u2066-\u2069]", "", text)


@dataclass
class BotUnderTest:
    fake: FakeBotAPI
    application: Application  # type: ignore[type-arg]
    ctx: AppContext

    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    async def send(self, update: dict) -> None:
        await self.application.process_update(Update.de_json(update, self.application.bot))

    async def dispatch(self) -> DispatchReport:
        dispatcher = OutboxDispatcher(self.db, self.application.bot, self.settings, "test")
        return await dispatcher.run_once()

    def said_to(self, chat_id: int) -> list[SentMessage]:
        return self.fake.messages_to(chat_id)

    def last(self, chat_id: int) -> SentMessage:
        messages = self.fake.messages_to(chat_id)
        assert messages, f"the bot said nothing to {chat_id}"
        return messages[-1]

    async def register_patient(
        self,
        *,
        nhs_number: str = "943 476 5919",
        name: str = "Irfan Ahmed",
        language: str = "ur",
        dob: str = "1984-03-02",
        practice: str = "Y01234",
        now: datetime | None = None,
    ) -> enrolment.IssuedCode:
        async with self.db.session() as session:
            return await enrolment.register_patient(
                session,
                nhs_number_text=nhs_number,
                name=name,
                date_of_birth=dob,
                practice=practice,
                language=language,
                actor="cli:test",
                now=now or datetime.now(UTC),
                valid_days=14,
                timezone="Europe/London",
            )

    async def invite_staff(
        self, role: str, name: str, practice: str | None = "Y01234", title: str = ""
    ):
        async with self.db.session() as session:
            return await enrolment.invite_staff(
                session,
                role=role,
                name=name,
                practice=practice,
                language="en",
                actor="cli:test",
                now=datetime.now(UTC),
                valid_days=14,
                timezone="Europe/London",
                job_title=title,
            )


@asynccontextmanager
async def running_bot(tmp_path: Path, **settings: object) -> AsyncIterator[BotUnderTest]:
    fake = FakeBotAPI()
    root = await fake.start()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    config = make_settings(db_url, telegram_api_url=root, **settings)
    db = Database(db_url)
    await db.upgrade()
    ctx = AppContext(settings=config, db=db)
    application = build_application(ctx)
    try:
        async with application:
            yield BotUnderTest(fake=fake, application=application, ctx=ctx)
    finally:
        await db.dispose()
        await fake.stop()


def button_texts(fake: FakeBotAPI, message: SentMessage) -> list[str]:
    return [text for row in fake.buttons(message) for text, _ in row]


def press(fake: FakeBotAPI, user: object, message: SentMessage, fragment: str) -> dict:
    """Presses the button whose label contains `fragment` (labels may carry a ✓ or emoji)."""
    matches = [text for text in button_texts(fake, message) if fragment in text]
    assert len(matches) == 1, f"no single button with {fragment!r}: {button_texts(fake, message)}"
    return user.press(message, matches[0])  # type: ignore[attr-defined]
