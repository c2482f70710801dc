"""DisComfy in a child process against the loopback fakes, so a test can SIGKILL it mid-job.

    python -m testing.bot_process CONFIG.yaml DISCORD_API_BASE [PAYLOAD.json]

It builds the bot exactly as bot.py does (`open_bot`), logs in to the fake Discord (which runs the
real setup_hook, and with it the recovery of unfinished jobs), optionally dispatches the
INTERACTION_CREATE payload in PAYLOAD.json (or each of a JSON list of them, in order, every one
handled before the next), prints READY and runs until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import discord

from discomfy.app import open_bot
from discomfy.config import load_config
from discomfy.log import setup_logging
from testing import payloads


async def main(config_path: Path, api_base: str, interactions: list[dict]) -> None:
    discord.http.Route.BASE = api_base
    config = load_config(config_path, env={})
    setup_logging("INFO")
    async with open_bot(config) as bot:
        await bot.login("test-token")
        for payload in interactions[:-1]:
            await payloads.dispatch_and_wait(bot, payload, timeout=30)
        if interactions:
            payloads.dispatch(bot, interactions[-1])
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        await asyncio.Event().wait()


if __name__ == "__main__":
    loaded = json.loads(Path(sys.argv[3]).read_text()) if len(sys.argv) > 3 else []
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], loaded if isinstance(loaded, list) else [loaded]))
