"""Where the day's features meet: channel rules, age-restricted workflows and spoilers on every path that shows or
starts work (autocomplete, buttons, sweeps), end to end through the fake Discord and ComfyUI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI
from tests.test_community import ADMIN, AFTER_DARK, DM, LOUNGE, NSFW, _workflows, at


@pytest_asyncio.fixture
async def kit(tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy) -> AsyncIterator[BotKit]:
    fake_discord.add_channel(payloads.text_channel(AFTER_DARK, name="after-dark", nsfw=True))
    async with start_bot(
        fake_discord,
        fake_comfy,
        tmp_path,
        workflows=_workflows(tmp_path),
        discord={"guild_ids": [payloads.GUILD_ID], "admin_user_ids": [ADMIN]},
        limits={"cooldown_seconds": 0, "max_pending_per_user": 10},
    ) as started:
        yield started


async def _choices(kit: BotKit, command: str, option: str, where: int, **options: str) -> list[str]:
    payload = payloads.autocomplete(command, option, "", {"prompt": "x", **options}, **at(where))
    await payloads.dispatch_and_wait(kit.bot, payload)
    return [choice["value"] for choice in kit.discord.interaction(payload).autocomplete_choices or []]


async def test_an_age_restricted_workflow_named_outside_its_channels_offers_nothing_of_itself(kit: BotKit) -> None:
    """Typing an nsfw workflow's name in a normal channel or a DM must not list its parameters and choices."""
    assert "cfg" in await _choices(kit, "sweep", "x", AFTER_DARK, x="cfg", x_values="1", workflow=NSFW)
    for where in (LOUNGE, DM):
        assert await _choices(kit, "sweep", "x", where, x="cfg", x_values="1", workflow=NSFW) == []
        assert await _choices(kit, "sweep", "settings", where, x="cfg", x_values="1", workflow=NSFW) == []
        assert await _choices(kit, "generate", "settings", where, workflow=NSFW) == []
