"""The HTTP side (webhook, health, readiness, metrics), the command line, and migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel, select

from bot import cli
from bot.context import AppContext
from bot.db import Database
from bot.models import Person
from bot.web import SECRET_HEADER, build_web_app
from tests.conftest import make_settings
from tests.fake_bot_api import UserSim
from tests.harness import running_bot


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_webhook_refuses_a_request_without_the_secret_and_serves_one_with_it(tmp_path):
    async with running_bot(tmp_path, webhook_secret="s3cret-token") as bot:
        await bot.application.start()
        runner, base = await _serve(build_web_app(bot.ctx, bot.application))
        user = UserSim(900_001)
        try:
            async with aiohttp.ClientSession() as http:
                for headers in ({}, {SECRET_HEADER: "wrong"}):
                    async with http.post(
                        f"{base}/telegram/webhook", json=user.text("/start"), headers=headers
                    ) as response:
                        assert response.status == 403
                        assert response.content_type == "application/problem+json"
                assert bot.said_to(900_001) == []
                async with http.post(
                    f"{base}/telegram/webhook",
                    data="not json",
                    headers={SECRET_HEADER: "s3cret-token"},
                ) as response:
                    assert response.status == 400
                async with http.post(
                    f"{base}/telegram/webhook",
                    json=user.text("/start"),
                    headers={SECRET_HEADER: "s3cret-token"},
                ) as response:
                    assert response.status == 200
                [choose] = await bot.fake.wait_for_messages(900_001, 1)
                assert "Please choose your language" in choose.text
        finally:
            await runner.cleanup()
            await bot.application.stop()


async def test_health_readiness_and_metrics(tmp_path):
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'web.db'}")
    db = Database(settings.database_url)
    runner, base = await _serve(build_web_app(AppContext(settings=settings, db=db), None))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 503  # migrations not applied yet
                assert "diabridge db upgrade" in (await response.json(content_type=None))["detail"]
            await db.upgrade()
            async with http.get(f"{base}/readyz") as response:
                assert response.status == 200
            async with http.get(f"{base}/metrics") as response:
                assert "diabridge_outbox_outcomes_total" in await response.text()
            async with http.post(f"{base}/telegram/webhook", json={}) as response:
                assert response.status in (404, 405)  # polling mode serves no webhook
    finally:
        await runner.cleanup()
        await db.dispose()


def test_patient_add_prints_a_code_and_link(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "diabridge_nhs_bot")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    code = cli.main(
        [
            "patient",
            "add",
            "--nhs-number",
            "943 476 5919",
            "--name",
            "Irfan Ahmed",
            "--dob",
            "1984-03-02",
            "--practice",
            "Y01234",
            "--language",
            "ur",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Enrolment code for Irfan Ahmed:" in out
    assert "https://t.me/diabridge_nhs_bot?start=" in out
    assert "9434765919" not in out and "943 476 5919" not in out


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--nhs-number", "943 476 5918"], "--nhs-number"),
        (["--dob", "1984-13-01"], "--dob"),
        (["--language", "pa"], "--language"),
    ],
)
def test_patient_add_refuses_a_wrong_field(tmp_path, monkeypatch, capsys, args, field):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    base = {
        "--nhs-number": "943 476 5919",
        "--name": "Irfan",
        "--dob": "1984-03-02",
        "--practice": "Y01234",
        "--language": "ur",
    }
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    argv = ["patient", "add"] + [part for pair in base.items() for part in pair]
    assert cli.main(argv) == 2
    assert f"error: {field}:" in capsys.readouterr().err


def test_invite_prints_a_code_for_staff(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["invite", "--role", "specialist", "--name", "Ian"]) == 0
    assert "Enrolment code for Ian (specialist)" in capsys.readouterr().out
    assert cli.main(["invite", "--role", "gp", "--name", "Dr Shah"]) == 2
    assert "--practice" in capsys.readouterr().err


def test_run_without_a_token_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "@BotFather" in err and ".env" in err


def test_every_command_has_help(capsys):
    for argv in (
        ["--help"],
        ["run", "--help"],
        ["db", "upgrade", "--help"],
        ["patient", "add", "--help"],
        ["invite", "--help"],
    ):
        with pytest.raises(SystemExit) as done:
            cli.main(argv)
        assert done.value.code == 0
    assert "--nhs-number" in capsys.readouterr().out


async def test_migrations_build_exactly_the_schema_the_models_describe(db: Database):
    fresh = Database(db.url) if db.is_postgres else Database(db.url.replace("test.db", "m.db"))
    try:
        if not fresh.is_postgres:
            await fresh.upgrade()
        async with fresh.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), SQLModel.metadata)
            )
        assert diff == []
        assert await fresh.migrations_current()
    finally:
        await fresh.dispose()


async def test_polling_mode_runs_the_whole_process(tmp_path):
    """`diabridge run`: migrations, default command menus, polling, the outbox job, HTTP."""
    from bot.app import serve
    from tests.fake_bot_api import FakeBotAPI

    fake = FakeBotAPI()
    root = await fake.start()
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        telegram_api_url=root,
        http_port=0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, webhook=False, stop=stop))
    try:
        user = UserSim(910_001, language_code="hi")
        fake.push_update(user.text("/start"))
        [choose] = await fake.wait_for_messages(910_001, 1, timeout=15)
        assert "✓ हिन्दी" in [text for row in fake.buttons(choose) for text, _ in row]
        commands = fake.commands()
        assert ("all_private_chats", "hi") in commands and ("all_private_chats", "ur") in commands
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await fake.stop()
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            assert (await session.exec(select(Person))).all() == []
    finally:
        await db.dispose()
