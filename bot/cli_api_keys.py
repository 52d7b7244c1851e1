"""`diabridge api-key ...`: bearer keys for the integration API.

`create` prints the key once, alone on standard output (so a script can capture it); only its
hash is stored, so a lost key is revoked and a new one made, never looked up.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TypeVar

from bot.cli_session import actor, in_session
from bot.services import api_keys
from bot.services.enrolment import InvalidField
from bot.settings import Settings

NAME = "api-key"

T = TypeVar("T")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        NAME,
        help="API keys for the integration API (/api/v1)",
        description="Bearer keys that let another system call /api/v1.",
    )
    tasks = group.add_subparsers(dest="api_key_command", required=True, metavar="TASK")
    create = tasks.add_parser(
        "create",
        help="make a key and print it once",
        description="Make a key for one system and print it once; only its hash is kept.",
    )
    create.add_argument("name", metavar="NAME", help="who uses it, e.g. emis-y01234")
    create.add_argument(
        "--scope",
        action="append",
        choices=api_keys.SCOPES,
        help="what the key may do: patients (register patients, transition programme), "
        "appointments, health-checks (NHS Health Check cohorts), hypo-callouts (the "
        "ambulance service's severe-hypo call-outs), campaigns (send an education topic to a "
        "cohort), advice-line (the advice line's requests and times, for reporting), "
        "care-planning (results in, the pre-review summary and care plans); repeat for "
        f"several (default: {' and '.join(api_keys.DEFAULT_SCOPES)})",
    )
    tasks.add_parser("list", help="list the keys: scopes, when made, last used, revoked")
    revoke = tasks.add_parser("revoke", help="stop a key at once")
    revoke.add_argument("name", metavar="NAME")


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def run(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    if args.api_key_command == "create":
        try:
            issued = in_session(
                settings,
                lambda session: api_keys.create(
                    session, args.name, scopes=args.scope, now=now, actor=actor()
                ),
            )
        except InvalidField as error:
            print(f"error: {error.field}: {error.message}", file=sys.stderr)
            return 2
        print(issued.key)
        print(
            f"API key {issued.name!r} (scopes: {', '.join(issued.scopes)}). It is shown only "
            "now: store it in the other system's secrets. Send it as "
            "`Authorization: Bearer <key>`.",
            file=sys.stderr,
        )
        return 0

    if args.api_key_command == "revoke":
        try:
            in_session(
                settings,
                lambda session: api_keys.revoke(session, args.name, now=now, actor=actor()),
            )
        except api_keys.NotFound as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"API key {args.name!r} is revoked; requests with it now get 401.")
        return 0

    keys = in_session(settings, api_keys.list_keys)
    if not keys:
        print("No API keys yet: diabridge api-key create NAME")
        return 0
    rows = [("NAME", "SCOPES", "CREATED (UTC)", "LAST USED", "REVOKED")]
    rows += [
        (
            key.name,
            ",".join(key.scopes),
            _when(key.created_at),
            _when(key.last_used_at),
            _when(key.revoked_at),
        )
        for key in keys
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0
