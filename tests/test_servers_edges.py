"""Several servers where they meet the rest: jobs stored before several servers, moves across a bot restart, /queue,
input images that pin a job to a server, and what /stats says of the bot's own queue."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest_asyncio
from PIL import Image

from discomfy.job import new_record
from discomfy.scheduler.scheduler import TAKE_BACK_KEY
from discomfy.store import JobStatus, JobStore
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

MakeFake = Callable[..., Awaitable[FakeComfy]]


@pytest_asyncio.fixture
async def two(fake_comfy_factory: MakeFake) -> tuple[FakeComfy, FakeComfy]:
    return await fake_comfy_factory(), await fake_comfy_factory()


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path) -> AsyncIterator[BotKit]:
    servers = dict(zip(["default", "gpu2"], two, strict=True))
    async with start_bot(fake_discord, two[0], tmp_path, servers=servers, scheduler={"look_ahead": 2}) as started:
        assert await started.bot.comfy.wait_connected(10)
        yield started


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 60, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_the_retry_of_an_img2img_job_stored_before_several_servers_goes_to_the_first_server(
    kit: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    first, second = two
    await kit.jobs.scheduler.set_drained("gpu2", True)  # the old version had only the first server
    attachment = kit.discord.add_attachment("cat.png", _png())
    payload = await kit.command(
        "generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment}, user_id=790
    )
    await kit.settle()
    await kit.jobs.scheduler.set_drained("gpu2", False)
    (record,) = await kit.records(payload)
    assert record.server == "default"
    # as a store written before several servers were known leaves it: server '' (the first), and it failed
    await kit.store.update(record.job_id, server="", status=JobStatus.FAILED, error="boom", error_kind="rejected")
    first.hold()  # the first server is busier: a job free to go anywhere would go to gpu2
    graph = json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))
    await kit.service.client.submit(graph, client_id="someone-else", prompt_id=str(uuid.uuid4()))
    await kit.service.refresh_queue()
    message = payloads.message(
        embeds=[{"type": "rich", "title": "Failed"}],
        components=[
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 2, "label": "Retry", "custom_id": f"discomfy:retry:{record.job_id}"}
                ],
            }
        ],
        author=payloads.bot_user(),
    )
    kit.discord.add_message(message)
    click = payloads.button_click(f"discomfy:retry:{record.job_id}", message=message, user_id=790)
    await payloads.dispatch_and_wait(kit.bot, click)
    retried = [r for r in await kit.store.history(790, limit=5) if r.job_id != record.job_id]
    assert [r.server for r in retried] == ["default"]  # where its input image is
    assert second.prompts_received == 0
    first.release()


async def test_stats_wait_counts_the_time_a_job_waited_in_the_bots_queue(tmp_path: Path) -> None:
    async with JobStore(tmp_path / "jobs.sqlite3") as store:
        record = new_record(1, channel_id=2, guild_id=None, workflow="txt2img", params={}, seed=1)
        record = replace(record, created_at=1000.0)
        await store.add(record)  # WAITING in the bot's queue for a minute, behind other users' jobs
        await store.transition(record.job_id, JobStatus.CREATED, server="default")
        await store.transition(record.job_id, JobStatus.QUEUED, queued_at=1060.0)
        await store.transition(record.job_id, JobStatus.RUNNING, started_at=1061.0)
        await store.transition(record.job_id, JobStatus.DONE, finished_at=1071.0)
        (workflow,) = (await store.stats(since=0)).per_workflow
    assert workflow.median_queue_wait == 61.0  # what the user waited, not only ComfyUI's last second of it


async def test_a_job_moved_off_an_absent_server_but_not_yet_resent_is_delivered_once_after_a_bot_restart(
    fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path
) -> None:
    away, other = two
    servers = {"a": away, "b": other}
    sections: dict[str, Any] = {
        "comfy_settings": {"reconnect_max_delay": 0.5},
        "scheduler": {"look_ahead": 2, "failover_grace": 0.3},
    }
    async with start_bot(fake_discord, away, tmp_path, servers=servers, **sections) as kit:
        assert await kit.bot.comfy.wait_connected(10)
        for fake in two:
            fake.hold()
        sent = [await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=800 + i) for i in range(4)]
        outage = asyncio.create_task(away.restart(downtime=4.0, keep_queue=True))
        async with asyncio.timeout(10):  # a's two jobs are taken back, but b is full: they wait in the bot
            while len(json.loads(await kit.store.get_meta(TAKE_BACK_KEY + "a") or "[]")) < 2:  # noqa: ASYNC110 - the store, polled
                await asyncio.sleep(0.05)
        kit = await kit.restart()
        other.release()
        await outage
        await away.wait_until(lambda: not away.pending_prompt_ids, 15)  # the moved prompts taken back there
        away.release()
        await kit.settle(30)
        records = [r for payload in sent for r in await kit.records(payload)]
        assert [r.status for r in records] == [JobStatus.DONE] * 4
        assert len(away.history) + len(other.history) == 4  # each ran once


ADMIN = payloads.USER_ID + 1


async def test_queue_lists_a_job_moved_off_an_absent_server_that_waits_for_room_elsewhere(
    fake_discord: FakeDiscordAPI, two: tuple[FakeComfy, FakeComfy], tmp_path: Path
) -> None:
    away, other = two
    sections: dict[str, Any] = {
        "comfy_settings": {"reconnect_max_delay": 0.5},
        "scheduler": {"look_ahead": 1, "failover_grace": 0.3},
        "discord": {"admin_user_ids": [ADMIN]},
    }
    async with start_bot(fake_discord, away, tmp_path, servers={"a": away, "b": other}, **sections) as kit:
        assert await kit.bot.comfy.wait_connected(10)
        for fake in two:
            fake.hold()
        sent = [await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=810 + i) for i in range(2)]
        (on_a,) = [r for p in sent for r in await kit.records(p) if r.server == "a"]
        outage = asyncio.create_task(away.restart(downtime=3.0, keep_queue=True))
        async with asyncio.timeout(10):  # taken back from a; b has no room: it waits in the bot
            while not await kit.store.get_meta(TAKE_BACK_KEY + "a"):  # noqa: ASYNC110 - the store, polled
                await asyncio.sleep(0.05)
        embed = kit.message(await kit.command("queue", user_id=ADMIN))["embeds"][0]
        assert f"<@{on_a.owner_id}>" in embed["description"]  # shown (and cancellable) while it waits
        other.release()
        await outage
        away.release()
        await kit.settle(30)


async def test_a_reroll_of_an_img2img_job_goes_to_the_server_holding_its_input_image(
    kit: BotKit, two: tuple[FakeComfy, FakeComfy]
) -> None:
    attachment = kit.discord.add_attachment("cat.png", _png())
    payload = await kit.command(
        "generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment}, user_id=820
    )
    await kit.settle()
    (record,) = await kit.records(payload)
    assert record.status is JobStatus.DONE
    holder = two[kit.bot.comfy.names.index(record.server or "")]
    holder.hold()  # the server holding the image is busier: a job free to go anywhere would go to the other
    graph = json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))
    busy = kit.bot.comfy.get(record.server)
    assert busy is not None
    await busy.service.client.submit(graph, client_id="someone-else", prompt_id=str(uuid.uuid4()))
    await busy.service.refresh_queue()
    message = kit.message(payload)
    reroll = next(c for row in message["components"] for c in row["components"] if ":reroll:" in c["custom_id"])
    click = payloads.button_click(reroll["custom_id"], message=message, user_id=820)
    await payloads.dispatch_and_wait(kit.bot, click)
    rerolled = [r for r in await kit.store.history(820, limit=5) if r.job_id != record.job_id]
    assert [r.server for r in rerolled] == [record.server]  # where its input image is
    holder.release()
    await kit.settle()
    assert [r.status for r in await kit.store.history(820, limit=5)] == [JobStatus.DONE] * 2


async def test_stats_do_not_call_a_waiting_job_no_server_can_run_any_more_unreachable(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, scheduler={"look_ahead": 1}) as kit:
        assert await kit.bot.comfy.wait_connected(10)
        fake_comfy.hold()
        await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=830)
        attachment = kit.discord.add_attachment("cat.png", _png())
        waiting = await kit.command(
            "generate", {"prompt": "a cat", "workflow": "img2img", "image": attachment}, user_id=831
        )
        assert (await kit.records(waiting))[0].status is JobStatus.WAITING
        fake_comfy.remove_node_class("VAEEncode")
        await fake_comfy.drop_websockets()  # read again on reconnect: the waiting job can run nowhere now
        fake_comfy.release()
        await kit.settle()
        (record,) = await kit.records(waiting)
        assert record.status is JobStatus.FAILED
        assert "lacks" in (record.error or "")
        assert record.error_kind == "unrunnable"  # not comfy_unavailable: /stats said "ComfyUI was unreachable"
