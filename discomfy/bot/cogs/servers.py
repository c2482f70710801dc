"""/server drain and /server resume: an admin takes a ComfyUI server out of the rotation, and back."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.limits import CHOICE_TEXT, MAX_CHOICES
from discomfy.bot.permissions import admin_only

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot

log = logging.getLogger(__name__)


@app_commands.default_permissions(manage_guild=True)
class ServerCog(
    commands.GroupCog, group_name="server", group_description="Take a ComfyUI server out of the rotation, or back"
):
    """Drain a server before maintenance (what runs there finishes, nothing new goes there); resume it after."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(name="drain")
    @app_commands.describe(name="The server, as comfy.servers names it")
    @admin_only()
    async def drain(self, interaction: discord.Interaction[DiscomfyBot], name: str) -> None:
        """Send no new jobs to a ComfyUI server; what runs or waits there finishes."""
        await self._set(interaction, name, drained=True)

    @app_commands.command(name="resume")
    @app_commands.describe(name="The server, as comfy.servers names it")
    @admin_only()
    async def resume(self, interaction: discord.Interaction[DiscomfyBot], name: str) -> None:
        """Let a drained ComfyUI server take new jobs again."""
        await self._set(interaction, name, drained=False)

    async def _set(self, interaction: discord.Interaction[DiscomfyBot], name: str, *, drained: bool) -> None:
        server = await self.bot.jobs.scheduler.set_drained(name.strip(), drained)
        log.info("/server %s %s by %s", "drain" if drained else "resume", server.name, interaction.user.id)
        if drained:
            text = f"Server **{server.name}** is drained: what runs or waits there finishes, nothing new goes there."
        else:
            text = f"Server **{server.name}** takes new jobs again."
        await interaction.response.send_message(embed=discord.Embed(description=text), ephemeral=True)

    @drain.autocomplete("name")
    @resume.autocomplete("name")
    async def _server_choices(
        self, interaction: discord.Interaction[DiscomfyBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.user not in self.bot.admins:  # autocomplete does not run the command's checks
            return []
        names = [server.name for server in self.bot.comfy if current.lower() in server.name.lower()]
        return [app_commands.Choice(name=name[:CHOICE_TEXT], value=name) for name in names][:MAX_CHOICES]


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(ServerCog(bot))
