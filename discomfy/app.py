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
from discomfy.bot.controls import JobControls
from discomfy.comfy import DEFAULT_SERVER, ComfyError, ComfyPool
from discomfy.comfy.object_info import ObjectInfo
from discomfy.config import Config
from discomfy.jobs import JobManager
from discomfy.policy import ContentPolicy
from discomfy.store import JobStore
from discomfy.store.settings import SettingsStore
from discomfy.workflows import load_workflows
from discomfy.workflows.loader import has_ui_graphs

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_bot(
    config: Config, *, store: JobStore | None = None, sharded: bool = False
) -> AsyncIterator[DiscomfyBot]:
    """The bot with its services, not yet logged in; everything it opened is closed on exit.

    `store` lets a caller keep one open job store across several bots (a restart in a test); by default the
    bot opens `storage.database` itself. `sharded`: on discord.py's AutoShardedBot (see `run`).
    """
    async with contextlib.AsyncExitStack() as stack:
        if store is None:
            store = await stack.enter_async_context(JobStore(config.storage.database))
        job_store = store  # the server of comfy.url keeps the client_id every version before stored
        pool = await ComfyPool.open(
            config.comfy.enabled_servers(),
            lambda name: job_store.client_id(None if name == DEFAULT_SERVER else name),
        )
        stack.push_async_callback(pool.close)
        workflows = load_workflows(config.workflows.directory, await _node_list_if_needed(config, pool))
        log.info("Loaded %d workflow(s): %s", len(workflows), ", ".join(workflows.names))
        jobs = JobManager(pool, workflows, store, config.limits, config.scheduler)
        policy = ContentPolicy(
            SettingsStore(store),
            workflows,
            default_workflow=config.workflows.default,
            runnable=lambda spec: jobs.scheduler.can_run(spec.graph),
        )
        bot_class = ShardedDiscomfyBot if sharded else DiscomfyBot
        bot = await stack.enter_async_context(
            bot_class(config, pool, jobs, workflows, controls=JobControls(), policy=policy)
        )
        yield bot


async def _node_list_if_needed(config: Config, pool: ComfyPool) -> ObjectInfo | None:
    """A ComfyUI node list when the workflows folder holds UI-format saves, which are converted with it: the
    first server's that answers (a save that uses nodes only another server has is converted when that one does,
    by /workflow reload)."""
    if not has_ui_graphs(config.workflows.directory):
        return None
    for server in pool:
        try:
            return await server.service.object_info()
        except ComfyError as exc:
            log.warning("Cannot read %s's node list to convert the UI-format workflows: %s", server.name, exc.for_log)
    return None


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
