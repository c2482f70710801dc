"""The one way errors reach a user: commands, buttons and modals all answer privately through here."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from discomfy.embeds import STALE_COMMAND_ERRORS, error_embed
from discomfy.errors import DiscomfyError

log = logging.getLogger(__name__)

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
