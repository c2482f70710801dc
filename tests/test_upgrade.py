"""Upgrading keeps everything: a job store written by the version before the house refactor opens as is.

`tests/fixtures/store/v1_before_house.sqlite3` was written by that version's own code (commit b48946c): a
delivered job, a lost-then-failed one with its graph, a delivered batch of two and a job still queued, all in
messages whose buttons carry the custom_ids of that time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from discomfy.store import JobStatus
from discomfy.store.schema import SCHEMA_VERSION
from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

OLD_STORE = Path(__file__).parent / "fixtures" / "store" / "v1_before_house.sqlite3"
OLD_CLIENT_ID = "fedcba9876543210fedcba9876543210"
DONE, FAILED, QUEUED = "a" * 32, "b" * 32, "e" * 32
BATCH_FIRST = "c0" + "c" * 30


@pytest_asyncio.fixture
async def kit(tmp_path: Path, fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy) -> AsyncIterator[BotKit]:
    shutil.copyfile(OLD_STORE, tmp_path / "discomfy.sqlite3")  # where the kit's config points the store
    async with start_bot(fake_discord, fake_comfy, tmp_path) as started:
        yield started


def _old_message(fake: FakeDiscordAPI, *custom_ids: str) -> int:
    """A message as the old version left it: buttons known only by their custom_ids."""
    buttons = [{"type": 2, "style": 2, "label": "x", "custom_id": custom_id} for custom_id in custom_ids]
    message = payloads.message(
        embeds=[{"type": "rich", "title": "Done"}],
        components=[{"type": 1, "components": buttons}],
        author=payloads.bot_user(),
    )
    return int(fake.add_message(message)["id"])


async def _click(kit: BotKit, message_id: int, custom_id: str) -> dict[str, Any]:
    payload = payloads.button_click(custom_id, message=kit.discord.messages[message_id])
    await payloads.dispatch_and_wait(kit.bot, payload, timeout=15)
    return kit.callback(payload).json


async def test_the_old_store_keeps_its_client_id_and_jobs_through_the_migration(kit: BotKit) -> None:
    assert kit.service.client_id == OLD_CLIENT_ID  # ComfyUI routes the old jobs' messages by it
    assert kit.store.schema_version == SCHEMA_VERSION  # migrated in place: the notes and server columns were added
    done, failed = await kit.store.get(DONE), await kit.store.get(FAILED)
    assert done is not None
    assert done.status is JobStatus.DONE
    assert failed is not None
    assert failed.seed == 2**64 - 1
    assert [r.seed for r in await kit.store.batch("d" * 32)] == [5000, 5001]


async def test_a_job_queued_before_the_upgrade_is_followed_and_told_to_its_user(kit: BotKit) -> None:
    await kit.settle()
    record = await kit.store.get(QUEUED)
    assert record is not None
    assert record.status is JobStatus.LOST  # the fake ComfyUI never saw its prompt
    assert record.message_id is not None
    assert "Lost" in json.dumps(kit.discord.messages[record.message_id]["embeds"])


async def test_buttons_of_old_messages_still_work(kit: BotKit) -> None:
    message_id = _old_message(kit.discord, f"discomfy:info:{DONE}", f"discomfy:retry:{FAILED}")
    info = await _click(kit, message_id, f"discomfy:info:{DONE}")
    assert info["type"] == 4
    assert info["data"]["flags"] & FLAG_EPHEMERAL
    assert "11111111-1111-4111-8111-111111111111" in json.dumps(info["data"])

    retried = await _click(kit, message_id, f"discomfy:retry:{FAILED}")
    assert retried["type"] == 5
    await kit.settle()
    stored = await kit.store.get(FAILED)
    assert stored is not None
    (graph,) = [r.json["prompt"] for r in kit.comfy.requests_to("/prompt", "POST")]
    assert graph == stored.graph  # the exact graph the old version stored

    batch_message = _old_message(kit.discord, f"discomfy:reroll:{BATCH_FIRST}:batch")
    assert (await _click(kit, batch_message, f"discomfy:reroll:{BATCH_FIRST}:batch"))["type"] == 5
    await kit.settle()
    assert len(kit.comfy.requests_to("/prompt", "POST")) == 1 + 2  # the retry, then a batch of two
