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
import os
import signal
import sys
from pathlib import Path

import discord

from discomfy.app import open_bot
from discomfy.config import load_config
from discomfy.log import setup_logging
from testing import payloads

REPO = Path(__file__).resolve().parents[1]


async def start_bot_process(
    config: Path, api_base: str, payload: dict | list[dict] | None = None
) -> asyncio.subprocess.Process:
    """Start this module as a child bot process; returns once it printed READY."""
    args = [str(config), api_base]
    if payload is not None:
        payload_file = config.with_name("payload.json")
        payload_file.write_text(json.dumps(payload))
        args.append(str(payload_file))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "testing.bot_process",
        *args,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.strip() == b"READY", line
    return process


async def kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL: no cleanup, no flush, as a crash or an OOM kill would end it."""
    process.send_signal(signal.SIGKILL)
    await process.wait()


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
