"""A store that stops taking writes mid-job (locked by another process, disk full) never strands the job."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import pytest

from discomfy.bot.errors import user_message
from discomfy.store import JobRecord, JobStatus, JobStore
from discomfy.store.errors import StoreError
from discomfy.store.writer import JobWriter
from testing.botkit import start_bot
from testing.comfy_server import FakeComfy
from testing.discord_api import FakeDiscordAPI

pytestmark = pytest.mark.slow


def _lock(database: Path) -> sqlite3.Connection:
    """What an admin's `sqlite3` shell in a write transaction does: every other writer waits, then fails."""
    other = sqlite3.connect(database, timeout=0, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


async def test_a_job_finishing_while_the_store_is_locked_is_delivered_and_saved_afterwards(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, store_busy_timeout=0.1) as kit:
        kit.comfy.hold()
        payload = await kit.command("generate", {"prompt": "a fox in a locked room", "steps": 2})
        (record,) = await kit.records(payload)
        other = _lock(kit.config.storage.database)
        try:
            kit.comfy.release()
            await kit.settle(30)

            message = kit.message(payload)
            assert message["embeds"][0]["title"] == "Done"  # delivered although nothing could be saved
            assert len(message["attachments"]) == 1
            assert kit.jobs.active() == []  # its slot is free
            assert kit.jobs.writer.unsaved > 0
        finally:
            other.rollback()
            other.close()
        await asyncio.wait_for(kit.jobs.writer.wait_saved(), 40)
        saved = await kit.store.get(record.job_id)
        assert saved is not None
        assert saved.status is JobStatus.DONE
        assert saved.output_files


async def test_a_new_request_while_the_store_is_locked_is_refused_in_plain_words(
    fake_discord: FakeDiscordAPI, fake_comfy: FakeComfy, tmp_path: Path
) -> None:
    async with start_bot(fake_discord, fake_comfy, tmp_path, store_busy_timeout=0.1) as kit:
        other = _lock(kit.config.storage.database)
        try:
            payload = await kit.command("generate", {"prompt": "a fox", "steps": 2})
        finally:
            other.rollback()
            other.close()
        assert kit.comfy.prompts_received == 0
        assert "could not save your job right now" in json.dumps(kit.message(payload)["embeds"])
        assert kit.jobs.active() == []


def test_store_errors_read_as_a_plain_reason() -> None:
    assert "Try again in a minute" in user_message(StoreError("database is locked"))


async def test_concurrent_writes_kept_in_memory_build_on_each_other(tmp_path: Path) -> None:
    """A write that waited longer must not put back the state an earlier one had already moved on from."""
    async with JobStore(tmp_path / "jobs.sqlite3", busy_timeout=0.05) as store:
        record = JobRecord(
            job_id="f" * 32, owner_id=1, guild_id=None, channel_id=1, message_id=None, workflow="w", params={},
            seed=1, prompt_id="p", batch_id=None, batch_index=None, status=JobStatus.QUEUED, created_at=0.0,
        )  # fmt: skip
        await store.add(record)
        writer = JobWriter(store)
        job = SimpleNamespace(record=record)
        other = _lock(store.path)
        try:
            finishing = asyncio.create_task(writer.transition(job, JobStatus.DELIVERING, output_files=("a.png",)))
            await asyncio.sleep(0.01)  # both retry against the lock; the message id gives up last
            await writer.update(job, message_id=42)
            assert await finishing
        finally:
            other.rollback()
            other.close()
        assert job.record.status is JobStatus.DELIVERING
        assert job.record.message_id == 42
        await asyncio.wait_for(writer.wait_saved(), 30)
        saved = await store.get(record.job_id)
        assert saved is not None
        assert (saved.status, saved.message_id, saved.output_files) == (JobStatus.DELIVERING, 42, ("a.png",))
        await writer.close()
