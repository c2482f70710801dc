"""Where an interaction comes from, as the rules see it (`policy.Place`): its channel, the category, the parent of
a thread or forum post, and whether the channel is age-restricted.

The guild cache (the `guilds` intent) usually knows a thread's parent; when it does not, the parent is fetched
once and remembered for a minute, so autocomplete in a thread does not ask Discord on every keystroke.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import discord

from discomfy.policy import Place

log = logging.getLogger(__name__)

PARENT_TTL = 60.0  # seconds a fetched parent channel's category and age restriction are trusted


@dataclass(frozen=True, slots=True)
class _Parent:
    category_id: int | None
    nsfw: bool
    fetched_at: float


class Places:
    """Turns interactions into places; one per bot."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client
        self._parents: dict[int, _Parent] = {}

    async def of(self, interaction: discord.Interaction[Any]) -> Place:
        channel = interaction.channel
        channel_id = interaction.channel_id or 0
        guild_id = interaction.guild_id
        if guild_id is None:
            return Place(channel_id)
        if isinstance(channel, discord.Thread):
            parent = await self._parent(channel)
            return Place(
                channel_id,
                guild_id,
                parent_id=channel.parent_id,
                category_id=parent.category_id if parent else None,
                nsfw=parent.nsfw if parent else False,
            )
        return Place(
            channel_id,
            guild_id,
            category_id=getattr(channel, "category_id", None),
            nsfw=bool(getattr(channel, "nsfw", False)),
        )

    async def _parent(self, thread: discord.Thread) -> _Parent | None:
        cached = thread.parent
        if cached is not None:
            return _Parent(cached.category_id, cached.is_nsfw(), time.monotonic())
        known = self._parents.get(thread.parent_id)
        if known is not None and time.monotonic() - known.fetched_at < PARENT_TTL:
            return known
        try:
            fetched = await self.client.fetch_channel(thread.parent_id)
        except discord.HTTPException as exc:
            log.warning("Could not look up the parent %s of thread %s: %s", thread.parent_id, thread.id, exc)
            return None
        parent = _Parent(getattr(fetched, "category_id", None), bool(getattr(fetched, "nsfw", False)), time.monotonic())
        self._parents[thread.parent_id] = parent
        return parent
