"""storage.keep_outputs_days / keep_outputs_gb: delivered jobs' old files go, nothing else ever does."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from discomfy.store import JobRecord, JobStatus, JobStore
from discomfy.store.retention import DAY, prune_outputs

NOW = 1_800_000_000.0


@pytest_asyncio.fixture
async def store(tmp_path: Path) -> AsyncIterator[JobStore]:
    async with JobStore(tmp_path / "jobs.sqlite3") as opened:
        yield opened


async def _job(store: JobStore, folder: Path, status: JobStatus, *, days_ago: float, size: int = 1000) -> Path:
    job_id = uuid.uuid4().hex
    path = folder / job_id / "out.png"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x" * size)
    finished = NOW - days_ago * DAY
    await store.add(
        JobRecord(
            job_id=job_id,
            owner_id=1,
            guild_id=None,
            channel_id=1,
            message_id=None,
            workflow="w",
            params={},
            seed=1,
            prompt_id=None,
            batch_id=None,
            batch_index=None,
            status=status,
            created_at=finished - 60,
            finished_at=finished if status.is_finished else None,
            output_files=(str(path),),
        )
    )
    return path


async def test_nothing_is_deleted_without_a_setting(store: JobStore, tmp_path: Path) -> None:
    old = await _job(store, tmp_path, JobStatus.DONE, days_ago=400)
    assert (await prune_outputs(store, keep_days=None, keep_bytes=None, now=NOW)).files == 0
    assert old.exists()


async def test_delivered_files_past_the_age_go_and_undelivered_ones_stay(store: JobStore, tmp_path: Path) -> None:
    old_done = await _job(store, tmp_path, JobStatus.DONE, days_ago=10)
    new_done = await _job(store, tmp_path, JobStatus.DONE, days_ago=1)
    old_delivering = await _job(store, tmp_path, JobStatus.DELIVERING, days_ago=10)
    old_failed_upload = await _job(store, tmp_path, JobStatus.FAILED, days_ago=10)

    pruned = await prune_outputs(store, keep_days=7, keep_bytes=None, now=NOW)

    assert pruned.files == 1
    assert not old_done.exists()
    assert not old_done.parent.exists()  # its prompt folder went with its last file
    assert new_done.exists()
    assert old_delivering.exists()  # its delivery still needs it
    assert old_failed_upload.exists()  # what an admin may want to post by hand


async def test_over_the_total_size_the_oldest_delivered_files_go_first(store: JobStore, tmp_path: Path) -> None:
    paths = [await _job(store, tmp_path, JobStatus.DONE, days_ago=days, size=1000) for days in (5, 4, 3, 2, 1)]

    pruned = await prune_outputs(store, keep_days=None, keep_bytes=2500, now=NOW)

    assert pruned.files == 3
    assert [p.exists() for p in paths] == [False, False, False, True, True]
    assert (await prune_outputs(store, keep_days=None, keep_bytes=2500, now=NOW)).files == 0  # idempotent


async def test_a_file_already_gone_is_skipped(store: JobStore, tmp_path: Path) -> None:
    path = await _job(store, tmp_path, JobStatus.DONE, days_ago=30)
    path.unlink()
    assert (await prune_outputs(store, keep_days=1, keep_bytes=None, now=time.time())).files == 0
