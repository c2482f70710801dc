"""DiscomfyBot: the discord.py bot with the shared services hung off it, and the one app-command error handler."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.delivery import Delivery
from discomfy.bot.errors import DiscordLoginError, DiscordUnreachableError, report_error
from discomfy.bot.permissions import Admins
from discomfy.bot.places import Places
from discomfy.bot.presenter import Presenter
from discomfy.comfy import ComfyError
from discomfy.health import health_status, write_health
from discomfy.store.retention import keep_pruning
from discomfy.tasks import BackgroundTasks
from discomfy.workflows import check_against_object_info

if TYPE_CHECKING:
    from discomfy.bot.messages import Controls
    from discomfy.comfy import ComfyPool, PoolServer
    from discomfy.config import Config
    from discomfy.jobs import JobManager
    from discomfy.policy import ChannelRules, ContentPolicy
    from discomfy.workflows import WorkflowLibrary

log = logging.getLogger(__name__)

#: Loaded in setup_hook, in this order: the persistent buttons first, so old messages work from the start.
EXTENSIONS = (
    "discomfy.bot.buttons",
    "discomfy.bot.cogs.generate",
    "discomfy.bot.cogs.sweep",
    "discomfy.bot.cogs.admin",
    "discomfy.bot.cogs.servers",
    "discomfy.bot.cogs.history",
    "discomfy.bot.cogs.settings",
    "discomfy.bot.cogs.workflows",
)
HEARTBEAT_SECONDS = 15.0
COMMANDS_KEY = "synced_commands"  # the fingerprint of the command tree Discord last received


class DiscomfyTree(app_commands.CommandTree["DiscomfyBot"]):
    """Maps every error a command raises to a clear ephemeral message; logs the unexpected ones."""

    async def on_error(
        self, interaction: discord.Interaction[DiscomfyBot], error: app_commands.AppCommandError, /
    ) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        await report_error(interaction, getattr(error, "original", error), where=f"/{command}")


class DiscomfyBot(commands.Bot):
    """The bot: config, the ComfyUI servers, the JobManager and workflows, shared by every cog."""

    def __init__(
        self,
        config: Config,
        comfy: ComfyPool,
        jobs: JobManager,
        workflows: WorkflowLibrary,
        *,
        controls: Controls,
        policy: ContentPolicy,
    ) -> None:
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False  # DisComfy never joins voice
        intents = discord.Intents.none()
        intents.guilds = True  # channel and role cache; slash commands need no privileged intent
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=DiscomfyTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
        )
        self.config = config
        self.comfy = comfy
        self.jobs = jobs
        self.workflows = workflows
        self.admins = Admins(config.discord)
        self.policy = policy
        self.places = Places(self)
        self.background = BackgroundTasks()
        upscale = config.workflows.upscale
        delivery = Delivery(
            jobs=jobs,
            uploads=config.uploads,
            outputs=config.storage.outputs,
            controls=controls,
            upscale=upscale is not None and workflows.find(upscale) is not None,
        )
        self.presenter = Presenter(
            self,
            delivery,
            admins=self.admins,
            policy=policy,
            places=self.places,
            tasks=self.background,
            edit_interval=config.uploads.edit_interval,
        )

    async def serve(self, token: str) -> None:
        """Log in and stay connected until closed.

        Raises:
            DiscordLoginError: Discord refused the token.
            DiscordUnreachableError: Discord cannot be reached from this machine.
        """
        try:
            await self.start(token)
        except discord.LoginFailure as exc:
            raise DiscordLoginError() from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise DiscordUnreachableError(exc) from exc

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
            log.info("Loaded extension %s", extension)
        self.presenter.resume(await self.jobs.resume_unfinished())
        await self.sync_commands()
        self.background.spawn(self._check_workflows_against_server(), name="workflow-check")
        self.background.spawn(self._heartbeat(), name="health-heartbeat")
        storage = self.config.storage
        if storage.keep_outputs_days is not None or storage.keep_outputs_gb is not None:
            keep_bytes = int(storage.keep_outputs_gb * 2**30) if storage.keep_outputs_gb is not None else None
            pruning = keep_pruning(self.jobs.store, keep_days=storage.keep_outputs_days, keep_bytes=keep_bytes)
            self.background.spawn(pruning, name="output-retention")

    async def rules_here(self, interaction: discord.Interaction[DiscomfyBot]) -> ChannelRules:
        """The rules of the interaction's channel (inherited; a thread's are its parent's), for commands that fill
        in defaults or autocomplete. Refusals need nothing of this: `presenter.start_jobs` checks every request."""
        return await self.policy.rules_for(await self.places.of(interaction))

    @property
    def health_path(self) -> Path:
        """Beside the job store: /app/data/health.json in the Docker image, read by its HEALTHCHECK."""
        return Path(self.config.storage.database).parent / "health.json"

    async def _heartbeat(self) -> None:
        """Write the real connection state every few seconds, so a healthcheck means something; say in the log
        when it turns degraded (Discord or every ComfyUI server away) and when it is healthy again."""
        said: str | None = None  # nothing is said before Discord is first ready
        while True:
            ready, servers = self.is_ready(), {server.name: server.connected for server in self.comfy}
            status = health_status(discord_ready=ready, comfy_connected=any(servers.values()))
            if status != said and (ready or said is not None):
                away = ", ".join(name for name, up in servers.items() if not up) or "none"
                level = logging.WARNING if status == "degraded" else logging.INFO
                log.log(
                    level,
                    "Health: %s (Discord %s; ComfyUI servers not connected: %s)",
                    status,
                    "ready" if ready else "away",
                    away,
                )
                said = status
            try:
                await asyncio.to_thread(
                    write_health,
                    self.health_path,
                    discord_ready=ready,
                    comfy_connected=any(servers.values()),
                    servers=servers,
                )
            except OSError as exc:
                log.warning("Cannot write the health file %s: %s", self.health_path, exc)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _check_workflows_against_server(self) -> None:
        """Warn early about missing custom nodes or model files, once each ComfyUI server answers."""
        await asyncio.gather(*(self._check_workflows_on(server) for server in self.comfy))

    async def _check_workflows_on(self, server: PoolServer) -> None:
        where = f"ComfyUI server {server.name}" if self.comfy.multiple else "ComfyUI"
        if not await server.service.wait_connected(60):
            log.warning("%s is not reachable yet; jobs will wait for it", where)
            return
        try:
            problems = check_against_object_info(self.workflows, await server.service.object_info())
        except ComfyError as exc:
            log.warning("Could not read the node list of %s: %s", where, exc.for_log)
            return
        for problem in problems:
            log.warning("Workflow problem on %s: %s", where, problem)
        if not problems:
            log.info("Every workflow's nodes and model files are available on %s", where)

    async def sync_commands(self) -> None:
        """Instantly to the configured guilds, globally (which can take up to an hour) otherwise.

        Only when the commands changed since the last sync: Discord rate-limits syncs, and a restart loop that
        syncs every time soon hits that limit.
        """
        fingerprint = self._commands_fingerprint()
        if await self.jobs.store.get_meta(COMMANDS_KEY) == fingerprint:
            log.info("Commands unchanged since they were last synced; not syncing them again")
            return
        guild_ids = self.config.discord.guild_ids
        if guild_ids:
            for guild_id in guild_ids:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                synced = await self.tree.sync(guild=guild)
                log.info("Synced %d command(s) to guild %s", len(synced), guild_id)
        else:
            synced = await self.tree.sync()
            log.info("Synced %d command(s) globally (may take a while to show up)", len(synced))
        await self.jobs.store.set_meta(COMMANDS_KEY, fingerprint)

    def _commands_fingerprint(self) -> str:
        """What Discord would receive, and where: the application, the guilds and every command's definition."""
        commands = sorted((command.to_dict(self.tree) for command in self.tree.get_commands()), key=str)
        target = {"application": self.application_id, "guilds": sorted(self.config.discord.guild_ids)}
        text = json.dumps({"target": target, "commands": commands}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    async def close(self) -> None:
        await self.background.close()
        await self.presenter.close()
        await self.jobs.close()
        await super().close()


class ShardedDiscomfyBot(DiscomfyBot, commands.AutoShardedBot):
    """The same bot on discord.py's AutoShardedBot: one gateway connection per shard, for a bot in many guilds."""


async def recommended_shards(token: str) -> int:
    """How many shards Discord recommends for this bot (GET /gateway/bot); 1 if it cannot tell us now.

    Discord recommends more than one from about 1000 guilds, and requires sharding from 2500.
    """
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        shards, _url, _limits = await http.get_bot_gateway()
    except (discord.DiscordException, aiohttp.ClientError, OSError) as exc:
        log.info("Could not ask Discord for its recommended shard count (%s); not sharding", exc)
        return 1
    finally:
        await http.close()
    return int(shards)
