"""/settings (admins: a channel's, category's or the server's settings, the prompt blocklist) and /preferences
(everyone: their own defaults). Every answer is private; the panels are in settings_panels.py."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from discomfy.bot.embeds import excerpt
from discomfy.bot.limits import EMBED_DESCRIPTION
from discomfy.bot.permissions import admin_only
from discomfy.bot.settings_panels import PreferencesPanel, ScopePanel, SettingsPanel, rules_embed
from discomfy.policy import Place, Scope

if TYPE_CHECKING:
    from discomfy.bot.bot import DiscomfyBot

    Interaction = discord.Interaction[DiscomfyBot]

log = logging.getLogger(__name__)

MAX_PATTERN_OPTION = 200


class SettingsCog(commands.Cog, name="Settings"):
    """Channel settings and the blocklist for admins; personal defaults for everyone."""

    settings = app_commands.Group(
        name="settings",
        description="DisComfy's settings per channel, category and server, and the prompt blocklist (admins)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )
    blocklist = app_commands.Group(name="blocklist", description="The server's prompt blocklist", parent=settings)

    def __init__(self, bot: DiscomfyBot) -> None:
        self.bot = bot

    @settings.command(name="channel")
    @app_commands.describe(channel="A channel, or a category for all its channels (default: here; a thread's parent)")
    @admin_only()
    async def channel(self, interaction: Interaction, channel: app_commands.AppCommandChannel | None = None) -> None:
        """Set what DisComfy does in one channel or a whole category: a private panel."""
        if channel is not None and channel.type is discord.ChannelType.category:
            scope, scope_id, label = Scope.CATEGORY, channel.id, f"the category {channel.name}"
        elif channel is not None:
            scope, scope_id, label = Scope.CHANNEL, channel.id, f"<#{channel.id}>"
        else:
            place = await self.bot.places.of(interaction)
            scope, scope_id, label = Scope.CHANNEL, place.settings_channel, f"<#{place.settings_channel}>"
        panel = ScopePanel(self.bot, interaction, scope=scope, scope_id=scope_id, label=label)
        await _open(self.bot, interaction, panel)

    @settings.command(name="server")
    @admin_only()
    async def server(self, interaction: Interaction) -> None:
        """Set what DisComfy does in every channel of this server that does not set it itself: a private panel."""
        assert interaction.guild_id is not None  # guild_only
        panel = ScopePanel(self.bot, interaction, scope=Scope.GUILD, scope_id=interaction.guild_id, label="this server")
        await _open(self.bot, interaction, panel)

    @settings.command(name="show")
    @app_commands.describe(channel="Which channel or category (default: here)")
    @admin_only()
    async def show(self, interaction: Interaction, channel: app_commands.AppCommandChannel | None = None) -> None:
        """The settings in effect in a channel, and where each one comes from."""
        if channel is None:
            place = await self.bot.places.of(interaction)
            label = f"<#{place.settings_channel}>"
        elif channel.type is discord.ChannelType.category:
            place = Place(channel.id, interaction.guild_id, category_id=channel.id)
            label = f"the category {channel.name}"
        else:
            place = Place(channel.id, interaction.guild_id, category_id=channel.category_id, nsfw=channel.nsfw)
            label = f"<#{channel.id}>"
        rules = await self.bot.policy.rules_for(place)
        count = len((await self.bot.policy.blocklist(interaction.guild_id)).rules)
        await interaction.response.send_message(
            embed=rules_embed(rules, label=label, blocklist_rules=count), ephemeral=True
        )

    @blocklist.command(name="add")
    @app_commands.describe(
        pattern="A word or phrase (or a regular expression with regex: True)",
        regex="Read the pattern as a regular expression",
        partial="Match inside words too (default: whole words only)",
    )
    @admin_only()
    async def block_add(
        self,
        interaction: Interaction,
        pattern: app_commands.Range[str, 1, MAX_PATTERN_OPTION],
        regex: bool = False,
        partial: bool = False,
    ) -> None:
        """Refuse prompts (and negative prompts) containing this, on every way of starting a job."""
        assert interaction.guild_id is not None
        policy = self.bot.policy
        added = await policy.add_block(
            interaction.guild_id, pattern, regex=regex, whole_word=not partial, by=interaction.user.id
        )
        kind = "regular expression" if regex else "word"
        text = f"Added the {kind} rule ||{pattern}||." if added else f"That {kind} rule was already there (updated)."
        await interaction.response.send_message(text, ephemeral=True)

    @blocklist.command(name="remove")
    @app_commands.describe(pattern="The rule exactly as added, or its number in /settings blocklist list")
    @admin_only()
    async def block_remove(
        self, interaction: Interaction, pattern: app_commands.Range[str, 1, MAX_PATTERN_OPTION]
    ) -> None:
        """Remove a rule from the server's prompt blocklist."""
        assert interaction.guild_id is not None
        removed = await self.bot.policy.remove_block(interaction.guild_id, pattern, by=interaction.user.id)
        text = f"Removed {removed} rule(s)." if removed else "No rule matches that; see /settings blocklist list."
        await interaction.response.send_message(text, ephemeral=True)

    @blocklist.command(name="list")
    @admin_only()
    async def block_list(self, interaction: Interaction) -> None:
        """The server's prompt blocklist, numbered (privately, as spoilers)."""
        assert interaction.guild_id is not None
        entries = await self.bot.policy.store.blocklist(interaction.guild_id)
        lines = [
            f"`{number}` {'regex' if entry.regex else 'word'}{'' if entry.whole_word else ' (inside words too)'}: "
            f"||{entry.pattern}||"
            for number, entry in enumerate(entries, start=1)
        ]
        embed = discord.Embed(title=f"Prompt blocklist · {len(entries)} rule(s)", colour=discord.Colour.blurple())
        embed.description = excerpt("\n".join(lines), EMBED_DESCRIPTION) if lines else "No rules yet."
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="preferences")
    async def preferences(self, interaction: Interaction) -> None:
        """Your own defaults (workflow, size, negative prompt, spoilers), applied under each channel's rules."""
        await _open(self.bot, interaction, PreferencesPanel(self.bot, interaction))


async def _open(bot: DiscomfyBot, interaction: Interaction, panel: SettingsPanel) -> None:
    embed = await panel.draw()
    await interaction.response.send_message(embed=embed, view=panel, ephemeral=True)


async def setup(bot: DiscomfyBot) -> None:
    await bot.add_cog(SettingsCog(bot))
