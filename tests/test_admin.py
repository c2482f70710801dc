"""/interrupt and /queue end to end: real payloads through discord.py into the bot, real jobs on the fake ComfyUI."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest_asyncio

from discomfy.job import Job, JobRequest
from discomfy.store import JobStatus
from testing import payloads
from testing.botkit import WORKFLOWS, BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

MEMBER = payloads.USER_ID
ADMIN = MEMBER + 1
ROLE_ADMIN = MEMBER + 2
ADMIN_ROLE_ID = payloads.GUILD_ID + 77
#: Every permission bit, Administrator included: what a server owner's member payload carries.
ALL_PERMISSIONS = str(discord.Permissions.all().value)
LONG_STEPS = 60  # with step_delay 0.2 s a job runs for about 12 s: long enough to look at, never waited out
REFUSAL = "Only DisComfy admins"


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    fake_comfy.step_delay = 0.2
    admins = {"admin_user_ids": [ADMIN], "admin_role_ids": [ADMIN_ROLE_ID]}
    async with start_bot(fake_discord, fake_comfy, tmp_path, discord=admins) as kit:
        yield kit


async def submit(kit: BotKit, owner: int = MEMBER, prompt: str = "a lighthouse in a storm") -> Job:
    request = JobRequest(
        owner_id=owner,
        channel_id=payloads.CHANNEL_ID,
        guild_id=payloads.GUILD_ID,
        workflow="txt2img_sdxl",
        values={"prompt": prompt, "steps": LONG_STEPS},
    )
    return await kit.jobs.submit(request, exempt=True)


async def submit_foreign(fake: FakeComfy) -> str:
    """Queue a prompt as another ComfyUI client would (the web UI, another bot)."""
    graph = json.loads((WORKFLOWS / "txt2img_sdxl.json").read_text(encoding="utf-8"))
    async with aiohttp.ClientSession() as session:
        body = {"prompt": graph, "client_id": "someone-elses-browser"}
        async with session.post(f"{fake.url}/prompt", json=body) as response:
            assert response.status == 200
            return str((await response.json())["prompt_id"])


def interrupts(fake: FakeComfy) -> list[Any]:
    return fake.requests_to("/interrupt", "POST")


def answer(kit: BotKit, payload: payloads.Payload) -> dict[str, Any]:
    """The message the interaction left (its deferred-then-followed-up or immediate response)."""
    return kit.message(payload)


def text_of(message: dict[str, Any]) -> str:
    embed = message["embeds"][0]
    return " ".join(str(embed.get(key) or "") for key in ("title", "description"))


def components(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components", []) for c in row["components"]]


def select_of(message: dict[str, Any]) -> dict[str, Any]:
    (select,) = [c for c in components(message) if c["type"] == 3]
    return select


def button_of(message: dict[str, Any], label: str) -> dict[str, Any]:
    (button,) = [c for c in components(message) if c["type"] == 2 and c["label"].startswith(label)]
    return button


async def running(kit: BotKit, job: Job) -> None:
    await kit.comfy.wait_running(job.record.prompt_id)


# ---- /interrupt ---------------------------------------------------------------------------------------------


async def test_non_admin_cannot_interrupt_even_with_administrator_permission_bits(kit: BotKit) -> None:
    job = await submit(kit)
    await running(kit, job)

    payload = await kit.command("interrupt", user_id=MEMBER, permissions=ALL_PERMISSIONS)

    callback = kit.callback(payload)
    assert callback.json["type"] == 4
    assert callback.json["data"]["flags"] & FLAG_EPHEMERAL
    assert REFUSAL in callback.json["data"]["embeds"][0]["description"]
    assert interrupts(kit.comfy) == []
    assert kit.comfy.running_prompt_id == job.record.prompt_id


async def test_interrupt_is_registered_with_manage_guild_only_as_a_hint(kit: BotKit) -> None:
    commands = {c["name"]: c for c in kit.discord.commands[None]}
    for name in ("interrupt", "queue", "stats"):
        assert int(commands[name]["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    assert commands["history"]["default_member_permissions"] is None


async def test_admin_by_user_id_interrupts_the_running_job_which_ends_interrupted(kit: BotKit) -> None:
    job = await submit(kit)
    await running(kit, job)

    payload = await kit.command("interrupt", user_id=ADMIN)

    (request,) = interrupts(kit.comfy)
    assert request.json == {"prompt_id": job.record.prompt_id}
    async with asyncio.timeout(10):
        await job.settled.wait()
    record = await kit.store.get(job.job_id)
    assert record is not None
    assert record.status is JobStatus.CANCELLED
    assert record.error_kind == "interrupted"
    message = answer(kit, payload)
    assert message["flags"] & FLAG_EPHEMERAL
    assert f"Stopped job `{job.job_id[:8]}`" in text_of(message)
    assert f"<@{MEMBER}>" in text_of(message)


async def test_admin_by_role_id_may_interrupt(kit: BotKit) -> None:
    role = payloads.role(ADMIN_ROLE_ID, name="Comfy admins")
    payloads.guild_create(kit.bot, payloads.guild(roles=[role], members=[payloads.member(ROLE_ADMIN)]))
    job = await submit(kit)
    await running(kit, job)

    payload = await kit.command("interrupt", user_id=ROLE_ADMIN, roles=[ADMIN_ROLE_ID])

    assert len(interrupts(kit.comfy)) == 1
    assert "Stopped job" in text_of(answer(kit, payload))


async def test_interrupt_with_nothing_running_says_nothing_was_stopped(kit: BotKit) -> None:
    payload = await kit.command("interrupt", user_id=ADMIN)

    assert "Nothing was running" in text_of(answer(kit, payload))
    assert interrupts(kit.comfy) == []


async def test_interrupt_of_a_given_job_stops_it_only_if_it_is_the_one_running(kit: BotKit) -> None:
    first = await submit(kit)
    await running(kit, first)
    second = await submit(kit, prompt="a second lighthouse")

    waiting = await kit.command("interrupt", {"job": second.job_id[:8]}, user_id=ADMIN)

    assert interrupts(kit.comfy) == []
    assert "waiting at #1" in text_of(answer(kit, waiting))

    stopped = await kit.command("interrupt", {"job": first.record.prompt_id}, user_id=ADMIN)

    (request,) = interrupts(kit.comfy)
    assert request.json == {"prompt_id": first.record.prompt_id}
    assert f"Stopped job `{first.job_id[:8]}`" in text_of(answer(kit, stopped))


async def test_interrupt_of_another_clients_prompt_says_it_was_not_ours(kit: BotKit) -> None:
    foreign = await submit_foreign(kit.comfy)
    await kit.comfy.wait_running(foreign)

    payload = await kit.command("interrupt", user_id=ADMIN)

    (request,) = interrupts(kit.comfy)
    assert request.json == {"prompt_id": foreign}
    assert "not started by this bot" in text_of(answer(kit, payload))


# ---- /queue -------------------------------------------------------------------------------------------------


async def queue_message(kit: BotKit, user_id: int = ADMIN) -> tuple[payloads.Payload, dict[str, Any]]:
    payload = await kit.command("queue", user_id=user_id)
    return payload, answer(kit, payload)


async def busy_queue(kit: BotKit) -> tuple[Job, str, Job, Job]:
    """A bot job running, then waiting: another client's prompt, and two more bot jobs."""
    first = await submit(kit)
    await running(kit, first)
    foreign = await submit_foreign(kit.comfy)
    second = await submit(kit, owner=MEMBER + 10, prompt="second")
    third = await submit(kit, prompt="third")
    await kit.comfy.wait_until(lambda: len(kit.comfy.pending_prompt_ids) == 3)
    return first, foreign, second, third


async def test_non_admin_cannot_see_the_queue_even_with_administrator_permission_bits(kit: BotKit) -> None:
    payload = await kit.command("queue", user_id=MEMBER, permissions=ALL_PERMISSIONS)

    callback = kit.callback(payload)
    assert callback.json["type"] == 4
    assert callback.json["data"]["flags"] & FLAG_EPHEMERAL
    assert REFUSAL in callback.json["data"]["embeds"][0]["description"]
    assert not callback.json["data"].get("components")
    assert kit.comfy.requests_to("/queue", "POST") == []


async def test_queue_lists_running_and_waiting_jobs_with_positions_and_other_clients_prompts(kit: BotKit) -> None:
    first, foreign, second, third = await busy_queue(kit)

    _, message = await queue_message(kit)

    assert message["flags"] & FLAG_EPHEMERAL
    embed = message["embeds"][0]
    assert embed["title"] == "Queue · 1 running, 3 waiting"
    lines = embed["description"].splitlines()
    assert re.search(
        rf"running · job `{first.job_id[:8]}` · Text to image \(SDXL\) · <@{MEMBER}> · \d+:\d\d old", lines[0]
    )
    assert lines[1].startswith(f"`#1` ⏳ waiting · prompt `{foreign[:8]}` · not ours (another ComfyUI client")
    assert lines[2].startswith(f"`#2` ⏳ waiting · job `{second.job_id[:8]}`")
    assert f"<@{MEMBER + 10}>" in lines[2]
    assert lines[3].startswith(f"`#3` ⏳ waiting · job `{third.job_id[:8]}`")
    options = [o["value"] for o in select_of(message)["options"]]
    assert options == [second.job_id, third.job_id]  # only the bot's waiting jobs can be cancelled here
    assert not button_of(message, "Clear the bot's pending jobs").get("disabled")


async def test_cancel_from_the_select_deletes_that_job_from_comfyuis_queue(kit: BotKit) -> None:
    _first, foreign, second, third = await busy_queue(kit)
    _, message = await queue_message(kit)

    choice = payloads.select(select_of(message)["custom_id"], [second.job_id], message=message, user_id=ADMIN)
    await payloads.dispatch_and_wait(kit.bot, choice, timeout=15)

    (delete,) = kit.comfy.requests_to("/queue", "POST")
    assert delete.json == {"delete": [second.record.prompt_id]}
    assert kit.comfy.pending_prompt_ids == [foreign, third.record.prompt_id]
    async with asyncio.timeout(10):
        await second.settled.wait()
    record = await kit.store.get(second.job_id)
    assert record is not None
    assert (record.status, record.error_kind) == (JobStatus.CANCELLED, "cancelled")
    updated = kit.discord.messages[int(message["id"])]
    assert f"Cancelled job `{second.job_id[:8]}`." in updated["embeds"][0]["description"]
    assert [o["value"] for o in select_of(updated)["options"]] == [third.job_id]


async def test_clear_asks_first_then_cancels_only_the_bots_waiting_jobs(kit: BotKit) -> None:
    first, foreign, second, third = await busy_queue(kit)
    _, message = await queue_message(kit)

    clear = payloads.button_click(button_of(message, "Clear")["custom_id"], message=message, user_id=ADMIN)
    await payloads.dispatch_and_wait(kit.bot, clear)

    assert kit.comfy.requests_to("/queue", "POST") == []  # nothing happens before the confirmation
    asking = kit.discord.messages[int(message["id"])]
    assert "Cancel all 2 waiting bot job(s)?" in asking["embeds"][0]["description"]

    confirm = payloads.button_click(button_of(asking, "Yes")["custom_id"], message=asking, user_id=ADMIN)
    await payloads.dispatch_and_wait(kit.bot, confirm, timeout=15)

    deleted = [r.json["delete"] for r in kit.comfy.requests_to("/queue", "POST")]
    assert deleted == [[second.record.prompt_id], [third.record.prompt_id]]
    assert kit.comfy.pending_prompt_ids == [foreign]
    assert kit.comfy.running_prompt_id == first.record.prompt_id
    assert interrupts(kit.comfy) == []
    final = kit.discord.messages[int(message["id"])]
    assert "Cancelled 2 waiting bot job(s)." in final["embeds"][0]["description"]


async def test_queue_controls_recheck_admin_on_every_click(kit: BotKit) -> None:
    _first, _foreign, second, _third = await busy_queue(kit)
    _, message = await queue_message(kit)

    choice = payloads.select(
        select_of(message)["custom_id"], [second.job_id], message=message, user_id=MEMBER, permissions=ALL_PERMISSIONS
    )
    await payloads.dispatch_and_wait(kit.bot, choice)
    clear = payloads.button_click(button_of(message, "Clear")["custom_id"], message=message, user_id=MEMBER)
    await payloads.dispatch_and_wait(kit.bot, clear)

    assert kit.comfy.requests_to("/queue", "POST") == []
    for click in (choice, clear):
        refusal = kit.callback(click)
        assert refusal.json["type"] == 4
        assert refusal.json["data"]["flags"] & FLAG_EPHEMERAL
        assert REFUSAL in refusal.json["data"]["embeds"][0]["description"]
    assert second.record.prompt_id in kit.comfy.pending_prompt_ids


async def test_empty_queue_says_so_and_offers_nothing_to_cancel(kit: BotKit) -> None:
    _, message = await queue_message(kit)

    assert "Nothing is running or waiting." in message["embeds"][0]["description"]
    assert not [c for c in components(message) if c["type"] == 3]
    assert button_of(message, "Clear")["disabled"]
