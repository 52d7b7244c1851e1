"""`diabridge campaign ...`: send one education topic to a cohort, and follow its delivery.

The messages go through the outbox at the lowest priority, so a campaign of thousands never
holds up a reminder; the running bot sends them (30 a second at most, none in quiet hours).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TypeVar

from bot import content
from bot.cli_session import actor, in_session
from bot.i18n import LANGUAGES
from bot.services import campaigns
from bot.services.campaigns import CampaignConflict, CampaignStatus, InvalidCampaign
from bot.services.enrolment import InvalidField
from bot.settings import Settings

NAME = "campaign"

T = TypeVar("T")

# The service names each field as the API does; here the flag that set it.
FLAGS = {
    "name": "NAME",
    "topic": "--topic",
    "languages": "--language",
    "diabetes_types": "--diabetes-type",
    "roles": "--role",
    "practices": "--practice",
    "send_at": "--at",
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = commands.add_parser(
        NAME,
        help="send an education topic to a cohort, and see how it is going",
        description=(
            "Education campaigns: one topic of the library sent to everyone who matches "
            "(for example the Ramadan page to Urdu and Hindi speakers with type 2 diabetes). "
            "It goes through the outbox at the lowest priority, in each person's language, "
            "and never twice to one person."
        ),
    )
    tasks = group.add_subparsers(dest="campaign_command", required=True, metavar="TASK")
    send = tasks.add_parser(
        "send",
        help="queue a topic for a cohort (again: only people not reached yet)",
        description=(
            "Queues the topic for every active person who matches all the filters given "
            "(each filter repeated means any of its values). Without filters it goes to every "
            "patient, carer, young person and member of the public; never to staff. Sending "
            "the same campaign again reaches only people not reached yet (who joined since, "
            "or who match wider filters); a campaign's name stays with its topic."
        ),
    )
    send.add_argument("name", metavar="NAME", help="the campaign's name, e.g. ramadan-2027")
    send.add_argument("--topic", required=True, help="the topic's id (its folder in content/)")
    send.add_argument(
        "--language",
        action="append",
        default=[],
        metavar="LANG",
        help=f"only people reading this language ({', '.join(LANGUAGES)}); repeat for several",
    )
    send.add_argument(
        "--diabetes-type",
        action="append",
        default=[],
        metavar="TYPE",
        help=f"only people with this type ({', '.join(campaigns.DIABETES_TYPES)}); repeatable",
    )
    send.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help=f"only people of this role ({', '.join(campaigns.ROLES)}); repeatable",
    )
    send.add_argument(
        "--practice",
        action="append",
        default=[],
        metavar="ODS",
        help="only patients of this practice (ODS code, e.g. Y01234); repeatable",
    )
    send.add_argument(
        "--at",
        metavar="TIME",
        help='when to start sending, local time (DIABRIDGE_TIMEZONE): "2027-01-25 10:00" '
        "(default: now); people in quiet hours get it when those end",
    )
    send.add_argument(
        "--dry-run", action="store_true", help="count who would get it; queue nothing"
    )
    status = tasks.add_parser(
        "status",
        help="how many people it is for, and how many were sent, wait, failed",
        description="The campaign's people and its messages: sent, waiting, failed, cancelled.",
    )
    status.add_argument("name", metavar="NAME")
    tasks.add_parser(
        "list",
        help="every campaign with its counts",
        description="Every campaign, the latest first, with its topic, time and counts.",
    )


def _error(field: str, message: str) -> int:
    print(f"error: {FLAGS.get(field, field)}: {message}", file=sys.stderr)
    return 2


def _local(moment: datetime, settings: Settings) -> str:
    return f"{moment.astimezone(settings.zone):%Y-%m-%d %H:%M} {settings.timezone}"


def _people(number: int) -> str:
    return f"{number:,} {'person' if number == 1 else 'people'}"


def summary(entry: CampaignStatus) -> str:
    """`ramadan-2027 (ramadan): 1,204 people; sent 900, waiting 300, failed 4, cancelled 0`"""
    counts, campaign = entry.counts, entry.campaign
    return (
        f"{campaign.name} ({campaign.topic_id}): {_people(campaign.recipients)}; "
        f"sent {counts['sent']:,}, waiting {entry.waiting:,}, failed {counts['failed']:,}, "
        f"cancelled {counts['cancelled']:,}"
    )


def _send(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(UTC)
    try:
        send_at = campaigns.parse_local_time(args.at, settings.zone) if args.at else None
    except InvalidField as problem:
        return _error("send_at", problem.message)
    try:
        library = content.load_library(settings.content_dir)
    except content.ContentError as error:
        print(
            f"error: the education library in {settings.content_dir} has problems; "
            f"`diabridge content check` lists them:\n{error}",
            file=sys.stderr,
        )
        return 2
    audience = {
        "languages": args.language,
        "diabetes_types": args.diabetes_type,
        "roles": args.role,
        "practices": args.practice,
    }
    try:
        result = in_session(
            settings,
            lambda session: campaigns.send(
                session,
                name=args.name,
                topic_id=args.topic,
                audience=audience,
                send_at=send_at,
                actor=actor(),
                now=now,
                library=library,
                dry_run=args.dry_run,
            ),
        )
    except InvalidCampaign as error:
        for problem in error.problems:
            _error(problem.field, problem.message)
        return 2
    except CampaignConflict as error:
        return _error("name", str(error))
    campaign = result.campaign
    who = campaigns.Audience.from_json(campaign.audience).describe()
    if args.dry_run:
        print(
            f"Dry run, nothing queued: {_people(result.matched)} match ({who}); "
            f"{result.queued:,} would get {campaign.topic_id!r}"
            + ("" if result.created else f" ({_people(campaign.recipients)} had it before)")
            + "."
        )
        return 0
    start = _local(result.due_at, settings)
    if result.created:
        print(
            f"Campaign {campaign.name} ({campaign.topic_id}): {_people(result.queued)} queued "
            f"({who}), sending from {start}."
        )
    else:
        print(
            f"Campaign {campaign.name} ({campaign.topic_id}) was sent before: "
            f"{result.queued:,} more {'person' if result.queued == 1 else 'people'} queued, "
            f"sending from {start}; {_people(campaign.recipients)} in all."
        )
    print(f"Follow it with: diabridge campaign status {campaign.name}")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.campaign_command == "send":
        return _send(args, settings)

    if args.campaign_command == "status":
        try:
            entry = in_session(settings, lambda session: campaigns.status(session, args.name))
        except campaigns.NotFound as error:
            print(f"error: {error} (diabridge campaign list shows them)", file=sys.stderr)
            return 2
        print(summary(entry))
        print(
            f"Sending from {_local(entry.campaign.send_at, settings)}; "
            f"for {entry.audience.describe()}."
        )
        return 0

    entries = in_session(settings, campaigns.list_campaigns)
    if not entries:
        print("No campaigns yet: diabridge campaign send NAME --topic ID")
        return 0
    for entry in entries:
        print(f"{summary(entry)}; from {_local(entry.campaign.send_at, settings)}")
    return 0
