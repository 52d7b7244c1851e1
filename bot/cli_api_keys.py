"""`diabridge api-key ...`: bearer keys for the integration API."""

from __future__ import annotations

import argparse

from bot.settings import Settings

NAME = "api-key"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(NAME, help="API keys for the integration API")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
