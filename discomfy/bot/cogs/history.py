"""/history and /stats: what was made, by whom, and how the GPU fared."""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.embeds import history_embed, stats_embed
from discomfy.bot.errors import OthersHistoryError, report_error, send_ephemeral
from discomfy.bot.panels import PANEL_TIMEOUT, PrivatePanel
from discomfy.bot.permissions import admin_only

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot

log = logging.getLogger(__name__)

PAGE_SIZE = 5
DAY = 86400.0


class HistoryCog(commands.Cog, name="History"):
    """Members page through their own jobs; admins may look at anyone's and at the numbers."""

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot

    @app_commands.command(name="history")
    @app_commands.describe(user="Whose jobs to show (admins only, for someone else)", page="Which page, 1 = newest")
    async def history(
        self,
        interaction: discord.Interaction[DiscomfyBot],
        user: discord.User | None = None,
        page: app_commands.Range[int, 1, 10_000] = 1,
    ) -> None:
        """Your recent jobs, with their prompts, seeds and links to their messages."""
        owner_id = user.id if user is not None else interaction.user.id
        if owner_id != interaction.user.id and interaction.user not in self.bot.admins:
            raise OthersHistoryError()
        view = HistoryView(self.bot, interaction, owner_id=owner_id, page=page)
        embed = await view.load()
        await interaction.response.send_message(embed=embed, view=view, ephemeral=True)

    @app_commands.command(name="stats")
    @app_commands.describe(days="How many days back to count (default 7)")
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def stats(
        self, interaction: discord.Interaction[DiscomfyBot], days: app_commands.Range[int, 1, 3650] = 7
    ) -> None:
        """Jobs per day, queue wait and run time per workflow, failures and busiest users."""
        await interaction.response.defer(ephemeral=True, thinking=True)  # a big store takes more than 3 s
        stats = await self.bot.jobs.store.stats(since=time.time() - days * DAY)
        await interaction.followup.send(embed=stats_embed(stats, days=days), ephemeral=True)


class HistoryView(PrivatePanel):
    """Previous/Next over one member's jobs; only the member who asked can page."""

    def __init__(
        self, bot: DiscomfyBot, interaction: discord.Interaction[DiscomfyBot], *, owner_id: int, page: int
    ) -> None:
        super().__init__(interaction, timeout=PANEL_TIMEOUT)
        self.bot = bot
        self.viewer_id = interaction.user.id
        self.owner_id = owner_id
        self.page = page
        self.pages = 1

    async def load(self) -> discord.Embed:
        """Read the current page from the store (clamped to the last page) and set the buttons."""
        store = self.bot.jobs.store
        total = await store.count_for_owner(self.owner_id)
        self.pages = max(1, math.ceil(total / PAGE_SIZE))
        self.page = min(max(1, self.page), self.pages)
        records = await store.history(self.owner_id, limit=PAGE_SIZE, offset=(self.page - 1) * PAGE_SIZE)
        self.previous_page.disabled = self.page <= 1
        self.next_page.disabled = self.page >= self.pages
        return history_embed(records, owner_id=self.owner_id, page=self.page, pages=self.pages, total=total)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.viewer_id:
            return await super().interaction_check(interaction)
        await send_ephemeral(interaction, content="Run /history yourself to page through jobs.")
        return False

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous_page(
        self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]
    ) -> None:
        self.page -= 1
        await interaction.response.edit_message(embed=await self.load(), view=self)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next_page(self, interaction: discord.Interaction[DiscomfyBot], button: discord.ui.Button[Any]) -> None:
        self.page += 1
        await interaction.response.edit_message(embed=await self.load(), view=self)

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_error(interaction, error, where="the /history buttons")


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(HistoryCog(bot))
