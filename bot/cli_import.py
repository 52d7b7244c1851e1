"""`diabridge import ...`: patients and appointments from CSV files."""

from __future__ import annotations

import argparse

from bot.settings import Settings

NAME = "import"


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    commands.add_parser(NAME, help="import patients or appointments from a CSV file")


def run(args: argparse.Namespace, settings: Settings) -> int:
    raise NotImplementedError
