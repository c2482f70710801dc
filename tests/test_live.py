"""Live job messages: coalesced edits, previews, queue places, token expiry, deleted messages, restarts."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio

from testing import payloads
from testing.botkit import BASE_CONFIG, CHANNEL_EDIT, CHANNEL_POST, BotKit, StrictDiscordAPI, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI, guard_loopback


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    async with start_bot(fake_discord, fake_comfy, tmp_path) as kit:
        yield kit


@pytest_asyncio.fixture
async def strict_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StrictDiscordAPI]:
    """A fake Discord that answers 429 to a third edit of a message within the kit's edit interval."""
    guard_loopback(monkeypatch)
    async with StrictDiscordAPI(min_edit_gap=BASE_CONFIG["uploads"]["edit_interval"], burst=2) as fake:
        fake.install(monkeypatch)
        yield fake


def title(message: dict[str, Any]) -> str:
    return message["embeds"][0]["title"] if message.get("embeds") else ""


async def first_state_shown(kit: BotKit, payload: dict[str, Any]) -> int:
    await kit.discord.wait_for(lambda: kit.original_edits(payload), timeout=5)
    return kit.message_id(payload)


# ---- coalescing ---------------------------------------------------------------------------------------


async def test_edits_are_coalesced_far_below_the_progress_rate_ending_on_the_final_state(kit: BotKit) -> None:
    kit.comfy.step_delay = 0.03
    payload = await kit.command("generate", {"prompt": "a slow fox", "steps": 40})
    await kit.settle()

    progress_messages = 40
    interval = kit.config.uploads.edit_interval
    edits = kit.edits_of(kit.message_id(payload))
    assert 3 <= len(edits) < progress_messages
    *progress, result = edits
    # The next progress edit waits `interval` from the answer to the previous one, which the fake stamped on
    # arrival, so no interval holds two of them however loaded the machine is. The result is not paced.
    crowded = [b for a, b in itertools.pairwise(progress) if b.received_at - a.received_at < interval]
    assert crowded == []
    assert result.json["embeds"][0]["title"] == "Done"
    assert title(kit.message(payload)) == "Done"


async def test_the_result_goes_out_at_once_however_long_the_edit_interval(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, uploads={"edit_interval": 60.0}) as kit:
        payload = await kit.command("generate", {"prompt": "a quick fox", "steps": 2})
        await kit.settle(timeout=20)  # a result waiting for the next progress slot would take a minute

        edits = kit.edits_of(kit.message_id(payload))
        assert title(kit.message(payload)) == "Done"
        assert len(edits) == 2  # the first state, then the result: no progress edit fits in a minute


async def test_only_the_newest_preview_is_sent_and_only_when_it_changed(kit: BotKit) -> None:
    kit.comfy.step_delay = 0.03
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 40})
    await kit.settle()

    edits = kit.edits_of(kit.message_id(payload))
    previews = [f for edit in edits for f in edit.files if f.filename == "preview.jpg"]
    assert 1 <= len(previews) < 40
    assert all(len(edit.files) <= 1 for edit in edits)
    digests = [p.sha256 for p in previews]
    assert all(a != b for a, b in itertools.pairwise(digests))
    running = [e for e in edits if e.json["embeds"][0]["title"].startswith("Running")]
    assert running
    assert running[-1].json["embeds"][0]["image"]["url"] == "attachment://preview.jpg"


async def test_twenty_concurrent_jobs_cause_no_rate_limit(
    strict_discord: StrictDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(strict_discord, fake_comfy, tmp_path) as kit:
        kit.comfy.hold()
        sent = [
            await kit.command("generate", {"prompt": f"fox number {n}", "steps": 3}, user_id=payloads.USER_ID + n)
            for n in range(20)
        ]
        kit.comfy.release()
        await kit.settle(timeout=40)

        assert strict_discord.rate_limited == []
        assert [r.status for r in strict_discord.requests if r.status == 429] == []
        for payload in sent:
            (record,) = await kit.records(payload)
            assert record.status == "done"
            assert len(kit.message(payload)["attachments"]) == 1


# ---- what the message says ----------------------------------------------------------------------------


async def test_a_queued_job_shows_its_place_in_line_who_asked_and_a_cancel_button(kit: BotKit) -> None:
    kit.comfy.hold()
    await kit.command("generate", {"prompt": "first", "steps": 2}, user_id=payloads.USER_ID + 1)
    second = await kit.command("generate", {"prompt": "second", "steps": 2})

    message = await kit.discord.wait_for(
        lambda: (m := kit.message(second)) and title(m) == "Queued · #2 of 2" and m, timeout=5
    )
    embed = message["embeds"][0]
    assert {"name": "Requested by", "value": f"<@{payloads.USER_ID}>", "inline": True} in embed["fields"]
    assert {"name": "Workflow", "value": "Text to image (SDXL)", "inline": True} in embed["fields"]
    (record,) = await kit.records(second)
    assert message["components"][0]["components"][0]["custom_id"] == f"discomfy:cancel:{record.job_id}"
    kit.comfy.release()
    await kit.settle()
    assert title(kit.message(second)) == "Done"
    assert kit.message(second)["components"][0]["components"][0]["custom_id"].startswith("discomfy:reroll:")


async def test_a_cancelled_job_says_so_and_keeps_no_buttons(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("generate", {"prompt": "never mind", "steps": 2})
    await first_state_shown(kit, payload)
    (record,) = await kit.records(payload)
    job = kit.jobs.get(record.job_id)
    assert job is not None
    assert await kit.jobs.cancel(job)
    await kit.settle()
    kit.comfy.release()

    message = kit.message(payload)
    assert title(message) == "Cancelled"
    assert message["components"] == []


# ---- the message outlives its interaction ------------------------------------------------------------


async def test_an_expired_token_moves_the_edits_to_the_channel_message(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("generate", {"prompt": "a long video", "steps": 4})
    message_id = await first_state_shown(kit, payload)
    kit.discord.expire_interaction(payload)
    kit.comfy.release()
    await kit.settle()

    channel_edits = kit.discord.calls("PATCH", rf"^/channels/{payloads.CHANNEL_ID}/messages/{message_id}$")
    assert channel_edits
    assert all(edit.status == 200 for edit in channel_edits)
    assert channel_edits[-1].files[0].filename.endswith(".png")
    webhook_after = [r for r in kit.discord.calls("PATCH", r"/@original$") if r.status == 401]
    assert len(webhook_after) == 1  # one refusal, then the bot stops using the token
    assert title(kit.message(message_id)) == "Done"
    (record,) = await kit.records(message_id)
    assert record.status == "done"


async def test_edits_switch_to_the_channel_before_the_token_expires(kit: BotKit) -> None:
    kit.comfy.step_delay = 0.05
    almost_expired = discord.utils.utcnow() - timedelta(minutes=14) + timedelta(seconds=0.5)
    interaction_id = discord.utils.time_snowflake(almost_expired)
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 30}, interaction_id=interaction_id)
    await kit.settle()

    message_id = kit.message_id(payload)
    assert kit.discord.calls("PATCH", rf"^/channels/\d+/messages/{message_id}$")
    assert all(r.status == 200 for r in kit.discord.requests if "/messages/" in r.path)
    assert title(kit.message(message_id)) == "Done"


async def test_a_message_deleted_mid_job_is_replaced_and_the_result_lands_in_the_new_one(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 4})
    old_id = await first_state_shown(kit, payload)
    kit.discord.delete_message(payloads.CHANNEL_ID, old_id)
    kit.comfy.release()
    await kit.settle()

    posts = [r for r in kit.discord.calls("POST", CHANNEL_POST) if r.status == 200]
    assert len(posts) == 1
    new_id = int(posts[0].response["id"])
    (record,) = await kit.store.history(payloads.USER_ID)
    assert record.status == "done"
    assert record.message_id == new_id != old_id
    message = kit.message(new_id)
    assert title(message) == "Done"
    assert [a["filename"] for a in message["attachments"]] == [Path(record.output_files[0]).name]


# ---- restarts ------------------------------------------------------------------------------------------


async def test_a_restart_resumes_the_job_in_its_original_message(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("generate", {"prompt": "survive a restart", "steps": 3})
    message_id = await first_state_shown(kit, payload)

    kit = await kit.restart()
    kit.comfy.release()
    await kit.settle()

    (record,) = await kit.records(message_id)
    assert record.status == "done"
    assert title(kit.message(message_id)) == "Done"
    assert kit.message(message_id)["attachments"][0]["filename"] == Path(record.output_files[0]).name
    assert kit.discord.calls("PATCH", CHANNEL_EDIT)
    assert kit.discord.calls("POST", CHANNEL_POST) == []


async def test_a_restart_resumes_a_whole_batch_in_its_one_message(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("batch", {"prompt": "three boats", "count": 3, "steps": 2})
    message_id = await first_state_shown(kit, payload)

    kit = await kit.restart()
    kit.comfy.release()
    await kit.settle()

    records = await kit.records(message_id)
    assert [r.status for r in records] == ["done", "done", "done"]
    message = kit.message(message_id)
    assert title(message) == "Batch of 3 · 3 done"
    assert len(message["attachments"]) == 4  # the contact sheet and three images
    assert kit.discord.calls("POST", CHANNEL_POST) == []
