"""A bot restart loses no job: SIGKILL a real bot process mid-job and start another on the same store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from discomfy.store import JobRecord, JobStatus, JobStore
from testing import payloads
from testing.bot_process import kill, start_bot_process
from testing.botkit import install_models, make_config, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def result_uploads(fake: FakeDiscordAPI) -> list:
    """Answered requests that carried a result file (live previews are `preview.jpg`)."""
    return [r for r in fake.requests if r.status == 200 and any(f.filename != "preview.jpg" for f in r.files)]


@pytest.fixture
def setup(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> Path:
    install_models(fake_comfy)
    fake_comfy.step_delay = 0.05
    make_config(tmp_path, fake_comfy.url)
    return tmp_path / "config.yaml"


@pytest.mark.parametrize("finished_while_down", [True, False], ids=["finished-while-down", "still-running"])
async def test_a_bot_killed_mid_job_delivers_the_result_once_in_the_original_message(
    setup: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, finished_while_down: bool
):
    payload = payloads.slash_command("generate", {"prompt": "a lighthouse at dusk", "steps": 40})
    first = await start_bot_process(setup, fake_discord.api_base, payload)
    try:
        await fake_comfy.wait_running(timeout=20)
        message_id = await fake_discord.wait_for(lambda: fake_discord.interaction(payload).original_message_id, 20)
    finally:
        await kill(first)
    if finished_while_down:
        await fake_comfy.wait_idle(timeout=20)
    second = await start_bot_process(setup, fake_discord.api_base)
    try:
        await fake_discord.wait_for(lambda: result_uploads(fake_discord), 30)
        await asyncio.sleep(1.0)  # room for a wrong second delivery to show up
    finally:
        await kill(second)
    message = fake_discord.messages[message_id]
    assert [a["filename"].rsplit(".", 1)[-1] for a in message["attachments"]] in (["png"], ["webp"])
    (upload,) = result_uploads(fake_discord)
    assert upload.path.endswith(str(message_id)) or upload.path.endswith("@original")
    assert len([m for m in fake_discord.messages.values() if m.get("attachments")]) == 1
    async with JobStore(setup.parent / "discomfy.sqlite3") as store:
        (record,) = await store.by_message_id(message_id)
    assert record.status is JobStatus.DONE


async def test_a_job_lost_by_a_comfyui_restart_is_reported_with_a_retry_that_works(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
):
    fake_comfy.step_delay = 0.05
    async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
        payload = await kit.command("generate", {"prompt": "a lighthouse at dusk", "steps": 60})
        await fake_comfy.wait_running(timeout=20)
        await fake_comfy.restart(downtime=0.2)  # the job vanishes with ComfyUI's memory
        await kit.settle()
        message = kit.message(payload)
        embed = message["embeds"][0]
        assert embed["title"] == "Lost"
        assert "restarted" in json.dumps(embed)
        retry = next(c for row in message["components"] for c in row["components"] if ":retry:" in c["custom_id"])
        fake_comfy.step_delay = 0.005
        click = payloads.button_click(retry["custom_id"], message=message)
        await payloads.dispatch_and_wait(kit.bot, click)
        await kit.settle()
        (record,) = [r for r in await kit.store.history(payloads.USER_ID, limit=5) if r.status is JobStatus.DONE]
        assert record.graph is not None
        assert record.message_id is not None
        assert result_uploads(fake_discord)


async def test_a_job_recorded_but_never_sent_is_reported_as_such_after_a_restart(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
):
    async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
        record = JobRecord(
            job_id="f" * 32,
            owner_id=payloads.USER_ID,
            guild_id=payloads.GUILD_ID,
            channel_id=payloads.CHANNEL_ID,
            message_id=None,
            workflow="txt2img_sdxl",
            params={"prompt": "a lighthouse"},
            seed=7,
            prompt_id="0" * 8 + "-0000-4000-8000-" + "0" * 12,
            batch_id=None,
            batch_index=None,
            status=JobStatus.CREATED,
            created_at=1.0,
            graph={"3": {"class_type": "KSampler", "inputs": {}}},
        )
        await kit.store.add(record)  # as if the bot died between writing the job and POST /prompt
        kit = await kit.restart()
        await kit.settle()
        stored = await kit.store.get(record.job_id)
    assert stored is not None
    assert stored.status is JobStatus.LOST
    assert stored.error == "The bot stopped before ComfyUI received this job, so nothing ran. Retry starts it."
    posted = [m for m in fake_discord.messages.values() if m.get("embeds")]
    assert any("nothing ran" in json.dumps(m["embeds"]) for m in posted)
