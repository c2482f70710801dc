"""The bot's own queue in front of ComfyUI, end to end: fair turns across users, the places users are shown,
cancelling a job ComfyUI never saw, and the queue's order kept across a restart."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_asyncio

from discomfy.store import JobStatus
from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

BATCH_USER, SINGLE_USERS = 501, (502, 503, 504)
FAIR = {"scheduler": {"look_ahead": 2}, "limits": {"cooldown_seconds": 0, "max_pending_total": 25}}


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    async with start_bot(fake_discord, fake_comfy, tmp_path, **FAIR) as started:
        assert await started.bot.comfy.wait_connected(10)
        yield started


def _started_order(fake: FakeComfy) -> list[str]:
    """Prompt ids in the order ComfyUI started them (the fake's own hook, not the bot's view)."""
    order: list[str] = []

    def record(prompt_id: str, event: str) -> None:
        if event == "execution_start":
            order.append(prompt_id)

    fake.prompt_event = record  # type: ignore[method-assign]
    return order


def _title(kit: BotKit, payload: dict[str, Any]) -> str:
    return kit.message(payload)["embeds"][0]["title"]


async def _shows(kit: BotKit, payload: dict[str, Any], title: str) -> None:
    try:
        await kit.discord.wait_for(lambda: _title(kit, payload) == title, 10)
    except TimeoutError:
        raise AssertionError(f"shows {_title(kit, payload)!r}, not {title!r}") from None


async def test_a_batch_of_eight_lets_each_single_job_start_after_at_most_one_of_its_cells(kit: BotKit) -> None:
    started = _started_order(kit.comfy)
    kit.comfy.step_delay = 0.5  # the first cell runs until every request is in
    batch = await kit.command("batch", {"prompt": "a lighthouse", "count": 8, "steps": 20}, user_id=BATCH_USER)
    await kit.comfy.wait_running()
    singles = [
        await kit.command("generate", {"prompt": f"a fox {user}", "steps": 2}, user_id=user) for user in SINGLE_USERS
    ]
    # ComfyUI holds two cells (one running, one waiting); the rest wait in the bot's queue, singles first
    assert len(kit.comfy.pending_prompt_ids) == 1
    for place, payload in enumerate(singles, start=2):
        await _shows(kit, payload, f"Queued · #{place} of 10")
    kit.comfy.step_delay = 0.005
    await kit.settle(60)

    cells = [r.prompt_id for r in sorted(await kit.records(batch), key=lambda r: r.batch_index or 0)]
    single_ids = [(await kit.records(p))[0].prompt_id for p in singles]
    assert started == [*cells[:2], *single_ids, *cells[2:]]
    for prompt_id in single_ids:
        # cells started between the single job's request (cell 1 was running) and its own start
        assert sum(cell in started[1 : started.index(prompt_id)] for cell in cells) <= 1
    records = [r for p in (batch, *singles) for r in await kit.records(p)]
    assert {r.status for r in records} == {JobStatus.DONE}


async def test_cancelling_a_job_in_the_bots_queue_never_touches_comfyui(kit: BotKit) -> None:
    kit.comfy.hold()
    for user in (601, 602):
        await kit.command("generate", {"prompt": "ahead", "steps": 2}, user_id=user)
    payload = await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=603)
    await _shows(kit, payload, "Queued · #3 of 3")
    (record,) = await kit.records(payload)
    assert record.status is JobStatus.WAITING
    message = kit.message(payload)
    cancel = next(c for row in message["components"] for c in row["components"] if ":cancel:" in c["custom_id"])
    before = len(kit.comfy.requests)
    click = payloads.button_click(cancel["custom_id"], message=message, user_id=603)
    await payloads.dispatch_and_wait(kit.bot, click)
    await _shows(kit, payload, "Cancelled")
    assert [r.route for r in kit.comfy.requests[before:] if r.route != "GET /queue"] == []
    assert record.prompt_id not in {p for p in kit.comfy.pending_prompt_ids}
    (record,) = await kit.records(payload)
    assert record.status is JobStatus.CANCELLED
    kit.comfy.release()
    await kit.settle()


async def test_jobs_waiting_in_the_bots_queue_survive_a_restart_in_their_order(kit: BotKit) -> None:
    started = _started_order(kit.comfy)
    kit.comfy.hold()
    batch = await kit.command("batch", {"prompt": "a lighthouse", "count": 4, "steps": 2}, user_id=BATCH_USER)
    singles = [await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=u) for u in SINGLE_USERS[:2]]
    waiting = [r for p in (batch, *singles) for r in await kit.records(p) if r.status is JobStatus.WAITING]
    assert len(waiting) == 4  # two cells went on to ComfyUI
    kit = await kit.restart()
    kit.comfy.release()
    await kit.settle(30)
    cells = [r.prompt_id for r in sorted(await kit.records(batch), key=lambda r: r.batch_index or 0)]
    single_ids = [(await kit.records(p))[0].prompt_id for p in singles]
    assert started == [*cells[:2], *single_ids, *cells[2:]]
    assert json.dumps(kit.message(batch)["embeds"][0]).count("done") >= 1


async def test_an_admins_request_stays_first_in_the_bots_queue_across_a_restart(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    admin = SINGLE_USERS[2]
    first = {**FAIR, "scheduler": {"look_ahead": 2, "admins_first": True}, "discord": {"admin_user_ids": [admin]}}
    async with start_bot(fake_discord, fake_comfy, tmp_path, **first) as kit:
        started = _started_order(kit.comfy)
        kit.comfy.hold()
        batch = await kit.command("batch", {"prompt": "a lighthouse", "count": 4, "steps": 2}, user_id=BATCH_USER)
        await kit.command("generate", {"prompt": "a cat", "steps": 2}, user_id=SINGLE_USERS[0])  # the next turn
        urgent = await kit.command("generate", {"prompt": "a fox", "steps": 2}, user_id=admin)
        (record,) = await kit.records(urgent)
        assert record.status is JobStatus.WAITING
        assert record.priority
        kit = await kit.restart()
        kit.comfy.release()
        await kit.settle(30)
        cells = [r.prompt_id for r in sorted(await kit.records(batch), key=lambda r: r.batch_index or 0)]
        assert started[:3] == [*cells[:2], record.prompt_id]  # ahead of everyone who waited before it
        assert len(started) == 6
