"""The one way errors reach a user: commands, buttons and modals all answer privately through here."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from discomfy.bot.embeds import STALE_COMMAND_ERRORS, error_embed
from discomfy.errors import DiscomfyError

log = logging.getLogger(__name__)

#: What the bot needs in a channel: see it, answer, embed progress, attach results, read the messages it edits.
BOT_PERMISSION_NAMES = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "attach_files": "Attach Files",
    "read_message_history": "Read Message History",
}
BOT_PERMISSIONS = discord.Permissions(**dict.fromkeys(BOT_PERMISSION_NAMES, True))

EXPECTED = (DiscomfyError, app_commands.CheckFailure, app_commands.CommandOnCooldown, *STALE_COMMAND_ERRORS)


async def send_ephemeral(interaction: discord.Interaction[Any], **kwargs: Any) -> None:
    """Answer privately, whether or not the interaction was already responded to."""
    try:
        if interaction.response.is_done():
            await interaction.followup.send(ephemeral=True, **kwargs)
        else:
            await interaction.response.send_message(ephemeral=True, **kwargs)
    except discord.HTTPException as exc:
        log.warning("Could not answer interaction %s: %s", interaction.id, exc)


async def report_error(interaction: discord.Interaction[Any], error: BaseException, *, where: str) -> None:
    """Expected errors (refusals, limits, ComfyUI's reasons) at INFO; anything else logged with its traceback."""
    if isinstance(error, EXPECTED):
        log.info("%s refused for %s: %s", where, interaction.user.id, error)
        reference = None
    else:
        log.error("Error in %s", where, exc_info=error)
        reference = f"{where} · interaction {interaction.id}"
    await send_ephemeral(interaction, embed=error_embed(error, reference=reference))


class MissingChannelPermissionsError(DiscomfyError):
    """The bot could answer the command but could not keep the job's message up to date in this channel."""


def require_channel_permissions(interaction: discord.Interaction[Any]) -> None:
    """Refuse before anything starts where a long job's result could not be posted (after the 15-minute token).

    Raises:
        MissingChannelPermissionsError: naming each missing permission.
    """
    if interaction.guild_id is None:
        return  # a DM: the interaction webhook is the only way in, and it is enough
    held = interaction.app_permissions
    missing = [label for name, label in BOT_PERMISSION_NAMES.items() if not getattr(held, name)]
    if missing:
        raise MissingChannelPermissionsError(
            "I can't post results in this channel: I'm missing "
            + ", ".join(missing)
            + ". Ask an admin to allow them for DisComfy here, or use another channel."
        )


class PrivatePanel(discord.ui.View):
    """Controls on a private message that remove themselves when they expire, so nobody clicks a dead button."""

    def __init__(self, interaction: discord.Interaction[Any], *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.latest = interaction  # the newest interaction on this message: its token can still edit it

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        self.latest = interaction
        return True

    async def on_timeout(self) -> None:
        try:
            await self.latest.edit_original_response(view=None)
        except discord.HTTPException as exc:  # the message is gone, or its token expired: nothing to tidy
            log.debug("Could not remove expired controls: %s", exc)
