"""discord.sharding: a bot in many guilds runs on discord.py's AutoShardedBot, as Discord recommends."""

from __future__ import annotations

from pathlib import Path

import discord

from discomfy.app import open_bot
from discomfy.bot.bot import DiscomfyBot, recommended_shards
from testing.botkit import make_config
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI


async def test_discord_is_asked_how_many_shards_it_recommends(fake_discord: FakeDiscordAPI) -> None:
    assert await recommended_shards("test-token") == 1
    fake_discord.recommended_shards = 3  # a bot in about 3000 guilds
    assert await recommended_shards("test-token") == 3


async def test_a_refused_token_means_no_sharding_and_the_login_itself_says_why(fake_discord: FakeDiscordAPI) -> None:
    fake_discord.token = "the-token"
    fake_discord.recommended_shards = 3
    assert await recommended_shards("not-the-token") == 1


async def test_the_sharded_bot_is_the_same_bot_on_autoshardedbot(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    config = make_config(tmp_path, fake_comfy.url)
    async with open_bot(config, sharded=True) as bot:
        await bot.login("test-token")
        assert isinstance(bot, DiscomfyBot)
        assert isinstance(bot, discord.AutoShardedClient)
        assert bot.tree.get_command("generate") is not None  # setup_hook ran as for the plain bot
    assert config.discord.sharding == "auto"
