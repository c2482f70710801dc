"""Limits that hold under concurrency: a request's slots are taken at admission, before anything awaits."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from discomfy.config import LimitSettings
from discomfy.quota import PRUNE_AT, LimitError, Quota
from discomfy.store import JobRecord, JobStatus
from testing import payloads
from testing.botkit import BotKit, start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

DEFERRED = 5


def _limits(**values: object) -> LimitSettings:
    return LimitSettings.model_validate({"cooldown_seconds": 0, **values})


def _record(owner_id: int, batch_id: str | None = None) -> JobRecord:
    return JobRecord(
        job_id=uuid.uuid4().hex, owner_id=owner_id, guild_id=None, channel_id=1, message_id=None, workflow="w",
        params={}, seed=1, prompt_id=None, batch_id=batch_id, batch_index=None, status=JobStatus.QUEUED,
        created_at=0.0,
    )  # fmt: skip


def test_reservations_count_until_their_jobs_are_registered() -> None:
    pending: list[JobRecord] = []
    quota = Quota(_limits(max_pending_total=4, max_pending_per_user=4), lambda: pending)
    first = quota.reserve(1, 3)
    with pytest.raises(LimitError, match="queue is full"):
        quota.reserve(2, 2)  # 3 held + 2 > 4, though no job exists yet
    for _ in range(3):
        record = _record(1, batch_id="b")
        pending.append(record)
        first.claim(record)  # the jobs now count themselves, the reservation no longer does
    assert first.slots == 0
    quota.reserve(2, 1).release()
    with pytest.raises(LimitError, match="queue is full"):
        quota.reserve(2, 2)


def test_a_batch_and_its_reservation_are_one_request_for_the_per_user_limit() -> None:
    pending: list[JobRecord] = []
    quota = Quota(_limits(max_pending_per_user=2), lambda: pending)
    batch = quota.reserve(7, 4)
    record = _record(7, batch_id="batch-1")
    pending.append(record)
    batch.claim(record)  # one job of four registered: still one request
    second = quota.reserve(7)
    with pytest.raises(LimitError, match="already have 2 request"):
        quota.reserve(7)
    second.release()
    quota.reserve(7)


def test_a_released_reservation_frees_its_slots_and_admins_pass_the_per_user_limit() -> None:
    quota = Quota(_limits(max_pending_total=2, max_pending_per_user=1), list)
    with quota.reserve(1):
        with pytest.raises(LimitError):
            quota.reserve(1)
        quota.reserve(1, exempt=True).release()
    quota.reserve(1, 2).release()


def test_the_cooldown_memory_stays_bounded() -> None:
    quota = Quota(_limits(cooldown_seconds=0), list)
    for owner in range(PRUNE_AT * 4):
        quota.reserve(owner).release()
    assert quota.remembered_users <= PRUNE_AT + 1


# ---- end to end: many commands at the same moment ---------------------------------------------------------


async def _all_at_once(kit: BotKit, name: str, options: dict[str, object], users: list[int]) -> list[dict]:
    sent = [payloads.slash_command(name, options, user_id=user) for user in users]
    tasks = [task for payload in sent for task in payloads.dispatch(kit.bot, payload)]
    await payloads.wait_for_tasks(tasks, timeout=30)
    return sent


async def test_thirty_users_at_once_never_put_more_than_the_total_limit_in_comfyui(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    limits = {"max_pending_total": 10, "max_pending_per_user": 3}
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits=limits) as kit:
        kit.comfy.hold()
        sent = await _all_at_once(kit, "generate", {"prompt": "a fox", "steps": 2}, [1000 + i for i in range(30)])
        accepted = [p for p in sent if kit.callback(p).json["type"] == DEFERRED]

        assert len(accepted) == 10
        assert kit.comfy.prompts_received == 10
        kit.comfy.release()
        await kit.settle(60)


async def test_one_user_firing_ten_batches_at_once_gets_only_the_per_user_limit(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    limits = {"max_pending_total": 200, "max_pending_per_user": 3, "max_batch": 8}
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits=limits) as kit:
        kit.comfy.hold()
        await _all_at_once(kit, "batch", {"prompt": "a fox", "steps": 2, "count": 8}, [payloads.USER_ID] * 10)

        assert kit.comfy.prompts_received == 3 * 8
        kit.comfy.release()
        await kit.settle(60)


async def test_a_request_that_fails_before_its_jobs_exist_gives_its_slot_back(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, limits={"max_pending_per_user": 1}) as kit:
        fake_discord.fail_next("POST", r"/callback$", status=404)  # the deferral is refused: nothing starts
        await kit.command("generate", {"prompt": "first", "steps": 2})
        assert kit.comfy.prompts_received == 0
        second = await kit.command("generate", {"prompt": "second", "steps": 2})
        assert kit.callback(second).json["type"] == DEFERRED
        assert kit.comfy.prompts_received == 1
        await kit.settle()
