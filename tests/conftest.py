"""Shared fixtures. Service tests run on SQLite (a fresh file per test) and, when
TEST_DATABASE_URL is set, again on PostgreSQL (the schema migrated once, tables emptied per test).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

from bot import i18n
from bot.db import Database
from bot.settings import REPO_ROOT, Settings

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")

i18n.configure(REPO_ROOT / "locales")

_postgres_migrated = False


def make_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "telegram_bot_token": "123456:TEST-TOKEN",
        "database_url": database_url,
        "bot_username": "diabridge_test_bot",
        "quiet_hours": "21:00-08:00",
        "timezone": "Europe/London",
        "retry_base_seconds": 30,
        "lease_seconds": 60,
        "private_chat_interval_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _fresh_sqlite(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.engine.begin() as conn:
        await conn.run_sync(SQLModel.metadata.create_all)
    return db


async def _fresh_postgres(url: str) -> Database:
    global _postgres_migrated
    db = Database(url, pool_size=5, max_overflow=20)
    if not _postgres_migrated:
        async with db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
        await db.upgrade()
        _postgres_migrated = True
    tables = ", ".join(t.name for t in SQLModel.metadata.sorted_tables)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return db


def _backends() -> list[object]:
    return [
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(not TEST_DATABASE_URL, reason="TEST_DATABASE_URL not set"),
        ),
    ]


@pytest.fixture(params=_backends())
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        assert TEST_DATABASE_URL
        database = await _fresh_postgres(TEST_DATABASE_URL)
    else:
        database = await _fresh_sqlite(tmp_path / "test.db")
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await _fresh_sqlite(tmp_path / "test.db")
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def postgres_db() -> AsyncIterator[Database]:
    if not TEST_DATABASE_URL:
        pytest.skip("TEST_DATABASE_URL not set")
    database = await _fresh_postgres(TEST_DATABASE_URL)
    try:
        yield database
    finally:
        await database.dispose()
