"""`fsgs-bot`: one command line for running the assistant and for staff work in a terminal.

Each submodule adds its own subcommands through `register(subparsers)`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Subcommand modules, in the order they appear in --help.
COMMAND_MODULES = ["run", "ha", "staff", "handoff", "user", "telegram", "content"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fsgs-bot", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"bot.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args) or 0


if __name__ == "__main__":
    sys.exit(main())
