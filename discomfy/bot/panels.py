"""Private panels: controls on an ephemeral message that tidy themselves away when they expire."""

from __future__ import annotations

import logging
from typing import Any

import discord

log = logging.getLogger(__name__)

PANEL_TIMEOUT = 600.0  # how long /queue's and /history's controls answer clicks


class PrivatePanel(discord.ui.View):
    """Controls on a private message that remove themselves when they expire, so nobody clicks a dead button."""

    def __init__(self, interaction: discord.Interaction[Any], *, timeout: float = PANEL_TIMEOUT) -> None:
        super().__init__(timeout=timeout)
        self.latest = interaction  # the newest interaction on this message: its token can still edit it

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        self.latest = interaction
        return True

    async def on_timeout(self) -> None:
        try:
            await self.latest.edit_original_response(view=None)
        except discord.HTTPException as exc:  # the message is gone, or its token expired: nothing to tidy
            log.debug("Could not remove expired controls: %s", exc)
