"""/history and /stats end to end, on a job store filled by the test."""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import pytest
import pytest_asyncio

from discomfy.store import JobRecord, JobStatus
from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FLAG_EPHEMERAL, FakeDiscordAPI

MEMBER = payloads.USER_ID
OTHER = MEMBER + 1
ADMIN = MEMBER + 2
ALL_PERMISSIONS = str(discord.Permissions.all().value)
HOUR = 3600.0
DAY = 24 * HOUR


@pytest_asyncio.fixture
async def kit(fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path) -> AsyncIterator[BotKit]:
    async with start_bot(fake_discord, fake_comfy, tmp_path, discord={"admin_user_ids": [ADMIN]}) as kit:
        yield kit


def record(
    owner: int,
    created_at: float,
    *,
    prompt: str = "a fox",
    seed: int = 1,
    workflow: str = "txt2img_sdxl",
    status: JobStatus = JobStatus.DONE,
    error_kind: str | None = None,
    queued: float | None = 1.0,
    run: float | None = 10.0,
    message_id: int | None = None,
    guild_id: int | None = payloads.GUILD_ID,
) -> JobRecord:
    """A stored job `queued` s after its creation started, and running for `run` s."""
    queued_at = created_at + 0.5
    started_at = created_at + queued if queued is not None else None
    finished_at = started_at + run if started_at is not None and run is not None else None
    return JobRecord(
        job_id=uuid.uuid4().hex,
        owner_id=owner,
        guild_id=guild_id,
        channel_id=payloads.CHANNEL_ID,
        message_id=message_id,
        workflow=workflow,
        params={"prompt": prompt},
        seed=seed,
        prompt_id=str(uuid.uuid4()),
        batch_id=None,
        batch_index=None,
        status=status,
        created_at=created_at,
        queued_at=queued_at,
        started_at=started_at,
        finished_at=finished_at,
        error="it broke" if status is JobStatus.FAILED else None,
        error_kind=error_kind,
    )


async def fill_history(kit: BotKit, owner: int, count: int) -> list[JobRecord]:
    """`count` done jobs of `owner`, newest first, each with its message."""
    now = time.time()
    records = [
        record(owner, now - i * HOUR, prompt=f"prompt number {i}", seed=1000 + i, message_id=payloads.snowflake())
        for i in range(count)
    ]
    for item in reversed(records):
        await kit.store.add(item)
    return records


def fields(message: dict[str, Any]) -> list[dict[str, Any]]:
    return message["embeds"][0].get("fields", [])


def button(message: dict[str, Any], label: str) -> dict[str, Any]:
    (found,) = [c for row in message["components"] for c in row["components"] if c.get("label") == label]
    return found


# ---- /history -----------------------------------------------------------------------------------------------


async def test_history_shows_the_callers_jobs_newest_first_with_seed_status_age_and_jump_link(kit: BotKit) -> None:
    records = await fill_history(kit, MEMBER, 3)
    await kit.store.add(record(OTHER, time.time(), prompt="not mine"))

    payload = await kit.command("history", user_id=MEMBER)

    callback = kit.callback(payload)
    assert callback.json["type"] == 4
    assert callback.json["data"]["flags"] & FLAG_EPHEMERAL
    message = kit.message(payload)
    shown = fields(message)
    assert len(shown) == 3
    for field, item in zip(shown, records, strict=True):
        assert field["name"] == "✅ done · txt2img_sdxl"
        assert f"> {item.params['prompt']}" in field["value"]
        assert f"seed `{item.seed}`" in field["value"]
        assert f"<t:{int(item.created_at)}:R>" in field["value"]
        link = f"https://discord.com/channels/{item.guild_id}/{item.channel_id}/{item.message_id}"
        assert f"[jump to message]({link})" in field["value"]
    assert "not mine" not in str(message["embeds"])
    assert message["embeds"][0]["footer"]["text"] == "page 1 of 1"


async def test_history_pages_with_previous_and_next(kit: BotKit) -> None:
    records = await fill_history(kit, MEMBER, 12)
    payload = await kit.command("history", user_id=MEMBER)
    message = kit.message(payload)
    assert [f["value"].split("\n")[0] for f in fields(message)] == [f"> prompt number {i}" for i in range(5)]
    assert button(message, "Previous")["disabled"]
    assert not button(message, "Next")["disabled"]

    for expected_page, first in ((2, 5), (3, 10)):
        click = payloads.button_click(button(message, "Next")["custom_id"], message=message, user_id=MEMBER)
        await payloads.dispatch_and_wait(kit.bot, click)
        assert kit.callback(click).json["type"] == 7  # the message itself is updated
        message = kit.discord.messages[int(message["id"])]
        assert message["embeds"][0]["footer"]["text"] == f"page {expected_page} of 3"
        assert f"seed `{records[first].seed}`" in fields(message)[0]["value"]

    assert len(fields(message)) == 2
    assert button(message, "Next")["disabled"]
    back = payloads.button_click(button(message, "Previous")["custom_id"], message=message, user_id=MEMBER)
    await payloads.dispatch_and_wait(kit.bot, back)
    message = kit.discord.messages[int(message["id"])]
    assert message["embeds"][0]["footer"]["text"] == "page 2 of 3"


async def test_history_page_option_jumps_and_is_clamped_to_the_last_page(kit: BotKit) -> None:
    await fill_history(kit, MEMBER, 7)

    payload = await kit.command("history", {"page": 9}, user_id=MEMBER)

    message = kit.message(payload)
    assert message["embeds"][0]["footer"]["text"] == "page 2 of 2"
    assert len(fields(message)) == 2


async def test_non_admin_asking_for_someone_elses_history_is_refused(kit: BotKit) -> None:
    await fill_history(kit, OTHER, 2)

    payload = await kit.command(
        "history", {"user": payloads.user(OTHER, username="other")}, user_id=MEMBER, permissions=ALL_PERMISSIONS
    )

    callback = kit.callback(payload)
    assert callback.json["data"]["flags"] & FLAG_EPHEMERAL
    (embed,) = callback.json["data"]["embeds"]
    assert "Only DisComfy admins can look at another member's history" in embed["description"]
    assert "prompt number" not in str(callback.json)


async def test_admin_may_look_at_another_members_history(kit: BotKit) -> None:
    await fill_history(kit, OTHER, 2)

    payload = await kit.command("history", {"user": payloads.user(OTHER, username="other")}, user_id=ADMIN)

    message = kit.message(payload)
    assert f"<@{OTHER}>" in message["embeds"][0]["description"]
    assert len(fields(message)) == 2


async def test_only_the_member_who_asked_can_page(kit: BotKit) -> None:
    await fill_history(kit, MEMBER, 8)
    message = kit.message(await kit.command("history", user_id=MEMBER))

    click = payloads.button_click(button(message, "Next")["custom_id"], message=message, user_id=OTHER)
    await payloads.dispatch_and_wait(kit.bot, click)

    assert kit.callback(click).json["data"]["flags"] & FLAG_EPHEMERAL
    assert kit.discord.messages[int(message["id"])]["embeds"][0]["footer"]["text"] == "page 1 of 2"


async def test_empty_history_says_so(kit: BotKit) -> None:
    message = kit.message(await kit.command("history", user_id=MEMBER))

    assert "has no jobs yet" in message["embeds"][0]["description"]


# ---- /stats -------------------------------------------------------------------------------------------------


async def fill_stats(kit: BotKit) -> float:
    now = time.time()
    today, yesterday = now - 60, now - DAY
    jobs = [
        record(MEMBER, today, queued=2.0, run=10.0),
        record(MEMBER, today, queued=4.0, run=20.0),
        record(MEMBER, yesterday, queued=6.0, run=30.0),
        record(OTHER, today, status=JobStatus.FAILED, error_kind="execution_failed", queued=1.0, run=None),
        record(OTHER, today, workflow="wan21_t2v", status=JobStatus.LOST, error_kind="lost", queued=None),
        record(ADMIN, today, workflow="wan21_t2v", queued=3.0, run=100.0),
        record(MEMBER, now - 30 * DAY),  # outside a 7-day window
    ]
    for job in jobs:
        await kit.store.add(job)
    return now


def stats_answer(kit: BotKit, payload: dict[str, Any]) -> dict[str, Any]:
    """/stats defers privately (a big store takes time), then answers in the follow-up."""
    assert kit.callback(payload).json["type"] == 5
    assert kit.callback(payload).json["data"]["flags"] & FLAG_EPHEMERAL
    (answer,) = kit.discord.calls("POST", rf"^/webhooks/\d+/{payload['token']}$")
    return answer.json


async def test_stats_counts_jobs_medians_failures_and_busiest_users(kit: BotKit) -> None:
    now = await fill_stats(kit)

    payload = await kit.command("stats", {"days": 7}, user_id=ADMIN)

    (embed,) = stats_answer(kit, payload)["embeds"]
    assert embed["title"] == "Stats · last 7 days · 6 job(s)"
    by_name = {f["name"]: f["value"] for f in embed["fields"]}
    day = datetime.fromtimestamp(now - 60, UTC).date().isoformat()
    before = datetime.fromtimestamp(now - DAY, UTC).date().isoformat()
    per_day = by_name["Jobs per day (UTC)"]
    assert f"{before}      1" in per_day
    assert f"{day}      5" in per_day
    workflows = by_name["Per workflow"].splitlines()
    assert workflows[0] == "**txt2img_sdxl** · 4 job(s) · median wait 3.0 s · median run 20.0 s · 1 failed"
    assert workflows[1] == "**wan21_t2v** · 2 job(s) · median wait 3.0 s · median run 1:40 · 1 failed"
    assert by_name["Failures by reason"].splitlines() == [
        "a node failed in ComfyUI: 1",
        "lost (ComfyUI restarted or forgot it): 1",
    ]
    assert by_name["Busiest users"].splitlines() == [
        f"<@{MEMBER}> · 3 job(s)",
        f"<@{OTHER}> · 2 job(s)",
        f"<@{ADMIN}> · 1 job(s)",
    ]


async def test_stats_window_follows_days(kit: BotKit) -> None:
    await fill_stats(kit)

    payload = await kit.command("stats", {"days": 60}, user_id=ADMIN)

    (embed,) = stats_answer(kit, payload)["embeds"]
    assert embed["title"] == "Stats · last 60 days · 7 job(s)"


async def test_non_admin_cannot_see_stats_even_with_administrator_permission_bits(kit: BotKit) -> None:
    await fill_stats(kit)

    payload = await kit.command("stats", user_id=MEMBER, permissions=ALL_PERMISSIONS)

    (embed,) = kit.callback(payload).json["data"]["embeds"]
    assert "Only DisComfy admins" in embed["description"]
    assert "fields" not in embed or not embed["fields"]


async def test_expired_paging_buttons_remove_themselves(kit: BotKit, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules["discomfy.bot.cogs.history"], "PANEL_TIMEOUT", 0.3)  # the module the bot loaded
    await fill_history(kit, MEMBER, 12)

    payload = await kit.command("history", user_id=MEMBER)
    message_id = kit.message_id(payload)
    assert kit.message(message_id)["components"]

    await kit.discord.wait_for(lambda: kit.message(message_id).get("components") == [], timeout=5)
