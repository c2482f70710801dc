"""Start-up: commands synced where configured, admin commands hinted, and a heartbeat that means something."""

from __future__ import annotations

import json
from pathlib import Path

import discord

from discomfy.health import check_health
from testing import payloads
from testing.botkit import start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI


async def test_commands_sync_globally_with_admin_commands_hidden_by_default(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
):
    async with start_bot(fake_discord, fake_comfy, tmp_path):
        commands = {c["name"]: c for c in fake_discord.commands[None]}
    assert {"generate", "batch", "interrupt", "queue", "history", "stats"} <= set(commands)
    manage_guild = discord.Permissions(manage_guild=True).value
    for name in ("interrupt", "queue", "stats"):
        assert int(commands[name]["default_member_permissions"]) == manage_guild
    assert commands["generate"]["default_member_permissions"] is None


async def test_commands_sync_instantly_to_configured_guilds(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
):
    async with start_bot(fake_discord, fake_comfy, tmp_path, discord={"guild_ids": [payloads.GUILD_ID]}):
        synced = fake_discord.commands.get(payloads.GUILD_ID, [])
    assert "generate" in {c["name"] for c in synced}


async def test_commands_are_synced_again_only_when_they_changed(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
):
    def syncs() -> int:
        return len(fake_discord.calls("PUT", r"^/applications/\d+/commands$"))

    async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
        assert syncs() == 1
        kit = await kit.restart()  # same commands, same store: Discord already has them
        assert syncs() == 1
        kit.bot.tree.remove_command("stats")
        await kit.bot.sync_commands()  # a changed tree (an upgrade that adds or drops a command) is synced
        assert syncs() == 2
        assert "stats" not in {c["name"] for c in fake_discord.commands[None]}


async def test_the_heartbeat_reports_real_connection_states(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
):
    async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
        health = kit.bot.health_path
        await fake_comfy.wait_until(health.exists)
        beat = json.loads(health.read_text())
    assert beat["comfy_connected"] is True
    assert beat["discord_ready"] is False  # logged in over REST only: no gateway in the tests
    healthy, reason = check_health(health)
    assert not healthy
    assert reason == "not connected to Discord"
