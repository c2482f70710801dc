"""The `python -m discomfy` command line: one parser, each subcommand registered by its own module."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from discomfy import __version__
from discomfy.cli.analyze import add_analyze_command
from discomfy.cli.check import add_check_command
from discomfy.cli.convert import add_convert_command
from discomfy.cli.run import add_run_command
from discomfy.cli.sweep import add_sweep_command
from discomfy.log import setup_logging

Subparsers = argparse._SubParsersAction  # argparse exposes no public name for it
SUBCOMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    add_analyze_command,
    add_check_command,
    add_convert_command,
    add_run_command,
    add_sweep_command,
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser; each registrar adds one subcommand and sets its `handler`."""
    parser = argparse.ArgumentParser(prog="python -m discomfy", description="DisComfy tools for ComfyUI workflows.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, run the chosen subcommand, return its exit code."""
    args = build_parser().parse_args(argv)
    setup_logging("DEBUG" if args.verbose else "WARNING")
    return int(args.handler(args))
