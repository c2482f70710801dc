"""The one composition root: builds the store, the ComfyUI servers' pool, the jobs and the bot, for every caller.

bot.py, the test kit, the benchmarks and tools all start DisComfy through `open_bot`, so a service added here
is there for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator

from discomfy.bot.bot import DiscomfyBot, ShardedDiscomfyBot, recommended_shards
from discomfy.bot.buttons import JobControls
from discomfy.comfy import DEFAULT_SERVER, ComfyPool
from discomfy.config import Config
from discomfy.jobs import JobManager
from discomfy.store import JobStore
from discomfy.workflows import load_workflows

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_bot(
    config: Config, *, store: JobStore | None = None, sharded: bool = False
) -> AsyncIterator[DiscomfyBot]:
    """The bot with its services, not yet logged in; everything it opened is closed on exit.

    `store` lets a caller keep one open job store across several bots (a restart in a test); by default the
    bot opens `storage.database` itself. `sharded`: on discord.py's AutoShardedBot (see `run`).
    """
    workflows = load_workflows(config.workflows.directory)
    log.info("Loaded %d workflow(s): %s", len(workflows), ", ".join(workflows.names))
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(JobStore(config.storage.database))
        job_store = store  # the server of comfy.url keeps the client_id every version before stored
        pool = await ComfyPool.open(
            config.comfy.enabled_servers(),
            lambda name: job_store.client_id(None if name == DEFAULT_SERVER else name),
        )
        stack.push_async_callback(pool.close)
        jobs = JobManager(pool, workflows, store, config.limits, config.scheduler)
        bot_class = ShardedDiscomfyBot if sharded else DiscomfyBot
        bot = await stack.enter_async_context(bot_class(config, pool, jobs, workflows, controls=JobControls()))
        yield bot


async def run(config: Config) -> None:
    """Run the bot until SIGINT/SIGTERM, then close the WebSocket and sessions cleanly.

    Raises:
        DiscordLoginError, DiscordUnreachableError: Discord refused the token, or cannot be reached.
    """
    assert config.discord.token is not None  # load_config(require_token=True) checked it
    token = config.discord.token.reveal()
    sharding = config.discord.sharding
    sharded = sharding == "on" or (sharding == "auto" and await recommended_shards(token) > 1)
    if sharded:
        log.info("Connecting to Discord with automatic sharding (discord.sharding: %s)", sharding)
    async with open_bot(config, sharded=sharded) as bot:
        running = asyncio.create_task(bot.serve(token), name="discord")
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
        if running.done() and not running.cancelled() and (error := running.exception()) is not None:
            raise error
    log.info("DisComfy stopped")
