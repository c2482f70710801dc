"""Start DisComfy: `python bot.py` (runs the bot) or `python bot.py --check` (checks everything, then exits)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
from dotenv import load_dotenv

from discomfy import __version__
from discomfy.bot import DiscomfyBot
from discomfy.comfy import ComfyService
from discomfy.config import DEFAULT_CONFIG_PATH, Config, load_config
from discomfy.errors import DiscomfyError
from discomfy.jobs import JobManager
from discomfy.log import setup_logging
from discomfy.store import JobStore
from discomfy.workflows import load_workflows

log = logging.getLogger("discomfy")

CLIENT_ID_KEY = "comfy_client_id"


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
        from discomfy.checks import run_checks

        return asyncio.run(run_checks(args.config))
    try:
        config = load_config(args.config or DEFAULT_CONFIG_PATH, require_token=True)
    except DiscomfyError as exc:
        sys.stderr.write(f"{exc}\n\nRun `python bot.py --check` for a full diagnosis.\n")
        return 2
    setup_logging(config.logging.level, secrets=config.secret_values())
    try:
        asyncio.run(run_bot(config))
    except DiscomfyError as exc:
        log.error("%s", exc)
        return 1
    except (aiohttp.ClientError, OSError) as exc:
        log.error("Cannot reach Discord (%s). Check this machine's network and DNS, then start again.", exc)
        return 1
    except discord.LoginFailure:
        log.error(
            "Discord refused DISCORD_TOKEN (was it reset?). Copy a new one from the Developer Portal "
            "(your application > Bot > Reset Token) into .env, then start again."
        )
        return 1
    return 0


@contextlib.asynccontextmanager
async def open_bot(config: Config) -> AsyncIterator[DiscomfyBot]:
    """Build the services once (store, the one ComfyService, jobs, workflows) and the bot that shares them."""
    workflows = load_workflows(config.workflows.directory)
    log.info("Loaded %d workflow(s): %s", len(workflows), ", ".join(workflows.names))
    async with JobStore(config.storage.database) as store:
        client_id = await store.get_meta(CLIENT_ID_KEY)
        if client_id is None:  # kept across restarts: ComfyUI routes old jobs' messages by it
            client_id = uuid.uuid4().hex
            await store.set_meta(CLIENT_ID_KEY, client_id)
        async with ComfyService(config.comfy, client_id=client_id) as comfy:
            jobs = JobManager(comfy, workflows, store, config.limits)
            async with DiscomfyBot(config, comfy, jobs, workflows) as bot:
                yield bot


async def run_bot(config: Config) -> None:
    """Run the bot until SIGINT/SIGTERM, then close the WebSocket and sessions cleanly."""
    async with open_bot(config) as bot:
        assert config.discord.token is not None  # load_config(require_token=True) checked it
        running = asyncio.create_task(bot.start(config.discord.token.reveal()), name="discord")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stopping = asyncio.create_task(stop.wait(), name="signals")
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("Signal received: closing the WebSocket and sessions")
        stopping.cancel()
        await bot.close()
        if running.done() and not running.cancelled() and running.exception() is not None:
            raise running.exception()  # type: ignore[misc]
    log.info("DisComfy stopped")


if __name__ == "__main__":
    sys.exit(main())
