"""Start DisComfy: `python bot.py` (runs the bot) or `python bot.py --check` (checks everything, then exits)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from dotenv import load_dotenv

from discomfy import __version__
from discomfy.app import run
from discomfy.config import DEFAULT_CONFIG_PATH, load_config
from discomfy.errors import DiscomfyError
from discomfy.log import setup_logging

log = logging.getLogger("discomfy")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bot.py",
        description="DisComfy: a Discord bot for your ComfyUI server. Reads config.yaml (optional) and "
        "DISCORD_TOKEN from the environment or .env.",
    )
    parser.add_argument(
        "--config", type=Path, default=None, help=f"config file (default: {DEFAULT_CONFIG_PATH} if it exists)"
    )
    parser.add_argument(
        "--check", action="store_true", help="check config, token, workflows and ComfyUI, print every problem, exit"
    )
    parser.add_argument("--version", action="version", version=f"DisComfy {__version__}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_dotenv()
    if args.check:
        from discomfy.cli.check import run_checks

        return asyncio.run(run_checks(args.config))
    try:
        config = load_config(args.config or DEFAULT_CONFIG_PATH, require_token=True)
    except DiscomfyError as exc:
        sys.stderr.write(f"{exc}\n\nRun `python bot.py --check` for a full diagnosis.\n")
        return 2
    setup_logging(config.logging.level, secrets=config.secret_values())
    try:
        asyncio.run(run(config))
    except DiscomfyError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
