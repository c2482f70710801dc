"""Several ComfyUI servers behind one bot: one service, client_id and WebSocket each, and jobs that know theirs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest_asyncio

from discomfy.store import JobStatus
from discomfy.store.database import CLIENT_ID_KEY
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

MakeFake = Callable[..., Awaitable[FakeComfy]]


@pytest_asyncio.fixture
async def two(fake_comfy_factory: MakeFake) -> tuple[FakeComfy, FakeComfy]:
    return await fake_comfy_factory(), await fake_comfy_factory()


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path) -> AsyncIterator[BotKit]:
    first, second = two
    async with start_bot(fake_discord, first, tmp_path, servers={"default": first, "gpu2": second}) as started:
        assert await started.bot.comfy.wait_connected(10)
        yield started


async def test_each_server_has_its_own_client_id_and_websocket_kept_in_the_store_by_name(
    kit: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    default, gpu2 = (server.service for server in kit.bot.comfy)
    assert default.client_id != gpu2.client_id
    assert await kit.store.get_meta(CLIENT_ID_KEY) == default.client_id  # comfy.url's key, kept by "default"
    assert await kit.store.get_meta(f"{CLIENT_ID_KEY}:gpu2") == gpu2.client_id
    assert [fake.open_client_ids for fake in two] == [[default.client_id], [gpu2.client_id]]
    kit = await kit.restart()
    assert await kit.bot.comfy.wait_connected(10)
    assert [server.service.client_id for server in kit.bot.comfy] == [default.client_id, gpu2.client_id]


async def test_a_job_is_stored_with_the_server_it_was_sent_to(kit: BotKit) -> None:
    payload = await kit.command("generate", {"prompt": "a red fox", "steps": 2})
    await kit.settle()
    (record,) = await kit.records(payload)
    assert record.status is JobStatus.DONE
    assert record.server in kit.bot.comfy.names
