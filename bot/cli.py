"""The `diabridge` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot import cli_api_keys, cli_campaigns, cli_content, cli_import, cli_session
from bot.content import ContentError, load_library
from bot.db import Database, upgrade_database
from bot.i18n import LANGUAGES
from bot.models import Practice
from bot.plans import PlanFileError, load_plans
from bot.services import enrolment, practices
from bot.services.enrolment import InvalidField, IssuedCode
from bot.settings import Settings, load_settings

COMMAND_GROUPS = (cli_api_keys, cli_campaigns, cli_content, cli_import)

NO_TOKEN = """\
diabridge needs a Telegram bot token to run.

  1. In Telegram, open @BotFather and send /newbot; it gives you a token.
  2. Put it in a file named .env in this folder:
         TELEGRAM_BOT_TOKEN=123456:ABC...
     (or set TELEGRAM_BOT_TOKEN in the environment), then run `diabridge run` again.
"""


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and the URL holds the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # aiosqlite logs each statement with its parameters (NHS numbers among them) at DEBUG.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


async def _bot_username(settings: Settings) -> str | None:
    if settings.bot_username:
        return settings.bot_username.lstrip("@")
    if not settings.telegram_bot_token:
        return None
    from telegram import Bot

    bot = Bot(
        settings.telegram_bot_token,
        base_url=f"{settings.api_root}/bot",
        base_file_url=f"{settings.api_root}/file/bot",
    )
    try:
        async with bot:
            return bot.username
    except Exception:
        return None


def _print_code(issued: IssuedCode, username: str | None, who: str) -> None:
    verb = "New code for" if issued.reissued else "Enrolment code for"
    print(f"{verb} {who}: {issued.display}")
    print(f"Single use; expires {issued.expires_at:%Y-%m-%d %H:%M} UTC.")
    if username:
        print(f"Link: https://t.me/{username}?start={issued.code}")
    else:
        print(f"Link: https://t.me/<bot username>?start={issued.code}")
        print("(Set TELEGRAM_BOT_USERNAME, or TELEGRAM_BOT_TOKEN, to print the full link.)")


async def _register(args: argparse.Namespace, settings: Settings) -> IssuedCode:
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        async with db.session() as session:
            now = datetime.now(UTC)
            days = args.valid_days or settings.enrolment_code_days
            if args.command == "patient":
                return await enrolment.register_patient(
                    session,
                    nhs_number_text=args.nhs_number,
                    name=args.name,
                    date_of_birth=args.dob,
                    practice=args.practice,
                    language=args.language,
                    actor=cli_session.actor(),
                    now=now,
                    valid_days=days,
                    timezone=settings.timezone,
                    diabetes_type=args.diabetes_type,
                    diagnosed_on=args.diagnosed_on,
                )
            return await enrolment.invite_staff(
                session,
                role=args.role,
                name=args.name,
                practice=args.practice,
                language=args.language,
                actor=cli_session.actor(),
                now=now,
                valid_days=days,
                timezone=settings.timezone,
                job_title=args.title,
            )
    finally:
        await db.dispose()


async def _set_practice(args: argparse.Namespace, settings: Settings) -> Practice:
    db = Database(settings.database_url)
    try:
        await db.upgrade()
        async with db.session() as session:
            return await practices.update_details(
                session,
                args.ods,
                name=args.name,
                phone=args.phone,
                booking_url=args.booking_url,
                actor=cli_session.actor(),
                now=datetime.now(UTC),
            )
    finally:
        await db.dispose()


def _positive_days(raw: str) -> int:
    value = int(raw)
    if not 1 <= value <= 90:
        raise argparse.ArgumentTypeError("between 1 and 90 days")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diabridge", description="diabridge: a Telegram bot for integrated diabetes care."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the bot (polling by default)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="serve POST /telegram/webhook instead of polling "
        "(needs WEBHOOK_URL and WEBHOOK_SECRET)",
    )

    db = commands.add_parser("db", help="database tasks")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="TASK")
    db_commands.add_parser("upgrade", help="apply pending migrations")

    patient = commands.add_parser("patient", help="patients registered by a practice")
    patient_commands = patient.add_subparsers(dest="patient_command", required=True, metavar="TASK")
    add = patient_commands.add_parser(
        "add", help="register a patient and print their single-use enrolment code and link"
    )
    add.add_argument(
        "--nhs-number", required=True, help='10 digits, spaces allowed: "943 476 5919"'
    )
    add.add_argument("--name", required=True, help="the patient's name as they use it")
    add.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    add.add_argument("--practice", required=True, help="the GP practice's ODS code, e.g. Y01234")
    add.add_argument(
        "--language", default="en", help=f"one of {', '.join(LANGUAGES)}; pre-selected for them"
    )
    add.add_argument("--valid-days", type=_positive_days, help="days the code works (default 14)")
    add.add_argument(
        "--diabetes-type",
        metavar="TYPE",
        help="type1, type2 or other; fits the education library to them",
    )
    add.add_argument(
        "--diagnosed-on",
        metavar="YYYY-MM-DD",
        help="the day of diagnosis; within 180 days, they are offered the course for their type",
    )

    invite = commands.add_parser(
        "invite", help="invite a member of staff; prints a single-use code and link"
    )
    invite.add_argument("--role", required=True, choices=["gp", "nurse", "specialist", "admin"])
    invite.add_argument("--name", required=True)
    invite.add_argument("--practice", help="the practice's ODS code (required for gp and nurse)")
    invite.add_argument("--language", default="en", help=f"one of {', '.join(LANGUAGES)}")
    invite.add_argument(
        "--title",
        default="",
        help='job title the GP sees under an answer, e.g. "Diabetes specialist nurse"',
    )
    invite.add_argument(
        "--valid-days", type=_positive_days, help="days the code works (default 14)"
    )

    practice = commands.add_parser("practice", help="a GP practice's details")
    practice_commands = practice.add_subparsers(
        dest="practice_command", required=True, metavar="TASK"
    )
    set_practice = practice_commands.add_parser(
        "set", help="set the name, phone and booking link shown to the practice's patients"
    )
    set_practice.add_argument("ods", help="the practice's ODS code, e.g. Y01234")
    set_practice.add_argument("--name")
    set_practice.add_argument("--phone", help='for rebooking, e.g. "01632 960123"')
    set_practice.add_argument("--booking-url", help="an https:// link to book online")

    plans = commands.add_parser("plans", help="reminder plans")
    plans_commands = plans.add_subparsers(dest="plans_command", required=True, metavar="TASK")
    check = plans_commands.add_parser(
        "check", help="read a plan file and list its reminders, or say what is wrong"
    )
    check.add_argument("file", nargs="?", help="default: DIABRIDGE_PLANS_FILE")

    # Larger command groups live beside this module; each adds its parser and runs itself.
    for group in COMMAND_GROUPS:
        group.add_parser(commands)
    return parser


def _check_plans(args: argparse.Namespace, settings: Settings) -> int:
    try:
        plans = load_plans(args.file or settings.plans_file)
    except PlanFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sections = [(kind.value, events) for kind, events in plans.appointments.items()]
    sections.append(("health_check_invitations", plans.health_check_invitations))
    for name, events in sections:
        rows = [
            f"{event.offset:+d} {event.unit}" + (f" at {event.at:%H:%M}" if event.at else "")
            for event in events
        ]
        print(f"{name}: {', '.join(rows) or 'no reminders'}")
    for step in plans.annual_review_preparation:
        print(
            f"annual review preparation: {step.template} {step.offset:+d} {step.unit} "
            f"from the {step.relative_to}" + (f" at {step.at:%H:%M}" if step.at else "")
        )
    every = plans.goal_check_ins
    print(f"goal check-ins: every {every.every} {every.unit} at {every.at:%H:%M}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except Exception as error:
        print(f"error: the settings are not valid: {error}", file=sys.stderr)
        return 2

    if args.command == "run":
        if not settings.telegram_bot_token:
            print(NO_TOKEN, file=sys.stderr)
            return 2
        if args.webhook and not (settings.webhook_url and settings.webhook_secret):
            print(
                "error: webhook mode needs WEBHOOK_URL (the public https address of "
                "/telegram/webhook) and WEBHOOK_SECRET (a random string Telegram sends back).",
                file=sys.stderr,
            )
            return 2
        # A mistake in the reminder plans stops the start, with its line: running on without
        # them would silently send nobody their reminders.
        try:
            load_plans(settings.plans_file)
        except PlanFileError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        # Likewise the education library: a page with a broken link or a missing language
        # is not shown to anyone; `diabridge content check` says the same in more detail.
        try:
            load_library(settings.content_dir)
        except ContentError as error:
            print(f"error: the education library is not fit to show:\n{error}", file=sys.stderr)
            return 2
        _configure_logging()
        from bot.app import serve

        asyncio.run(serve(settings, webhook=args.webhook))
        return 0

    if args.command == "db":
        upgrade_database(settings.database_url)
        print("database is up to date")
        return 0

    if args.command == "plans":
        return _check_plans(args, settings)

    if args.command == "practice":
        try:
            practice = asyncio.run(_set_practice(args, settings))
        except InvalidField as error:
            print(f"error: {error.field}: {error.message}", file=sys.stderr)
            return 2
        print(
            f"{practice.ods_code}: {practice.name}; phone {practice.phone or '(none)'}; "
            f"booking {practice.booking_url or '(none)'}; "
            f"staff chat {'linked' if practice.staff_chat_id else 'not linked (/practice_chat)'}"
        )
        return 0

    for group in COMMAND_GROUPS:
        if args.command == group.NAME:
            return group.run(args, settings)

    if args.command in ("patient", "invite"):
        try:
            issued = asyncio.run(_register(args, settings))
        except InvalidField as error:
            print(f"error: {error.field}: {error.message}", file=sys.stderr)
            return 2
        username = asyncio.run(_bot_username(settings))
        who = args.name if args.command == "patient" else f"{args.name} ({args.role})"
        _print_code(issued, username, who)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
