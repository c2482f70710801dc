"""Where the day's features meet: channel rules, age-restricted workflows and spoilers on every path that shows or
starts work (autocomplete, buttons, sweeps), end to end through the fake Discord and ComfyUI."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from discomfy.bot.controls import JobControls
from discomfy.policy import Scope
from discomfy.store import JobRecord, JobStatus
from discomfy.workflows import build_workflow
from discomfy.workflows.manage import remove_workflow
from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI
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


async def test_retry_of_a_job_whose_workflow_was_removed_is_refused_like_every_other_button(kit: BotKit) -> None:
    """Its graph would otherwise run unchecked: the channel allows only txt2img_sdxl, the job was sdxl_alt's."""
    await kit.bot.policy.update_settings(
        Scope.CHANNEL, LOUNGE, guild_id=payloads.GUILD_ID, by=ADMIN, workflows=("txt2img_sdxl",)
    )
    built = build_workflow(kit.bot.workflows.get("sdxl_alt"), {"prompt": "a lighthouse"})
    lost = JobRecord(
        job_id=uuid.uuid4().hex, owner_id=payloads.USER_ID, guild_id=payloads.GUILD_ID, channel_id=LOUNGE,
        message_id=None, workflow="sdxl_alt", params=dict(built.values), seed=built.seed or 0,
        prompt_id=str(uuid.uuid4()), batch_id=None, batch_index=None, status=JobStatus.LOST, created_at=time.time(),
        error="ComfyUI restarted", error_kind="lost", graph=built.graph,
    )  # fmt: skip
    await kit.bot.jobs.store.add(lost)
    remove_workflow(kit.bot.workflows, "sdxl_alt")
    message = kit.discord.add_message(
        payloads.message(components=JobControls().retry(lost).to_components(), author=payloads.bot_user())
    )
    click = payloads.button_click(f"discomfy:retry:{lost.job_id}", message=message, **at(LOUNGE))
    await payloads.dispatch_and_wait(kit.bot, click)

    answer = kit.callback(click).json
    assert answer["type"] == 4, answer
    assert answer["data"]["flags"] & FLAG_EPHEMERAL
    assert "sdxl_alt" in answer["data"]["embeds"][0]["description"]
    assert kit.comfy.prompts_received == 0
