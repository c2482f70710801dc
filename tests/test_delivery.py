"""Delivery of results: fitted to the upload limit, split beyond ten files, retried, and posted exactly once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from discomfy.store import JobStatus
from testing import payloads
from testing.botkit import CHANNEL_POST, ORIGINAL, BotKit, StrictDiscordAPI, start_bot
from testing.comfy_nodes import as_latent
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI, guard_loopback

SMALL_LIMIT = 200_000


@pytest_asyncio.fixture
async def strict_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[StrictDiscordAPI]:
    """The fake Discord with faults aimed at uploads (and Discord-like per-message edit limits)."""
    guard_loopback(monkeypatch)
    async with StrictDiscordAPI() as fake:
        fake.install(monkeypatch)
        yield fake


@pytest_asyncio.fixture
async def kit(strict_discord: StrictDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    async with start_bot(strict_discord, fake_comfy, tmp_path, limits={"max_batch": 12}) as kit:
        yield kit


def fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed.get("fields", [])}


def uploads(kit: BotKit) -> list[tuple[str, int]]:
    """(filename, size) of every result file that reached Discord, previews left out."""
    return [
        (f.filename, f.size)
        for r in kit.discord.requests
        if r.status == 200
        for f in r.files
        if f.filename != "preview.jpg"
    ]


# ---- fitting ----------------------------------------------------------------------------------------


async def test_an_oversize_image_is_reencoded_under_the_limit_the_interaction_gives(kit: BotKit) -> None:
    kit.comfy.output_size = 600_000
    payload = await kit.command("generate", {"prompt": "a huge fox", "steps": 2}, attachment_size_limit=SMALL_LIMIT)
    await kit.settle()

    (record,) = await kit.records(payload)
    assert (await asyncio.to_thread(Path(record.output_files[0]).stat)).st_size == 600_000
    ((name, size),) = uploads(kit)
    assert size <= SMALL_LIMIT
    message = kit.message(payload)
    (attachment,) = message["attachments"]
    assert attachment["filename"] == name
    assert attachment["content_type"] in ("image/webp", "image/jpeg")
    embed = message["embeds"][0]
    assert embed["image"]["url"] == attachment["url"]
    assert "Resized" in fields(embed)
    assert record.output_files[0] not in json.dumps(embed)  # the bot's own paths stay in its log
    titles = [e.json["embeds"][0]["title"] for e in kit.original_edits(payload)]
    assert titles[-2:] == ["Uploading results…", "Done"]


async def test_a_file_that_cannot_fit_is_named_and_said_to_be_kept(kit: BotKit) -> None:
    kit.comfy.output_size = 300_000  # a video stub ffmpeg cannot re-encode
    payload = await kit.command(
        "generate", {"prompt": "waves", "workflow": "wan21_t2v", "steps": 2}, attachment_size_limit=SMALL_LIMIT
    )
    await kit.settle()

    (record,) = await kit.records(payload)
    assert record.status == "done"
    message = kit.message(payload)
    assert message["attachments"] == []
    not_uploaded = fields(message["embeds"][0])["Not uploaded"]
    assert Path(record.output_files[0]).name in not_uploaded
    assert "kept on the bot's disk" in not_uploaded
    assert record.output_files[0] not in not_uploaded


async def test_a_video_is_uploaded_with_its_name_and_content_type(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "waves", "workflow": "wan21_t2v", "steps": 2})
    await kit.settle()

    (record,) = await kit.records(payload)
    (attachment,) = kit.message(payload)["attachments"]
    assert attachment["filename"] == Path(record.output_files[0]).name
    assert attachment["filename"].endswith(".mp4")
    assert attachment["content_type"] == "video/mp4"


# ---- Discord answering badly --------------------------------------------------------------------------


async def test_a_429_on_an_edit_and_on_the_upload_is_waited_out_and_the_result_delivered(kit: BotKit) -> None:
    kit.discord.fail_next("PATCH", ORIGINAL, 429, retry_after=0.2)
    kit.discord.fail_next_upload(429, retry_after=0.2)  # type: ignore[attr-defined]
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 3})
    await kit.settle()

    assert [r.status for r in kit.discord.requests if r.injected] == [429, 429]
    (record,) = await kit.records(payload)
    assert record.status == "done"
    assert [a["filename"] for a in kit.message(payload)["attachments"]] == [Path(record.output_files[0]).name]


async def test_a_500_on_the_upload_is_retried(kit: BotKit) -> None:
    kit.discord.fail_next_upload(500)  # type: ignore[attr-defined]
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 2})
    await kit.settle()

    failed = [r for r in kit.discord.requests if r.injected]
    assert [r.status for r in failed] == [500]
    (record,) = await kit.records(payload)
    assert record.status == "done"
    assert len(kit.message(payload)["attachments"]) == 1


async def test_a_503_on_a_channel_upload_is_retried_with_backoff(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 2})
    await kit.discord.wait_for(lambda: kit.original_edits(payload), timeout=5)
    kit.discord.expire_interaction(payload)
    kit.discord.fail_next_upload(503)  # type: ignore[attr-defined]  # discord.py raises a 503 at once
    kit.comfy.release()
    await kit.settle()

    assert [r.status for r in kit.discord.requests if r.injected] == [503]
    (record,) = await kit.records(payload)
    assert record.status == "done"
    assert len(kit.message(payload)["attachments"]) == 1


async def test_a_message_deleted_before_delivery_gets_the_result_in_a_new_message(kit: BotKit) -> None:
    kit.comfy.hold()
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 2})
    await kit.discord.wait_for(lambda: kit.original_edits(payload), timeout=5)
    kit.discord.delete_message(payloads.CHANNEL_ID, kit.message_id(payload))
    kit.comfy.release()
    await kit.settle()

    (record,) = await kit.store.history(payloads.USER_ID)
    assert record.status == "done"
    assert len(kit.message(record.message_id)["attachments"]) == 1


# ---- batches ---------------------------------------------------------------------------------------------


async def test_a_batch_lists_a_failed_seed_with_its_reason_and_delivers_the_others(kit: BotKit) -> None:
    decode = kit.comfy.catalog["VAEDecode"].behaviour
    assert decode is not None

    async def fails_for_seed_101(run: Any) -> Any:
        if as_latent(run.inputs.get("samples")).seed == 101:
            raise RuntimeError("NaN in latent")
        return await decode(run)

    kit.comfy.catalog["VAEDecode"].behaviour = fails_for_seed_101
    payload = await kit.command("batch", {"prompt": "boats", "count": 3, "seed": "100", "steps": 2})
    await kit.settle()

    records = {r.seed: r for r in await kit.records(payload)}
    assert records[101].status == "failed"
    assert (records[100].status, records[102].status) == ("done", "done")
    message = kit.message(payload)
    embed = message["embeds"][0]
    assert embed["title"] == "Batch of 3 · 2 done, 1 failed"
    line = next(line for line in fields(embed)["Seeds"].splitlines() if "`101`" in line)
    assert "failed" in line
    assert "NaN in latent" in line
    assert len(message["attachments"]) == 3  # the contact sheet and the two images


async def test_more_than_ten_files_go_into_extra_messages_recorded_for_every_job(kit: BotKit) -> None:
    payload = await kit.command("batch", {"prompt": "many boats", "count": 11, "steps": 1})
    await kit.settle(timeout=40)

    main = kit.message(payload)
    assert len(main["attachments"]) == 10  # the contact sheet and nine images
    (post,) = [r for r in kit.discord.calls("POST", CHANNEL_POST) if r.status == 200]
    extra_id = int(post.response["id"])
    assert len(kit.message(extra_id)["attachments"]) == 2
    records = await kit.records(payload)
    assert {r.status for r in records} == {JobStatus.DONE}
    assert {r.extra_message_ids for r in records} == {(extra_id,)}
    names = {a["filename"] for m in (main, kit.message(extra_id)) for a in m["attachments"]}
    assert {Path(r.output_files[0]).name for r in records} <= names


# ---- exactly once ------------------------------------------------------------------------------------------


async def test_a_crash_between_upload_and_store_write_still_leaves_one_result_in_the_same_message(
    kit: BotKit,
) -> None:
    payload = await kit.command("generate", {"prompt": "only once", "steps": 2})
    await kit.settle()
    message_id = kit.message_id(payload)
    (record,) = await kit.records(message_id)
    # The state a crash right after the upload leaves behind: files posted, DONE never written.
    await kit.store.update(record.job_id, status=JobStatus.DELIVERING, finished_at=None)
    posts_before = len(kit.discord.calls("POST", CHANNEL_POST))

    kit = await kit.restart()
    await kit.settle()

    (record,) = await kit.records(message_id)
    assert record.status == "done"
    assert record.message_id == message_id
    assert len(kit.discord.calls("POST", CHANNEL_POST)) == posts_before == 0
    redelivery = kit.discord.calls("PATCH", rf"^/channels/\d+/messages/{message_id}$")
    assert len(redelivery) == 1
    assert len(kit.message(message_id)["attachments"]) == 1
    assert kit.message(message_id)["embeds"][0]["title"] == "Done"


async def test_redelivering_a_split_batch_edits_its_extra_messages_instead_of_posting_again(kit: BotKit) -> None:
    payload = await kit.command("batch", {"prompt": "many boats", "count": 11, "steps": 1})
    await kit.settle(timeout=40)
    records = await kit.records(payload)
    extra_id = records[0].extra_message_ids[0]
    for record in records:
        await kit.store.update(record.job_id, status=JobStatus.DELIVERING, finished_at=None)

    kit = await kit.restart()
    await kit.settle(timeout=40)

    assert len([r for r in kit.discord.calls("POST", CHANNEL_POST) if r.status == 200]) == 1
    assert kit.discord.calls("PATCH", rf"^/channels/\d+/messages/{extra_id}$")
    assert len(kit.message(payload)["attachments"]) == 10
    assert len(kit.message(extra_id)["attachments"]) == 2
    assert {r.status for r in await kit.records(payload)} == {JobStatus.DONE}


async def test_outputs_beyond_the_limit_are_not_fetched_and_the_message_says_so(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, comfy_settings={"max_outputs": 2}) as kit:
        payload = await kit.command("generate", {"prompt": "four foxes", "steps": 1, "settings": "batch_size=4"})
        await kit.settle()

        (record,) = await kit.records(payload)
        message = kit.message(payload)
        assert record.status == "done"
        assert len(record.output_files) == 2
        assert len(message["attachments"]) == 2
        assert "2 more file(s) not fetched (at most 2 per job)" in fields(message["embeds"][0])["Not uploaded"]
